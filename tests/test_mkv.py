"""Matroska sources: a millisecond time base under the audio edits and the output's stated rate.

Both clips are written here with PyAV: two AAC tracks (stereo and mono) under a few frames, and a
variable-rate video that drops two of 151 frames of a stated 30000/1001.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

RATE = 48000


def _mkv(path: Path, slots, fps=Fraction(10), tones=(), codec="aac") -> Path:
    """An MKV (time base 1/1000) with one 64x48 frame at each of ``slots`` (frame numbers at ``fps``) and one
    ``codec`` track of 2 s per entry of ``tones`` ((Hz, channels))."""
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        auds = []
        for _, ch in tones:
            a = c.add_stream(codec, rate=RATE)
            a.layout = "stereo" if ch == 2 else "mono"
            auds.append(a)
        for i, slot in enumerate(slots):
            f = av.VideoFrame.from_ndarray(np.full((48, 64, 3), (i * 8) % 256, np.uint8), format="rgb24")
            f.pts, f.time_base = round(slot / fps * 1000), Fraction(1, 1000)
            for p in v.encode(f):
                c.mux(p)
        for a, (hz, ch) in zip(auds, tones):
            size = 960 if "opus" in codec else 1024  # a frame of the codec (opus: 20 ms)
            for n in range(0, 2 * RATE, size):
                s = (0.3 * np.sin(2 * np.pi * hz * (n + np.arange(size)) / RATE)).astype(np.float32)
                fr = av.AudioFrame.from_ndarray(np.tile(s, (ch, 1)), format="fltp", layout=a.layout.name)
                fr.sample_rate, fr.pts, fr.time_base = RATE, n, Fraction(1, RATE)
                if a.codec_context.format.name != "fltp":  # libopus takes s16
                    fr = av.AudioResampler(format=a.codec_context.format.name, layout=a.layout.name,
                                           rate=RATE).resample(fr)[0]
                for p in a.encode(fr):
                    c.mux(p)
        for s in [v, *auds]:
            for p in s.encode(None):
                c.mux(p)
    return path


def _render(src: Path, tmp: Path, name: str, audio=None) -> Path:
    from common import inject_masks

    from vidmask_nb.media.video import probe
    from vidmask_nb.redact.render import render

    masks = tmp / "masks.json"
    inject_masks(probe(src), {1: "nothing"}, lambda i, k: None).save(masks)
    return render(src, masks=masks, output=tmp / name, progress=False, audio=audio)


def _packets(path) -> dict[int, dict[int, bytes]]:
    """{audio stream: {pts in ms (the source's clock): payload}}."""
    with av.open(str(path)) as c:
        out = {s.index: {} for s in c.streams.audio}
        for p in c.demux(list(c.streams.audio)):
            if p.pts is not None:
                out[p.stream.index][round(p.pts * p.time_base * 1000)] = bytes(p)
    return out


@pytest.mark.parametrize("mode", ["mute", "bleep"])
def test_two_aac_tracks_in_an_mkv_are_edited_each_the_rest_byte_for_byte(tmp_path, mode):
    """Matroska's 1 ms time base rounds 1024-sample packets to 21 or 22 ms: the edit used to stop in the render."""
    from vidmask_nb.media.audiotrack import BLEEP_HZ, read_pcm
    from vidmask_nb.redact.audio import AudioOptions

    src = _mkv(tmp_path / "two.mkv", range(20), tones=((440, 2), (660, 1)))
    out = _render(src, tmp_path, f"{mode}.mp4", AudioOptions(audio=mode, audio_spans="0.5-1.0"))
    before, after = _packets(src), _packets(out)
    assert len(before) == 2
    for index, packets in before.items():
        changed = sorted(pts for pts, data in packets.items() if after[index].get(pts) != data)
        assert set(after[index]) == set(packets) and changed  # every packet in place, only the span's re-encoded
        assert 0.45 <= changed[0] / 1000 and changed[-1] / 1000 <= 1.03, changed
        a, _ = read_pcm(src, index, 16000)
        b, _ = read_pcm(out, index, 16000)
        inside = b[int(0.55 * 16000):int(0.95 * 16000)].astype(np.float64) / 32768
        if mode == "mute":
            assert np.abs(inside).max() < 1e-3
        else:
            spectrum = np.abs(np.fft.rfft(inside))
            assert np.fft.rfftfreq(len(inside), 1 / 16000)[spectrum.argmax()] == pytest.approx(BLEEP_HZ, abs=5)
        assert np.array_equal(a[:int(0.4 * 16000)], b[:int(0.4 * 16000)])  # before the span: the source's samples


def test_a_variable_rate_mkv_states_a_sensible_rate_and_keeps_every_frame_time(tmp_path):
    """149 frames of a stated 30000/1001 spanning 151 slots came out stating 4470000/151151."""
    from vidmask_nb.media.video import probe

    slots = [k for k in range(151) if k not in (40, 90)]
    src = _mkv(tmp_path / "vfr.mkv", slots, fps=Fraction(30000, 1001))
    a = probe(src)
    out = _render(src, tmp_path, "vfr.mp4")
    b = probe(out)
    assert [p * a.time_base for p in a.pts] == [p * b.time_base for p in b.pts]
    assert b.fps.denominator <= 100 and abs(float(b.fps) - 149 / (150 * 1001 / 30000)) < 0.3, b.fps
    const = _render(_mkv(tmp_path / "cfr.mkv", range(30), fps=Fraction(30000, 1001)), tmp_path, "cfr.mp4")
    assert probe(const).fps == Fraction(30000, 1001)  # a constant rate keeps the source's stated one


def test_audio_that_cannot_be_edited_is_refused_up_front(tmp_path, capsys):
    """Issue 30: audio `--audio mute` cannot edit was said only in the render, after the whole floor."""
    from vidmask_nb.cli import main
    from vidmask_nb.errors import VidmaskError
    from vidmask_nb.run.settings import run_settings

    src = _mkv(tmp_path / "opus.mkv", range(10), tones=((440, 2),), codec="libopus")
    out = tmp_path / "run"
    assert main(["run", str(src), "--find", "faces", "--no-track", "--audio", "mute", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "is opus" in err and "--audio keep" in err and len(err.splitlines()) == 1, err
    assert not out.exists()
    with pytest.raises(VidmaskError, match="use audio keep"):  # notebook 01 says it when the run starts
        run_settings(out, video=src, save=True, caller="notebook", find="faces", no_track=True, audio="bleep")
    assert not out.exists()
