"""Write frames back as H.264 MP4 with the source's exact timing, size and audio.

``VideoWriter`` takes RGB frames with the source's own pts, encodes them with libx264 at the
source's time base and frame-rate fraction, copies every audio (and mov_text subtitle) stream
packet for packet (``audio_edits``: the packets ``media.audiotrack.edit_stream`` re-encoded, in place of
theirs, same pts, dts and duration), keeps the rotation and drops container metadata (GPS/location included). The
file is written under a temporary name and renamed only when complete.

Example::

    info = probe("in.mp4")
    with VideoWriter("out.mp4", info) as writer:
        for frame in VideoReader("in.mp4", info=info):
            writer.write(frame.rgb, frame.pts)

``planar=True``: frames come as the source's own planes (``write_planes``, ``media.planes``), in
``pix_fmt``: encoded as they are, nothing converted (lossless: 4:4:4 at qp 0, the source's depth).
x264's frame and lookahead threads are set from the cores this process may use, and veryfast takes
a full-pixel diamond search without adaptive quantisation, CAVLC and no inter sub-partitions
(``x264_options``, ``X264_TUNING``: measured).

Quality: ``crf`` (default 11; lower is better) at x264 preset ``veryfast`` (measured in
``benchmarks/bench_render.py``: the same worst-frame PSNR as ``medium`` within 1 dB at several
times the speed). Chroma as the source's (4:2:0, 4:2:2, 4:4:4), 4:4:4 when the size is odd.
``lossless=True`` encodes RGB losslessly (libx264rgb, qp 0): decoding gives back exactly the
pixels written (8-bit sources; 10-bit ones are encoded 4:4:4 10-bit at qp 0).

Colour: the output states the source's primaries, transfer, matrix and range, and RGB is turned
into YUV with the source's matrix and range (``VideoReader`` uses the same ones the other way),
so a player shows the output's colours as it shows the source's. More than 8 bits in, 10 bits
out (x264 ``yuv420p10le``; write uint16 RGB). Copied audio keeps its start relative to the video
to the sample (the MP4 movie timescale is one that states both exactly, not FFmpeg's 1 ms).

Encoder: ``h264_nvenc`` when PyAV's FFmpeg has it, a CUDA GPU is present and it opens (8-bit
4:2:0 only), else ``libx264``; ``VideoWriter.encoder`` says which was used.
"""
from __future__ import annotations

import math
import os
from functools import lru_cache
from pathlib import Path
from typing import Iterator, Mapping

import av
import numpy as np

from fractions import Fraction

from vidmask_nb.errors import VidmaskError
from vidmask_nb.runfolder.folder import partial_path
from vidmask_nb.media.video import VideoInfo

DEFAULT_CRF = 11  # measured: >= 44 dB outside the covers on 01_dog, >= 40 dB on every shared clip (bench_render.py)
DEFAULT_PRESET = "veryfast"  # measured: medium's worst frame within ~1 dB at about 4x the speed
# x264 settings on top of a preset: veryfast with a diamond full-pixel motion search, no adaptive
# quantisation, CAVLC and no inter sub-partitions. At these rates (crf 11) AQ only moves bits between
# flat and busy blocks; CABAC's cost grows with the bit rate (it is about a tenth of the encode here)
# for 5 % of the size; 8x8 and 4x4 inter partitions add an eighth of the encode for 4 % of the size,
# with no loss (the intra 8x8 and 4x4 ones stay). Measured by render() on 01_dog (720p, 289 frames,
# blur, idle 2 cores, five interleaved rounds): 2.88x PyAV's RGB decode, 6.33 MB, worst frame outside
# the covers 44.88 dB, against 3.39x, 5.71 MB, 44.76 dB with CABAC and the sub-partitions
# (``me=dia:subme=0:aq-mode=0``), which had itself replaced AQ at crf 10 (+7 % time, 44.31 dB).
X264_TUNING = {"veryfast": "me=dia:subme=0:aq-mode=0:cabac=0:partitions=i8x8,i4x4"}
NVENC_PRESET = "p4"
# The longest name a writer gives a file's temporary copy adds this to it (``runfolder.partial_path``:
# ``.NAME.partial-PID.EXT``, a PID of up to 7 digits).
_PARTIAL_EXTRA = len("..partial-") + 7


