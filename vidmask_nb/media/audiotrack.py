"""Audio spans muted or bleeped in place: only the packets that overlap a span are re-encoded.

``edit_stream(path, index, AudioEdit(spans, "bleep"))`` decodes one audio stream, silences (or
replaces with a tone) every span, and re-encodes only the packets that overlap a span, plus one
guard packet on each side, with the source's codec, sample rate and channel layout. The result is
a map from each replaced packet's pts to its new payload; ``encode.VideoWriter(audio_edits=...)``
puts those payloads in place of the source's packets, with the same pts, dts and duration, and
copies every other packet byte for byte. So the start stays to the sample and nothing outside
the spans changes (the guard packets are re-encoded from unchanged samples: a codec's packets
overlap their neighbours, and the guards keep the seam where the signal is the source's).

Spans are seconds on the file's clock (pts x time base, what a player shows when the file starts
at 0). Inside a span the source fades out (and the tone in) over ``RAMP_SECONDS``, so neither edge
clicks; outside a span no sample is touched. The bleep is a ``BLEEP_HZ`` sine at ``BLEEP_LEVEL``
(-12 dBFS), the broadcast habit.

Codecs: those whose packets each hold one codec frame of fixed size and decode on their own
(AAC LC, AC-3, E-AC-3, MP2; PCM) are edited span by span; others (MP3's bit reservoir, Opus'
variable frames) and AAC profiles FFmpeg cannot encode (HE-AAC) stop with one line.

Example::

    edit = AudioEdit(((2.0, 2.6),), "bleep")
    packets = edit_stream("clip.mp4", 1, edit).packets   # {pts: bytes} for the packets around 2.0-2.6 s
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Iterator, Sequence

import av
import numpy as np

from vidmask_nb.errors import VidmaskError

MODES = ("keep", "mute", "bleep")
BLEEP_HZ = 1000.0
BLEEP_LEVEL = 0.25  # -12 dBFS: clearly a bleep, never louder than speech
RAMP_SECONDS = 0.005  # fades inside each span's edges: no click
GUARD_PACKETS = 1  # re-encoded unchanged packets each side of a span, so seams fall on source samples
EDITABLE_CODECS = ("aac", "ac3", "eac3", "mp2")  # one fixed-size codec frame a packet
WHOLE = (float("-inf"), float("inf"))
MIN_BIT_RATE = 64000  # a channel, for re-encoded packets: a bleep stays a clean tone


def merge_spans(spans: Sequence[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    """Sorted, overlapping or touching spans joined; a span whose end is not after its start is an error."""
    out: list[list[float]] = []
    for start, end in sorted((float(a), float(b)) for a, b in spans):
        if not end > start:
            raise VidmaskError(f"audio span {start:g}-{end:g} s ends before it starts")
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return tuple((a, b) for a, b in out)


@dataclass(frozen=True)
class AudioEdit:
    """What to do to one audio stream: ``mode`` (mute or bleep) over ``spans`` (seconds; ``WHOLE``: all of it)."""

    spans: tuple[tuple[float, float], ...]
    mode: str = "mute"

    def __post_init__(self):
        if self.mode not in ("mute", "bleep"):
            raise VidmaskError(f"--audio must be one of {', '.join(MODES)}, not {self.mode!r}")
        object.__setattr__(self, "spans", merge_spans(self.spans))


@dataclass(frozen=True)
class EditedStream:
    """One stream's new packets (pts -> payload) and what was replaced."""

    index: int
    packets: dict[int, bytes] = field(repr=False)
    spans: tuple[tuple[float, float], ...]  # the edited spans, clipped to the stream's samples
    packets_total: int = 0
    codec: str = ""

    @property
    def seconds_changed(self) -> float:
        return float(sum(b - a for a, b in self.spans))

    def summary(self) -> str:
        return (f"audio stream #{self.index} ({self.codec}): {len(self.spans)} span(s), "
                f"{self.seconds_changed:.2f} s changed; {len(self.packets)} of {self.packets_total} packets "
                "re-encoded, the rest copied")


