"""Rendering with injected masks (not the model): coverage, margins, timing, audio, leaks, errors."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vidmask_nb.effects import MaskMargins
from vidmask_nb.errors import VidmaskError
from vidmask_nb.qa import stream_digests
from vidmask_nb.render import inject_masks, plan_render, render
from vidmask_nb.runfolder import RunFolder
from vidmask_nb.sample import SampleScene, make_sample_clip
from vidmask_nb.video import VideoReader, probe

GREEN = (0, 255, 0)


def decode_all(path) -> list[np.ndarray]:
    with VideoReader(path) as reader:
        return [f.rgb for f in reader]


def scene_of(info) -> SampleScene:
    return SampleScene((info.width, info.height), info.fps)


def assert_same_timing_and_audio(source, output) -> None:
    a, b = probe(source), probe(output)
    assert b.frame_count == a.frame_count
    assert b.fps == a.fps
    assert [p * b.time_base for p in b.pts] == [p * a.time_base for p in a.pts]
    assert (b.width, b.height) == (a.width, a.height)
    assert [(s.kind, s.codec) for s in b.streams] == [(s.kind, s.codec) for s in a.streams]
    da, db = stream_digests(source), stream_digests(output)
    assert [(d.packets, d.times, d.sha256) for d in db] == [(d.packets, d.times, d.sha256) for d in da]
    assert not list(Path(output).parent.glob(".*.partial-*")), "a temporary file was left behind"


@pytest.fixture(scope="module")
def decoded_source(sample_clip):
    return decode_all(sample_clip)


@pytest.fixture
def ball_run(tmp_path, sample_clip_info):
    """A run folder whose masks.json holds the ball's exact masks."""
    scene = scene_of(sample_clip_info)
    store = inject_masks(sample_clip_info, {1: "ball"}, lambda i, k: scene.object_mask(i, k))
    store.save(RunFolder(tmp_path).masks_json)
    return tmp_path


def test_fill_covers_every_masked_pixel_and_nothing_else(ball_run, sample_clip, sample_clip_info, decoded_source):
    out = render(sample_clip, ball_run, style="fill:#00ff00", dilate=0, hold=0, lossless=True, progress=False)
    assert out == RunFolder(ball_run).redacted_video(sample_clip)
    scene = scene_of(sample_clip_info)
    for i, (src, rgb) in enumerate(zip(decoded_source, decode_all(out))):
        mask = scene.object_mask(i, 1)
        assert (rgb[mask] == GREEN).all(), f"frame {i}: a masked pixel kept its colour"
        assert np.array_equal(rgb[~mask], src[~mask]), f"frame {i}: a pixel outside the mask changed"
    assert_same_timing_and_audio(sample_clip, out)


def test_dilation_in_the_render_grows_the_cover_by_n_px(ball_run, sample_clip, sample_clip_info, decoded_source):
    n = 3
    out = render(sample_clip, ball_run, style="fill:#00ff00", dilate=n, hold=0, lossless=True,
                 output=ball_run / "dilated.mp4", progress=False)
    scene = scene_of(sample_clip_info)
    for i in (0, 17, 40):
        rgb, src = decode_all(out)[i], decoded_source[i]
        grown = MaskMargins(dilate_px=n).apply(scene.object_mask(i, 1))
        assert (rgb[grown] == GREEN).all()
        assert np.array_equal(rgb[~grown], src[~grown])
        ring = grown & ~scene.object_mask(i, 1)
        assert ring.sum() > 0


def test_a_k_frame_dropout_is_covered(tmp_path, sample_clip, sample_clip_info, decoded_source):
    k, gap = 3, range(20, 23)  # the tracker loses the ball on frames 20..22
    scene = scene_of(sample_clip_info)
    store = inject_masks(sample_clip_info, {1: "ball"},
                         lambda i, obj: None if i in gap else scene.object_mask(i, obj))
    store.save(RunFolder(tmp_path).masks_json)
    held = decode_all(render(sample_clip, tmp_path, style="fill:#00ff00", dilate=0, hold=k,
                             lossless=True, progress=False))
    bare = decode_all(render(sample_clip, tmp_path, style="fill:#00ff00", dilate=0, hold=k - 1,
                             lossless=True, output=tmp_path / "bare.mp4", progress=False, cover_long_gaps=False))
    union = scene.object_mask(gap[0] - 1, 1) | scene.object_mask(gap[-1] + 1, 1)
    for i in gap:
        assert (held[i][union] == GREEN).all(), f"frame {i} of the dropout is not covered"
        assert np.array_equal(held[i][~union], decoded_source[i][~union])
        assert np.array_equal(bare[i], decoded_source[i]), "--no-cover-long-gaps: a gap longer than hold is not filled"