def check_output_name(path: str | os.PathLike, what: str = "the output", fix: str = "give a shorter name") -> None:
    """Fail before any work when ``path`` (or its temporary ``.name.partial-PID`` copy) is too long a
    name for its filesystem, or too long a path: a 240-byte name would otherwise fail at the very end."""
    path = Path(os.path.abspath(path))
    existing = path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        name_max, path_max = os.pathconf(existing, "PC_NAME_MAX"), os.pathconf(existing, "PC_PATH_MAX")
    except (OSError, ValueError, AttributeError):
        name_max, path_max = 255, 4096
    name = len(os.fsencode(path.name)) + _PARTIAL_EXTRA
    if name > name_max:
        raise VidmaskError(f"{what} {path.name!r} is {len(os.fsencode(path.name))} bytes long; with its temporary "
                           f"name it needs {name} and this filesystem allows {name_max}: {fix}")
    if len(os.fsencode(str(path))) + _PARTIAL_EXTRA >= path_max:
        raise VidmaskError(f"{what} {path} is a path of {len(os.fsencode(str(path)))} bytes; this filesystem "
                           f"allows {path_max}: {fix}")


def written_by_kit(path: str | os.PathLike, tag: str) -> bool:
    """True when the video at ``path`` carries ``tag`` (``VideoWriter(tag=...)``): a file this kit wrote."""
    try:
        with av.open(str(path)) as c:
            return c.metadata.get("comment") == tag
    except (av.error.FFmpegError, OSError, UnicodeDecodeError, ValueError):
        return False


def output_pix_fmt(info: VideoInfo, lossless: bool = False, planar: bool = False) -> str:
    """The YUV layout the output is encoded in: the source's chroma and depth (8 or 10 bits).

    Lossless is RGB from RGB (8-bit), else 4:4:4: from the source's planes (``planar``) each chroma
    sample is repeated over its pixels, so every sample comes back exactly and a cover changes
    no pixel beside it.
    """
    if lossless and not info.deep and not planar:
        return "rgb24"
    src = info.pix_fmt
    chroma = "444" if (lossless or info.width % 2 or info.height % 2 or "444" in src) else \
        "422" if "422" in src else "420"
    return f"yuv{chroma}p" + ("10le" if info.deep else "")


@lru_cache(maxsize=4)
def nvenc_usable(pix_fmt: str = "yuv420p") -> bool:
    """True when h264_nvenc is in PyAV's FFmpeg, CUDA is present and the encoder really opens."""
    if pix_fmt != "yuv420p" or "h264_nvenc" not in av.codecs_available:
        return False
    if os.name == "posix" and not Path("/dev/nvidiactl").exists():
        return False  # no NVIDIA driver: skip importing torch just to hear that
    try:
        import torch

        if not torch.cuda.is_available():
            return False
    except Exception:  # no torch, or a broken CUDA install: use the CPU encoder
        return False
    try:  # a GPU without NVENC (H100, A100) or a driver without it fails here
        ctx = av.CodecContext.create("h264_nvenc", "w")
        ctx.width, ctx.height, ctx.pix_fmt = 256, 256, "yuv420p"
        ctx.time_base = Fraction(1, 25)
        ctx.open()
        ctx.close() if hasattr(ctx, "close") else None
        return True
    except Exception:
        return False


def video_timescale(info: VideoInfo) -> int | None:
    """The output's video track timescale when the source's time base cannot state one frame's
    duration (an MKV's 1/1000 at 30000/1001 fps), else None (the source's time base is kept).

    The least timescale that holds both every source pts (a multiple of its time base's denominator)
    and the frame-rate fraction's frame duration (a multiple of its numerator); with it the last
    frame's duration makes the track last exactly frames / fps, so the output's rate reads as the
    source's (30000/1001, not MP4's frames over rounded milliseconds: 1192000/40307).
    """
    tb, fps = info.time_base, info.fps
    if (fps.denominator * tb.denominator) % (fps.numerator * tb.numerator) == 0:
        return None
    scale = math.lcm(tb.denominator, fps.numerator)
    return scale if scale <= 2**31 - 1 else None


