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
both (fail closed). Boxes on an object whose style is ``keep`` are left alone. Codes (kind
``code``) are the pseudo-object ``CODES_FLOOR_ID`` (-1), always filled opaquely whatever the style
(a blurred QR code can still be thresholded and decoded), on kept objects too.

Personal text (kind ``pii``) is read on every floor frame; a text region that matched on the frame
before and overlaps a region found now stays personal (``sticky_pii``) even when OCR misreads it
there, so a name read once is covered as long as its text is seen. Codes: every code that decodes
and every QR code located is covered; a barcode only located, where a code was covered on the frame
before (``sticky_codes``: OpenCV's barcode locator also fires on stripes). ``what`` in ``floor.json``
names what matched (``email``), never the text; the header holds a digest of the word list, never
the words.

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
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np
from tqdm.auto import tqdm

from vidmask_nb.detect.detectors import (DEFAULT_THRESHOLD, Detections, boxes_mask, centred_inside, get_detector,
                                         iou_matrix, parse_kinds)
from vidmask_nb.detect.pii import read_words, words_digest
from vidmask_nb.errors import VidmaskError, check_number
from vidmask_nb.prompts.records import VideoRef

FLOOR_VERSION = 1
FLOOR_ID = 0  # the floor's pseudo-object id in the render (tracked objects start at 1)
FLOOR_LABEL = "floor"
CODES_FLOOR_ID = -1  # the codes' floor: always an opaque fill
CODES_FLOOR_LABEL = "codes floor"
# Each floor box grows by this fraction of its width/height on every side before the render's
# dilate: CenterFace's box is the face from brows to chin; hair, ears and forehead are outside it.
FLOOR_MARGIN = 0.2
DEFAULT_FIND_EVERY = 0.5  # seconds between frames that find detects on
DEFAULT_FLOOR_EVERY = 1  # frames between frames the floor's detectors run on
# The floor's score thresholds: lower than find's and the audit's (detect.DEFAULT_THRESHOLD), to fail
# closed: on bedroom.mp4 a face half turned away scores 0.33-0.5 at full size and below 0.4 at 640 px;
# a false alarm costs only a small covered box. Find keeps detections at or above DEFAULT_THRESHOLD.
# Codes: every code located, decoded or not (CODE_LOCATED is 0.5).
FLOOR_THRESHOLD = {"face": 0.25, "text": 0.4, "pii": 0.4, "code": 0.3}
# Two detections on sampled frames are the same object when their boxes overlap at least this much.
MATCH_IOU = 0.2
# The floor's hold: a box counts as found again on a frame when a detection of its kind overlaps it
# at least this much (a face moves little in one frame; lower would let a neighbour end the hold).
HOLD_MATCH_IOU = 0.2
# The floor's checkpoint: the frames detected so far are marked complete at least this often (a killed
# run resumes from the last mark; a mark is a small atomic write after an fsync).
FLOOR_CHECKPOINT_SECONDS = 1.0


@dataclass(frozen=True)
class FindOptions:
    """The detectors' settings in a run (``vidmask-nb run`` flags, notebook 02's parameters): one
    default each, checked once by ``checked()``.

    - ``find``: detectors that find what to hide and cover a floor under SAM 2: ``faces``, ``text``
      (every text region), ``pii`` (text read by OCR that holds personal data), ``codes`` (QR codes
      and barcodes), comma-separated (``faces,pii,codes``; None: only the prompts).
    - ``pii_words``: a text file of words and names (one a line) that ``pii`` covers too.
    - ``find_every``: seconds between frames searched for new objects.
    - ``floor_every``: the floor's detectors run on every N-th frame.
    - ``no_track``: cover the detector floor alone; SAM 2 is not loaded (needs ``find``).
    - ``exact_floor``: faces at 640 px on every frame instead of the fast pass (``detect.fastpass``).
    """

    find: str | None = None
    find_every: float = DEFAULT_FIND_EVERY
    floor_every: int = DEFAULT_FLOOR_EVERY
    no_track: bool = False
    pii_words: str | None = None
    exact_floor: bool = False

    def checked(self) -> "FindOptions":
        """Raise ``VidmaskError`` (naming the CLI flag) for a bad setting; returns the options (the
        word list's path made absolute)."""
        check_number(self.find_every, "--find-every", positive=True)
        check_number(self.floor_every, "--floor-every", integer=True, minimum=1)
        if self.pii_words is not None:
            if self.find is None or "pii" not in parse_kinds(self.find):
                raise VidmaskError("--pii-words is read by the pii detector: add pii to --find (e.g. --find faces,pii)")
            read_words(self.pii_words)
            from dataclasses import replace

            return replace(self, pii_words=str(Path(self.pii_words).expanduser().resolve())).checked_kinds()
        return self.checked_kinds()

    def checked_kinds(self) -> "FindOptions":
        if self.find is not None:
            parse_kinds(self.find)
            if not self.find_every > 0:
                raise VidmaskError(f"--find-every must be positive seconds, not {self.find_every}")
            if self.floor_every < 1:
                raise VidmaskError(f"--floor-every must be 1 frame or more, not {self.floor_every}")
        elif self.no_track:
            raise VidmaskError("--no-track covers what the detectors find: give --find faces (or faces,pii,codes)")
        return self

    @property
    def words(self) -> tuple[str, ...]:
        """The ``pii_words`` file's words (``pii.read_words``), () without one."""
        return read_words(self.pii_words) if self.pii_words else ()


def floor_path(workdir: str | os.PathLike) -> Path:
    """``floor.json`` in the run folder, beside ``masks.json``."""
    return Path(workdir) / "floor.json"


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


# -- the floor ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class FloorHeader:
    kinds: tuple[str, ...]
    every: int
    margin: float
    frame_count: int
    fingerprint: str
    thresholds: dict | None = None
    words: str | None = None  # the pii word list's digest (``pii.words_digest``), never the words
    detector: dict | None = None  # the face pass's settings (fastpass.FastPassOptions.to_json), None: exact

    def to_json(self) -> dict:
        return {"version": FLOOR_VERSION, "kinds": list(self.kinds), "every": self.every,
                "margin": self.margin, "frame_count": self.frame_count, "fingerprint": self.fingerprint,
                "thresholds": self.thresholds, **({"words": self.words} if self.words else {}), "pass": self.detector}


def floor_progress_paths(workdir) -> tuple[Path, Path]:
    """The floor's checkpoint beside ``floor.json`` while it is computed (both removed once it is
    complete): the lines detected so far (``floor-progress.jsonl``) and the mark of how much of them
    is complete (``floor-progress.json``)."""
    root = Path(workdir)
    return root / "floor-progress.jsonl", root / "floor-progress.json"


def floor_progress(workdir, header: "FloorHeader") -> tuple[int, int, int, dict] | None:
    """(bytes, frames, last frame, the pass's state) of the checkpoint for ``header``'s floor, or None
    (none, or another's)."""
    lines, mark = floor_progress_paths(workdir)
    try:
        d = json.loads(mark.read_text(encoding="utf-8"))
        if d["header"] != header.to_json() or lines.stat().st_size < int(d["bytes"]):
            return None
        return int(d["bytes"]), int(d["frames"]), int(d["last_frame"]), dict(d["state"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


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
                               str(d["fingerprint"]), d.get("thresholds"), d.get("words"), d.get("pass"))
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


def _found_near(place: np.ndarray, box: np.ndarray, kind: str, dets: Detections) -> bool:
    """Does ``dets`` hold ``box`` (a detection of ``kind``) at ``place``, where a hold put it: a box of
    that kind overlapping ``place`` (IoU >= ``HOLD_MATCH_IOU``: the same face, moved a little), or one
    of about ``box``'s size (within 1.5x) centred inside it? The second, because a held place grows
    with the distance a moving face may have gone: a small face found inside a grown place overlaps
    it too little to count, and the hold would grow on over it for the whole hold."""
    same = dets.boxes[dets.kinds == kind]
    if not len(same):
        return False
    return float(iou_matrix(place, same).max()) >= HOLD_MATCH_IOU or bool(centred_inside(place, same, box).any())


def hold_boxes(stream: Iterable[tuple[int, Detections]], hold: int) -> Iterator[tuple[int, Detections]]:
    """Every frame's boxes plus the boxes held over the detector's dropouts, box by box (fail closed).

    Each box is matched to the one it continues on the frame before (``associate``: the same kind,
    at the place the earlier box's own motion predicts, or, for a box whose motion is not known yet,
    its centre within 1.5 sizes and its size within 1.5x). A box of the frame before that no box
    continues stays covered for up to ``hold`` frames after, where it was (and, when it was moving
    more than a quarter of its size a frame, also where its motion takes it); a box that continues
    none stays covered for up to ``hold`` frames before (a face found late, at the clip's start or
    as it turns towards the camera), back along its own motion: it is followed for up to
    ``BACK_TRACK_FRAMES`` frames, and on each frame before it sits where that motion puts it, grown by
    a quarter of the distance moved. Box by box, so one face lost beside another that is found is
    held too; a face moving more than its width a frame leaves no trail. A held box stops at a frame
    that has a box of its kind at its place. Memory: ``hold + BACK_TRACK_FRAMES`` frames of boxes
    (the frames are yielded that many frames late).
    """
    if hold <= 0:
        yield from stream
        return
    pending: deque[tuple[int, Detections, list]] = deque()  # (frame, its detections, boxes held onto it)
    carried: list[_LostBox] = []  # boxes no longer found, held forward
    fresh: list[_FreshBox] = []  # boxes found late, followed a few frames before they are held back
    prev, prev_motion = Detections.empty(), np.zeros((0, 4), np.float32)
    for index, dets in stream:
        match = associate(prev, prev_motion, dets)
        motion = np.zeros((len(dets), 4), np.float32)  # each box's movement since the frame before (edges)
        for j, i in enumerate(match):
            if i >= 0:
                motion[j] = dets.boxes[j] - prev.boxes[i]
        continued = set(int(i) for i in match if i >= 0)
        extra, kept = [], []
        lost_now = [_LostBox(prev.boxes[i], float(prev.scores[i]), str(prev.kinds[i]), prev_motion[i])
                    for i in range(len(prev)) if i not in continued]
        for lost in carried + lost_now:
            lost.frames += 1
            if lost.found_in(dets):
                continue  # found again here: this frame's own box covers it
            extra += [(box, lost.score, lost.kind) for box in lost.places()]
            if lost.frames < hold:
                kept.append(lost)
        carried = kept
        still = []
        for track in fresh:
            j = next((j for j, i in enumerate(match) if i == track.last), -1)
            if j >= 0 and len(track.boxes) < BACK_TRACK_FRAMES:
                track.boxes.append(np.asarray(dets.boxes[j], np.float32))
                track.last = j
                still.append(track)
            else:
                if j >= 0:
                    track.boxes.append(np.asarray(dets.boxes[j], np.float32))
                track.hold_back(pending, hold)
        fresh = still
        for j in np.flatnonzero(match < 0):
            fresh.append(_FreshBox([np.asarray(dets.boxes[j], np.float32)], float(dets.scores[j]),
                                   str(dets.kinds[j]), len(pending), int(j)))
        pending.append((index, dets, extra))
        prev, prev_motion = dets, motion
        while len(pending) > hold + BACK_TRACK_FRAMES:
            leaving = pending.popleft()
            for track in fresh:  # places count from the oldest pending frame
                track.at -= 1
            yield _with_held(*leaving)
    for track in fresh:
        track.hold_back(pending, hold)
    while pending:
        yield _with_held(*pending.popleft())


# Frames a box found late is followed (its motion measured) before it is held back along that motion.
BACK_TRACK_FRAMES = 6
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


@dataclass
class _LostBox:
    """A box no longer found, held forward: where it was, and where its motion takes it."""

    box: np.ndarray
    score: float
    kind: str
    motion: np.ndarray  # its edges' movement a frame when it was last found
    frames: int = 0  # frames since it was last found

    def places(self) -> list[np.ndarray]:
        size = float(max(self.box[2] - self.box[0], self.box[3] - self.box[1], 1))
        speed = float(np.abs(self.motion).max())
        if speed <= 0.25 * size:
            return [self.box]
        grow = 0.25 * speed * self.frames
        return [self.box, self.box + self.motion * self.frames + np.array([-grow, -grow, grow, grow], np.float32)]

    def found_in(self, dets: Detections) -> bool:
        """Is it found again in ``dets``, at one of its places (``_found_near``)?"""
        return any(_found_near(place, self.box, self.kind, dets) for place in self.places())


@dataclass
class _FreshBox:
    """A box that continues none of the frame before, and its boxes on the frames after it."""

    boxes: list  # its box on the frame it was found, then on each frame it was followed to
    score: float
    kind: str
    at: int  # its frame's place in ``hold_boxes``' pending frames
    last: int  # its box's index in the latest frame

    def hold_back(self, pending, hold: int) -> None:
        """Hold the box on up to ``hold`` frames before it was found, back along its motion, until a
        frame that has it at that place."""
        first = self.boxes[0]
        step = (self.boxes[-1] - first) / max(1, len(self.boxes) - 1)  # per frame, each edge
        for d in range(1, hold + 1):
            place = self.at - d
            if place < 0:
                return
            grow = 0.25 * float(np.abs(step).max()) * d
            box = first - step * d + np.array([-grow, -grow, grow, grow], np.float32)
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
    if floor is None and floor_path(workdir).is_file():
        floor = floor_path(workdir)
    covers = untracked_covers(prompts, info, floor, hold)
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
                   floor_every: int = DEFAULT_FLOOR_EVERY, info=None, track: bool = True,
                   pii_words: str | os.PathLike | None = None, exact: bool = False):
    """The floor (``floor.json``) and, when tracking, the found objects merged into ``prompts.json``.

    Returns (prompt set, log of prompts added). The prompts are detected on the floor's frames: the
    detectors run over the video once. A prompted frame the floor skipped uses the floor's boxes
    on both sides of it. ``pii_words``: a word list file for the ``pii`` kind (``pii.read_words``).
    """
    from vidmask_nb.prompts.records import PromptSet
    from vidmask_nb.runfolder.folder import RunFolder
    from vidmask_nb.media.video import probe

    info = info or probe(video)
    run = RunFolder(workdir).create()
    words = read_words(pii_words) if pii_words else ()
    path = compute_floor(video, workdir, kinds, floor_every, info=info, words=words, exact=exact)
    prompts = PromptSet.load(run.prompts_json, info) if run.prompts_json.is_file() else PromptSet.for_video(info)
    if not track:
        return prompts, []
    found, log = find_objects(prompts, info, floor_detections_at(path), find_every)
    found.validate(info).save(run.prompts_json)
    return found, log


def floor_summary(path) -> dict:
    """Frames with floor boxes, boxes per kind and per what matched (``{"email": 12, "qr": 10}``: the
    kind of personal text or code, never the text), for ``run.json`` and the notebooks."""
    header, sampled = read_floor(path)
    frames, per_kind, per_what = 0, {k: 0 for k in header.kinds}, {}
    for _, dets in sampled:
        frames += bool(len(dets))
        for k, w in zip(dets.kinds, dets.what):
            per_kind[str(k)] = per_kind.get(str(k), 0) + 1
            for part in str(w).split("+") if w else ():
                per_what[part] = per_what.get(part, 0) + 1
    return {"kinds": list(header.kinds), "every": header.every, "margin": header.margin,
            "frames_with_boxes": frames, "boxes": per_kind, **({"matched": per_what} if per_what else {})}
