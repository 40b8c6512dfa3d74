"""The floor pass: each kind's detector on every frame (or every ``floor_every``-th frame), written to
``floor.json`` (``detect.floorfile``) as it goes, resumable after a kill.

Personal text (kind ``pii``) is read on every floor frame; a text region that matched on the frame
before and overlaps a region found now stays personal (``sticky_pii``) even when OCR misreads it
there, so a name read once is covered as long as its text is seen. Codes: every code that decodes
and every QR code located is covered; a barcode only located, where a code was covered on the frame
before. Codes: every code that decodes and every code located with a code's geometry
(``detectors.code_geometry``) is covered; a pattern only located, without it (OpenCV's locators also
fire on wallpaper stripes), only near a code that decoded on this frame or up to ``CODE_NEAR_FRAMES``
before (``sticky_codes``), at about that code's size; any other is left visible and counted in
``floor.json`` for review (``"unsure_codes"``, ``floorfile.floor_summary``).
"""
from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Sequence

import numpy as np
from tqdm.auto import tqdm

from vidmask_nb.detect.detectors import Detections, get_detector, iou_matrix, parse_kinds
from vidmask_nb.detect.floorfile import (FLOOR_MARGIN, FloorHeader, floor_path, floor_progress,
                                         floor_progress_paths, read_floor_header)
from vidmask_nb.detect.hold import HOLD_MATCH_IOU
from vidmask_nb.detect.options import DEFAULT_FLOOR_EVERY
from vidmask_nb.detect.pii import words_digest
from vidmask_nb.errors import VidmaskError

# The floor's score thresholds: lower than find's and the audit's (detect.DEFAULT_THRESHOLD), to fail
# closed: on bedroom.mp4 a face half turned away scores 0.33-0.5 at full size and below 0.4 at 640 px;
# a false alarm costs only a small covered box. Find keeps detections at or above DEFAULT_THRESHOLD.
# Codes: every code located, decoded or not (CODE_LOCATED is 0.5).
FLOOR_THRESHOLD = {"face": 0.25, "text": 0.4, "pii": 0.4, "code": 0.1}
# A pattern only located, with no code's geometry, is covered where a code decoded at its place on one
# of this many frames before (a code moving or blurred for a moment); a second at 30 fps.
CODE_NEAR_FRAMES = 30
# The floor's checkpoint: the frames detected so far are marked complete at least this often (a killed
# run resumes from the last mark; a mark is a small atomic write after an fsync).
FLOOR_CHECKPOINT_SECONDS = 1.0


def _frames_rgb(video, info, indices: Iterable[int] | None = None, desc: str = "detect", start: int = 0):
    """(index, rgb) for every frame from ``start`` (or only ``indices``), decoded in order once.

    The detectors see swscale's own YUV->RGB at the frame's size (within 3 levels of the reader's
    exact conversion, 1.2 on average): the exact one, which the render needs, costs more than twice
    as much, and the detectors do not need it."""
    from vidmask_nb.media.threads import DEPTH, prefetch
    from vidmask_nb.media.video import VideoReader

    wanted = None if indices is None else {i for i in indices if i >= start}
    total = info.frame_count - start if wanted is None else len(wanted)
    stop = threading.Event()
    with VideoReader(video, info=info, size=(info.width, info.height)) as reader, \
            tqdm(total=total, desc=desc, unit="frame") as bar:
        # decoded in a thread of its own, a few frames ahead, while the detectors run on the one before
        frames = prefetch((f for f in reader.frames(start) if wanted is None or f.index in wanted), DEPTH, stop)
        try:
            for frame in frames:
                yield frame.index, frame.rgb
                bar.update(1)
        finally:
            stop.set()
            frames.close()  # joins the thread before its reader closes