def track_length(info: VideoInfo) -> Fraction | None:
    """How long (s) the output's video track lasts when the source's stated rate cannot say it, else None.

    A player (and FFmpeg, reading the MP4 back) states the track's rate as frames over the track's
    length, the last frame's duration included. A constant-rate source lasts frames / fps, one frame
    after its last pts, and the output keeps that (``VideoWriter`` ends the last frame there). A
    variable-rate one whose frames span more than frames / fps (frames dropped from a stated 30000/1001)
    cannot; then its last frame lasts about the mean frame interval, chosen so that frames / length is
    a fraction of small denominator near the mean rate (59/2, not 4470000/151151). Every frame's time
    is the source's either way; only the last frame's duration is chosen.
    """
    n, tb = info.frame_count, info.time_base
    if n < 2:
        return None
    span = (info.pts[-1] - info.pts[0]) * tb
    if n / info.fps > span:
        return None
    mean = span / (n - 1)
    near = n / (span + mean)
    for most in (1, 2, 3, 4, 5, 10, 100):  # the smallest denominator whose last frame lasts about the mean
        length = n / near.limit_denominator(most)
        if mean / 2 <= length - span <= mean * 3 / 2:
            return Fraction(length)
    return Fraction(span + mean)


def _movie_timescale(info: VideoInfo, streams, video_scale: int | None = None) -> int:
    """A movie timescale that states every stream's start exactly (FFmpeg's default is 1000)."""
    first = video_scale or info.time_base.denominator
    scale = first
    for s in streams:
        scale = math.lcm(scale, s.time_base.denominator)
    return scale if scale <= 2**31 - 1 else first


