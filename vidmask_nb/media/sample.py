"""A deterministic sample clip: moving shapes over texture, with an audio tone.

The demo and the tests use it, so the kit means something on a machine with no videos. Because
the scene is drawn from a formula, ``SampleScene.object_mask(i, obj_id)`` is the exact ground
truth of where each object is on frame ``i`` (for leak tests), and ``sample_prompts`` gives boxes
a person would have drawn.

Example::

    path = make_sample_clip("sample.mp4", seconds=3, fps=Fraction(24000, 1001))
    scene = SampleScene((320, 240), Fraction(24000, 1001))
    scene.object_box(10, obj_id=1)   # (x0, y0, x1, y1) of the ball on frame 10
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vidmask_nb.runfolder.folder import atomic_output

SAMPLE_OBJECTS = {1: ("ball", (230, 40, 40)), 2: ("block", (40, 90, 230))}


@dataclass(frozen=True)
class SampleScene:
    """The sample clip's content as a function of the frame index."""

    size: tuple[int, int] = (320, 240)  # (width, height)
    fps: Fraction = Fraction(24000, 1001)
    seed: int = 7

    def _ball(self, i: int) -> tuple[float, float, float]:
        w, h = self.size
        t = float(i / self.fps)
        r = 0.13 * min(w, h)
        cx = w / 2 + (w / 2 - r - 4) * math.sin(2 * math.pi * t / 3.0)
        cy = h / 2 + (h / 2 - r - 4) * math.sin(2 * math.pi * t / 2.1)
        return cx, cy, r

    def _block(self, i: int) -> tuple[int, int, int, int]:
        w, h = self.size
        t = float(i / self.fps)
        s = int(0.16 * min(w, h))
        x0 = int((w - s) * (0.5 + 0.5 * math.sin(2 * math.pi * t / 4.0 + 1.0)))
        y0 = int(h * 0.62)
        return x0, y0, x0 + s, min(h, y0 + s)

    def object_mask(self, i: int, obj_id: int = 1) -> np.ndarray:
        """Exact boolean mask of object ``obj_id`` (1 ball, 2 block) on frame ``i``; the ball is in front."""
        w, h = self.size
        yy, xx = np.mgrid[0:h, 0:w]
        cx, cy, r = self._ball(i)
        ball = (xx + 0.5 - cx) ** 2 + (yy + 0.5 - cy) ** 2 <= r * r
        if obj_id == 1:
            return ball
        x0, y0, x1, y1 = self._block(i)
        block = np.zeros((h, w), bool)
        block[y0:y1, x0:x1] = True
        return block & ~ball

    def object_box(self, i: int, obj_id: int = 1) -> tuple[float, float, float, float]:
        ys, xs = np.nonzero(self.object_mask(i, obj_id))
        return float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)

    def background(self) -> np.ndarray:
        w, h = self.size
        rng = np.random.default_rng(self.seed)
        noise = rng.integers(0, 40, size=(h // 4 + 1, w // 4 + 1, 3), dtype=np.uint8)
        noise = np.kron(noise, np.ones((4, 4, 1), np.uint8))[:h, :w]
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.stack([90 + 60 * xx / w, 110 + 50 * yy / h, 100 + 30 * np.sin(xx / 9.0)], axis=-1)
        return np.clip(base + noise, 0, 255).astype(np.uint8)

    def frame(self, i: int, background: np.ndarray | None = None) -> np.ndarray:
        """Frame ``i`` as RGB (uint8, or uint16 when ``background`` is a 16-bit image)."""
        img = (self.background() if background is None else background).copy()
        scale = 257 if img.dtype == np.uint16 else 1
        img[self.object_mask(i, 2)] = np.array(SAMPLE_OBJECTS[2][1]) * scale
        img[self.object_mask(i, 1)] = np.array(SAMPLE_OBJECTS[1][1]) * scale
        return img


# Colour descriptions a generated clip can state: (primaries, transfer, matrix, range) in FFmpeg's codes.
SAMPLE_COLORS = {"unspecified": (2, 2, 2, 0), "bt709": (1, 1, 1, 1), "bt601": (6, 6, 6, 1)}


def make_sample_clip(path: str | os.PathLike, seconds: float = 3.0, fps: Fraction = Fraction(24000, 1001),
                     size: tuple[int, int] = (320, 240), audio: bool = True, crf: int = 12,
                     bit_depth: int = 8, color: str = "unspecified", audio_delay: int = 0,
                     chroma: str = "420") -> Path:
    """Write the sample clip (H.264 MP4, AAC tone when ``audio``); odd sizes are encoded 4:4:4.

    ``bit_depth=10`` encodes yuv420p10le from 16-bit RGB (with a fine gradient that 8 bits would
    band); ``color="bt709"`` converts with the BT.709 matrix and tags the stream BT.709 limited
    range (see ``SAMPLE_COLORS``); ``audio_delay`` starts the audio that many samples (48 kHz)
    after the first video frame, as clips cut from a longer recording often do; ``chroma`` "422"
    or "444" encodes that layout instead of 4:2:0.
    """
    fps = Fraction(fps)
    if bit_depth not in (8, 10) or color not in SAMPLE_COLORS or chroma not in ("420", "422", "444"):
        raise ValueError(f"bit_depth must be 8 or 10, color one of {sorted(SAMPLE_COLORS)}, chroma 420/422/444")
    primaries, trc, matrix, color_range = SAMPLE_COLORS[color]
    sws_matrix = {1: 1, 6: 5}.get(matrix)
    scene = SampleScene(tuple(size), fps)
    n = max(1, round(seconds * fps))
    w, h = size
    path = Path(path)
    with atomic_output(path) as tmp:
        # An exact movie timescale, so a delayed audio start is stored to the sample (not the ms).
        with av.open(str(tmp), "w", format="mp4", options={"movie_timescale": "48000"}) as out:
            vs = out.add_stream("libx264", rate=fps)
            vs.width, vs.height = w, h
            vs.pix_fmt = ("yuv444p" if (w % 2 or h % 2) else f"yuv{chroma}p") + ("10le" if bit_depth == 10 else "")
            if color != "unspecified":
                cc = vs.codec_context
                cc.color_primaries, cc.color_trc, cc.colorspace, cc.color_range = primaries, trc, matrix, color_range
            vs.options = {"crf": str(crf), "preset": "fast", "g": "24"}
            # A fine time base (as MP4 muxers choose): pts of i * ticks, never a tick per frame.
            ticks = fps.denominator * (512 if fps.denominator == 1 else 1)
            vs.time_base = Fraction(1, fps.numerator * (512 if fps.denominator == 1 else 1))
            if audio:
                rate = 48000
                aus = out.add_stream("aac", rate=rate)
                aus.layout = "mono"
                samples = _tone(seconds=float(n / fps), rate=rate)
            bg = scene.background()
            if bit_depth == 10:  # 16-bit RGB with a slow ramp: steps of 1/1024 that 8 bits would lose
                ramp = np.linspace(0, 24 * 64, w)[None, :, None]
                bg = np.clip(bg.astype(np.float64) * 257 + ramp, 0, 65535).astype(np.uint16)
            rgb_format = "rgb48le" if bit_depth == 10 else "rgb24"
            a_pos = 0
            for i in range(n):
                img = scene.frame(i, bg)
                frame = av.VideoFrame.from_ndarray(img, format=rgb_format).reformat(
                    format=vs.pix_fmt, dst_colorspace=sws_matrix, dst_color_range=color_range or None)
                frame.pts = i * ticks
                frame.time_base = vs.time_base
                for packet in vs.encode(frame):
                    out.mux(packet)
                if audio:  # keep audio roughly interleaved with video
                    until = min(len(samples), round((i + 1) / fps * rate))
                    while a_pos + 1024 <= until or (i == n - 1 and a_pos < len(samples)):
                        chunk = samples[a_pos:a_pos + 1024]
                        af = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
                        af.sample_rate = rate
                        af.pts = a_pos + audio_delay
                        af.time_base = Fraction(1, rate)
                        for packet in aus.encode(af):
                            out.mux(packet)
                        a_pos += len(chunk)
            for packet in vs.encode(None):
                out.mux(packet)
            if audio:
                for packet in aus.encode(None):
                    out.mux(packet)
    return path


def _tone(seconds: float, rate: int, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.2 * np.sin(2 * np.pi * freq * t) * (1 + 0.3 * np.sin(2 * np.pi * 1.5 * t))).astype(np.float32)