def apply_edit(samples: np.ndarray, first: int, rate: int, edit: AudioEdit) -> np.ndarray:
    """Mute or bleep ``edit``'s spans in planar float ``samples`` (channels x n) starting at sample ``first``."""
    n = samples.shape[1]
    pos = first + np.arange(n)
    ramp = max(1, round(RAMP_SECONDS * rate))
    weight = np.zeros(n)
    for a, b in edit.spans:
        sa = -np.inf if math.isinf(a) else a * rate
        sb = np.inf if math.isinf(b) else b * rate
        if sb <= first or sa >= first + n:
            continue
        inside = (pos >= sa) & (pos < sb)
        # ramps inside the span: 0 at its edges, 1 after ``ramp`` samples (whole-track spans have none)
        w = np.minimum(np.minimum(pos - sa, sb - pos) / ramp, 1.0)
        weight = np.where(inside, np.maximum(weight, w), weight)
    if not weight.any():
        return samples
    out = samples * (1.0 - weight)[None, :]
    if edit.mode == "bleep":
        tone = BLEEP_LEVEL * np.sin(2 * np.pi * BLEEP_HZ * pos / rate)
        out = out + (weight * tone)[None, :]
    return out.astype(np.float32)


class _Pcm:
    """A stream's decoded samples as planar float32, read forward by sample position (zeros where none)."""

    def __init__(self, frames: Iterator[tuple[int, np.ndarray]], channels: int):
        self._frames = frames
        self._channels = channels
        self._buf = np.zeros((channels, 0), np.float32)
        self._start = None  # sample position of _buf[:, 0]
        self._done = False

    def _pull(self, wanted: int) -> bool:
        for pos, arr in self._frames:
            if pos + arr.shape[1] <= wanted:  # wholly before what is read next: decoded, not kept
                continue
            if self._start is None or self._start + self._buf.shape[1] <= wanted:
                self._buf, self._start = self._buf[:, :0], pos
            end = self._start + self._buf.shape[1]
            if pos > end:  # a gap in the stream: silence there
                self._buf = np.concatenate([self._buf, np.zeros((self._channels, pos - end), np.float32)], 1)
            elif pos < end:  # an overlap (never in a sane stream): the later samples win
                self._buf = self._buf[:, :max(0, pos - self._start)]
            self._buf = np.concatenate([self._buf, arr], 1)
            return True
        self._done = True
        return False

    def read(self, start: int, n: int) -> np.ndarray:
        out = np.zeros((self._channels, n), np.float32)
        while not self._done and (self._start is None or self._start + self._buf.shape[1] < start + n):
            self._pull(start)
        if self._start is None:
            return out
        lo, hi = max(start, self._start), min(start + n, self._start + self._buf.shape[1])
        if hi > lo:
            out[:, lo - start:hi - start] = self._buf[:, lo - self._start:hi - self._start]
        drop = max(0, start - self._start)  # reads go forward: what is before ``start`` is not needed again
        if drop:
            self._buf, self._start = self._buf[:, drop:], self._start + drop
        return out


def _decoded(container, stream, rate: int, layout: str, snapped: dict[int, int] | None = None
             ) -> Iterator[tuple[int, np.ndarray]]:
    """(sample position, planar float32 channels x n) for every decoded frame of ``stream``; ``snapped``:
    the packets' pts -> sample position (``_sample_grid``), which a frame carrying that pts takes."""
    resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
    tb = stream.time_base
    for packet in container.demux(stream):
        for frame in packet.decode():
            if frame.pts is None or not frame.samples:
                continue
            if snapped and frame.pts in snapped and frame.time_base in (None, tb):
                pos = snapped[frame.pts]
            else:
                pos = round(frame.pts * frame.time_base * rate) if frame.time_base else round(frame.pts * tb * rate)
            for f in resampler.resample(frame):
                yield pos, f.to_ndarray().astype(np.float32, copy=False)
                pos += f.samples


def _runs(indices: list[int]) -> list[tuple[int, int]]:
    runs: list[list[int]] = []
    for i in indices:
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return [(a, b) for a, b in runs]


