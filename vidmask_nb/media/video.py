"""Probe and read videos with PyAV, keeping every frame and its exact timestamp.

``probe(path)`` describes a video (exact fps fraction, pts of every frame, audio streams...).
``VideoReader`` decodes it sequentially or by frame index, optionally resized, never holding
more than a small cache of frames.

Example::

    info = probe("clip.mp4")
    print(info.fps, info.frame_count)          # 30000/1001 289
    reader = VideoReader("clip.mp4", size=512)  # 512x512 RGB, what SAM 2 wants
    for frame in reader:                       # Frame(index, pts, rgb)
        ...
    rgb = reader[120]                           # random access
"""
from __future__ import annotations

import hashlib
import math
import os
import threading
from bisect import bisect_right
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import numpy as np
from av.video.reformatter import Interpolation

from vidmask_nb.errors import VidmaskError
from vidmask_nb.media.planes import plane_views, rgb_of_planes


@dataclass(frozen=True)
class StreamInfo:
    """An audio or subtitle stream, copied packet for packet into the output."""

    index: int
    kind: str  # "audio" | "subtitle"
    codec: str
    language: str | None = None
    channels: int | None = None
    sample_rate: int | None = None


@dataclass(frozen=True)
class VideoInfo:
    """What ``probe`` learns about a video. ``pts[i]`` is frame i's timestamp in ``time_base``."""

    path: str
    width: int
    height: int
    fps: Fraction
    time_base: Fraction
    frame_count: int
    duration: float
    start_time: float
    rotation: int
    pix_fmt: str
    codec: str
    pts: tuple[int, ...] = field(repr=False)
    keyframes: tuple[int, ...] = field(repr=False)  # frame indices that start a GOP
    streams: tuple[StreamInfo, ...] = ()
    fingerprint: str = ""
    # Colour description as the stream states it, in FFmpeg's codes (AVCOL_PRI_*, AVCOL_TRC_*,
    # AVCOL_SPC_*, AVCOL_RANGE_*): 2/2/2/0 mean "unspecified"; BT.709 limited range is 1/1/1/1.
    color_primaries: int = 2
    color_trc: int = 2
    colorspace: int = 2
    color_range: int = 0
    bit_depth: int = 8  # bits per sample of the decoded pixels (10 for yuv420p10le)

    @property
    def deep(self) -> bool:
        """More than 8 bits per sample: the render carries 16-bit RGB to keep them."""
        return self.bit_depth > 8

    @property
    def sws_colorspace(self) -> int | None:
        """The YUV<->RGB matrix for swscale (``Colorspace``), None for its default (BT.601)."""
        return SWS_MATRIX.get(self.colorspace)

    @property
    def sws_range(self) -> int | None:
        """The YUV range for swscale: 1 limited, 2 full; None (unspecified) is taken as limited."""
        return self.color_range if self.color_range in (1, 2) else None

    def color_description(self) -> str:
        """E.g. ``bt709/bt709/bt709, tv range, 8-bit`` (primaries/transfer/matrix)."""
        names = tuple(_code_name(kind, code) for kind, code in
                      (("pri", self.color_primaries), ("trc", self.color_trc), ("spc", self.colorspace)))
        rng = {1: "tv range", 2: "pc range"}.get(self.color_range, "range unspecified")
        return f"{'/'.join(names)}, {rng}, {self.bit_depth}-bit"

    @property
    def audio(self) -> tuple[StreamInfo, ...]:
        return tuple(s for s in self.streams if s.kind == "audio")

    def seconds(self, index: int) -> float:
        """Presentation time of frame ``index`` in seconds."""
        return float(self.pts[index] * self.time_base)

    def to_dict(self, with_pts: bool = False) -> dict:
        """A JSON-ready dict: fractions as strings like ``"30000/1001"``."""
        d = asdict(self)
        d["fps"] = fraction_str(self.fps)
        d["time_base"] = fraction_str(self.time_base)
        d["streams"] = [asdict(s) for s in self.streams]
        if not with_pts:
            d.pop("pts")
            d.pop("keyframes")
        else:
            d["pts"] = list(self.pts)
            d["keyframes"] = list(self.keyframes)
        return d


