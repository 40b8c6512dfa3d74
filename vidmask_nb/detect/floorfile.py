"""``floor.json``: what the floor's detectors found, one frame per line, written as it goes::

    {"version": 1, "kinds": ["face"], "every": 1, "margin": 0.2, "frame_count": 300, "fingerprint": "sha256:..."}
    {"frame": 0, "detections": [{"kind": "face", "box": [x0, y0, x1, y1], "score": 0.91}]}
    {"frame": 1, "detections": []}

``what`` in ``floor.json`` names what matched (``email``), never the text; the header holds a digest
of the word list, never the words. While the floor is computed, its checkpoint lies beside it
(``floor_progress_paths``).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from vidmask_nb.detect.detectors import Detections
from vidmask_nb.errors import VidmaskError
from vidmask_nb.prompts.records import VideoRef

FLOOR_VERSION = 1
# Each floor box grows by this fraction of its width/height on every side before the render's
# dilate: CenterFace's box is the face from brows to chin; hair, ears and forehead are outside it.
FLOOR_MARGIN = 0.2


def floor_path(workdir: str | os.PathLike) -> Path:
    """``floor.json`` in the run folder, beside ``masks.json``."""
    return Path(workdir) / "floor.json"


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


def run_floor(workdir, floor=None) -> Path | None:
    """The floor a run's covers are made with: ``floor`` (a ``floor.json``) as given; None: the run folder's
    own when it has one; False: none."""
    if floor is None and floor_path(workdir).is_file():
        return floor_path(workdir)
    return Path(floor) if floor else None


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



def unsure_code_frames(path) -> list[int]:
    """The frames where a pattern was located like a code, with no code's geometry and no decoded code
    near it, and left visible (``floor.sticky_codes``): for a person to look at."""
    out = []
    with open(path, encoding="utf-8") as f:
        f.readline()
        for line in f:
            if '"unsure_codes"' in line:
                out.append(int(json.loads(line)["frame"]))
    return out


def floor_summary(path) -> dict:
    """Frames with floor boxes, boxes per kind and per what matched (``{"email": 12, "qr": 10}``: the
    kind of personal text or code, never the text), for ``run.json`` and the notebooks; and the frames
    with a located pattern left visible (``"unsure_codes"``, up to 20 listed), for the review."""
    header, sampled = read_floor(path)
    frames, per_kind, per_what = 0, {k: 0 for k in header.kinds}, {}
    for _, dets in sampled:
        frames += bool(len(dets))
        for k, w in zip(dets.kinds, dets.what):
            per_kind[str(k)] = per_kind.get(str(k), 0) + 1
            for part in str(w).split("+") if w else ():
                per_what[part] = per_what.get(part, 0) + 1
    unsure = unsure_code_frames(path) if "code" in header.kinds else []
    return {"kinds": list(header.kinds), "every": header.every, "margin": header.margin,
            "frames_with_boxes": frames, "boxes": per_kind, **({"matched": per_what} if per_what else {}),
            **({"unsure_codes": {"frames": len(unsure), "at": unsure[:20]}} if unsure else {})}
