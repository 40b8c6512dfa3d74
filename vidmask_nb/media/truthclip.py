"""Clips with exact per-frame ground truth, made from real pictures (``benchmarks/groundtruth.py``).

A ``TruthScene`` moves *sprites* (a real face cropped from a real frame, or rendered text) over a
real background (the frames of a real clip, in order) along known paths: key points of centre,
height and *squash* (the width's share: 0.05 is a face turned edge-on), linearly interpolated in
time; *occluders* (patches of another real picture) pass in front; *motion blur* averages several
sub-frame positions over the shutter. Because everything is drawn from the spec,
``scene.truth(i)`` is the exact set of pixels of each sprite's *truth box* (the face from brows
to chin, the text's tight box) that is visible on frame ``i``: clipped to the picture, minus the
occluders in front, the union of the sub-frame positions when blurred.

Example::

    scene = TruthScene((1280, 720), Fraction(24000, 1001), 48, actors=[
        Actor("face 1", Sprite(face_rgb, (0.1, 0.1, 0.9, 0.9)), keys=[(0, 200, 300, 90, 1), (2, 900, 300, 90, 1)])])
    write_truth_clip("walk.mp4", scene, backgrounds)   # backgrounds: iterable of (H, W, 3) uint8
    scene.truth(10)                                    # {"face 1": (720, 1280) bool}
"""
from __future__ import annotations

import bisect
import os
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Iterable, Sequence

import av
import numpy as np

from vidmask_nb.runfolder.folder import atomic_output

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Sprite:
    """A picture to move (H, W, 3 uint8), its optional alpha (H, W float 0..1), and its truth box
    inside it as fractions of its width and height (x0, y0, x1, y1)."""

    image: np.ndarray
    truth: Box = (0.0, 0.0, 1.0, 1.0)
    alpha: np.ndarray | None = None

    @property
    def aspect(self) -> float:
        return self.image.shape[1] / self.image.shape[0]


@dataclass(frozen=True)
class Actor:
    """A sprite on a path: ``keys`` are (seconds, centre x, centre y, height px, squash)."""

    name: str
    sprite: Sprite
    keys: Sequence[tuple[float, float, float, float, float]]

    def box_at(self, t: float) -> Box | None:
        """The sprite's box on the frame at ``t`` seconds (None before the first key or after the last)."""
        ks = self.keys
        if t < ks[0][0] or t > ks[-1][0]:
            return None
        j = bisect.bisect_right([k[0] for k in ks], t) - 1
        a, b = ks[j], ks[min(j + 1, len(ks) - 1)]
        u = 0.0 if b[0] == a[0] else (t - a[0]) / (b[0] - a[0])
        cx, cy, h, sq = (a[k] + (b[k] - a[k]) * u for k in range(1, 5))
        w = h * self.sprite.aspect * sq
        return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)

    def truth_box(self, box: Box) -> Box:
        x0, y0, x1, y1 = box
        f = self.sprite.truth
        return (x0 + f[0] * (x1 - x0), y0 + f[1] * (y1 - y0), x0 + f[2] * (x1 - x0), y0 + f[3] * (y1 - y0))


@dataclass(frozen=True)
class Occluder:
    """A patch of a real picture passing in front of the actors: ``keys`` are (seconds, x0, y0, x1, y1)."""

    image: np.ndarray
    keys: Sequence[tuple[float, float, float, float, float]]

    def box_at(self, t: float) -> Box | None:
        ks = self.keys
        if t < ks[0][0] or t > ks[-1][0]:
            return None
        j = max(i for i in range(len(ks)) if ks[i][0] <= t)
        a, b = ks[j], ks[min(j + 1, len(ks) - 1)]
        u = 0.0 if b[0] == a[0] else (t - a[0]) / (b[0] - a[0])
        return tuple(a[k] + (b[k] - a[k]) * u for k in range(1, 5))  # type: ignore[return-value]


def _int_box(box: Box, width: int, height: int) -> tuple[int, int, int, int] | None:
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    if x1 - x0 < 1 or y1 - y0 < 1:
        return None
    return x0, y0, x1, y1


