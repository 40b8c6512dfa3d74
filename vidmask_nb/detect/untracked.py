"""No tracking (``--no-track``): a ``masks.json`` whose only objects are the drawn boxes, each
covering its object around the frame it was drawn on (``untracked_covers``), so the render covers
those and the floor alone; SAM 2 is never imported.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from vidmask_nb.detect.detectors import Detections, boxes_mask, iou_matrix
from vidmask_nb.detect.floorfile import FLOOR_MARGIN, floor_boxes, run_floor
from vidmask_nb.detect.hold import HOLD_MATCH_IOU
from vidmask_nb.detect.options import MATCH_IOU
from vidmask_nb.errors import VidmaskError



def check_untracked_prompts(prompts) -> None:
    """Refuse (one line) a ``--no-track`` run holding an object that nothing would cover: with no SAM 2,
    only a drawn BOX becomes a cover (``untracked_covers``); an object with only points, or none at all,
    would be listed in the run's records and left visible."""
    boxed = {p.obj_id for p in prompts.prompts if p.box is not None}
    pointed = {p.obj_id: p.frame for p in prompts.prompts if p.box is None}
    bare = [o for o in prompts.objects if o.id not in boxed]
    if bare:
        said = ", ".join(f"{o.label!r} (" + (f"only points, frame {pointed[o.id]}" if o.id in pointed else "no prompt")
                         + ")" for o in bare[:5]) + (f" and {len(bare) - 5} more" if len(bare) > 5 else "")
        raise VidmaskError(f"--no-track covers drawn boxes, not points, and nothing would cover {said}: draw a box "
                           "around each object (or remove it), or track them (leave out --no-track)")


def _moved_with(box: np.ndarray, ref: np.ndarray, now: np.ndarray) -> np.ndarray:
    """``box`` moved and scaled as the floor box ``ref`` became ``now`` (the same object, one frame on)."""
    rw, rh = max(ref[2] - ref[0], 1e-3), max(ref[3] - ref[1], 1e-3)
    sx, sy = (now[2] - now[0]) / rw, (now[3] - now[1]) / rh
    return np.array([now[0] + (box[0] - ref[0]) * sx, now[1] + (box[1] - ref[1]) * sy,
                     now[0] + (box[2] - ref[0]) * sx, now[1] + (box[3] - ref[1]) * sy], np.float32)


def untracked_covers(prompts, info, floor=None, hold: int = 0) -> dict[int, dict[int, list[np.ndarray]]]:
    """{frame: {object id: [cover boxes]}} for a run that does not track (``--no-track``).

    Each drawn box covers its object on the frame it was drawn and for up to ``hold`` frames before and
    after (like a floor box the detector lost). Where the floor (``floor.json``) finds the same object
    (a box of its frame at IoU >= ``MATCH_IOU`` with the drawn box, then frame to frame at IoU >=
    ``HOLD_MATCH_IOU``), the cover moves and scales with that floor box; once the floor loses it, the
    cover stays where it was last, up to the hold. Boxes are not yet grown (``untracked_masks`` grows
    them by ``FLOOR_MARGIN``; the render adds its ``dilate``).
    """
    check_untracked_prompts(prompts)
    boxes = [(f, k, np.asarray(p.box, np.float32)) for (f, k), p in prompts.merged().items() if p.box is not None]
    need = {i for f, _, _ in boxes for i in range(max(0, f - hold), min(info.frame_count, f + hold + 1))}
    found: dict[int, np.ndarray] = {}
    if floor is not None and boxes:
        for index, dets in floor_boxes(floor, info):
            if index in need and len(dets):
                found[index] = dets.boxes
    out: dict[int, dict[int, list[np.ndarray]]] = {}
    for frame, obj_id, box in boxes:
        out.setdefault(frame, {}).setdefault(obj_id, []).append(box)
        for step in (1, -1):
            cover, ref = box, None
            here = found.get(frame)
            if here is not None:
                ious = iou_matrix(box, here)[0]
                ref = here[int(np.argmax(ious))] if float(ious.max()) >= MATCH_IOU else None
            for n in range(1, hold + 1):
                i = frame + step * n
                if not 0 <= i < info.frame_count:
                    break
                if ref is not None:
                    there = found.get(i)
                    ious = iou_matrix(ref, there)[0] if there is not None else None
                    if ious is not None and float(ious.max()) >= HOLD_MATCH_IOU:
                        now = there[int(np.argmax(ious))]
                        cover, ref = _moved_with(cover, ref, now), now
                    else:
                        ref = None  # lost by the floor: the cover stays where it was, up to the hold
                out.setdefault(i, {}).setdefault(obj_id, []).append(cover)
    return out


def write_untracked_masks(video, workdir, info=None, prompts=None, hold: int = 0, floor=None) -> Path:
    """``masks.json`` for ``--no-track``: every drawn box a cover (``untracked_covers``), grown by
    ``FLOOR_MARGIN``; the render adds the floor. ``prompts``: the run folder's ``prompts.json`` when
    None (no objects when there is none); ``floor``: the run folder's ``floor.json`` when it exists."""
    from vidmask_nb.prompts.records import PromptSet
    from vidmask_nb.track.masks import FrameMasks, ObjectMask, encode_rle, write_masks_json
    from vidmask_nb.runfolder.folder import RunFolder, atomic_output
    from vidmask_nb.media.video import fraction_str, probe

    info = info or probe(video)
    run = RunFolder(workdir)
    if prompts is None:
        prompts = PromptSet.load(run.prompts_json, info) if run.prompts_json.is_file() else PromptSet.for_video(info)
    covers = untracked_covers(prompts, info, run_floor(workdir, floor), hold)
    objects = list(prompts.objects)
    path = run.masks_json
    video_ref = {"width": info.width, "height": info.height, "frame_count": info.frame_count,
                 "fps": fraction_str(info.fps), "fingerprint": info.fingerprint}
    empty = encode_rle(np.zeros((info.height, info.width), bool))

    def frames():
        for i in range(info.frame_count):
            here = covers.get(i, {})
            masks = []
            for o in objects:
                if o.id in here:
                    grown = Detections(np.stack(here[o.id]), np.ones(len(here[o.id]), np.float32),
                                       np.array(["box"] * len(here[o.id]), dtype=object))
                    rle = encode_rle(boxes_mask(grown.grown(FLOOR_MARGIN, info.width, info.height).boxes,
                                                info.height, info.width))
                    masks.append(ObjectMask(o.id, o.label, 1.0, rle))
                else:
                    masks.append(ObjectMask(o.id, o.label, 0.0, empty))
            yield FrameMasks(i, info.pts[i], tuple(masks))

    key = "no-track: detector floor" + (f" and {len(objects)} drawn object(s), hold {hold}" if objects else " only")
    with atomic_output(path) as tmp:
        write_masks_json(tmp, video_ref, objects, frames(), key=key)
    return path
