"""Effects and safety margins on synthetic frames (no video, no model): quick."""
from __future__ import annotations

import numpy as np
import pytest

from vidmask_nb.redact.effects import (BlurEffect, FillEffect, MaskMargins, MeanColorEffect, PixelateEffect,
                                hold_dropouts, mask_box, parse_color, parse_style)
from vidmask_nb.errors import VidmaskError

H, W = 90, 120


@pytest.fixture
def scene() -> np.ndarray:
    """Texture in 20..219, so a fill with 0 or 255 changes every pixel it touches."""
    rng = np.random.default_rng(3)
    return rng.integers(20, 220, size=(H, W, 3), dtype=np.uint8)


@pytest.fixture
def blob() -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W]
    return (xx - 50) ** 2 + (yy - 40) ** 2 <= 18 ** 2


ALL_STYLES = ["fill", "fill:#ffffff", "mean", "blur", "blur:0.5", "pixelate", "pixelate:8"]


@pytest.mark.parametrize("style", ALL_STYLES)
def test_outside_the_mask_is_exactly_unchanged(style, scene, blob):
    out = parse_style(style).annotate(scene, blob)
    assert out.shape == scene.shape and out.dtype == np.uint8
    assert np.array_equal(out[~blob], scene[~blob])
    assert out is not scene and np.array_equal(scene, scene.copy())  # input left alone


@pytest.mark.parametrize("style", ALL_STYLES)
def test_empty_mask_changes_nothing(style, scene):
    out = parse_style(style).annotate(scene, np.zeros((H, W), bool))
    assert np.array_equal(out, scene)


def test_fill_changes_every_pixel_inside(scene, blob):
    out = FillEffect((0, 0, 0)).annotate(scene, blob)
    assert (out[blob] == 0).all()
    changed = (out != scene).any(axis=-1)
    assert np.array_equal(changed, blob)


def test_every_effect_changes_the_inside(scene, blob):
    for style in ALL_STYLES:
        out = parse_style(style).annotate(scene, blob)
        changed = (out[blob] != scene[blob]).any(axis=-1).mean()
        assert changed > 0.95, (style, changed)


def test_feathered_alpha_blends_and_keeps_alpha_zero_exact(scene, blob):
    alpha = MaskMargins(feather_px=4).apply(blob)
    assert alpha.dtype == np.float32
    out = FillEffect((255, 0, 0)).annotate(scene, alpha)
    assert np.array_equal(out[alpha == 0], scene[alpha == 0])
    assert (out[alpha == 1] == (255, 0, 0)).all()
    ring = (alpha > 0) & (alpha < 1)
    assert ring.any()
    expected = np.rint(scene[ring] + (np.array([255, 0, 0]) - scene[ring].astype(np.float32)) * alpha[ring][:, None])
    assert np.abs(out[ring].astype(int) - expected).max() <= 1


def test_mean_color_is_the_regions_mean(scene, blob):
    out = MeanColorEffect().annotate(scene, blob)
    expected = np.rint(scene[blob].astype(np.float64).mean(axis=0))
    assert (np.abs(out[blob].astype(int) - expected) <= 1).all()
    assert len(np.unique(out[blob], axis=0)) == 1


def test_blur_strength_scales_with_object_size():
    blur = BlurEffect(strength=0.25, min_sigma=2)
    assert blur.sigma_for((0, 0, 40, 20)) == pytest.approx(10)
    assert blur.sigma_for((0, 0, 400, 200)) == pytest.approx(100)
    assert blur.sigma_for((0, 0, 4, 4)) == pytest.approx(2)  # min_sigma