@dataclass(frozen=True)
class Frame:
    index: int
    pts: int
    rgb: np.ndarray  # HxWx3 uint8 (uint16 from a ``deep`` reader of a >8-bit source)


RGB_EXACT = Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT

# AVCOL_SPC_* (what streams state) -> SWS_CS_* (what swscale takes for its YUV<->RGB matrix).
SWS_MATRIX = {1: 1,  # BT.709
              4: 4,  # FCC
              5: 5, 6: 5,  # BT.470BG, SMPTE 170M: BT.601
              7: 7,  # SMPTE 240M
              9: 9, 10: 9}  # BT.2020 (non-constant and constant luminance)


def _code_name(kind: str, code: int) -> str:
    try:
        name = av.video.reformatter.__dict__[{"pri": "ColorPrimaries", "trc": "ColorTrc"}[kind]](code).name
    except (KeyError, ValueError, AttributeError):
        name = {"spc": {0: "rgb", 1: "bt709", 2: "unspecified", 4: "fcc", 5: "bt470bg", 6: "smpte170m",
                        7: "smpte240m", 9: "bt2020nc", 10: "bt2020c"}}.get(kind, {}).get(code, str(code))
    return name.lower()


def fraction_str(f: Fraction) -> str:
    return f"{f.numerator}/{f.denominator}" if f.denominator != 1 else str(f.numerator)


_FINGERPRINTS: dict[tuple, str] = {}


def fingerprint(path: str | os.PathLike, block: int = 1 << 20) -> str:
    """A content fingerprint: sha256 of the whole file (an edit anywhere in it changes it).

    Remembered for this process by the file's identity (device, inode, size, modification and change
    times; the change time cannot be set back), so the probes of one run read a file once: about 0.65 s
    per GB here (``sha256_file``). ``block`` is the read size.
    """
    st = os.stat(path)
    ident = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    known = _FINGERPRINTS.get(ident)
    if known is not None:
        return known
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(block), b""):
            h.update(chunk)
    value = _FINGERPRINTS[ident] = "sha256:" + h.hexdigest()[:32]
    return value


def check_video_file(path: str | os.PathLike) -> Path:
    """Raise one plain ``VidmaskError`` unless ``path`` is a non-empty file: missing, a folder, a
    symlink loop, a device or an unreadable path each say so (before anything resolves the path)."""
    import errno
    import stat

    path = Path(path)
    try:
        st = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise VidmaskError(f"{path} is a loop of symbolic links, not a video file") from None
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            raise VidmaskError(f"video not found: {path}") from None
        raise VidmaskError(f"cannot read the video {path}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise VidmaskError(f"{path} is a folder, not a video file")
    if not stat.S_ISREG(st.st_mode):
        raise VidmaskError(f"{path} is not a regular file (a device, pipe or socket); give a video file")
    if st.st_size == 0:
        raise VidmaskError(f"{path} is empty (0 bytes); it is not a video")
    return path


def _open(path: str | os.PathLike) -> av.container.InputContainer:
    path = check_video_file(path)
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as exc:
        raise VidmaskError(f"{path} is not a video FFmpeg can read ({exc.strerror or exc}); "
                           "it may be corrupt or cut short") from exc
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams}) or ["no streams"]
        container.close()
        raise VidmaskError(f"{path} has no video stream (it holds: {', '.join(kinds)}); "
                           "give a video file")
    return container


def _rotation(container, stream) -> int:
    """Display rotation in degrees as FFmpeg reports it on the first decoded frame (display matrix)."""
    try:
        container.seek(0, stream=stream)
        for frame in container.decode(stream):
            return int(round(getattr(frame, "rotation", 0) or 0))
    except av.error.FFmpegError:
        pass
    return 0


# What probe learnt, by file identity: a run's stages, its audit and its pictures each need the probe,
# and demuxing a long video each time costs seconds. Any change to the file (size, time, inode) misses.
_PROBED: dict[tuple, VideoInfo] = {}
_PROBED_MAX = 16


