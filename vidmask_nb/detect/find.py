"""Find what to hide with the detectors, and the fail-closed floor under SAM 2's masks.

**Floor** (``compute_floor``): each kind's detector runs on every frame (or every ``floor_every``-th
frame), and ``floor.json`` beside ``masks.json`` records what it found, one frame per line,
written as it goes::

    {"version": 1, "kinds": ["face"], "every": 1, "margin": 0.2, "frame_count": 300, "fingerprint": "sha256:..."}
    {"frame": 0, "detections": [{"kind": "face", "box": [x0, y0, x1, y1], "score": 0.91}]}
    {"frame": 1, "detections": []}

The render covers every box (grown by ``margin`` of its size, then by the render's own ``dilate``,
and held through dropouts like a tracked object) with the default style, as the pseudo-object
``FLOOR_ID`` (0, ``"floor"``), so a frame where SAM 2 lost a face the detector sees is covered
anyway. With ``floor_every`` N > 1 a frame between two detected frames is covered by the boxes of
both (fail closed). Boxes on an object whose style is ``keep`` are left alone.

**Find** (``find_objects``): detections on frames sampled every ``find_every`` seconds and on every
prompted frame are grouped into objects (a detection joins the object whose last box it overlaps,
or whose user prompt box it overlaps on that frame; otherwise it becomes a new object ``face 3``);
each object's first detection is its box prompt, and an object found again after it was missing
on a sampled frame gets a new prompt there. The result is merged into the ``PromptSet``.

**No tracking** (``write_untracked_masks``): for ``--no-track`` a ``masks.json`` with no objects
(every frame empty), so the render covers the floor alone; SAM 2 is never imported.
"""
from __future__ import annotations

import json
import os
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np
from tqdm.auto import tqdm

from vidmask_nb.detect.detectors import DEFAULT_THRESHOLD, Detections, boxes_mask, get_detector, iou_matrix, parse_kinds
from vidmask_nb.errors import VidmaskError
from vidmask_nb.prompts.records import VideoRef

FLOOR_VERSION = 1
FLOOR_ID = 0  # the floor's pseudo-object id in the render (tracked objects start at 1)
FLOOR_LABEL = "floor"
# Each floor box grows by this fraction of its width/height on every side before the render's
# dilate: CenterFace's box is the face from brows to chin; hair, ears and forehead are outside it.
FLOOR_MARGIN = 0.2
DEFAULT_FIND_EVERY = 0.5  # seconds between frames that find detects on
DEFAULT_FLOOR_EVERY = 1  # frames between frames the floor's detectors run on
# The floor's score thresholds: lower than find's and the audit's (detect.DEFAULT_THRESHOLD), to fail
# closed: on bedroom.mp4 a face half turned away scores 0.33-0.5 at full size and below 0.4 at 640 px;
# a false alarm costs only a small covered box. Find keeps detections at or above DEFAULT_THRESHOLD.
FLOOR_THRESHOLD = {"face": 0.25, "text": 0.4}
# Two detections on sampled frames are the same object when their boxes overlap at least this much.
MATCH_IOU = 0.2
# The floor's hold: a box counts as found again on a frame when a detection of its kind overlaps it
# at least this much (a face moves little in one frame; lower would let a neighbour end the hold).
HOLD_MATCH_IOU = 0.2


@dataclass(frozen=True)
class FindOptions:
    """The detectors' settings in a run (``vidmask-nb run`` flags, notebook 02's parameters): one
    default each, checked once by ``checked()``.

    - ``find``: detectors that find what to hide and cover a floor under SAM 2: ``faces``, ``text``
      or ``faces,text`` (None: only the prompts).
    - ``find_every``: seconds between frames searched for new objects.
    - ``floor_every``: the floor's detectors run on every N-th frame.
    - ``no_track``: cover the detector floor alone; SAM 2 is not loaded (needs ``find``).
    - ``exact_floor``: faces at 640 px on every frame instead of the fast pass (``detect.fastpass``).
    """

    find: str | None = None
    find_every: float = DEFAULT_FIND_EVERY
    floor_every: int = DEFAULT_FLOOR_EVERY
    no_track: bool = False
    exact_floor: bool = False

    def checked(self) -> "FindOptions":
        """Raise ``VidmaskError`` (naming the CLI flag) for a bad setting; returns the options."""
        if self.find is not None:
            parse_kinds(self.find)
            if not self.find_every > 0:
                raise VidmaskError(f"--find-every must be positive seconds, not {self.find_every}")
            if self.floor_every < 1:
                raise VidmaskError(f"--floor-every must be 1 frame or more, not {self.floor_every}")
        elif self.no_track:
            raise VidmaskError("--no-track covers what the detectors find: give --find faces (or faces,text)")
        return self


