"""The floor pass: each kind's detector on every frame (or every ``floor_every``-th frame), written to
``floor.json`` (``detect.floorfile``) as it goes, resumable after a kill.

Personal text (kind ``pii``) is read on every floor frame; a text region that matched on the frame
before and overlaps a region found now stays personal (``sticky_pii``) even when OCR misreads it
there, so a name read once is covered as long as its text is seen. Codes: every code that decodes
and every QR code located is covered; a barcode only located, where a code was covered on the frame
before (``sticky_codes``: OpenCV's barcode locator also fires on stripes).
"""
from __future__ import annotations

import json
import os
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
FLOOR_THRESHOLD = {"face": 0.25, "text": 0.4, "pii": 0.4, "code": 0.3}
# The floor's checkpoint: the frames detected so far are marked complete at least this often (a killed
# run resumes from the last mark; a mark is a small atomic write after an fsync).
FLOOR_CHECKPOINT_SECONDS = 1.0


def _frames_rgb(video, info, indices: Iterable[int] | None = None, desc: str = "detect", start: int = 0):
    """(index, rgb) for every frame from ``start`` (or only ``indices``), decoded in order once.

    The detectors see swscale's own YUV->RGB at the frame's size (within 3 levels of the reader's
    exact conversion, 1.2 on average): the exact one, which the render needs, costs about 13 ms a
    720p frame against 5, a sixth of the fast face pass."""
    from vidmask_nb.media.video import VideoReader

    wanted = None if indices is None else {i for i in indices if i >= start}
    total = info.frame_count - start if wanted is None else len(wanted)
    with VideoReader(video, info=info, size=(info.width, info.height)) as reader, \
            tqdm(total=total, desc=desc, unit="frame") as bar:
        for frame in reader.frames(start):
            if wanted is None or frame.index in wanted:
                yield frame.index, frame.rgb
                bar.update(1)


def detect_video(video, kinds: Sequence[str], every: int = 1, info=None, scale: float | None = None,
                 threshold: float | Mapping[str, float] | None = None, desc: str = "detect",
                 words: Sequence[str] = (), sticky: bool = False, start: int = 0) -> Iterator[tuple[int, Detections]]:
    """(frame, detections) for every ``every``-th frame of ``video`` (always including the last), from
    frame ``start`` on (a resumed floor decodes from the keyframe before it, the same pixels).

    ``words``: the ``pii`` detector's word list; ``sticky``: personal text stays personal on the
    next frame where OCR misreads it (``sticky_pii``; the floor's way, not the audit's).
    """
    from vidmask_nb.media.video import probe

    kinds = parse_kinds(kinds)
    info = info or probe(video)
    if every < 1:
        raise VidmaskError(f"detection interval must be 1 frame or more, not {every}")
    detector = FrameDetector(kinds, scale, threshold, words, sticky)
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

    def __call__(self, rgb: np.ndarray) -> Detections:
        parts = [self.face_pass(rgb)] if self.face_pass is not None else []
        for d in self.detectors:
            if self.sticky and d.kind == "pii":
                lines, _ = d.read(rgb)  # the text read is dropped here
                self.last["pii"] = sticky_pii(lines, self.last.get("pii", Detections.empty()))
                parts.append(self.last["pii"])
            elif self.sticky and d.kind == "code":
                self.last["code"] = sticky_codes(d.detect(rgb), self.last.get("code", Detections.empty()))
                parts.append(self.last["code"])
            else:
                parts.append(d.detect(rgb))
        return Detections.merge(parts)

    def state(self) -> dict:
        return {"last": {k: v.to_json() for k, v in self.last.items()},
                "faces": self.face_pass.state() if self.face_pass is not None else None}

    def restore(self, state: dict) -> None:
        self.last = {k: Detections.from_json(v) for k, v in state.get("last", {}).items()}
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


def sticky_codes(codes: Detections, before: Detections) -> Detections:
    """The codes the floor covers on a frame: every code that decodes, every QR code located (three
    finder patterns are rarely a false alarm), and a barcode only located where a code was covered
    on the frame ``before`` (OpenCV's barcode locator also fires on stripes: wallpaper, a bedspread).
    A code found late is covered before it too, by the floor's hold."""
    from vidmask_nb.detect.detectors import CODE_DECODED

    if not len(codes):
        return codes
    alone = (codes.scores >= CODE_DECODED) | (codes.what == "qr")
    keep, _ = _carried(codes, before, alone)
    return codes[keep]


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
            f.write((json.dumps({"frame": index, "detections": dets.to_json()}, separators=(",", ":")) + "\n").encode())
            frames, last = frames + 1, index
            if time.monotonic() - since >= FLOOR_CHECKPOINT_SECONDS:
                commit(last)
                since = time.monotonic()
        f.flush()
        os.fsync(f.fileno())
    os.replace(lines, path)  # complete: the lines are the floor (atomic, never half a file under its name)
    mark.unlink(missing_ok=True)
    return path
