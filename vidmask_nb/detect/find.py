"""Find what to hide with the detectors (``find_objects``): detections on frames sampled every
``find_every`` seconds and on every prompted frame are grouped into objects (a detection joins the
object whose last box it overlaps, or whose user prompt box it overlaps on that frame; otherwise it
becomes a new object ``face 3``); each object's first detection is its box prompt, and an object
found again after it was missing on a sampled frame gets a new prompt there. The result is merged
into the ``PromptSet``. ``find_and_floor`` runs the floor pass (``detect.floor``) and finds on it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from vidmask_nb.detect.detectors import DEFAULT_THRESHOLD, Detections, iou_matrix
from vidmask_nb.detect.floor import compute_floor
from vidmask_nb.detect.floorfile import floor_boxes
from vidmask_nb.detect.options import DEFAULT_FIND_EVERY, MATCH_IOU, FindOptions
from vidmask_nb.errors import VidmaskError



@dataclass
class _Track:
    obj_id: int
    kind: str
    box: np.ndarray
    seen_at: int  # sample number where last found


def find_objects(prompts, info, detections_at: Callable[[int], Detections],
                 find_every: float = DEFAULT_FIND_EVERY) -> tuple[object, list[dict]]:
    """Merge detector-found objects into ``prompts`` (a ``PromptSet``, not changed); return (new set, log).

    ``detections_at(frame)`` gives a frame's detections. The log lists each prompt added:
    ``{"frame", "object", "kind", "box", "score", "why": "first seen" | "found again"}``.
    """
    from vidmask_nb.prompts.records import FramePrompt, PromptSet

    if find_every <= 0:
        raise VidmaskError(f"--find-every must be positive seconds, not {find_every}")
    out = PromptSet(prompts.video, list(prompts.objects), list(prompts.prompts))
    step = max(1, int(round(float(info.fps) * find_every)))
    frames = sorted(set(range(0, info.frame_count, step)) | set(prompts.prompt_frames))
    user_boxes = {}
    for p in prompts.prompts:
        if p.box is not None:
            user_boxes.setdefault(p.frame, []).append((p.obj_id, np.array(p.box, np.float32)))
    counts = {}
    for o in out.objects:  # continue "face 3" numbering after labels already there
        kind, _, n = o.label.rpartition(" ")
        if n.isdigit():
            counts[kind] = max(counts.get(kind, 0), int(n))
    tracks: list[_Track] = []
    log = []
    for sample, frame in enumerate(frames):
        dets = detections_at(frame)
        taken: set[int] = set()
        for i in np.argsort(-dets.scores):
            box, kind, score = dets.boxes[i], str(dets.kinds[i]), float(dets.scores[i])
            # a detection on a user's box belongs to the user's object: nothing to add
            if any(iou_matrix(box, ub)[0, 0] >= MATCH_IOU for _, ub in user_boxes.get(frame, [])):
                continue
            cands = [t for t in tracks if t.kind == kind and t.obj_id not in taken]
            ious = [float(iou_matrix(box, t.box)[0, 0]) for t in cands]
            best = int(np.argmax(ious)) if ious else -1
            if best >= 0 and ious[best] >= MATCH_IOU:
                track = cands[best]
                gone = track.seen_at < sample - 1  # missing on the sampled frame before: re-prompt
                why = "found again" if gone else None
            else:
                counts[kind] = counts.get(kind, 0) + 1
                obj = out.add_object(f"{kind} {counts[kind]}")
                track = _Track(obj.id, kind, box, sample)
                tracks.append(track)
                why = "first seen"
            track.box, track.seen_at = box, sample
            taken.add(track.obj_id)
            if why:
                b = tuple(float(v) for v in box)
                out.prompts.append(FramePrompt(frame, track.obj_id, box=b, pts=int(info.pts[frame])))
                log.append({"frame": frame, "object": out.object(track.obj_id).label, "kind": kind,
                            "box": [round(v, 1) for v in b], "score": round(score, 3), "why": why})
    return out, log


def floor_detections_at(path) -> Callable[[int], Detections]:
    """A ``detections_at`` for ``find_objects`` that reads ``floor.json`` (frames in rising order).

    Only detections scoring at least ``detect.DEFAULT_THRESHOLD`` of their kind become objects.
    """
    stream = floor_boxes(path)
    current: list = [-1, Detections.empty()]

    def at(frame: int) -> Detections:
        while current[0] < frame:
            current[0], current[1] = next(stream)
        dets = current[1]
        sure = np.array([s >= DEFAULT_THRESHOLD[str(k)] for s, k in zip(dets.scores, dets.kinds)], bool)
        return dets[sure] if len(dets) else dets

    return at


def find_and_floor(video, workdir, options: FindOptions, *, info=None):
    """The floor (``floor.json``) and, unless ``options.no_track``, the found objects merged into ``prompts.json``.

    ``options`` (``FindOptions``, checked here): what to find, the floor's and the search's intervals, the
    ``pii`` kind's word list, the exact pass. Returns (prompt set, log of prompts added). The prompts are
    detected on the floor's frames: the detectors run over the video once. A prompted frame the floor
    skipped uses the floor's boxes on both sides of it.
    """
    from vidmask_nb.prompts.records import PromptSet
    from vidmask_nb.runfolder.folder import RunFolder
    from vidmask_nb.media.video import probe

    options = options.checked()
    if options.find is None:
        raise VidmaskError("find_and_floor needs something to find (FindOptions.find, e.g. 'faces')")
    info = info or probe(video)
    run = RunFolder(workdir).create()
    path = compute_floor(video, workdir, options.find, options.floor_every, info=info, words=options.words,
                         exact=options.exact_floor)
    prompts = PromptSet.load(run.prompts_json, info) if run.prompts_json.is_file() else PromptSet.for_video(info)
    if options.no_track:
        return prompts, []
    found, log = find_objects(prompts, info, floor_detections_at(path), options.find_every)
    found.validate(info).save(run.prompts_json)
    return found, log