def detect_video(video, kinds: Sequence[str], every: int = 1, info=None, scale: float | None = None,
                 threshold: float | Mapping[str, float] | None = None, desc: str = "detect",
                 words: Sequence[str] = (), sticky: bool = False, start: int = 0,
                 fast=None) -> Iterator[tuple[int, Detections]]:
    """(frame, detections) for every ``every``-th frame of ``video`` (always including the last), from
    frame ``start`` on (a resumed floor decodes from the keyframe before it, the same pixels).
    ``fast``: faces by the fast pass with these ``fastpass.FastPassOptions`` (every frame only).

    ``words``: the ``pii`` detector's word list; ``sticky``: personal text stays personal on the
    next frame where OCR misreads it (``sticky_pii``; the floor's way, not the audit's).
    """
    from vidmask_nb.media.video import probe

    kinds = parse_kinds(kinds)
    info = info or probe(video)
    if every < 1:
        raise VidmaskError(f"detection interval must be 1 frame or more, not {every}")
    if fast is not None and every != 1:
        raise VidmaskError(f"the fast face pass follows faces from frame to frame: it looks at every frame, not every {every}th")
    detector = FrameDetector(kinds, scale, threshold, words, sticky, fast)
    for index, rgb in _frames_rgb(video, info, None if every == 1 else _sampled(info, every), desc, start):
        yield index, detector(rgb)


def _sampled(info, every: int) -> list[int]:
    """Every ``every``-th frame, and always the last."""
    return sorted(set(range(0, info.frame_count, every)) | {info.frame_count - 1})


class FrameDetector:
    """The detectors of one pass over a video, called frame by frame in order, with what a frame
    lends the next: personal text and codes held where OCR or the code reader misses them on the
    next frame (``sticky``, the floor's way, not the audit's), faces followed by the fast pass
    (``fast``: ``fastpass.FastPassOptions``; None: each frame on its own). ``state()`` and
    ``restore()`` carry that across a checkpoint: a resumed floor gives the same bytes."""

    def __init__(self, kinds: Sequence[str], scale: float | None = None,
                 threshold: float | Mapping[str, float] | None = None, words: Sequence[str] = (),
                 sticky: bool = False, fast=None):
        kinds = parse_kinds(kinds)
        self.sticky = sticky
        self.face_pass = None
        if fast is not None and "face" in kinds:
            from vidmask_nb.detect.fastpass import FastFacePass

            self.face_pass = FastFacePass(fast)
        self.detectors = [get_detector(k, scale, threshold.get(k) if isinstance(threshold, Mapping) else threshold,
                                       words=words) for k in kinds if not (k == "face" and self.face_pass)]
        self.last: dict[str, Detections] = {}
        self.code_ages: list[int] = []  # frames since each of last["code"] (decoded codes) decoded
        self.unsure = Detections.empty()  # this frame's located patterns left visible (for review)

    def __call__(self, rgb: np.ndarray) -> Detections:
        parts = [self.face_pass(rgb)] if self.face_pass is not None else []
        for d in self.detectors:
            if self.sticky and d.kind == "pii":
                lines, _ = d.read(rgb)  # the text read is dropped here
                self.last["pii"] = sticky_pii(lines, self.last.get("pii", Detections.empty()))
                parts.append(self.last["pii"])
            elif self.sticky and d.kind == "code":
                codes = d.detect(rgb)
                kept = sticky_codes(codes, self.last.get("code", Detections.empty()))
                self.unsure = codes[~_kept_mask(codes, kept)] if len(codes) else codes
                self._remember_decoded(codes)
                parts.append(kept)
            else:
                parts.append(d.detect(rgb))
        return Detections.merge(parts)

    def _remember_decoded(self, codes: Detections) -> None:
        """The codes that decoded here, and those that decoded up to ``CODE_NEAR_FRAMES`` before and
        none of these replaces (one at its place)."""
        from vidmask_nb.detect.detectors import CODE_DECODED

        now = codes[codes.scores >= CODE_DECODED] if len(codes) else codes
        old = self.last.get("code", Detections.empty())
        ages = [a + 1 for a in self.code_ages]
        stay = np.array([a < CODE_NEAR_FRAMES for a in ages], bool)
        if len(old) and len(now):
            stay &= iou_matrix(old.boxes, now.boxes).max(axis=1) < HOLD_MATCH_IOU
        old = old[stay] if len(old) else old
        self.last["code"] = Detections.merge([now, old]) if len(old) else now
        self.code_ages = [0] * len(now) + [a for a, k in zip(ages, stay) if k]

    def state(self) -> dict:
        return {"last": {k: v.to_json() for k, v in self.last.items()}, "code_ages": list(self.code_ages),
                "faces": self.face_pass.state() if self.face_pass is not None else None}

    def restore(self, state: dict) -> None:
        self.last = {k: Detections.from_json(v) for k, v in state.get("last", {}).items()}
        self.code_ages = [int(a) for a in state.get("code_ages", [])]
        if self.face_pass is not None and state.get("faces") is not None:
            self.face_pass.restore(state["faces"])


