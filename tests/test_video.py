"""Foundation: probe, reading, chunk plans, extraction and the encoder keep every frame, pts and audio packet."""
from __future__ import annotations

import dataclasses
import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from conftest import shared_clips
from vidmask_nb.media.chunks import plan_chunks
from vidmask_nb.media.encode import VideoWriter
from vidmask_nb.errors import VidmaskError
from vidmask_nb.media.extract import Manifest, extract_jpegs, prepare
from vidmask_nb.media.sample import make_sample_clip
from vidmask_nb.media.video import VideoReader, probe


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b) ** 2)
    return 99.0 if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def audio_packets(path) -> list[tuple]:
    with av.open(str(path)) as c:
        return [(s.index, bytes(p), p.pts, p.dts) for s in c.streams.audio
                for p in c.demux(s) if p.size]


def roundtrip(src: Path, out: Path, lossless: bool) -> None:
    """Decode -> encode unchanged, then check timing, audio and pixels against the source."""
    info = probe(src)
    with VideoWriter(out, info, lossless=lossless) as writer:
        for frame in VideoReader(src, info=info):
            writer.write(frame.rgb, frame.pts)
    got = probe(out)
    assert got.frame_count == info.frame_count
    assert got.pts == info.pts  # same numbers: the output keeps the source's time base
    assert got.fps == info.fps
    assert (got.width, got.height) == (info.width, info.height)
    assert len(got.audio) == len(info.audio)
    assert audio_packets(out) == audio_packets(src)
    worst = min(psnr(a.rgb, b.rgb) for a, b in zip(VideoReader(src, info=info), VideoReader(out, info=got)))
    if lossless:
        assert worst == 99.0, "lossless mode must give identical pixels"
    else:
        assert worst >= 40.0, f"worst frame PSNR {worst:.2f} dB < 40 dB"


GENERATED = [
    ("23976_odd_audio", Fraction(24000, 1001), (161, 121), True),
    ("5994_audio", Fraction(60000, 1001), (192, 108), True),
    ("25_noaudio", Fraction(25), (160, 90), False),
]


@pytest.mark.parametrize("name,fps,size,audio", GENERATED, ids=[g[0] for g in GENERATED])
@pytest.mark.parametrize("lossless", [False, True], ids=["crf", "lossless"])
def test_roundtrip_generated(tmp_path, name, fps, size, audio, lossless):
    src = make_sample_clip(tmp_path / f"{name}.mp4", seconds=1.5, fps=fps, size=size, audio=audio)
    info = probe(src)
    assert info.fps == fps and len(info.audio) == int(audio)
    roundtrip(src, tmp_path / "out.mp4", lossless)


@pytest.mark.media
@pytest.mark.parametrize("clip", [p.name for p in shared_clips()] or ["none"])
@pytest.mark.parametrize("lossless", [False, True], ids=["crf", "lossless"])
def test_roundtrip_shared(shared_media, tmp_path, clip, lossless):
    roundtrip(shared_media / clip, tmp_path / "out.mp4", lossless)


def test_probe_shared_rates(shared_media):
    expected = {"01_dog.mp4": ("30000/1001", 289, 1), "02_hummingbird.mp4": ("24", 176, 1),
                "07_snowboarder.mp4": ("2997/50", 385, 0), "19_cyclist.mp4": ("24000/1001", 241, 0),
                "bedroom.mp4": ("30", 200, 0)}
    for name, (fps, n, audio) in expected.items():
        info = probe(shared_media / name)
        assert (info.fps, info.frame_count, len(info.audio)) == (Fraction(fps), n, audio), name
        assert info.to_dict()["fps"] == fps


def test_reader_random_access_matches_sequential(sample_clip):
    info = probe(sample_clip)
    reader = VideoReader(sample_clip, info=info, cache_frames=8)
    seq = [f.rgb for f in reader]
    assert len(seq) == info.frame_count
    order = list(range(info.frame_count - 1, -1, -1)) + [5, 40, 3, 30, 0, 47]
    for i in order:
        assert np.array_equal(reader[i], seq[i]), i
    small = VideoReader(sample_clip, size=64, info=info)
    assert small[7].shape == (64, 64, 3)
    assert VideoReader(sample_clip, size=(80, 60), info=info)[7].shape == (60, 80, 3)


def test_chunk_plans_tile_exactly():
    fps = Fraction(30000, 1001)
    plan = plan_chunks(1800, fps, seconds=20)
    sizes = [c.frames for c in plan.chunks]
    assert sum(sizes) == 1800 and sizes[:2] == [599, 600]  # 20 s = 599.4 frames, no drift
    covered = [i for c in plan.chunks for i in range(c.start, c.stop)]
    assert covered == list(range(1800))
    plan = plan_chunks(100, Fraction(24), frames=30, overlap=5)
    assert [(c.start, c.stop, c.read_start, c.read_stop) for c in plan.chunks] == [
        (0, 30, 0, 35), (30, 60, 25, 65), (60, 90, 55, 95), (90, 100, 85, 100)]
    assert [c.name for c in plan.chunks] == sorted(c.name for c in plan.chunks)
    with pytest.raises(VidmaskError):
        plan_chunks(100, fps, seconds=0)