def floor_path(workdir: str | os.PathLike) -> Path:
    """``floor.json`` in the run folder, beside ``masks.json``."""
    return Path(workdir) / "floor.json"


def _frames_rgb(video, info, indices: Iterable[int] | None = None, desc: str = "detect"):
    """(index, rgb) for every frame (or only ``indices``), decoded in order once."""
    from vidmask_nb.media.video import VideoReader

    wanted = None if indices is None else set(indices)
    total = info.frame_count if wanted is None else len(wanted)
    with VideoReader(video, info=info) as reader, tqdm(total=total, desc=desc, unit="frame") as bar:
        for frame in reader:
            if wanted is None or frame.index in wanted:
                yield frame.index, frame.rgb
                bar.update(1)


def detect_video(video, kinds: Sequence[str], every: int = 1, info=None, scale: float | None = None,
                 threshold: float | Mapping[str, float] | None = None, desc: str = "detect") -> Iterator[tuple[int, Detections]]:
    """(frame, detections) for every ``every``-th frame of ``video`` (always including the last)."""
    from vidmask_nb.media.video import probe

    kinds = parse_kinds(kinds)
    info = info or probe(video)
    if every < 1:
        raise VidmaskError(f"detection interval must be 1 frame or more, not {every}")
    detectors = [get_detector(k, scale, threshold.get(k) if isinstance(threshold, Mapping) else threshold)
                 for k in kinds]
    indices = sorted(set(range(0, info.frame_count, every)) | {info.frame_count - 1})
    for index, rgb in _frames_rgb(video, info, None if every == 1 else indices, desc):
        yield index, Detections.merge(d.detect(rgb) for d in detectors)


# -- the floor ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class FloorHeader:
    kinds: tuple[str, ...]
    every: int
    margin: float
    frame_count: int
    fingerprint: str
    thresholds: dict | None = None
    detector: dict | None = None  # the face pass's settings (fastpass.FastPassOptions.to_json), None: exact

    def to_json(self) -> dict:
        return {"version": FLOOR_VERSION, "kinds": list(self.kinds), "every": self.every,
                "margin": self.margin, "frame_count": self.frame_count, "fingerprint": self.fingerprint,
                "thresholds": self.thresholds, "pass": self.detector}


def compute_floor(video, workdir, kinds: Sequence[str] = ("face",), every: int = DEFAULT_FLOOR_EVERY,
                  margin: float = FLOOR_MARGIN, info=None, exact: bool = False) -> Path:
    """Run the detectors over ``video`` and write ``floor.json`` into ``workdir`` (streaming).

    Faces on every frame (``every`` 1) go through the fast pass (``detect.fastpass``) unless
    ``exact``: CenterFace at 640 px on every frame, as ``detect_video``.
    A finished ``floor.json`` for the same video and settings is kept as it is (a rerun skips it).
    """
    from vidmask_nb.detect.fastpass import FastPassOptions, fast_floor

    from vidmask_nb.runfolder.folder import atomic_output
    from vidmask_nb.media.video import probe

    info = info or probe(video)
    fast = None if exact or int(every) != 1 or "face" not in parse_kinds(kinds) else \
        FastPassOptions(threshold=FLOOR_THRESHOLD["face"])
    header = FloorHeader(parse_kinds(kinds), int(every), float(margin), info.frame_count, info.fingerprint,
                         {k: FLOOR_THRESHOLD[k] for k in parse_kinds(kinds)}, fast and fast.to_json())
    path = floor_path(workdir)
    try:
        if read_floor_header(path) == header:
            return path
    except VidmaskError:
        pass
    with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(json.dumps(header.to_json()) + "\n")
        stream = detect_video(video, header.kinds, header.every, info, threshold=FLOOR_THRESHOLD, desc="floor") \
            if fast is None else fast_floor(_frames_rgb(video, info, desc="floor"), header.kinds, fast, FLOOR_THRESHOLD)
        for index, dets in stream:
            f.write(json.dumps({"frame": index, "detections": dets.to_json()}, separators=(",", ":")) + "\n")
    return path