def _carried(found: Detections, before: Detections, alone: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which of ``found`` to keep: those ``alone`` marks, and those at the place of one of ``before``
    (IoU >= ``HOLD_MATCH_IOU``, or the centre inside its box); and, for each, its match in ``before`` (-1)."""
    keep = np.asarray(alone, bool).copy()
    match = np.full(len(found), -1)
    if len(found) and len(before):
        ious = iou_matrix(found.boxes, before.boxes)
        cx = (found.boxes[:, 0] + found.boxes[:, 2]) / 2
        cy = (found.boxes[:, 1] + found.boxes[:, 3]) / 2
        b = before.boxes
        inside = (b[None, :, 0] <= cx[:, None]) & (cx[:, None] <= b[None, :, 2]) & \
                 (b[None, :, 1] <= cy[:, None]) & (cy[:, None] <= b[None, :, 3])
        near = (ious >= HOLD_MATCH_IOU) | inside
        for i in np.flatnonzero(near.any(axis=1)):
            match[i] = int(np.argmax(np.where(near[i], ious, -1.0)))
            keep[i] = True
    return keep, match


def sticky_pii(lines: Detections, before: Detections) -> Detections:
    """The personal lines of a frame: those that matched, and those at the place of a personal line
    of the frame ``before`` (which lends them what it matched): OCR misreads a line now and then."""
    if not len(lines):
        return lines
    what = lines.what.astype(object).copy()
    keep, match = _carried(lines, before, np.array([bool(w) for w in what], bool))
    for i in np.flatnonzero(keep & (match >= 0)):
        what[i] = what[i] or before.what[match[i]]
    return Detections(lines.boxes, lines.scores, lines.kinds, what)[keep]


def sticky_codes(codes: Detections, decoded: Detections) -> Detections:
    """The codes the floor covers on a frame: every code that decodes, every code located with a
    code's geometry (``CODE_LOCATED``: a QR code's square and finder patterns, a barcode's regular
    bars), and a pattern only located (``CODE_UNSURE``) near one of ``decoded`` (codes that decoded
    on this frame or shortly before; ``near_decoded``). OpenCV's locators also fire on stripes
    (wallpaper, a bedspread): alone, such a pattern is not covered. A code found late is covered
    before it too, by the floor's hold."""
    from vidmask_nb.detect.detectors import CODE_DECODED, CODE_LOCATED

    if not len(codes):
        return codes
    sure = codes.scores >= CODE_LOCATED
    refs = Detections.merge([decoded, codes[codes.scores >= CODE_DECODED]])
    keep = sure | near_decoded(codes.boxes, refs.boxes)
    return codes[keep]