def test_prepare_and_extract(sample_clip, tmp_path):
    manifest = prepare(sample_clip, tmp_path / "run", chunk_seconds=0.5)
    again = Manifest.load(tmp_path / "run")
    assert again.info == manifest.info and again.plan == manifest.plan
    out = extract_jpegs(sample_clip, tmp_path / "frames", manifest.plan, info=manifest.info)
    m = json.loads((out / "manifest.json").read_text())
    assert m["fps"] == "24000/1001" and len(m["pts"]) == manifest.info.frame_count
    folders = sorted(p for p in out.iterdir() if p.is_dir())
    assert [f.name for f in folders] == [c["name"] for c in m["chunks"]]
    assert sum(len(list(f.glob("*.jpg"))) for f in folders) == manifest.info.frame_count
    assert (folders[1] / "00000.jpg").exists()
    assert not list(out.glob(".*partial*"))


def test_rotation_kept_and_location_dropped(tmp_path, sample_clip):
    info = probe(sample_clip)
    src = tmp_path / "phone.mp4"
    with av.open(str(src), "w") as out:  # a "phone" clip: rotated, with a GPS tag
        out.metadata["location"] = "+48.8584+002.2945/"
        vs = out.add_stream("libx264", rate=info.fps)
        vs.width, vs.height, vs.pix_fmt = info.width, info.height, "yuv420p"
        vs.set_display_rotation(90.0)
        for f in VideoReader(sample_clip, info=info):
            vf = av.VideoFrame.from_ndarray(f.rgb, format="rgb24").reformat(format="yuv420p")
            vf.pts, vf.time_base = f.pts, info.time_base
            for p in vs.encode(vf):
                out.mux(p)
        for p in vs.encode(None):
            out.mux(p)
    src_info = probe(src)
    assert src_info.rotation == 90
    with VideoWriter(tmp_path / "out.mp4", src_info) as w:
        for f in VideoReader(src, info=src_info):
            w.write(f.rgb, f.pts)
    assert probe(tmp_path / "out.mp4").rotation == 90
    with av.open(str(tmp_path / "out.mp4")) as c:
        assert "location" not in c.metadata


# -- errors -----------------------------------------------------------------------

def _truncated(tmp_path, sample_clip) -> Path:
    info = probe(sample_clip)
    faststart = tmp_path / "faststart.mp4"  # the index is at the front, so a cut keeps it
    with VideoWriter(faststart, info) as w:
        for f in VideoReader(sample_clip, info=info):
            w.write(f.rgb, f.pts)
    data = faststart.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    return cut


def _audio_only(tmp_path) -> Path:
    path = tmp_path / "tone.m4a"
    with av.open(str(path), "w", format="mp4") as out:
        s = out.add_stream("aac", rate=48000)
        s.layout = "mono"
        for k in range(20):
            f = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            f.sample_rate, f.pts = 48000, k * 1024
            for p in s.encode(f):
                out.mux(p)
        for p in s.encode(None):
            out.mux(p)
    return path


def _file(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


ERROR_CASES = {
    "missing": (lambda d, s: d / "nope.mp4", "not found"),
    "empty": (lambda d, s: _file(d / "empty.mp4", b""), "empty"),
    "not_video": (lambda d, s: _file(d / "notes.mp4", b"hello, not a video"), "not a video"),
    "audio_only": (lambda d, s: _audio_only(d), "no video stream"),
    "truncated": (lambda d, s: _truncated(d, s), "cut short: decoded"),
}


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_bad_input_errors_and_writes_nothing(tmp_path, sample_clip, case):
    make, words = ERROR_CASES[case]
    bad = make(tmp_path, sample_clip)
    with pytest.raises(VidmaskError, match=words):
        probe(bad)
    with pytest.raises(VidmaskError, match=words):
        prepare(bad, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_writer_refuses_source_and_leaves_no_partial(tmp_path, sample_clip):
    info = probe(sample_clip)
    with pytest.raises(VidmaskError, match="refusing to overwrite"):
        VideoWriter(sample_clip, info)
    out = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError):
        with VideoWriter(out, info) as w:
            for f in VideoReader(sample_clip, info=info).frames(0, 5):
                w.write(f.rgb, f.pts)
            raise RuntimeError("killed half-way")
    assert list(tmp_path.iterdir()) == []
    short = dataclasses.replace(info)
    with pytest.raises(VidmaskError, match="only 5 of"):
        with VideoWriter(out, short) as w:
            for f in VideoReader(sample_clip, info=info).frames(0, 5):
                w.write(f.rgb, f.pts)
    assert list(tmp_path.iterdir()) == []