def _sample_grid(grid: list[tuple[int, int]], tick: float, size: int) -> tuple[list[int], list[int]]:
    """Each packet's first sample and length, from its pts and duration (``tick``: samples a time base unit).

    A time base coarser than a sample (Matroska's 1 ms is 48 samples at 48 kHz) rounds every pts and
    duration: 1024-sample packets read 21 or 22 ms, their starts up to half a tick off. For a codec
    of fixed ``size`` frames, packets that follow each other within a tick of ``size`` are one run
    on a ``size`` grid; its start is the one that every rounded pts in the run allows (the
    intersection of their +-half-tick windows), so packets and decoded frames fall on the samples the
    encoder made. A time base as fine as a sample is read as it is.
    """
    raw = [round(pts * tick) for pts, _ in grid]
    lengths = [round(d * tick) for _, d in grid]
    if tick <= 1 or not size:
        return raw, lengths
    pos, out_len = list(raw), list(lengths)
    half = tick / 2
    start = 0
    for i in range(1, len(raw) + 1):
        if i < len(raw) and abs(raw[i] - raw[i - 1] - size) <= tick:
            continue
        run = range(start, i)  # packets start..i-1 follow each other a frame apart
        lo = max(raw[k] - (k - start) * size for k in run) - half
        hi = min(raw[k] - (k - start) * size for k in run) + half
        if lo <= hi:
            anchor = round((lo + hi) / 2)
            for k in run:
                pos[k] = anchor + (k - start) * size
                if k < i - 1 or abs(lengths[k] - size) <= tick:
                    out_len[k] = size
        start = i
    return pos, out_len


def _encoder(stream, rate: int) -> av.CodecContext:
    cc = stream.codec_context
    name = cc.name
    if name not in EDITABLE_CODECS and not name.startswith("pcm_"):
        raise VidmaskError(f"audio stream #{stream.index} is {name}, whose packets cannot be re-encoded one by one; "
                           "use --audio keep, or convert the audio to AAC first")
    if name == "aac" and (cc.profile or "LC") != "LC":
        raise VidmaskError(f"audio stream #{stream.index} is AAC {cc.profile}, which FFmpeg cannot encode; "
                           "use --audio keep, or convert the audio to AAC LC first")
    try:
        enc = av.CodecContext.create(name, "w")
    except Exception as exc:
        raise VidmaskError(f"no {name} encoder in this PyAV build to re-encode audio stream #{stream.index}") from exc
    enc.sample_rate = rate
    enc.layout = cc.layout.name
    formats = [f.name for f in (enc.codec.audio_formats or ())]
    enc.format = cc.format.name if cc.format.name in formats or not formats else formats[0]
    if not name.startswith("pcm_"):  # the source's rate, never below 64 kb/s a channel (a silent source states ~2)
        enc.bit_rate = max(int(stream.bit_rate or cc.bit_rate or 0), MIN_BIT_RATE * cc.channels)
    enc.time_base = Fraction(1, rate)
    enc.open()
    return enc


def check_editable(path: str | os.PathLike, mode: str | None) -> None:
    """Up front, before any work: with ``mode`` mute or bleep, every audio stream of ``path`` has a codec
    that can be re-encoded packet by packet here; else the one line the render would stop with."""
    if mode not in ("mute", "bleep"):
        return
    try:
        container = av.open(str(path))
    except av.error.FFmpegError:
        return  # not a video: the probe says so in its own words
    with container:
        for stream in container.streams.audio:
            _encoder(stream, stream.codec_context.sample_rate)


