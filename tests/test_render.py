"""Rendering with injected masks (not the model): coverage, margins, timing, audio, leaks, errors."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from common import inject_masks, psnr_outside_covers
from vidmask_nb.cli import main
from vidmask_nb.redact.effects import MaskMargins
from vidmask_nb.errors import VidmaskError
from vidmask_nb.track.masks import MaskStore
from vidmask_nb.review.qa import stream_digests
from vidmask_nb.redact.render import RenderOptions, chroma_of, covered_region, mask_stream, plan_render, render
from vidmask_nb.runfolder.folder import RunFolder
from vidmask_nb.media.sample import SampleScene, make_sample_clip
from vidmask_nb.media.video import VideoReader, probe

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
    out = render(sample_clip, ball_run, RenderOptions(style="fill:#00ff00", dilate=0, hold=0, lossless=True),
                 progress=False)
    assert out == RunFolder(ball_run).redacted_video(sample_clip)
    scene = scene_of(sample_clip_info)
    for i, (src, rgb) in enumerate(zip(decoded_source, decode_all(out))):
        mask = scene.object_mask(i, 1)
        assert (rgb[mask] == GREEN).all(), f"frame {i}: a masked pixel kept its colour"
        assert np.array_equal(rgb[~mask], src[~mask]), f"frame {i}: a pixel outside the mask changed"
    assert_same_timing_and_audio(sample_clip, out)


def test_dilation_in_the_render_grows_the_cover_by_n_px(ball_run, sample_clip, sample_clip_info, decoded_source):
    n = 3
    out = render(sample_clip, ball_run, RenderOptions(style="fill:#00ff00", dilate=n, hold=0, lossless=True),
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
    held = decode_all(render(sample_clip, tmp_path, RenderOptions(style="fill:#00ff00", dilate=0, hold=k,
                                                                  lossless=True), progress=False))
    bare = decode_all(render(sample_clip, tmp_path, RenderOptions(style="fill:#00ff00", dilate=0, hold=k - 1,
                                                                  cover_long_gaps=False, lossless=True),
                             output=tmp_path / "bare.mp4", progress=False))
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
    exact = render(fps_clip, tmp_path, RenderOptions(style="fill:#00ff00", dilate=2, hold=0, lossless=True),
                   progress=False)
    coded = render(fps_clip, tmp_path, RenderOptions(style="fill:#000000", dilate=2, hold=0, crf=16),
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
    plan = plan_render(store, RenderOptions(style="blur"), {"block": "fill:#ff0000"})
    assert plan.effects[1].name == "blur:0.25" and plan.effects[2].name == "fill:#ff0000"
    mean = RenderOptions(style="mean")
    assert plan_render(store, mean, {2: "pixelate:8", "1": "fill"}).effects[2].name == "pixelate:8"
    assert "2 (block): pixelate:8" in plan_render(store, mean, {2: "pixelate:8"}).describe()
    store.save(RunFolder(tmp_path).masks_json)
    out = decode_all(render(sample_clip, tmp_path,
                            RenderOptions(style="fill:#0000ff", dilate=0, hold=0, lossless=True),
                            object_styles={"block": "fill:#ff0000"}, progress=False))
    i = 5
    assert (out[i][scene.object_mask(i, 1)] == (0, 0, 255)).all()
    assert (out[i][scene.object_mask(i, 2)] == (255, 0, 0)).all()


def test_bad_settings_and_inputs_give_clear_errors(ball_run, sample_clip, tmp_path):
    with pytest.raises(VidmaskError, match=r"'face'.*known objects.*1 \(ball\)"):
        render(sample_clip, ball_run, object_styles={"face": "blur"}, progress=False)
    with pytest.raises(VidmaskError, match="unknown style"):
        render(sample_clip, ball_run, RenderOptions(style="smudge"), progress=False)
    with pytest.raises(VidmaskError, match="overwrite the source"):
        render(sample_clip, ball_run, output=sample_clip, progress=False)
    with pytest.raises(VidmaskError, match="no masks"):
        render(sample_clip, tmp_path / "empty_run", progress=False)
    other = make_sample_clip(tmp_path / "other.mp4", seconds=1.0, size=(160, 120), audio=False)
    with pytest.raises(VidmaskError, match="another video|run 03 again"):
        render(other, ball_run, progress=False)
    with pytest.raises(VidmaskError, match="--dilate must be 0 or more"):
        render(sample_clip, ball_run, RenderOptions(dilate=-2), progress=False)


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
        render(sample_clip, ball_run, RenderOptions(style=Broken()), progress=False)
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
    out = render(source, tmp_path, RenderOptions(style="fill", dilate=0, hold=0, crf=28), preset="ultrafast",
                 progress=False)
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
    render(sample_clip, ball_run, RenderOptions(style="pixelate:6"), preset="ultrafast", progress=False)
    assert sample_clip.read_bytes() == before


# -- colour, depth, audio start, the render CLI, the pipelined render --------------------------

GENERATED = {  # name: make_sample_clip settings (1 s each, small)
    "8bit": dict(size=(160, 120)),
    "odd-444": dict(size=(131, 97), fps=Fraction(30000, 1001)),
    "bt709": dict(size=(160, 120), color="bt709"),
    "10bit-bt709": dict(size=(160, 120), color="bt709", bit_depth=10),
}


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """name -> (clip, masks.json with both objects' exact masks)."""
    root = tmp_path_factory.mktemp("generated")
    out = {}
    for name, settings in GENERATED.items():
        clip = make_sample_clip(root / f"{name}.mp4", seconds=1.0, audio=False, **settings)
        info = probe(clip)
        scene = scene_of(info)
        masks = inject_masks(info, {1: "ball", 2: "block"}, lambda i, k: scene.object_mask(i, k)).save(
            root / f"{name}.masks.json")
        out[name] = (clip, masks)
    return out


def player_rgb(path) -> list[np.ndarray]:
    """Decode as a player would: YUV -> 8-bit RGB with the matrix and range the stream itself states."""
    sws_matrix = {1: "ITU709", 5: "ITU601", 6: "ITU601"}
    frames = []
    with av.open(str(path)) as container:
        cc = container.streams.video[0].codec_context
        for frame in container.decode(video=0):
            frames.append(frame.reformat(format="rgb24", src_colorspace=sws_matrix.get(cc.colorspace),
                                         src_color_range=cc.color_range or None).to_ndarray())
    return frames


@pytest.mark.parametrize("name", list(GENERATED))
def test_generated_clips_keep_colour_tags_depth_and_40db_outside_the_covers(generated, tmp_path, name):
    clip, masks = generated[name]
    src = probe(clip)
    out = render(clip, options=RenderOptions(style="fill", dilate=2), masks=masks, output=tmp_path / "out.mp4",
                 progress=False)
    got = probe(out)
    tags = ("color_primaries", "color_trc", "colorspace", "color_range", "bit_depth")
    assert [getattr(got, t) for t in tags] == [getattr(src, t) for t in tags]
    plan = plan_render(MaskStore.load(masks), RenderOptions(style="fill", dilate=2), chroma=chroma_of(got.pix_fmt))
    worst = min(psnr_outside_covers(clip, out, MaskStore.load(masks), plan))
    assert worst >= 40.0, f"{name}: worst frame {worst:.1f} dB outside the covers"
    if src.bit_depth == 10:
        assert got.pix_fmt == "yuv420p10le"
        with av.open(str(out)) as c:
            luma = next(c.decode(video=0)).to_ndarray(format="yuv420p10le")[:got.height]
        assert (luma % 4 != 0).mean() > 0.25, "the output's 10 bits hold only 8 bits of detail"


def test_output_decoded_as_a_player_would_matches_the_source(generated, tmp_path):
    clip, masks = generated["bt709"]
    store = MaskStore.load(masks)
    out = render(clip, options=RenderOptions(style="fill:#00ff00", dilate=2), masks=masks,
                 output=tmp_path / "out.mp4", progress=False)
    with av.open(str(out)) as c:
        cc = c.streams.video[0].codec_context
        assert (cc.color_primaries, cc.color_trc, cc.colorspace, cc.color_range) == (1, 1, 1, 1)
    plan = plan_render(store, RenderOptions(style="fill", dilate=2), chroma=(2, 2))
    info = probe(clip)
    for i, (a, b, (_, frame_masks)) in enumerate(zip(player_rgb(clip), player_rgb(out), mask_stream(store, info))):
        keep = ~covered_region(frame_masks, plan, a.shape[:2])
        mse = np.mean((a[keep].astype(float) - b[keep]) ** 2)
        assert 10 * np.log10(255 ** 2 / max(mse, 1e-9)) >= 40, f"frame {i}: colours differ as a player shows them"
        assert abs(a[keep].astype(float).mean(0) - b[keep].mean(0)).max() < 1.0, f"frame {i}: a colour shift"


def test_audio_that_starts_after_the_video_keeps_its_start_to_the_sample(tmp_path):
    clip = make_sample_clip(tmp_path / "late_audio.mp4", seconds=1.0, size=(96, 64), audio_delay=1234)
    info = probe(clip)
    inject_masks(info, {1: "ball"}, lambda i, k: None).save(tmp_path / "masks.json")
    out = render(clip, masks=tmp_path / "masks.json", output=tmp_path / "out.mp4", preset="ultrafast",
                 progress=False)
    first = stream_digests(clip)[0].times[0]
    assert first * 48000 % 1 == 0 and first * 1000 % 1 != 0, "the test clip's audio must start off the ms grid"
    assert_same_timing_and_audio(clip, out)  # every packet's time, exactly (Fractions)


def test_render_cli_good_run_wrong_masks_and_the_source_refused(ball_run, sample_clip, tmp_path, capsys):
    masks = RunFolder(ball_run).masks_json
    out = tmp_path / "cli.mp4"
    assert main(["render", str(sample_clip), "--masks", str(masks), "--out", str(out), "--style", "blur",
                 "--object-style", "ball=fill:#00ff00", "--preset", "ultrafast"]) == 0
    said = capsys.readouterr().out
    assert out.is_file() and "libx264" in said and str(out) in said
    other = make_sample_clip(tmp_path / "other.mp4", seconds=1.0, size=(160, 120), audio=False)
    for argv in (["render", str(other), "--masks", str(masks), "--out", str(tmp_path / "o.mp4")],
                 ["render", str(sample_clip), "--masks", str(masks), "--out", str(sample_clip)]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and ("another video" in err or "overwrite the source" in err), err
    assert not (tmp_path / "o.mp4").exists()


def test_pipelined_render_gives_the_frames_of_a_sequential_one(ball_run, sample_clip):
    a = render(sample_clip, ball_run, RenderOptions(style="pixelate:6", lossless=True), output=ball_run / "a.mp4",
               progress=False)
    b = render(sample_clip, ball_run, RenderOptions(style="pixelate:6", lossless=True), output=ball_run / "b.mp4",
               overlap=False, progress=False)
    assert all(np.array_equal(x, y) for x, y in zip(decode_all(a), decode_all(b)))


def test_errors_in_the_mask_or_encode_threads_leave_no_file(tmp_path, sample_clip, sample_clip_info):
    scene = scene_of(sample_clip_info)
    store = inject_masks(sample_clip_info, {1: "ball"}, lambda i, k: scene.object_mask(i, k))
    bad = [fm if fm.frame != 20 else type(fm)(fm.frame, fm.pts + 1, fm.objects) for fm in store]
    type(store).from_frames(store.header["video"], store.objects, bad).save(tmp_path / "bad.json")
    out = tmp_path / "out.mp4"
    with pytest.raises(VidmaskError, match="frame 20 has pts"):
        render(sample_clip, masks=tmp_path / "bad.json", output=out, progress=False)

    class WrongDepth:  # a broken effect: frames the encoder must refuse
        name = "wrong"

        def annotate(self, scene, mask):
            return scene.astype(np.float32)

    store.save(tmp_path / "good.json")
    with pytest.raises(VidmaskError, match="uint8 or uint16"):
        render(sample_clip, options=RenderOptions(style=WrongDepth()), masks=tmp_path / "good.json", output=out,
               progress=False)
    assert not out.exists() and not list(tmp_path.glob(".*partial*"))


@pytest.mark.media
@pytest.mark.slow
@pytest.mark.parametrize("name", ["01_dog.mp4", "02_hummingbird.mp4", "07_snowboarder.mp4", "19_cyclist.mp4",
                                  "bedroom.mp4"])
def test_real_clips_keep_40db_outside_the_covers_and_their_colour_tags(shared_media, tmp_path, name):
    source = shared_media / name
    info = probe(source)
    h, w = info.height, info.width
    yy, xx = np.mgrid[0:h, 0:w]

    def disk(i, k):  # a disk sweeping across, and a box the other way: hard edges on busy content
        cx = h / 6 + (w - h / 3) * i / max(1, info.frame_count - 1)
        if k == 1:
            return (xx - cx) ** 2 + (yy - h / 2) ** 2 <= (h / 6) ** 2
        return (abs(xx - (w - cx)) < w / 10) & (abs(yy - h / 3) < h / 8)

    store = inject_masks(info, {1: "disk", 2: "box"}, disk)
    store.save(tmp_path / "masks.json")
    out = render(source, options=RenderOptions(dilate=4), masks=tmp_path / "masks.json", output=tmp_path / "out.mp4",
                 progress=False)
    got = probe(out)
    assert (got.color_primaries, got.color_trc, got.colorspace, got.color_range) == \
        (info.color_primaries, info.color_trc, info.colorspace, info.color_range)
    plan = plan_render(store, RenderOptions(style="fill", dilate=4), chroma=chroma_of(got.pix_fmt))
    worst = min(psnr_outside_covers(source, out, store, plan))
    assert worst >= 40.0, f"{name}: worst frame {worst:.2f} dB outside the covers"