def x264_options(preset: str) -> dict[str, str]:
    """x264's options for this machine: frame threads for the cores this process may use (1.5 a
    core, as x264 counts, but from this process's CPU affinity), lookahead threads beside them,
    and ``X264_TUNING`` for the preset."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    params = ":".join(p for p in (f"lookahead-threads={max(1, cores // 2)}", X264_TUNING.get(preset)) if p)
    return {"preset": preset, "threads": str(max(1, cores + cores // 2)), "x264-params": params}


class VideoWriter:
    def __init__(self, path: str | os.PathLike, info: VideoInfo, crf: int = DEFAULT_CRF,
                 lossless: bool = False, preset: str | None = None, copy_audio: bool = True,
                 encoder: str | None = None, audio_edits: Mapping[int, Mapping[int, bytes]] | None = None,
                 planar: bool = False, tag: str | None = None):
        self.path = Path(path)
        self.info = info
        if self.path.resolve() == Path(info.path).resolve():
            raise VidmaskError(f"refusing to overwrite the source video {info.path}; choose another output path")
        check_output_name(self.path)
        if not 0 <= crf <= 51:
            raise VidmaskError(f"quality (crf) must be 0..51 (lower is better), not {crf}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = partial_path(self.path)
        src = av.open(info.path) if copy_audio and info.streams else None
        copied = [s for s in (src.streams if src else ())
                  if s.type == "audio" or (s.type == "subtitle" and s.codec_context.name == "mov_text")]
        self._scale = video_timescale(info)  # None: the source's time base states every frame
        self._length = track_length(info)  # None: frames / fps
        if self._length is not None:  # a timescale that states every pts and the chosen length
            scale = math.lcm(self._scale or info.time_base.denominator, self._length.denominator)
            self._length, self._scale = (None, self._scale) if scale > 2**31 - 1 else (self._length, scale)
        options = {"movflags": "+faststart", "movie_timescale": str(_movie_timescale(info, copied, self._scale))}
        if self._scale:
            options["video_track_timescale"] = str(self._scale)
        self._out = av.open(str(self.tmp), mode="w", format="mp4", options=options)
        self._out.metadata.clear() if hasattr(self._out.metadata, "clear") else None
        if tag:  # the one container tag written: how the kit knows its own output (``written_by_kit``)
            self._out.metadata["comment"] = tag
        tb = Fraction(1, self._scale) if self._scale else info.time_base
        self._pts_factor = int(info.time_base * self._scale) if self._scale else 1
        self._held = None  # with a timescale of our own: the last packet, muxed once its duration is known
        self._first_dts = None
        self._pix_fmt = output_pix_fmt(info, lossless, planar)
        if lossless:
            # Lossless files are for checking, not for size: a fast preset loses nothing here.
            preset = preset or "veryfast"
            self.encoder = "libx264rgb" if self._pix_fmt == "rgb24" else "libx264"
            vs = self._out.add_stream(self.encoder, rate=info.fps)
            vs.options = {"qp": "0", **x264_options(preset)}
        elif encoder in (None, "h264_nvenc") and nvenc_usable(self._pix_fmt):
            self.encoder = "h264_nvenc"
            vs = self._out.add_stream(self.encoder, rate=info.fps)
            # Constant quality near x264's crf (NVENC's cq scale is close to it at these levels).
            vs.options = {"preset": NVENC_PRESET, "rc": "vbr", "cq": str(max(1, crf)), "b": "0"}
        else:
            self.encoder = "libx264"
            vs = self._out.add_stream(self.encoder, rate=info.fps)
            vs.options = {"crf": str(crf), **x264_options(preset or DEFAULT_PRESET)}
        vs.pix_fmt = self._pix_fmt
        vs.width, vs.height = info.width, info.height
        vs.time_base = tb
        vs.codec_context.time_base = tb
        vs.thread_type = "AUTO"
        if self._pix_fmt != "rgb24":
            # State the source's colour description (x264 writes the range only with the others).
            cc = vs.codec_context
            cc.color_primaries, cc.color_trc = info.color_primaries, info.color_trc
            cc.colorspace, cc.color_range = info.colorspace, info.color_range
        if info.rotation:
            _set_rotation(vs, info.rotation)
        self._vs = vs
        # Copied streams: opened from the source, fed in time order as video advances.
        self._src = src
        self._copied: dict[int, av.stream.Stream] = {}
        # audio.edit_stream's packets: {stream index: {pts: new payload}} in place of the source's
        self._audio_edits = {int(k): v for k, v in (audio_edits or {}).items() if v}
        self._pending: Iterator | None = None
        self._next_packet = None
        if src is not None:
            for s in copied:
                try:
                    out_s = self._out.add_stream_from_template(s)
                except (ValueError, av.error.FFmpegError) as exc:
                    raise VidmaskError(f"cannot copy {s.type} stream #{s.index} "
                                       f"({s.codec_context.name}) into MP4: {exc}") from exc
                if s.metadata.get("language"):
                    out_s.metadata["language"] = s.metadata["language"]
                self._copied[s.index] = out_s
            if self._copied:
                self._pending = self._src.demux([self._src.streams[i] for i in self._copied])
                self._next_packet = self._pull()
        self._frames = 0
        self._closed = False

    @property
    def pix_fmt(self) -> str:
        """What the video is encoded as: yuv420p, yuv420p10le, rgb24 (lossless)..."""
        return self._pix_fmt

    # -- copied streams -------------------------------------------------------
    def _pull(self):
        for packet in self._pending:
            if packet.dts is None and packet.pts is None:
                continue  # the demuxer's end-of-stream flush packet
            return packet
        return None

    def _mux_copied_until(self, seconds: float | None) -> None:
        while self._next_packet is not None:
            p = self._next_packet
            t = p.dts if p.dts is not None else p.pts
            if seconds is not None and float(t * p.time_base) > seconds:
                return
            edits = self._audio_edits.get(p.stream.index)
            if edits is not None and p.pts in edits:
                p = _replaced(p, edits[p.pts])
            p.stream = self._copied[p.stream.index]
            self._out.mux(p)
            self._next_packet = self._pull()

    # -- video ----------------------------------------------------------------
    def write(self, rgb: np.ndarray, pts: int) -> None:
        """Encode one RGB frame (HxWx3 uint8, or uint16 0..65535; the source's size) at source pts."""
        if rgb.shape != (self.info.height, self.info.width, 3) or rgb.dtype not in (np.uint8, np.uint16):
            raise VidmaskError(f"frame must be {self.info.height}x{self.info.width}x3 uint8 or uint16, "
                               f"got {rgb.shape} {rgb.dtype}")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb),
                                           format="rgb24" if rgb.dtype == np.uint8 else "rgb48le")
        if frame.format.name != self._pix_fmt:
            # AREA averaging undoes the decoder's chroma upsampling best: measured 45.9 dB for the
            # RGB -> 4:2:0 round trip against 42.1 dB with the default bilinear filter. The
            # source's matrix and range, as VideoReader used them to make this RGB.
            frame = frame.reformat(format=self._pix_fmt, interpolation="AREA",
                                   dst_colorspace=self.info.sws_colorspace,
                                   dst_color_range=self.info.sws_range)
        self.write_planes(frame, pts)

    def write_planes(self, frame: av.VideoFrame, pts: int) -> None:
        """Encode a frame already in ``pix_fmt`` (the source's planes, ``media.planes``) at source pts.

        Nothing is converted; the frame may be reused once this returns (x264 has copied it).
        """
        if frame.format.name != self._pix_fmt or (frame.width, frame.height) != (self.info.width, self.info.height):
            raise VidmaskError(f"frame must be {self.info.width}x{self.info.height} {self._pix_fmt}, "
                               f"got {frame.width}x{frame.height} {frame.format.name}")
        frame.pts = int(pts) * self._pts_factor
        frame.time_base = self._vs.codec_context.time_base
        self._mux_copied_until(float(pts * self.info.time_base))
        for packet in self._vs.encode(frame):
            self._mux_video(packet)
        self._frames += 1

    def _mux_video(self, packet) -> None:
        if not self._scale:
            self._out.mux(packet)
            return
        if self._first_dts is None:
            self._first_dts = packet.dts
        if self._held is not None:
            self._out.mux(self._held)
        self._held = packet

    def _mux_last_video(self) -> None:
        """The last packet, lasting what makes the track exactly frames / fps long (own timescale only)."""
        if self._held is None:
            return
        p, fps = self._held, self.info.fps
        if self._length is not None and self._frames == self.info.frame_count:
            total = int(self._length * self._scale)
        else:
            total = self._frames * fps.denominator * self._scale // fps.numerator
        last = total - (p.dts - self._first_dts)
        if last > 0:
            p.duration = last
        self._out.mux(p)
        self._held = None

    def close(self) -> Path:
        """Flush, mux the rest of the copied streams, and rename onto the final path."""
        if self._closed:
            return self.path
        try:
            for packet in self._vs.encode(None):
                self._mux_video(packet)
            self._mux_last_video()
            self._mux_copied_until(None)
            self._out.close()
        except BaseException:
            self.abort()
            raise
        finally:
            if self._src is not None:
                self._src.close()
        self._closed = True
        if self._frames != self.info.frame_count:
            self.tmp.unlink(missing_ok=True)
            raise VidmaskError(f"only {self._frames} of {self.info.frame_count} frames were written; "
                               f"{self.path} was not created")
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Drop the partial file; the final path is left as it was."""
        self._closed = True
        for c in (self._out, self._src):
            try:
                if c is not None:
                    c.close()
            except Exception:
                pass
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
            if isinstance(exc, OSError) and exc.errno == 28:
                raise VidmaskError(f"the disk is full while writing {self.path}; free some space and "
                                   "run again") from exc


def _replaced(packet, payload: bytes):
    """A new packet with ``payload`` at ``packet``'s place (stream, pts, dts, duration, flags)."""
    new = av.Packet(payload)
    new.stream = packet.stream
    new.pts, new.dts, new.duration, new.time_base = packet.pts, packet.dts, packet.duration, packet.time_base
    new.is_keyframe = packet.is_keyframe
    return new


def _set_rotation(stream, degrees: int) -> None:
    """Keep the source's display matrix, so players turn the video as they turned the source."""
    stream.set_display_rotation(float(degrees))