def read_floor_header(path) -> FloorHeader:
    path = Path(path)
    if not path.is_file():
        raise VidmaskError(f"no floor at {path}: run with find (--find faces) first")
    with open(path, encoding="utf-8") as f:
        try:
            d = json.loads(f.readline())
            if d.get("version") != FLOOR_VERSION:
                raise VidmaskError(f"{path} has floor version {d.get('version')}, this kit reads {FLOOR_VERSION}")
            return FloorHeader(tuple(d["kinds"]), int(d["every"]), float(d["margin"]), int(d["frame_count"]),
                               str(d["fingerprint"]), d.get("thresholds"), d.get("pass"))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise VidmaskError(f"{path} is not a floor file ({exc}); run with find again") from None


def read_floor(path) -> tuple[FloorHeader, Iterator[tuple[int, Detections]]]:
    """The header and a stream of (frame, detections) for the frames the detectors ran on."""
    header = read_floor_header(path)

    def frames():
        with open(path, encoding="utf-8") as f:
            f.readline()
            for line in f:
                d = json.loads(line)
                yield int(d["frame"]), Detections.from_json(d["detections"])

    return header, frames()


def floor_boxes(path, info=None) -> Iterator[tuple[int, Detections]]:
    """(frame, grown boxes to cover) for EVERY frame of the video, in order, from ``floor.json``.

    A frame the detectors skipped (``every`` > 1) gets the boxes of the detected frames on both
    sides. Memory: two detected frames.
    """
    header, sampled = read_floor(path)
    if info is not None:
        VideoRef(frame_count=header.frame_count, fingerprint=header.fingerprint).check(
            info, f"{path} was", "run with find again")
    prev: tuple[int, Detections] | None = None
    for index, dets in sampled:
        if prev is not None:
            between = Detections.merge([prev[1], dets])
            for gap in range(prev[0] + 1, index):
                yield gap, between
        yield index, dets
        prev = (index, dets)
    if prev is None or prev[0] != header.frame_count - 1:
        raise VidmaskError(f"{path} stops at frame {prev[0] if prev else -1} of {header.frame_count}: "
                           "an interrupted run; run with find again")


def floor_cover(dets: Detections, height: int, width: int, margin: float = FLOOR_MARGIN,
                keep: np.ndarray | None = None) -> np.ndarray:
    """One frame's floor as a (H, W) bool mask: every box grown by ``margin`` of its size.

    Boxes centred inside ``keep`` (the union of the masks of objects styled ``keep``) are left out.
    """
    if keep is not None and len(dets) and keep.any():
        cx = ((dets.boxes[:, 0] + dets.boxes[:, 2]) / 2).astype(int).clip(0, width - 1)
        cy = ((dets.boxes[:, 1] + dets.boxes[:, 3]) / 2).astype(int).clip(0, height - 1)
        dets = dets[~keep[cy, cx]]
    return boxes_mask(dets.grown(margin, width, height).boxes, height, width)


def _found_at(box: np.ndarray, kind: str, dets: Detections) -> bool:
    """Does ``dets`` hold a detection of ``kind`` at ``box``'s place (the same face, moved a little)?"""
    same = dets.boxes[dets.kinds == kind]
    return bool(len(same)) and float(iou_matrix(box, same).max()) >= HOLD_MATCH_IOU


def hold_boxes(stream: Iterable[tuple[int, Detections]], hold: int) -> Iterator[tuple[int, Detections]]:
    """Every frame's boxes plus the boxes held over the detector's dropouts, box by box (fail closed).

    A box the detector stops finding (no detection of its kind at its place, IoU >= ``HOLD_MATCH_IOU``,
    on the next frame) stays covered for up to ``hold`` frames after, and a box found where the
    frame before had none stays covered for up to ``hold`` frames before (a face found late, at the
    clip's start or as it turns towards the camera). Box by box, so one face lost beside another
    that is found is held too. Memory: ``hold`` frames of boxes (the frames are yielded ``hold``
    frames late).
    """
    if hold <= 0:
        yield from stream
        return
    pending: deque[tuple[int, Detections, list]] = deque()  # (frame, its detections, boxes held onto it)
    carried: list[tuple[np.ndarray, float, str, int]] = []  # (box, score, kind, frames it may still be held)
    prev = Detections.empty()
    for index, dets in stream:
        extra = []
        kept = []
        lost_now = [(b, s, k, hold) for b, s, k in zip(prev.boxes, prev.scores, prev.kinds)]
        for box, score, kind, left in carried + lost_now:
            if _found_at(box, kind, dets):
                continue  # found again here: this frame's own box covers it
            extra.append((box, score, kind))
            if left > 1:
                kept.append((box, score, kind, left - 1))
        carried = kept
        for box, score, kind in zip(dets.boxes, dets.scores, dets.kinds):
            for _, before, held in reversed(pending):  # at most `hold` frames
                if _found_at(box, kind, before):
                    break
                held.append((box, score, kind))
        pending.append((index, dets, extra))
        prev = dets
        while len(pending) > hold:
            yield _with_held(*pending.popleft())
    while pending:
        yield _with_held(*pending.popleft())