def test_blur_smears_a_large_object_as_much_as_a_small_one():
    """A checkerboard face at two sizes: the blurred inside is nearly flat in both."""
    for size in (40, 400):
        yy, xx = np.mgrid[0:size + 40, 0:size + 40]
        img = np.where(((xx // 4 + yy // 4) % 2)[..., None] == 1, 230, 20).astype(np.uint8).repeat(3, axis=2)
        mask = np.zeros(img.shape[:2], bool)
        mask[20:20 + size, 20:20 + size] = True
        out = BlurEffect().annotate(img, mask)
        assert out[mask].std() < 0.05 * img[mask].std(), size


def test_pixelate_blocks_are_flat_and_fixed_to_the_frame_grid(scene):
    mask = np.zeros((H, W), bool)
    mask[10:50, 13:61] = True
    out = PixelateEffect(block=8).annotate(scene, mask)
    # Block (16..24, 16..24) lies fully inside: one colour, the block's mean.
    block = out[16:24, 16:24].reshape(-1, 3)
    assert len(np.unique(block, axis=0)) == 1
    assert (np.abs(block[0].astype(int) - np.rint(scene[16:24, 16:24].reshape(-1, 3).mean(0))) <= 1).all()
    # Moving the mask by a few px keeps the same blocks where they overlap.
    moved = np.zeros((H, W), bool)
    moved[12:52, 15:63] = True
    out2 = PixelateEffect(block=8).annotate(scene, moved)
    assert np.array_equal(out[16:24, 16:24], out2[16:24, 16:24])


def test_parse_style_builds_each_effect():
    assert parse_style("fill") == FillEffect((0, 0, 0))
    assert parse_style("fill:#FF8000") == FillEffect((255, 128, 0))
    assert parse_style("fill:#f80") == FillEffect((255, 136, 0))
    assert parse_style("fill:white") == FillEffect((255, 255, 255))
    assert parse_style(" Mean ") == MeanColorEffect()
    assert parse_style("blur") == BlurEffect()
    assert parse_style("blur:0.5") == BlurEffect(strength=0.5)
    assert parse_style("pixelate:12") == PixelateEffect(block=12)
    effect = PixelateEffect(block=20)
    assert parse_style(effect) is effect
    assert parse_style(parse_style("fill:#102030").name) == FillEffect((16, 32, 48))
    assert parse_color((1, 2, 3)) == (1, 2, 3)


@pytest.mark.parametrize("style, words", [
    ("sparkle", "unknown style"), ("fill:#12345", "bad colour"), ("fill:notacolour", "bad colour"),
    ("pixelate:abc", "whole number"), ("pixelate:1", "2 to 512"), ("blur:-1", "blur strength"),
    ("blur:x", "blur strength"), ("mean:3", "no setting"), ("", "bad style"), (None, "bad style"),
])
def test_parse_style_errors_say_what_to_do(style, words):
    with pytest.raises(VidmaskError, match=words):
        parse_style(style)


def test_bad_colour_tuple_and_mask_size_are_refused(scene):
    with pytest.raises(VidmaskError, match="bad colour"):
        FillEffect((300, 0, 0))
    with pytest.raises(VidmaskError, match="video's size"):
        FillEffect().annotate(scene, np.zeros((10, 10), bool))


@pytest.mark.parametrize("n", [1, 2, 5])
def test_dilation_grows_the_region_by_n_px(n):
    mask = np.zeros((H, W), bool)
    mask[30:50, 40:70] = True
    grown = MaskMargins(dilate_px=n).apply(mask)
    assert grown.dtype == bool
    assert mask_box(grown) == (40 - n, 30 - n, 70 + n, 50 + n)
    assert grown[mask].all()
    # A single pixel grows into the Euclidean disk of radius n.
    dot = np.zeros((H, W), bool)
    dot[45, 60] = True
    disk = MaskMargins(dilate_px=n).apply(dot)
    yy, xx = np.mgrid[0:H, 0:W]
    assert np.array_equal(disk, (yy - 45) ** 2 + (xx - 60) ** 2 <= n * n)


def test_feather_goes_outwards_only(blob):
    alpha = MaskMargins(dilate_px=2, feather_px=3).apply(blob)
    assert (alpha[MaskMargins(dilate_px=2).apply(blob)] == 1).all()
    assert mask_box(alpha > 0) == mask_box(MaskMargins(dilate_px=5).apply(blob))
    assert 0 < alpha[40, 50 + 18 + 4] < 1


def test_margins_refuse_bad_numbers():
    for bad in (dict(dilate_px=-1), dict(feather_px=1.5), dict(hold_frames="3"), dict(hold_frames=True)):
        with pytest.raises(VidmaskError, match="whole number"):
            MaskMargins(**bad)


# -- hold through dropouts --------------------------------------------------------------------


def _stream(pattern: str, obj_id: int = 1):
    """'x' present, '.' absent; present masks differ per frame (pixel at column = frame)."""
    for i, c in enumerate(pattern):
        m = np.zeros((4, len(pattern)), bool)
        if c == "x":
            m[1, i] = True
        yield i, {obj_id: m}


def _present(items, obj_id=1):
    return "".join("x" if masks[obj_id].any() else "." for _, masks in items)


def test_hold_fills_gaps_up_to_k_frames_with_the_union_of_neighbours():
    out = list(hold_dropouts(_stream("xx...x....xx.x"), hold_frames=3))
    assert [i for i, _ in out] == list(range(14))
    assert _present(out) == "xxxxxx....xxxx"
    # A held frame covers both neighbours' masks (frame 1 and frame 5).
    held = out[3][1][1]
    assert held[1, 1] and held[1, 5] and held.sum() == 2


def test_hold_leaves_leading_trailing_and_long_gaps_and_zero_hold_alone():
    assert _present(hold_dropouts(_stream("..xx..."), 5)) == "..xx..."
    assert _present(hold_dropouts(_stream("x....x"), 3)) == "x....x"
    assert _present(hold_dropouts(_stream("x.x"), 0)) == "x.x"


def test_hold_treats_objects_independently():
    def two():
        for (i, a), (_, b) in zip(_stream("x.x...x", 1), _stream("xx....x", 2)):
            yield i, {**a, **b}

    out = list(hold_dropouts(two(), 2))
    assert _present(out, 1) == "xxx...x"
    assert _present(out, 2) == "xx....x"


def test_hold_streams_with_bounded_lookahead():
    k = 3
    read = []

    def source():
        for item in _stream("x" + "." * 3 + "x" + "." * 10 + "x" * 5 + ".." + "x"):
            read.append(item[0])
            yield item

    yielded = 0
    for index, _ in hold_dropouts(source(), k):
        assert index == yielded
        assert len(read) - yielded <= k + 1
        yielded += 1
    assert yielded == len(read)
