"""Decoded frames in their own YUV: converted to RGB only where something is drawn on them.

A decoded frame's planes (8 or 10 bits; 4:2:0, 4:2:2 or 4:4:4) are copied into a frame of a small
pool (``FramePool``: a few frames allocated once and reused, so a long video allocates no
full-size buffer per frame) and handed on as a ``YuvFrame``: writable NumPy views of its Y, U and
V planes, in the layout the output is encoded in. Everything nobody draws on keeps the
decoder's samples, bit for bit, up to the encoder.

- ``YuvFrame.to_rgb(box)``: a box of the frame as RGB, exactly as ``VideoReader`` converts a whole
  frame (each chroma sample repeated over the pixels it serves, then the source's matrix and range
  with accurate rounding: the same function, ``rgb_of_planes``), uint16 RGB for a deep source.
- ``YuvFrame.put_rgb(box, rgb, where)``: RGB back into the planes, only where ``where > 0``: luma
  per pixel, each chroma sample the mean of the pixels it serves (boxes are aligned to chroma
  samples: ``align``).
- ``YuvFrame.fill(box, where, color)``: a solid 8-bit colour written as the YUV samples that decode
  back to it exactly when any do (``solid_yuv``), with no conversion at all.

Example::

    pool = FramePool(info.width, info.height, "yuv420p", info.sws_colorspace, info.sws_range)
    for index, decoded in reader.decoded():
        frame = pool.load(decoded, index)          # the decoder's samples, in a pooled frame
        box = frame.align((100, 50, 301, 161))     # (100, 50, 302, 162) in 4:2:0
        rgb = frame.to_rgb(box)
        frame.put_rgb(box, 255 - rgb, where)        # where: bool/alpha of the box's size
        writer.write_planes(frame.frame, frame.pts); pool.give_back(frame)
"""
from __future__ import annotations

import itertools
import math
import queue
import threading
from functools import lru_cache

import av
import cv2
import numpy as np
from av.video.reformatter import Interpolation

from vidmask_nb.errors import VidmaskError

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive ends)

# pix_fmt -> (chroma x, chroma y, bits): the planar layouts worked on in place ("yuvj" is full range).
LAYOUTS = {f"yuv{j}{c}p{d}": ((2, 2) if c == "420" else (2, 1) if c == "422" else (1, 1)) + (10 if d else 8,)
           for j in ("", "j") for c in ("420", "422", "444") for d in ("", "10le") if not (j and d)}
POINT_EXACT = Interpolation.POINT | Interpolation.ACCURATE_RND


def layout(pix_fmt: str) -> tuple[int, int, int] | None:
    """(chroma x, chroma y, bits) of a planar YUV format handled in place, else None."""
    return LAYOUTS.get(pix_fmt)