def _with_held(index: int, dets: Detections, held: list) -> tuple[int, Detections]:
    if not held:
        return index, dets
    boxes, scores, kinds = zip(*held)
    return index, Detections.merge([dets, Detections(np.array(boxes), np.array(scores), np.array(kinds, dtype=object))])


def with_floor(stream: Iterable[tuple[int, dict[int, np.ndarray]]], floor, info,
               keep_ids: Iterable[int] = (), hold: int = 0) -> Iterator[tuple[int, dict[int, np.ndarray]]]:
    """Add the floor's cover as object ``FLOOR_ID`` to a render mask stream.

    ``floor`` is the path of ``floor.json``; ``keep_ids`` the objects whose style is ``keep``;
    ``hold`` the frames each lost box stays covered before and after (``hold_boxes``).
    """
    header = read_floor_header(floor)
    keep_ids = set(keep_ids)
    for (index, masks), (findex, dets) in zip(stream, hold_boxes(floor_boxes(floor, info), hold)):
        if index != findex:
            raise VidmaskError(f"floor frame {findex} met the masks of frame {index}; run with find again")
        keep = None
        if keep_ids:
            kept = [m for k, m in masks.items() if k in keep_ids]
            keep = np.logical_or.reduce(kept) if kept else None
        yield index, {**masks, FLOOR_ID: floor_cover(dets, info.height, info.width, header.margin, keep)}


def write_untracked_masks(video, workdir, info=None) -> Path:
    """``masks.json`` with no objects (``--no-track``): the render covers the floor alone."""
    from vidmask_nb.track.masks import FrameMasks, write_masks_json
    from vidmask_nb.runfolder.folder import RunFolder, atomic_output
    from vidmask_nb.media.video import fraction_str, probe

    info = info or probe(video)
    path = RunFolder(workdir).masks_json
    video_ref = {"width": info.width, "height": info.height, "frame_count": info.frame_count,
                 "fps": fraction_str(info.fps), "fingerprint": info.fingerprint}
    frames = (FrameMasks(i, info.pts[i], ()) for i in range(info.frame_count))
    with atomic_output(path) as tmp:
        write_masks_json(tmp, video_ref, [], frames, key="no-track: detector floor only")
    return path


# -- find: detections grouped into objects -----------------------------------------------------

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


def find_and_floor(video, workdir, kinds: Sequence[str] = ("face",), find_every: float = DEFAULT_FIND_EVERY,
                   floor_every: int = DEFAULT_FLOOR_EVERY, info=None, track: bool = True, exact: bool = False):
    """The floor (``floor.json``) and, when tracking, the found objects merged into ``prompts.json``.

    Returns (prompt set, log of prompts added). The prompts are detected on the floor's frames: the
    detectors run over the video once. A prompted frame the floor skipped uses the floor's boxes
    on both sides of it.
    """
    from vidmask_nb.prompts.records import PromptSet
    from vidmask_nb.runfolder.folder import RunFolder
    from vidmask_nb.media.video import probe

    info = info or probe(video)
    run = RunFolder(workdir).create()
    path = compute_floor(video, workdir, kinds, floor_every, info=info, exact=exact)
    prompts = PromptSet.load(run.prompts_json, info) if run.prompts_json.is_file() else PromptSet.for_video(info)
    if not track:
        return prompts, []
    found, log = find_objects(prompts, info, floor_detections_at(path), find_every)
    found.validate(info).save(run.prompts_json)
    return found, log


def floor_summary(path) -> dict:
    """Frames with floor boxes and boxes per kind, for ``run.json`` and the notebooks."""
    header, sampled = read_floor(path)
    frames, per_kind = 0, {k: 0 for k in header.kinds}
    for _, dets in sampled:
        frames += bool(len(dets))
        for k in dets.kinds:
            per_kind[str(k)] = per_kind.get(str(k), 0) + 1
    return {"kinds": list(header.kinds), "every": header.every, "margin": header.margin,
            "frames_with_boxes": frames, "boxes": per_kind}