def probe(path: str | os.PathLike) -> VideoInfo:
    """Describe a video: exact frame rate, true frame count and every frame's pts.

    The frame list comes from demuxing (fast, no decoding). Packets the container marks for
    discarding (edit lists) are left out, as the decoder leaves them out. A file whose index
    promises more frames than it holds is reported as cut short, after decoding what is there.
    A process probes a file once while it is unchanged (same size, modification time and inode).
    """
    path = Path(path)
    try:
        st = path.stat()
        ident = (str(path), str(path.resolve()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    except OSError:
        ident = None
    if ident is not None and ident in _PROBED:
        return _PROBED[ident]
    info = _probe_file(path)
    if ident is not None:
        if len(_PROBED) >= _PROBED_MAX:
            _PROBED.pop(next(iter(_PROBED)))
        _PROBED[ident] = info
    return info


def _probe_file(path: Path) -> VideoInfo:
    """``probe``'s work: demux ``path`` once."""
    container = _open(path)
    try:
        vs = container.streams.video[0]
        declared = vs.frames or 0
        pts: list[int] = []
        key_pts: set[int] = set()
        damaged = None
        try:
            for packet in container.demux(vs):
                if packet.pts is None or packet.size == 0:
                    continue
                if getattr(packet, "is_discard", False):
                    continue
                pts.append(packet.pts)
                if packet.is_keyframe:
                    key_pts.add(packet.pts)
        except av.error.FFmpegError as exc:
            damaged = exc
        pts.sort()
        if damaged is not None or not pts or (declared and len(pts) < declared):
            decoded = _count_decodable(path)
            if not pts or decoded == 0:
                raise VidmaskError(f"{path}: no video frame could be decoded; the file is corrupt or cut short")
            raise VidmaskError(
                f"{path} is cut short: decoded {decoded} frames"
                + (f" of the {declared} its index promises" if declared else "")
                + "; the file is truncated or damaged. Re-copy or re-export the video and try again.")
        fps = _frame_rate(vs, pts)
        tb = Fraction(vs.time_base.numerator, vs.time_base.denominator)
        # Duration: last frame's pts plus one frame, relative to the first.
        duration = float((pts[-1] - pts[0]) * tb + 1 / fps)
        streams = []
        for s in container.streams:
            if s.type in ("audio", "subtitle"):
                cc = s.codec_context
                streams.append(StreamInfo(
                    index=s.index, kind=s.type, codec=cc.name if cc else "unknown",
                    language=s.metadata.get("language"),
                    channels=getattr(cc, "channels", None) if s.type == "audio" else None,
                    sample_rate=getattr(cc, "sample_rate", None) if s.type == "audio" else None))
        cc = vs.codec_context
        fmt = cc.format
        bit_depth = max((c.bits for c in fmt.components), default=8) if fmt is not None else 8
        return VideoInfo(
            path=str(path), width=cc.width, height=cc.height, fps=fps, time_base=tb,
            frame_count=len(pts), duration=duration, start_time=float(pts[0] * tb),
            rotation=_rotation(container, vs), pix_fmt=cc.pix_fmt or "unknown", codec=cc.name,
            pts=tuple(pts), keyframes=tuple(i for i, p in enumerate(pts) if p in key_pts) or (0,),
            streams=tuple(streams), fingerprint=fingerprint(path),
            color_primaries=int(cc.color_primaries), color_trc=int(cc.color_trc),
            colorspace=int(cc.colorspace), color_range=int(cc.color_range), bit_depth=int(bit_depth))
    finally:
        container.close()


def _frame_rate(vs, pts: list[int]) -> Fraction:
    """The exact nominal frame rate as a fraction (30000/1001, never 29.97), as the stream states it.

    No snapping to "nominal" rates: a stream whose timestamps step by 200/11988 s is 2997/50 fps,
    and the output must keep exactly that.
    """
    for rate in (vs.average_rate, vs.guessed_rate, vs.base_rate):
        if rate:
            return Fraction(rate.numerator, rate.denominator)
    if len(pts) > 1:
        tb = Fraction(vs.time_base.numerator, vs.time_base.denominator)
        return (Fraction(len(pts) - 1) / ((pts[-1] - pts[0]) * tb)).limit_denominator(1001000)
    raise VidmaskError("cannot tell the frame rate of a one-frame video with no rate in its header")


def _count_decodable(path: Path) -> int:
    n = 0
    try:
        with av.open(str(path)) as c:
            for _ in c.decode(video=0):
                n += 1
    except av.error.FFmpegError:
        pass
    return n


class VideoReader:
    """Frames of a video by index, decoded on demand, optionally resized.

    ``size``: None for source size, an int S for an SxS square (SAM 2's input), or (width, height).
    YUV is turned into RGB with the matrix and range the stream states (swscale's BT.601 when it
    states none, the same convention ``encode.VideoWriter`` uses the other way). ``deep=True``
    gives uint16 RGB (0..65535) for sources of more than 8 bits, so nothing of a 10-bit source
    is rounded away; otherwise frames are uint8.
    Iterating decodes sequentially from ``start``. ``reader[i]`` seeks to the keyframe before i and
    decodes forward, keeping the last ``cache_frames`` frames, so stepping backwards (SAM 2's reverse
    pass) re-decodes one block per ``cache_frames`` frames rather than one GOP per frame.
    """

    def __init__(self, path: str | os.PathLike, size: int | tuple[int, int] | None = None,
                 info: VideoInfo | None = None, cache_frames: int = 48, deep: bool = False):
        self.info = info or probe(path)
        self.rgb_format = "rgb48le" if deep and self.info.deep else "rgb24"
        self.path = str(path)
        if isinstance(size, int):
            size = (size, size)
        self.size = size
        self.cache_frames = max(1, cache_frames)
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._index_of = {p: i for i, p in enumerate(self.info.pts)}
        self._container = None
        self._decoder: Iterator | None = None
        self._next_index: int | None = None  # index the open decoder yields next
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return self.info.frame_count

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
        self._container = None
        self._decoder = None
        self._next_index = None

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def _convert(self, frame: av.VideoFrame) -> np.ndarray:
        if self.size is None:
            return yuv_to_rgb(frame, self.info, self.rgb_format)
        w, h = self.size
        return frame.reformat(width=w, height=h, format=self.rgb_format, interpolation="BILINEAR",
                              src_colorspace=self.info.sws_colorspace,
                              src_color_range=self.info.sws_range).to_ndarray()

    def keyframe_before(self, index: int) -> int:
        return self.info.keyframes[bisect_right(self.info.keyframes, index) - 1]

    def _decode_from(self, index: int) -> None:
        """Position the decoder so that it yields frame ``index`` (or a frame before it) next."""
        if self._container is None:
            self._container = av.open(self.path)
            self._container.streams.video[0].thread_type = "AUTO"
        key = self.keyframe_before(index)
        vs = self._container.streams.video[0]
        self._container.seek(self.info.pts[key], stream=vs, backward=True, any_frame=False)
        self._decoder = self._container.decode(vs)
        self._next_index = None

    def _frames_raw(self) -> Iterator[tuple[int, av.VideoFrame]]:
        for frame in self._decoder:
            idx = self._index_of.get(frame.pts)
            if idx is None:
                continue  # a frame outside the probed list (discarded by an edit list)
            self._next_index = idx + 1
            yield idx, frame

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[Frame]:
        """Decode frames ``start <= index < stop`` in order."""
        for idx, frame in self.decoded(start, stop):
            yield Frame(idx, frame.pts, self._convert(frame))

    def decoded(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, av.VideoFrame]]:
        """(index, the decoder's own frame) for ``start <= index < stop`` in order, not converted
        (``media.planes`` works on its YUV planes); a frame is valid until the next is asked for."""
        stop = self.info.frame_count if stop is None else min(stop, self.info.frame_count)
        if start >= stop:
            return
        if self._next_index != start:
            self._decode_from(start)
        expected, sought_again = start, False
        while True:
            jumped = None
            for idx, frame in self._frames_raw():
                if idx < expected:
                    continue
                if idx != expected:
                    jumped = idx
                    break
                yield idx, frame
                expected += 1
                if expected >= stop:
                    return
            if jumped is None:
                raise VidmaskError(f"{self.path} is cut short: decoded {expected} of {self.info.frame_count} frames")
            if sought_again:
                raise VidmaskError(f"{self.path}: frame {expected} could not be decoded "
                                   f"(the decoder jumped to {jumped}); the file may be damaged")
            # A decoder continued from where it was left can lose its place: seek from the keyframe
            # once more before calling the file damaged.
            sought_again = True
            self._decode_from(expected)

    def __iter__(self) -> Iterator[Frame]:
        return self.frames()

    def __getitem__(self, index: int) -> np.ndarray:
        n = self.info.frame_count
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"frame {index} is outside the video (0..{n - 1})")
        with self._lock:  # one decoder: widget callbacks and helper threads take turns
            return self._get(index)

    def _get(self, index: int) -> np.ndarray:
        cached = self._cache.get(index)
        if cached is not None:
            self._cache.move_to_end(index)
            return cached
        continuing = self._next_index is not None and self._next_index <= index < self._next_index + self.cache_frames
        start = self._next_index if continuing else max(self.keyframe_before(index), index - self.cache_frames + 1)
        for frame in self.frames(start, index + 1):
            if frame.index >= index - self.cache_frames + 1:
                self._cache[frame.index] = frame.rgb
                self._cache.move_to_end(frame.index)
                while len(self._cache) > self.cache_frames:
                    self._cache.popitem(last=False)
        return self._cache[index]

    def frames_at(self, indices) -> list[np.ndarray]:
        """Several frames by index, each GOP decoded once and only the frames asked for converted (a
        contact sheet's eight frames; ``__getitem__`` converts and caches the frames before one too, for
        an editor stepping back)."""
        n = self.info.frame_count
        indices = [i + n if i < 0 else i for i in indices]
        bad = [i for i in indices if not 0 <= i < n]
        if bad:
            raise IndexError(f"frames {bad} are outside the video (0..{n - 1})")
        out = {i: self._cache[i] for i in set(indices) if i in self._cache}
        todo = sorted(set(indices) - set(out))
        with self._lock:
            for i in todo:
                if i in out:
                    continue
                key = self.keyframe_before(i)
                continuing = self._next_index is not None and key <= self._next_index <= i
                for idx, frame in self.decoded(self._next_index if continuing else key, i + 1):
                    if idx in todo and idx not in out:
                        out[idx] = self._convert(frame)
        return [out[i] for i in indices]