def test_leak_fill_with_2px_dilation_leaves_no_object_pixel_uncovered(tmp_path):
    """A known moving object and its exact masks: after fill + 2 px, 0 object pixels show."""
    fps_clip = make_sample_clip(tmp_path / "leak.mp4", seconds=3.0, size=(176, 144), audio=False)
    info = probe(fps_clip)
    scene = scene_of(info)
    inject_masks(info, {1: "ball", 2: "block"}, lambda i, k: scene.object_mask(i, k)).save(
        RunFolder(tmp_path).masks_json)
    exact = render(fps_clip, tmp_path, style="fill:#00ff00", dilate=2, hold=0, lossless=True, progress=False)
    coded = render(fps_clip, tmp_path, style="fill:#000000", dilate=2, hold=0, crf=16,
                   output=tmp_path / "coded.mp4", progress=False)
    worst = 0
    for i, (a, b) in enumerate(zip(decode_all(exact), decode_all(coded))):
        objects = scene.object_mask(i, 1) | scene.object_mask(i, 2)
        assert objects.any()
        assert int((a[objects] != GREEN).any(axis=-1).sum()) == 0, f"frame {i}: object pixels uncovered"
        worst = max(worst, int(b[objects].max()))
    # H.264 blurs edges a little; the objects' own colours are >= 230 levels away from black.
    assert worst <= 40, f"after H.264 (crf 16) an object pixel is {worst} levels off the black fill"


def test_per_object_styles_by_label_and_id(tmp_path, sample_clip, sample_clip_info):
    scene = scene_of(sample_clip_info)
    store = inject_masks(sample_clip_info, {1: "ball", 2: "block"}, lambda i, k: scene.object_mask(i, k))
    plan = plan_render(store, "blur", {"block": "fill:#ff0000"})
    assert plan.effects[1].name == "blur:0.25" and plan.effects[2].name == "fill:#ff0000"
    assert plan_render(store, "mean", {2: "pixelate:8", "1": "fill"}).effects[2].name == "pixelate:8"
    assert "2 (block): pixelate:8" in plan_render(store, "mean", {2: "pixelate:8"}).describe()
    store.save(RunFolder(tmp_path).masks_json)
    out = decode_all(render(sample_clip, tmp_path, style="fill:#0000ff", object_styles={"block": "fill:#ff0000"},
                            dilate=0, hold=0, lossless=True, progress=False))
    i = 5
    assert (out[i][scene.object_mask(i, 1)] == (0, 0, 255)).all()
    assert (out[i][scene.object_mask(i, 2)] == (255, 0, 0)).all()


def test_bad_settings_and_inputs_give_clear_errors(ball_run, sample_clip, tmp_path):
    with pytest.raises(VidmaskError, match=r"'face'.*known objects.*1 \(ball\)"):
        render(sample_clip, ball_run, object_styles={"face": "blur"}, progress=False)
    with pytest.raises(VidmaskError, match="unknown style"):
        render(sample_clip, ball_run, style="smudge", progress=False)
    with pytest.raises(VidmaskError, match="overwrite the source"):
        render(sample_clip, ball_run, output=sample_clip, progress=False)
    with pytest.raises(VidmaskError, match="no masks"):
        render(sample_clip, tmp_path / "empty_run", progress=False)
    other = make_sample_clip(tmp_path / "other.mp4", seconds=1.0, size=(160, 120), audio=False)
    with pytest.raises(VidmaskError, match="another video|run 03 again"):
        render(other, ball_run, progress=False)
    with pytest.raises(VidmaskError, match="dilate_px"):
        render(sample_clip, ball_run, dilate=-2, progress=False)


def test_a_failed_render_leaves_no_file(ball_run, sample_clip):
    class Broken:
        name = "broken"
        calls = 0

        def annotate(self, scene, mask):
            Broken.calls += 1
            if Broken.calls > 5:
                raise RuntimeError("effect failed mid-video")
            return scene.copy()

    out = RunFolder(ball_run).redacted_video(sample_clip)
    with pytest.raises(RuntimeError, match="mid-video"):
        render(sample_clip, ball_run, style=Broken(), progress=False)
    assert not out.exists()
    assert not list(ball_run.glob(".*partial*"))


@pytest.mark.media
@pytest.mark.parametrize("name", ["bedroom.mp4", "02_hummingbird.mp4"])
def test_real_clips_keep_frames_timestamps_rate_and_audio(shared_media, tmp_path, name):
    source = shared_media / name
    info = probe(source)
    box = np.zeros((info.height, info.width), bool)
    box[info.height // 4: info.height // 2, info.width // 4: info.width // 2] = True
    inject_masks(info, {1: "region"}, lambda i, k: box if i % 50 else None).save(RunFolder(tmp_path).masks_json)
    out = render(source, tmp_path, style="fill", dilate=0, hold=0, crf=28, preset="ultrafast", progress=False)
    assert_same_timing_and_audio(source, out)
    if name == "02_hummingbird.mp4":
        assert info.audio, "the clip with audio lost its audio stream in probing"
    with VideoReader(out) as reader:
        rgb = reader[1]
    inner = np.zeros_like(box)
    inner[info.height // 4 + 4: info.height // 2 - 4, info.width // 4 + 4: info.width // 2 - 4] = True
    assert rgb[inner].max() <= 24  # black, up to codec loss at crf 28 (edges bleed a little more)


def test_render_does_not_touch_the_source(ball_run, sample_clip):
    before = sample_clip.read_bytes()
    render(sample_clip, ball_run, style="pixelate:6", preset="ultrafast", progress=False)
    assert sample_clip.read_bytes() == before
