"""The floor's cover in the render: every floor box grown for its kind (``grown_by_kind``: a face by
``FLOOR_MARGIN``, text by a share of its line's height, a code by a tenth of its size; then by the
render's own ``dilate``) and held through the detector's dropouts box by box (``hold_boxes``), as the
pseudo-object ``FLOOR_ID`` (0, ``"floor"``), so a frame where SAM 2 lost a face the detector sees is
covered anyway. With ``floor_every`` N > 1 a frame between two detected frames is covered by the boxes
of both (fail closed). Boxes on an object whose style is ``keep`` are left alone. Codes (kind
``code``) are the pseudo-object ``CODES_FLOOR_ID`` (-1), always filled opaquely whatever the style
(a blurred QR code can still be thresholded and decoded), on kept objects too.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np

from vidmask_nb.detect.detectors import Detections, boxes_mask, centred_inside, iou_matrix
from vidmask_nb.detect.floorfile import FLOOR_MARGIN, floor_boxes, read_floor_header
from vidmask_nb.errors import VidmaskError

FLOOR_ID = 0  # the floor's pseudo-object id in the render (tracked objects start at 1)
FLOOR_LABEL = "floor"
CODES_FLOOR_ID = -1  # the codes' floor: always an opaque fill
CODES_FLOOR_LABEL = "codes floor"
# The floor's hold: a box counts as found again on a frame when a detection of its kind overlaps it
# at least this much (a face moves little in one frame; lower would let a neighbour end the hold).
HOLD_MATCH_IOU = 0.2


# The floor's margin for what is not a face: a text line's box grows by this share of the line's
# height on every side (OCR's box is the glyphs; a share of its width would add a word's length on each
# side of a long line); a code's box by this share of its size (the box is the code's own outline).
TEXT_MARGIN = 0.3
CODE_MARGIN = 0.1


def grown_by_kind(dets: Detections, margin: float, width: int, height: int) -> Detections:
    """Each floor box grown for its kind: a face by ``margin`` of its width and height (hair, ears,
    forehead), text by ``TEXT_MARGIN`` of its height, a code by ``CODE_MARGIN`` of its size."""
    if not len(dets):
        return dets
    b = dets.boxes.astype(np.float32)
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    kinds = dets.kinds.astype(str)
    text = (kinds == "text") | (kinds == "pii")
    code = kinds == "code"
    dw = np.where(text, TEXT_MARGIN * h, np.where(code, CODE_MARGIN * np.maximum(w, h), margin * w))
    dh = np.where(text, TEXT_MARGIN * h, np.where(code, CODE_MARGIN * np.maximum(w, h), margin * h))
    return Detections(b, dets.scores, dets.kinds, dets.what).grown_by(dw, dh, width, height)


def floor_cover(dets: Detections, height: int, width: int, margin: float = FLOOR_MARGIN,
                keep: np.ndarray | None = None) -> np.ndarray:
    """One frame's floor as a (H, W) bool mask: every box grown for its kind (``grown_by_kind``; a
    face by ``margin`` of its size).

    Boxes centred inside ``keep`` (the union of the masks of objects styled ``keep``) are left out.
    """
    if keep is not None and len(dets) and keep.any():
        cx = ((dets.boxes[:, 0] + dets.boxes[:, 2]) / 2).astype(int).clip(0, width - 1)
        cy = ((dets.boxes[:, 1] + dets.boxes[:, 3]) / 2).astype(int).clip(0, height - 1)
        dets = dets[~keep[cy, cx]]
    return boxes_mask(grown_by_kind(dets, margin, width, height).boxes, height, width)


def _found_near(place: np.ndarray, box: np.ndarray, kind: str, dets: Detections) -> bool:
    """Does ``dets`` hold ``box`` (a detection of ``kind``) at ``place``, where a hold put it: a box of
    that kind overlapping ``place`` (IoU >= ``HOLD_MATCH_IOU``: the same face, moved a little), or one
    of about ``box``'s size (within 1.5x) centred inside it? The second, because a held place grows
    with the distance a moving face may have gone: a small face found inside a grown place overlaps
    it too little to count, and the hold would grow on over it for the whole hold."""
    return bool(_near_where(place, box, kind, dets).any())


def _near_where(place: np.ndarray, box: np.ndarray, kind: str, dets: Detections) -> np.ndarray:
    """(N,) bool over ``dets``: the boxes that hold ``box`` at ``place`` (``_found_near``)."""
    out = np.zeros(len(dets), bool)
    same = np.flatnonzero(dets.kinds == kind)
    if not len(same):
        return out
    boxes = dets.boxes[same]
    out[same] = (iou_matrix(place, boxes)[0] >= HOLD_MATCH_IOU) | np.asarray(centred_inside(place, boxes, box), bool)
    return out


def hold_boxes(stream: Iterable[tuple[int, Detections]], hold: int) -> Iterator[tuple[int, Detections]]:
    """Every frame's boxes plus the boxes held over the detector's dropouts, box by box (fail closed).

    Each box is matched to the one it continues on the frame before (``associate``: the same kind,
    at the place the earlier box's own motion predicts, or, for a box whose motion is not known yet,
    its centre within 1.5 sizes and its size within 1.5x). A box of the frame before that no box
    continues stays covered for up to ``hold`` frames after, where it was (and, when it was moving
    more than a quarter of its size a frame, also where its centre's motion takes it, at its size:
    ``centre_step``); a box that continues none stays covered for up to ``hold`` frames before (a
    face found late, at the clip's start or as it turns towards the camera), back along its own
    motion: it is followed for up to ``BACK_TRACK_FRAMES`` frames, and on each frame before it sits
    where that motion puts it (``BACK_REACH_FRAMES``, ``STEADY_SIZE``: how far back), grown by a
    quarter of the distance moved. Box by box, so one face lost beside another that is found is
    held too; a face moving more than its width a frame leaves no trail. A held box stops at a frame
    that has a box of its kind at its place. Memory: ``hold + BACK_TRACK_FRAMES`` frames of boxes
    (the frames are yielded that many frames late). A box never confirmed (``CONFIRM_FRAMES``: below its
    kind's find threshold and never found a few frames in a row) is held ``unconfirmed_hold`` frames,
    forward and back, not the whole hold.
    """
    if hold <= 0:
        yield from stream
        return
    pending: deque[tuple[int, Detections, list]] = deque()  # (frame, its detections, boxes held onto it)
    carried: list[_LostBox] = []  # boxes no longer found, held forward
    fresh: list[_FreshBox] = []  # boxes found late, followed a few frames before they are held back
    prev, prev_motion = Detections.empty(), np.zeros((0, 4), np.float32)
    prev_confirmed = np.zeros(0, bool)
    prev_scored = np.zeros(0, bool)  # the box, or one it continues, scored at least the find threshold
    prev_run = np.zeros(0, int)
    short = unconfirmed_hold(hold)
    for index, dets in stream:
        match = associate(prev, prev_motion, dets)
        motion = np.zeros((len(dets), 4), np.float32)  # each box's movement since the frame before (edges)
        run = np.ones(len(dets), int)  # frames in a row each box has been found
        scored = _sure(dets)
        for j, i in enumerate(match):
            if i >= 0:
                scored[j] |= prev_scored[i]
        confirmed = scored.copy()
        for j, i in enumerate(match):
            if i >= 0:
                motion[j] = dets.boxes[j] - prev.boxes[i]
                run[j] = prev_run[i] + 1
                confirmed[j] |= prev_confirmed[i]
        confirmed |= run >= CONFIRM_FRAMES
        continued = set(int(i) for i in match if i >= 0)
        extra, kept = [], []
        for j, i in enumerate(match):  # a box that shrank all at once: the detector saw part of the face
            if i >= 0 and _area(dets.boxes[j]) < SUDDEN_SHRINK * _area(prev.boxes[i]):
                extra.append((prev.boxes[i] + prev_motion[i], float(prev.scores[i]), str(prev.kinds[i])))
        lost_now = [_LostBox(prev.boxes[i], float(prev.scores[i]), str(prev.kinds[i]), prev_motion[i],
                             limit=hold if prev_confirmed[i] else short, scored=bool(prev_scored[i]))
                    for i in range(len(prev)) if i not in continued]
        for lost in carried + lost_now:
            lost.frames += 1
            again = lost.found_where(dets)
            if again.any():
                # found again here: this frame's own box covers it, and takes over the standing of a
                # box that once scored as a face (one half hidden behind an occluder scores low, but it
                # is the same face); not of one confirmed only by repeating at low scores (in the
                # harness, a background detection on turn-away took a whole hold from it)
                if lost.scored:
                    confirmed |= again
                    scored |= again
                continue
            extra += [(box, lost.score, lost.kind) for box in lost.places()]
            if lost.frames < lost.limit:
                kept.append(lost)
        carried = kept
        still = []
        for track in fresh:
            j = next((j for j, i in enumerate(match) if i == track.last), -1)
            if j >= 0 and len(track.boxes) < BACK_TRACK_FRAMES:
                track.boxes.append(np.asarray(dets.boxes[j], np.float32))
                track.last = j
                track.sure |= bool(confirmed[j])
                still.append(track)
            else:
                if j >= 0:
                    track.boxes.append(np.asarray(dets.boxes[j], np.float32))
                    track.sure |= bool(confirmed[j])
                track.hold_back(pending, hold if track.sure else short)
        fresh = still
        for j in np.flatnonzero(match < 0):
            fresh.append(_FreshBox([np.asarray(dets.boxes[j], np.float32)], float(dets.scores[j]),
                                   str(dets.kinds[j]), len(pending), int(j), bool(confirmed[j])))
        pending.append((index, dets, extra))
        prev, prev_motion, prev_run, prev_confirmed, prev_scored = dets, motion, run, confirmed, scored
        while len(pending) > hold + BACK_TRACK_FRAMES:
            leaving = pending.popleft()
            for track in fresh:  # places count from the oldest pending frame
                track.at -= 1
            yield _with_held(*leaving)
    for track in fresh:
        track.hold_back(pending, hold if track.sure else short)
    while pending:
        yield _with_held(*pending.popleft())


# Frames a box found late is followed (its motion measured) before it is held back along that motion.
BACK_TRACK_FRAMES = 6
# A box is confirmed once it scored at least its kind's find threshold (``detectors.DEFAULT_THRESHOLD``)
# or was found on this many frames in a row at a consistent place and size (``associate``). A box never
# confirmed (a background detection scoring 0.26-0.46 on one frame) is held for this share of the hold,
# and at least one frame: in the ground-truth harness, 0 (one frame) and a quarter both kept every
# face clip at 0 leak frames; one frame took grow/shrink's over-redaction from 10.1 % to 3.1 %.
CONFIRM_FRAMES = 3
# A box held back follows its motion back the whole hold when it was followed ``BACK_TRACK_FRAMES``
# frames and its size held steady (within ``STEADY_SIZE``: a small face walking in, found late by the
# fine tiles); otherwise (its box changing shape: a face coming out from behind a patch, turning; or
# found on a frame or two only) only as many frames as that motion was measured over, then it stays
# there. Two boxes 42 px apart on 07_snowboarder, taken for one face's motion, were held back a whole
# second across the frame (32 % of frame 148). On the occluded clip such a box moved its centre
# 3.5 px a frame as more of the face showed (the face moved 0.7); followed back a whole second, the
# held box crossed the frame, grown on the way (ground truth, 2 s: 3.98 % over-redaction; 6 frames
# 2.08 %; 0 leak frames each), and a 12 px face held back 6 frames only leaked on frame 0 of small.
STEADY_SIZE = 1.25
BACK_REACH_FRAMES = BACK_TRACK_FRAMES
UNCONFIRMED_HOLD_SHARE = 0.0


# A box continued by one of less than this share of its area is also covered where it was, moved on by
# its motion, for that frame (the fast pass at times boxes half a face: a leak frame on grow/shrink).
SUDDEN_SHRINK = 0.6


def _steady(boxes: list) -> bool:
    """Did the box keep its width and height (within ``STEADY_SIZE``) over these frames?"""
    a, b = np.asarray(boxes[0], np.float32), np.asarray(boxes[-1], np.float32)
    wa, ha = max(a[2] - a[0], 1), max(a[3] - a[1], 1)
    wb, hb = max(b[2] - b[0], 1), max(b[3] - b[1], 1)
    return max(wa / wb, wb / wa, ha / hb, hb / ha) <= STEADY_SIZE


def _area(box: np.ndarray) -> float:
    return float(max(box[2] - box[0], 0) * max(box[3] - box[1], 0))


def unconfirmed_hold(hold: int) -> int:
    """Frames an unconfirmed box is held (at least 1 where there is a hold)."""
    return min(hold, max(1, round(hold * UNCONFIRMED_HOLD_SHARE))) if hold > 0 else 0


def _sure(dets: Detections) -> np.ndarray:
    from vidmask_nb.detect.detectors import DEFAULT_THRESHOLD

    return np.array([s >= DEFAULT_THRESHOLD.get(str(k), 0.0) for s, k in zip(dets.scores, dets.kinds)], bool)
# A box whose motion is not known yet continues one of the frame before within this many of its sizes.
CONTINUE_REACH = 1.5


def associate(before: Detections, motion: np.ndarray, dets: Detections) -> np.ndarray:
    """For each box of ``dets``, the box of ``before`` it continues (-1: none). ``motion``: each box of
    ``before``'s movement from the frame before it (its edges; zero when not known). A pair is the
    same kind, and either the earlier box moved on by its motion overlaps it (IoU >= ``HOLD_MATCH_IOU``)
    or, with no motion known, the centres are within ``CONTINUE_REACH`` sizes and the sizes within
    1.5x; the nearest pairs first, each box in one pair at most."""
    match = np.full(len(dets), -1)
    if not len(dets) or not len(before):
        return match
    predicted = before.boxes + motion
    ious = iou_matrix(dets.boxes, predicted)
    centre = lambda b: (b[:, :2] + b[:, 2:]) / 2  # noqa: E731
    size = lambda b: np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]).clip(1)  # noqa: E731
    dist = np.linalg.norm(centre(dets.boxes)[:, None] - centre(predicted)[None], axis=2)
    ratio = size(dets.boxes)[:, None] / size(before.boxes)[None]
    unknown = ~motion.any(axis=1)[None]
    near = unknown & (dist <= CONTINUE_REACH * size(before.boxes)[None]) & (ratio <= 1.5) & (ratio >= 1 / 1.5)
    ok = ((ious >= HOLD_MATCH_IOU) | near) & (dets.kinds[:, None] == before.kinds[None])
    taken = set()
    for flat in np.argsort(np.where(ok, dist, np.inf), axis=None):
        j, i = divmod(int(flat), len(before))
        if not ok[j, i]:
            break
        if match[j] < 0 and i not in taken:
            match[j] = i
            taken.add(i)
    return match


def centre_step(edges: np.ndarray) -> np.ndarray:
    """A box's motion as its centre's (x, y) step, from its edges' (x0, y0, x1, y1) movement. A held box
    moves with its centre and keeps its size: two boxes of one object differ in size from frame to
    frame (a face's box settling as it comes out from behind something, a low-score box on a leg
    found at 97x57 and then 117x131 px), and an edge's movement taken as motion carried that growth
    on for the whole hold (an 11x695 px band held back on the occluded clip, 14 % of bedroom's frame
    27 held forward)."""
    edges = np.asarray(edges, np.float32)
    return (edges[:2] + edges[2:]) / 2


@dataclass
class _LostBox:
    """A box no longer found, held forward: where it was, and where its motion takes it."""

    box: np.ndarray
    score: float
    kind: str
    motion: np.ndarray  # its edges' movement a frame when it was last found
    frames: int = 0  # frames since it was last found
    limit: int = 0  # frames it is held
    scored: bool = False  # it, or a box it continued, scored at least its kind's find threshold

    def places(self) -> list[np.ndarray]:
        size = float(max(self.box[2] - self.box[0], self.box[3] - self.box[1], 1))
        step = centre_step(self.motion)
        speed = float(np.abs(step).max())
        if speed <= 0.25 * size:
            return [self.box]
        grow = 0.25 * speed * self.frames
        return [self.box, self.box + np.tile(step * self.frames, 2) + np.array([-grow, -grow, grow, grow], np.float32)]

    def found_where(self, dets: Detections) -> np.ndarray:
        """(N,) bool over ``dets``: the boxes that find it again, at one of its places."""
        out = np.zeros(len(dets), bool)
        for place in self.places():
            out |= _near_where(place, self.box, self.kind, dets)
        return out


@dataclass
class _FreshBox:
    """A box that continues none of the frame before, and its boxes on the frames after it."""

    boxes: list  # its box on the frame it was found, then on each frame it was followed to
    score: float
    kind: str
    at: int  # its frame's place in ``hold_boxes``' pending frames
    last: int  # its box's index in the latest frame
    sure: bool = False  # confirmed (``CONFIRM_FRAMES``): held back the whole hold

    def hold_back(self, pending, hold: int) -> None:
        """Hold the box on up to ``hold`` frames before it was found, back along its motion, until a
        frame that has it at that place."""
        first = self.boxes[0]
        step = centre_step((self.boxes[-1] - first) / max(1, len(self.boxes) - 1))  # per frame
        steady = len(self.boxes) > BACK_TRACK_FRAMES and _steady(self.boxes)
        for d in range(1, hold + 1):
            place = self.at - d
            if place < 0:
                return
            far = d if steady else min(d, len(self.boxes) - 1, BACK_REACH_FRAMES)
            grow = 0.25 * float(np.abs(step).max()) * far
            box = first - np.tile(step * far, 2) + np.array([-grow, -grow, grow, grow], np.float32)
            if _found_near(box, first, self.kind, pending[place][1]):
                return
            pending[place][2].append((box, self.score, self.kind))


def _with_held(index: int, dets: Detections, held: list) -> tuple[int, Detections]:
    if not held:
        return index, dets
    boxes, scores, kinds = zip(*held)
    return index, Detections.merge([dets, Detections(np.array(boxes), np.array(scores), np.array(kinds, dtype=object))])


def with_floor(stream: Iterable[tuple[int, dict[int, np.ndarray]]], floor, info,
               keep_ids: Iterable[int] = (), hold: int = 0) -> Iterator[tuple[int, dict[int, np.ndarray]]]:
    """Add the floor's cover as object ``FLOOR_ID`` to a render mask stream, its codes as ``CODES_FLOOR_ID``.

    ``floor`` is the path of ``floor.json``; ``keep_ids`` the objects whose style is ``keep`` (their
    boxes are left alone, but never a code's); ``hold`` the frames each lost box stays covered
    before and after (``hold_boxes``). ``CODES_FLOOR_ID`` is present only when the floor looks for codes.
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
        is_code = dets.kinds == "code"
        covers = {FLOOR_ID: floor_cover(dets[~is_code], info.height, info.width, header.margin, keep)}
        if "code" in header.kinds:
            covers[CODES_FLOOR_ID] = floor_cover(dets[is_code], info.height, info.width, header.margin)
        yield index, {**masks, **covers}
