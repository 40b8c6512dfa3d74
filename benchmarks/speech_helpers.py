"""Test material with spoken words at known times: espeak-ng phrases mixed over a clip's audio.

Each phrase is synthesised on its own (espeak-ng's voice is spotted reliably one phrase at a time,
not in whole sentences), trimmed to its first and last loud sample, and mixed in at its time, so
the truth of when each word is said is exact. The bed under the speech is a real clip's audio
(``../shared/media/01_dog.mp4``, digital silence) under the sample clip's tone.
"""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import wave
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

RATE = 48000
MEDIA = Path(__file__).resolve().parents[1].parent / "shared" / "media"  # as conftest's SHARED_MEDIA


def need_espeak() -> None:
    """Skip without espeak-ng, unless ``VIDMASK_REQUIRE_ESPEAK=1`` (CI), where its absence fails."""
    if shutil.which("espeak-ng"):
        return
    why = "espeak-ng is not installed (apt-get install espeak-ng)"
    if os.environ.get("VIDMASK_REQUIRE_ESPEAK") == "1":
        pytest.fail(f"VIDMASK_REQUIRE_ESPEAK=1 but the speech tests cannot run: {why}")
    pytest.skip(why)


def say(text: str, voice: str = "en-us", rate: int = 140) -> np.ndarray:
    """``text`` spoken by espeak-ng (``voice``, ``rate`` words a minute) as float32 at 48 kHz, trimmed to the speech."""
    raw = subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate), "--stdout", text],
                         capture_output=True, check=True).stdout
    with wave.open(io.BytesIO(raw)) as w:
        rate = w.getframerate()
        pcm = np.frombuffer(w.readframes(w.getnframes()), np.int16)
    frame = av.AudioFrame.from_ndarray(pcm[None, :].copy(), format="s16", layout="mono")
    frame.sample_rate = rate
    resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
    x = np.concatenate([f.to_ndarray().reshape(-1) for f in resampler.resample(frame) + resampler.resample(None)])
    loud = np.flatnonzero(np.abs(x) > 0.02 * np.abs(x).max())
    return x[loud[0]:loud[-1] + 1]


def bed(seconds: float, real: bool = True) -> np.ndarray:
    """The audio under the speech: the sample clip's tone, over 01_dog's own track (mono 48 kHz, looped) when
    the real clips are here (the shared clips' tracks are digital silence: the tone keeps the bed audible)."""
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    tone = (0.05 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    clip = MEDIA / "01_dog.mp4"
    if real and clip.is_file():
        with av.open(str(clip)) as c:
            res = av.AudioResampler(format="flt", layout="mono", rate=RATE)
            parts = []
            for frame in c.decode(c.streams.audio[0]):
                parts += [f.to_ndarray().reshape(-1) for f in res.resample(frame)]
                if sum(len(p) for p in parts) >= n:
                    break
        return tone + np.resize(np.concatenate(parts), n).astype(np.float32)  # looped when the clip is shorter
    return tone


def mix(seconds: float, said: list[tuple[str, float]], real: bool = True) -> tuple[np.ndarray, list[tuple[str, float, float]]]:
    """A track of ``seconds`` with each (phrase, start s) spoken over the bed; and (phrase, start, end) truth."""
    track = bed(seconds, real).copy()
    truth = []
    for phrase, start in said:
        voice = 0.6 * say(phrase)
        i = int(round(start * RATE))
        track[i:i + len(voice)] += voice[:len(track) - i]
        truth.append((phrase, start, start + len(voice) / RATE))
    return np.clip(track, -1, 1), truth


def speech_clip(path: Path, tracks: list[np.ndarray], seconds: float, fps=Fraction(24000, 1001),
                size=(96, 64)) -> Path:
    """A small sample video with one AAC track (48 kHz mono) per array in ``tracks``."""
    from vidmask_nb.media.sample import make_sample_clip

    video = make_sample_clip(path.with_name(path.stem + "_video.mp4"), seconds=seconds, fps=fps, size=size,
                             audio=False)
    with av.open(str(video)) as src, av.open(str(path), "w", format="mp4",
                                             options={"movie_timescale": "48000"}) as out:
        vin = src.streams.video[0]
        vout = out.add_stream_from_template(vin)
        aouts = []
        for _ in tracks:
            a = out.add_stream("aac", rate=RATE)
            a.layout = "mono"
            aouts.append(a)
        for p in src.demux(vin):
            if p.dts is None:
                continue
            p.stream = vout
            out.mux(p)
        for a, x in zip(aouts, tracks):
            for i in range(0, len(x), 1024):
                f = av.AudioFrame.from_ndarray(np.ascontiguousarray(x[None, i:i + 1024]), format="fltp",
                                               layout="mono")
                f.sample_rate, f.pts, f.time_base = RATE, i, Fraction(1, RATE)
                for p in a.encode(f):
                    out.mux(p)
            for p in a.encode(None):
                out.mux(p)
    video.unlink()
    return path