def yuv_to_rgb(frame: av.VideoFrame, info: VideoInfo, rgb_format: str = "rgb24") -> np.ndarray:
    """A decoded frame as RGB, with the source's matrix and range and no loss that a re-encode keeps.

    swscale's own full-size YUV->RGB path truncates (every pixel about 1.1 levels dark, measured)
    and its accurate path interpolates chroma in a way that ``encode``'s area averaging does not
    undo (36 dB chroma after a round trip). So chroma is repeated to full size here (each sample
    over the pixels it serves) and converted with accurate rounding: RGB -> 4:2:0 by area
    averaging gives the source's planes back (80+ dB luma, 70+ dB chroma, no bias; measured).
    """
    planes = frame.planes
    name = frame.format.name
    deep = frame.format.components[0].bits > 8
    full = ("yuv444p10le" if deep else "yuv444p") if len(planes) == 3 and name.startswith(("yuv4", "yuvj4")) \
        and frame.format.components[0].bits in (8, 10) else None
    if full is None:  # other layouts (nv12, rgb...): swscale's accurate path
        return frame.reformat(format=rgb_format, interpolation=RGB_EXACT, src_colorspace=info.sws_colorspace,
                              src_color_range=info.sws_range).to_ndarray()
    return rgb_of_planes(*plane_views(frame), info.sws_colorspace, info.sws_range, rgb_format)


def sample_indices(frame_count: int, n: int) -> list[int]:
    """``n`` frame indices spread evenly over a video, first and last included."""
    n = max(1, min(n, frame_count))
    if n == 1:
        return [0]
    return sorted({round(i * (frame_count - 1) / (n - 1)) for i in range(n)})


def fit_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """Scale (width, height) down to fit ``max_side``, keeping the aspect ratio."""
    scale = min(1.0, max_side / max(width, height))
    return max(1, math.floor(width * scale)), max(1, math.floor(height * scale))