def near_decoded(boxes: np.ndarray, decoded: np.ndarray) -> np.ndarray:
    """(N,) bool: is each box at the place of one of ``decoded`` and about its size (the sides'
    longest within 1.5x): overlapping it (IoU >= ``HOLD_MATCH_IOU``) or centred inside it grown by
    half its size? A band located across a wall beside a code is many times the code's size."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    decoded = np.asarray(decoded, np.float32).reshape(-1, 4)
    if not len(boxes) or not len(decoded):
        return np.zeros(len(boxes), bool)
    size = lambda b: np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]).clip(1)  # noqa: E731
    ratio = size(boxes)[:, None] / size(decoded)[None]
    similar = (ratio <= 1.5) & (ratio >= 1 / 1.5)
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    g = size(decoded) / 2
    inside = ((decoded[None, :, 0] - g <= cx[:, None]) & (cx[:, None] <= decoded[None, :, 2] + g) &
              (decoded[None, :, 1] - g <= cy[:, None]) & (cy[:, None] <= decoded[None, :, 3] + g))
    return (similar & ((iou_matrix(boxes, decoded) >= HOLD_MATCH_IOU) | inside)).any(axis=1)


def _kept_mask(codes: Detections, kept: Detections) -> np.ndarray:
    """Which of ``codes`` are in ``kept`` (a subset of them, in order)."""
    out = np.zeros(len(codes), bool)
    j = 0
    for i in range(len(codes)):
        if j < len(kept) and np.array_equal(codes.boxes[i], kept.boxes[j]):
            out[i], j = True, j + 1
    return out


def compute_floor(video, workdir, kinds: Sequence[str] = ("face",), every: int = DEFAULT_FLOOR_EVERY,
                  margin: float = FLOOR_MARGIN, info=None, words: Sequence[str] = (), exact: bool = False,
                  fine_model: str = "int8") -> Path:
    """Run the detectors over ``video`` and write ``floor.json`` into ``workdir`` (streaming).

    Faces on every frame (``every`` 1) go through the fast pass (``detect.fastpass``, its fine tiles
    on the network ``fine_model``) unless ``exact``: CenterFace at 640 px on every frame, as ``detect_video``.
    A finished ``floor.json`` for the same video and settings is kept as it is (a rerun skips it). A
    killed run resumes after the last checkpoint (``floor_progress_paths``: the detected lines, fsynced,
    and an atomically written mark of how many bytes and frames of them are complete, every
    ``FLOOR_CHECKPOINT_SECONDS``); the finished file is the same, byte for byte, as one run's.
    ``words``: the ``pii`` word list (its digest goes in the header, never the words).
    """
    from vidmask_nb.detect.fastpass import FastPassOptions

    from vidmask_nb.runfolder.folder import write_json
    from vidmask_nb.media.video import probe

    info = info or probe(video)
    fast = None if exact or int(every) != 1 or "face" not in parse_kinds(kinds) else \
        FastPassOptions(threshold=FLOOR_THRESHOLD["face"], fps=float(info.fps), fine_model=fine_model).checked()
    header = FloorHeader(parse_kinds(kinds), int(every), float(margin), info.frame_count, info.fingerprint,
                         {k: FLOOR_THRESHOLD[k] for k in parse_kinds(kinds)},
                         words_digest(words) if "pii" in parse_kinds(kinds) else None, fast and fast.to_json())
    path = floor_path(workdir)
    lines, mark = floor_progress_paths(workdir)
    try:
        if read_floor_header(path) == header:
            lines.unlink(missing_ok=True)
            mark.unlink(missing_ok=True)
            return path
    except VidmaskError:
        pass
    lines.parent.mkdir(parents=True, exist_ok=True)
    detector = FrameDetector(header.kinds, threshold=FLOOR_THRESHOLD, words=words, sticky=True, fast=fast)
    done = floor_progress(workdir, header)
    start = 0
    if done is not None:
        f = open(lines, "r+b")
        f.truncate(done[0])  # a line written after the last mark is detected again
        f.seek(done[0])
        start = done[2] + 1
        detector.restore(done[3])  # what the pass carries from frame to frame, as it was at the mark
        print(f"floor: resuming after {done[1]} of {header.frame_count} frames (frame {start} next; "
              f"{lines.name})", flush=True)
    else:
        f = open(lines, "wb")
        f.write((json.dumps(header.to_json()) + "\n").encode())
    frames = done[1] if done else 0

    def commit(last: int) -> None:
        f.flush()
        os.fsync(f.fileno())
        write_json(mark, {"header": header.to_json(), "bytes": f.tell(), "frames": frames, "last_frame": last,
                          "state": detector.state()})

    with f:
        last, since = start - 1, time.monotonic()
        for index, rgb in _frames_rgb(video, info, None if header.every == 1 else _sampled(info, header.every),
                                      "floor", start):
            dets = detector(rgb)
            line = {"frame": index, "detections": dets.to_json()}
            if len(detector.unsure):  # located, not covered: for the review (``floor_summary``)
                line["unsure_codes"] = [[round(float(v), 1) for v in b] for b in detector.unsure.boxes]
            f.write((json.dumps(line, separators=(",", ":")) + "\n").encode())
            frames, last = frames + 1, index
            if time.monotonic() - since >= FLOOR_CHECKPOINT_SECONDS:
                commit(last)
                since = time.monotonic()
        f.flush()
        os.fsync(f.fileno())
    os.replace(lines, path)  # complete: the lines are the floor (atomic, never half a file under its name)
    mark.unlink(missing_ok=True)
    return path