def _paste(canvas: np.ndarray, image: np.ndarray, box: Box, alpha: np.ndarray | None = None) -> None:
    """Draw ``image`` resized to ``box`` onto ``canvas`` (float32), clipped to the canvas."""
    import cv2

    h, w = canvas.shape[:2]
    ib = _int_box(box, w, h)
    if ib is None:
        return
    x0, y0, x1, y1 = ib
    bw, bh = x1 - x0, y1 - y0
    interp = cv2.INTER_AREA if bw < image.shape[1] else cv2.INTER_LINEAR
    patch = cv2.resize(image, (bw, bh), interpolation=interp).astype(np.float32)
    a = None if alpha is None else cv2.resize(alpha.astype(np.float32), (bw, bh), interpolation=cv2.INTER_LINEAR)
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if cx1 <= cx0 or cy1 <= cy0:
        return
    p = patch[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
    if a is None:
        canvas[cy0:cy1, cx0:cx1] = p
    else:
        aa = a[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0, None]
        canvas[cy0:cy1, cx0:cx1] = canvas[cy0:cy1, cx0:cx1] * (1 - aa) + p * aa


def _fill(mask: np.ndarray, box: Box, value: bool) -> None:
    h, w = mask.shape
    x0, y0 = max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1])))
    x1, y1 = min(w, int(np.ceil(box[2]))), min(h, int(np.ceil(box[3])))
    if x1 > x0 and y1 > y0:
        mask[y0:y1, x0:x1] = value


@dataclass(frozen=True)
class TruthScene:
    """Actors and occluders over a background, ``frame_count`` frames at ``fps``."""

    size: tuple[int, int]  # (width, height)
    fps: Fraction
    frame_count: int
    actors: Sequence[Actor] = ()
    occluders: Sequence[Occluder] = ()
    blur_samples: int = 1  # sub-frame positions averaged per frame (motion blur over half a frame)
    meta: dict = field(default_factory=dict)

    def _times(self, i: int) -> list[float]:
        t = float(i / self.fps)
        n = self.blur_samples
        if n <= 1:
            return [t]
        shutter = 0.5 / float(self.fps)
        return [t + shutter * (k / (n - 1) - 0.5) for k in range(n)]

    def frame(self, i: int, background: np.ndarray) -> np.ndarray:
        w, h = self.size
        if background.shape[:2] != (h, w):
            import cv2

            background = cv2.resize(background, (w, h), interpolation=cv2.INTER_AREA)
        acc = np.zeros((h, w, 3), np.float32)
        times = self._times(i)
        for t in times:
            canvas = background.astype(np.float32)
            for a in self.actors:
                box = a.box_at(t)
                if box is not None:
                    _paste(canvas, a.sprite.image, box, a.sprite.alpha)
            for o in self.occluders:
                box = o.box_at(t)
                if box is not None:
                    _paste(canvas, o.image, box)
            acc += canvas
        return (acc / len(times)).round().clip(0, 255).astype(np.uint8)

    def truth(self, i: int) -> dict[str, np.ndarray]:
        """Each actor's visible truth pixels on frame ``i`` (actors out of the picture: empty masks)."""
        w, h = self.size
        out = {}
        for a in self.actors:
            mask = np.zeros((h, w), bool)
            for t in self._times(i):
                box = a.box_at(t)
                if box is None:
                    continue
                one = np.zeros((h, w), bool)
                _fill(one, a.truth_box(box), True)
                for o in self.occluders:
                    ob = o.box_at(t)
                    if ob is not None:
                        _fill(one, ob, False)
                mask |= one
            out[a.name] = mask
        return out


def write_truth_clip(path: str | os.PathLike, scene: TruthScene, backgrounds: Iterable[np.ndarray],
                     crf: int = 12) -> str:
    """Encode ``scene`` over ``backgrounds`` (looped if short) as H.264 (untagged BT.601, like ``make_sample_clip``)."""
    bgs = list(backgrounds)
    if not bgs:
        raise ValueError("write_truth_clip needs at least one background frame")
    w, h = scene.size
    with atomic_output(path) as tmp, av.open(str(tmp), "w", format="mp4") as out:
        vs = out.add_stream("libx264", rate=scene.fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.options = {"crf": str(crf), "preset": "veryfast"}
        for i in range(scene.frame_count):
            n = len(bgs)
            k = i % (2 * n - 1 if n > 1 else 1)  # ping-pong through the background frames
            bg = bgs[k if k < n else 2 * n - 2 - k]
            frame = av.VideoFrame.from_ndarray(scene.frame(i, bg), format="rgb24")
            frame.pts, frame.time_base = i, 1 / scene.fps
            for p in vs.encode(frame):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)
    return str(path)