def edit_stream(path: str | os.PathLike, index: int, edit: AudioEdit) -> EditedStream:
    """Re-encode the packets of audio stream ``index`` that overlap ``edit``'s spans (see the module)."""
    with av.open(str(path)) as container:
        stream = container.streams[index]
        if stream.type != "audio":
            raise VidmaskError(f"stream #{index} of {path} is {stream.type}, not audio")
        cc = stream.codec_context
        rate, tb = cc.sample_rate, stream.time_base
        grid = [(p.pts, p.duration or 0) for p in container.demux(stream) if p.pts is not None]
        size = 0 if cc.name.startswith("pcm_") else (cc.frame_size or 0)
    if not grid:
        return EditedStream(index, {}, (), 0, cc.name)
    to_pos, lengths = _sample_grid(grid, tb * rate, size)
    snapped = {pts: p for (pts, _), p in zip(grid, to_pos)}
    first_sample = to_pos[0]
    last_sample = to_pos[-1] + lengths[-1]
    starts, ends = np.array(to_pos), np.array(to_pos) + np.maximum(np.array(lengths), 1)
    hit = np.zeros(len(grid), bool)
    clipped = []
    for a, b in edit.spans:
        sa = first_sample if math.isinf(a) else max(first_sample, round(a * rate))
        sb = last_sample if math.isinf(b) else min(last_sample, round(b * rate))
        if sb <= sa:
            continue
        clipped.append((sa / rate, sb / rate))
        hit |= (starts < sb) & (ends > sa)
    if not hit.any():
        return EditedStream(index, {}, (), len(grid), cc.name)
    chosen = sorted({j for i in np.flatnonzero(hit).tolist() for j in range(i - GUARD_PACKETS, i + GUARD_PACKETS + 1) if 0 <= j < len(grid)})
    edit = AudioEdit(tuple(clipped), edit.mode)
    packets: dict[int, bytes] = {}
    with av.open(str(path)) as container:
        stream = container.streams[index]
        layout = stream.codec_context.layout.name
        pcm = _Pcm(_decoded(container, stream, rate, layout, snapped), stream.codec_context.channels)
        for i0, i1 in _runs(chosen):
            enc = _encoder(stream, rate)
            size = enc.frame_size or 1024
            fixed = lengths[i0:i1 + 1] if i1 + 1 < len(grid) else lengths[i0:i1]
            if any(n != size for n in fixed) and not cc.name.startswith("pcm_"):
                raise VidmaskError(f"audio stream #{index} ({cc.name}) has packets of another size than its "
                                   f"encoder's {size} samples; it cannot be edited in place")
            wanted = {to_pos[i]: grid[i][0] for i in range(i0, i1 + 1)}
            # one packet of context before (the encoder's own delay is one frame: its first packet
            # comes out a frame before its first input), one after, so every wanted packet is whole
            pos = to_pos[i0] - size
            stop = to_pos[i1] + lengths[i1] + size
            outputs = []
            while pos < stop:
                chunk = apply_edit(pcm.read(pos, size), pos, rate, edit)
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp", layout=layout)
                frame.sample_rate, frame.pts, frame.time_base = rate, pos, Fraction(1, rate)
                if enc.format.name != "fltp":
                    frame = av.AudioResampler(format=enc.format.name, layout=layout, rate=rate).resample(frame)[0]
                    frame.pts, frame.time_base = pos, Fraction(1, rate)
                outputs += enc.encode(frame)
                pos += size
            outputs += enc.encode(None)
            for p in outputs:
                if p.pts in wanted:
                    packets[wanted[p.pts]] = bytes(p)
            missing = [s for s in wanted.values() if s not in packets]
            if missing:
                raise VidmaskError(f"re-encoding audio stream #{index} did not give packets at pts {missing[:3]}; "
                                   "its packets do not line up with the encoder's frames")
    return EditedStream(index, packets, edit.spans, len(grid), cc.name)


def read_pcm(path: str | os.PathLike, index: int, rate: int = 16000) -> tuple[np.ndarray, float]:
    """Audio stream ``index`` as mono int16 at ``rate`` Hz, and the time (s) of its first sample."""
    with av.open(str(path)) as container:
        stream = container.streams[index]
        resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
        parts, start = [], None
        for packet in container.demux(stream):
            for frame in packet.decode():
                if frame.pts is None or not frame.samples:
                    continue
                if start is None:
                    start = float(frame.pts * (frame.time_base or stream.time_base))
                parts += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
        parts += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    pcm = np.concatenate(parts).astype(np.int16) if parts else np.zeros(0, np.int16)
    return pcm, start or 0.0