def plane_views(frame: av.VideoFrame) -> list[np.ndarray]:
    """The frame's planes as NumPy views (rows of the plane's width), writable when the frame is."""
    dtype = np.uint16 if frame.format.components[0].bits > 8 else np.uint8
    size = np.dtype(dtype).itemsize
    return [np.frombuffer(p, dtype).reshape(p.height, p.line_size // size)[:, :p.width] for p in frame.planes]


def rgb_of_planes(y: np.ndarray, u: np.ndarray, v: np.ndarray, sws_colorspace: int | None,
                  sws_range: int | None, rgb_format: str = "rgb24") -> np.ndarray:
    """RGB of Y, U, V sample arrays (uint8, or uint16 holding 10 bits): each chroma sample repeated over
    the pixels it serves, then the matrix and range with accurate rounding (``VideoReader``'s conversion).

    swscale's own upsampling interpolates chroma in a way the encoder's averaging does not undo;
    repeating it does (``video.yuv_to_rgb``).
    """
    h, w = y.shape
    deep = y.dtype == np.uint16
    full = av.VideoFrame(w, h, "yuv444p10le" if deep else "yuv444p")
    for src, dst in zip((y, u, v), plane_views(full)):
        sy, sx = -(-h // src.shape[0]), -(-w // src.shape[1])
        if (sy, sx) == (1, 1):
            dst[:] = src
        elif h % sy == 0 and w % sx == 0:
            dst.reshape(src.shape[0], sy, src.shape[1], sx)[:] = src[:, None, :, None]
        else:
            dst[:] = np.repeat(np.repeat(src, sy, 0), sx, 1)[:h, :w]
    return full.reformat(format=rgb_format, interpolation=POINT_EXACT, src_colorspace=sws_colorspace,
                         src_color_range=sws_range).to_ndarray()


def yuv444_of_rgb(rgb: np.ndarray, sws_colorspace: int | None, sws_range: int | None) -> list[np.ndarray]:
    """Y, U, V (full-size each) of uint8 or uint16 RGB, with the matrix and range, accurate rounding."""
    deep = rgb.dtype == np.uint16
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb48le" if deep else "rgb24")
    return plane_views(frame.reformat(format="yuv444p10le" if deep else "yuv444p", interpolation=POINT_EXACT,
                                      dst_colorspace=sws_colorspace, dst_color_range=sws_range))


@lru_cache(maxsize=256)
def solid_yuv(color: tuple[int, int, int], deep: bool, sws_colorspace: int | None,
              sws_range: int | None) -> tuple[int, int, int]:
    """The Y, U, V sample values whose RGB (``rgb_of_planes``) is nearest an 8-bit ``color``.

    A direct conversion rounds each of Y, U and V on its own, so pure green can come back as
    (0, 255, 1); among the values around it this picks one that decodes to the colour exactly
    when there is one (x257 for 16-bit RGB), else the nearest, and the one closest to the direct
    conversion among equals.
    """
    target = np.array(color, np.int64) * (257 if deep else 1)
    direct = np.array([int(p[0, 0]) for p in yuv444_of_rgb(
        np.full((2, 2, 3), target, np.uint16 if deep else np.uint8), sws_colorspace, sws_range)])
    reach = 6 if deep else 2
    top = 1023 if deep else 255
    cands = np.clip(np.array(list(itertools.product(range(-reach, reach + 1), repeat=3))) + direct, 0, top)
    dtype = np.uint16 if deep else np.uint8
    rgb = rgb_of_planes(*(cands[None, :, k].astype(dtype) for k in range(3)), sws_colorspace, sws_range,
                        "rgb48le" if deep else "rgb24")[0].astype(np.int64)
    err = np.abs(rgb - target).max(axis=1)
    away = np.abs(cands - direct).sum(axis=1)
    best = np.lexsort((away, err))[0]
    return tuple(int(c) for c in cands[best])  # type: ignore[return-value]


# swscale's matrix codes (``VideoInfo.sws_colorspace``) -> (Kr, Kb); None is swscale's default, BT.601.
KR_KB = {None: (0.299, 0.114), 1: (0.2126, 0.0722), 4: (0.30, 0.11), 5: (0.299, 0.114), 6: (0.299, 0.114),
         7: (0.212, 0.087), 9: (0.2627, 0.0593)}


@lru_cache(maxsize=32)
def yuv_matrices(sws_colorspace: int | None, sws_range: int | None, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """(YUV -> RGB, RGB -> YUV) as 3x4 affine matrices for ``cv2.transform``: the stream's matrix
    (Kr, Kb) and range (limited unless 2, full) at ``bits`` per sample, RGB 0..255 (8 bits) or
    0..65535 (more)."""
    kr, kb = KR_KB.get(sws_colorspace, KR_KB[None])
    kg = 1.0 - kr - kb
    a = np.array([[kr, kg, kb],
                  [-kr / (2 * (1 - kb)), -kg / (2 * (1 - kb)), 0.5],
                  [0.5, -kg / (2 * (1 - kr)), -kb / (2 * (1 - kr))]])
    top = float(2 ** bits - 1)
    if sws_range == 2:
        scale, offset = np.array([top, top, top]), np.array([0.0, 2 ** (bits - 1), 2 ** (bits - 1)])
    else:
        s = 2 ** (bits - 8)
        scale, offset = np.array([219.0, 224.0, 224.0]) * s, np.array([16.0, 128.0, 128.0]) * s
    rgb_top = 255.0 if bits == 8 else 65535.0
    forward = (scale[:, None] * a) / rgb_top  # RGB -> YUV
    inverse = np.linalg.inv(forward)
    to_yuv = np.hstack([forward, offset[:, None]])
    to_rgb = np.hstack([inverse, -(inverse @ offset)[:, None]])
    return to_rgb, to_yuv


class YuvFrame:
    """One frame's planes in the output's layout (``FramePool.load``); ``frame`` is what is encoded."""

    def __init__(self, frame: av.VideoFrame, chroma: tuple[int, int], sws_colorspace: int | None,
                 sws_range: int | None):
        self.frame = frame
        self.y, self.u, self.v = plane_views(frame)
        self.chroma = chroma
        self.deep = self.y.dtype == np.uint16
        self.rgb_format = "rgb48le" if self.deep else "rgb24"
        self.sws_colorspace, self.sws_range = sws_colorspace, sws_range
        self.height, self.width = self.y.shape
        self.index, self.pts = -1, 0

    def align(self, box: Box, step: tuple[int, int] = (1, 1)) -> Box:
        """``box`` widened to whole chroma samples (and its origin to a multiple of ``step``), in the frame."""
        (cx, cy), (sx, sy) = self.chroma, step
        ax, ay = math.lcm(cx, max(1, sx)), math.lcm(cy, max(1, sy))
        x0, y0, x1, y1 = box
        return (max(0, x0) // ax * ax, max(0, y0) // ay * ay,
                min(self.width, -(-x1 // cx) * cx), min(self.height, -(-y1 // cy) * cy))

    def _chroma_box(self, box: Box) -> tuple[slice, slice]:
        cx, cy = self.chroma
        x0, y0, x1, y1 = box
        return slice(y0 // cy, -(-y1 // cy)), slice(x0 // cx, -(-x1 // cx))

    def to_rgb(self, box: Box) -> np.ndarray:
        """The pixels of ``box`` (chroma-aligned) as RGB: uint8, uint16 (0..65535) for a deep source.

        Each chroma sample serves its pixels; the matrix is the stream's (``yuv_matrices``), in
        one vectorised pass (within a level of ``VideoReader``'s swscale conversion).
        """
        x0, y0, x1, y1 = box
        rows, cols = self._chroma_box(box)
        w, h = x1 - x0, y1 - y0
        planes = [self.y[y0:y1, x0:x1]]
        for plane in (self.u, self.v):
            c = plane[rows, cols]
            if c.shape != (h, w):
                c = np.repeat(np.repeat(c, -(-h // c.shape[0]), 0), -(-w // c.shape[1]), 1)[:h, :w]
            planes.append(c)
        to_rgb, _ = yuv_matrices(self.sws_colorspace, self.sws_range, 10 if self.deep else 8)
        return cv2.transform(cv2.merge(planes), to_rgb)

    def to_rgb_reduced(self, box: Box, size: tuple[int, int]) -> np.ndarray:
        """The pixels of ``box`` (chroma-aligned) reduced to ``size`` = (width, height) by area
        averaging, as RGB: the planes are averaged first (the matrix is affine, so this is the RGB
        average but for out-of-gamut clipping), so only ``size`` pixels are converted."""
        x0, y0, x1, y1 = box
        rows, cols = self._chroma_box(box)
        planes = [cv2.resize(p, size, interpolation=cv2.INTER_AREA)
                  for p in (self.y[y0:y1, x0:x1], self.u[rows, cols], self.v[rows, cols])]
        to_rgb, _ = yuv_matrices(self.sws_colorspace, self.sws_range, 10 if self.deep else 8)
        return cv2.transform(cv2.merge(planes), to_rgb)

    def _blocks(self, where: np.ndarray) -> np.ndarray:
        """Chroma samples of a box with any pixel under ``where`` (the box is chroma-aligned)."""
        cx, cy = self.chroma
        if (cx, cy) == (1, 1):
            return where
        h, w = where.shape
        if h % cy or w % cx:
            padded = np.zeros((-(-h // cy) * cy, -(-w // cx) * cx), bool)
            padded[:h, :w] = where
            where = padded
        # a block's max over its pixels (dilate by the block, then one pixel per block)
        grown = cv2.dilate(where.view(np.uint8), np.ones((cy, cx), np.uint8), anchor=(0, 0))
        return grown[::cy, ::cx].view(bool)

    def put_rgb(self, box: Box, rgb: np.ndarray, where: np.ndarray) -> None:
        """Write ``rgb`` (the box's pixels) into the planes where ``where > 0``; the rest stays as decoded."""
        x0, y0, x1, y1 = box
        if rgb.shape != (y1 - y0, x1 - x0, 3) or rgb.dtype != (np.uint16 if self.deep else np.uint8):
            raise VidmaskError(f"frame must be {y1 - y0}x{x1 - x0}x3 {'uint16' if self.deep else 'uint8'} "
                               f"(uint8 or uint16 RGB), got {rgb.shape} {rgb.dtype}")
        inside = where > 0
        _, to_yuv = yuv_matrices(self.sws_colorspace, self.sws_range, 10 if self.deep else 8)
        # Luma rounded per pixel; each chroma sample from the mean RGB of its pixels (the matrix is
        # affine: that is the mean of their chroma).
        yuv = cv2.transform(rgb, to_yuv)
        if self.deep:
            np.minimum(yuv, 1023, out=yuv)
        np.copyto(self.y[y0:y1, x0:x1], yuv[..., 0], where=inside)
        rows, cols = self._chroma_box(box)
        blocks = self._blocks(inside)
        if blocks.shape != inside.shape:  # the box is aligned: whole blocks, INTER_AREA gives their means
            yuv = cv2.transform(cv2.resize(rgb, blocks.shape[::-1], interpolation=cv2.INTER_AREA), to_yuv)
            if self.deep:
                np.minimum(yuv, 1023, out=yuv)
        np.copyto(self.u[rows, cols], yuv[..., 1], where=blocks)
        np.copyto(self.v[rows, cols], yuv[..., 2], where=blocks)

    def fill(self, box: Box, where: np.ndarray, color: tuple[int, int, int]) -> None:
        """Cover the box's pixels under ``where`` with an 8-bit colour (``solid_yuv``), no conversion."""
        x0, y0, x1, y1 = box
        yv, uv, vv = solid_yuv(tuple(int(c) for c in color), self.deep, self.sws_colorspace, self.sws_range)
        inside = where > 0
        self.y[y0:y1, x0:x1][inside] = yv
        rows, cols = self._chroma_box(box)
        blocks = self._blocks(inside)
        self.u[rows, cols][blocks] = uv
        self.v[rows, cols][blocks] = vv


class FramePool:
    """Frames of one size and layout, allocated on first need (at most ``size``) and reused.

    ``load(decoded, index)`` takes a free frame (waiting while all are in flight, until ``stop``)
    and copies the decoder's samples into it: plane by plane when the layouts match, chroma
    repeated when the output's is finer (an odd-sized 4:2:0 source is encoded 4:4:4), through
    swscale for any other decoded format (nv12, 12 bits...). ``give_back(frame)`` frees it.
    """

    def __init__(self, width: int, height: int, pix_fmt: str, sws_colorspace: int | None,
                 sws_range: int | None, size: int = 12, stop: threading.Event | None = None):
        spec = layout(pix_fmt)
        if spec is None:
            raise VidmaskError(f"cannot work in place in {pix_fmt}; planar 8- or 10-bit YUV only")
        self.width, self.height, self.pix_fmt = width, height, pix_fmt
        self.chroma = spec[:2]
        self.sws_colorspace, self.sws_range = sws_colorspace, sws_range
        self.size = max(1, size)
        self._free: queue.Queue = queue.Queue()
        self._made = 0
        self._lock = threading.Lock()
        self._stop = stop or threading.Event()

    def take(self) -> YuvFrame:
        while True:
            try:
                return self._free.get_nowait()
            except queue.Empty:
                pass
            with self._lock:
                if self._made < self.size:
                    self._made += 1
                    return YuvFrame(av.VideoFrame(self.width, self.height, self.pix_fmt), self.chroma,
                                    self.sws_colorspace, self.sws_range)
            try:
                return self._free.get(timeout=0.05)
            except queue.Empty:
                if self._stop.is_set():
                    raise VidmaskError("the render was stopped") from None

    def give_back(self, frame: YuvFrame) -> None:
        self._free.put(frame)

    def load(self, decoded: av.VideoFrame, index: int) -> YuvFrame:
        out = self.take()
        src = decoded
        spec = layout(decoded.format.name)
        direct = spec is not None and spec[2] == (10 if out.deep else 8) and \
            all(s % o == 0 for o, s in zip(self.chroma, spec[:2]))
        if not direct:
            src = decoded.reformat(format=self.pix_fmt, src_colorspace=self.sws_colorspace,
                                   dst_colorspace=self.sws_colorspace, src_color_range=self.sws_range,
                                   dst_color_range=self.sws_range)
        for a, b in zip(plane_views(src), (out.y, out.u, out.v)):
            if a.shape == b.shape:
                b[:] = a
            else:  # coarser chroma in than out: each sample repeated over the samples it served
                sy, sx = -(-b.shape[0] // a.shape[0]), -(-b.shape[1] // a.shape[1])
                b[:] = np.repeat(np.repeat(a, sy, 0), sx, 1)[:b.shape[0], :b.shape[1]]
        out.index, out.pts = index, int(decoded.pts)
        return out
