"""The render in the source's own YUV: outside the covers the output holds the decoder's samples."""
from __future__ import annotations

import av
import numpy as np
import pytest

from vidmask_nb.media.planes import FramePool, solid_yuv
from vidmask_nb.media.sample import SampleScene, make_sample_clip
from vidmask_nb.media.video import VideoReader, probe
from common import inject_masks
from vidmask_nb.redact.render import RenderOptions, covered_region, mask_stream, plan_render, render
from vidmask_nb.track.masks import MaskStore

CLIPS = {  # name: make_sample_clip settings (small, 1 s)
    "8bit-420": dict(size=(160, 120)),
    "10bit-420-bt709": dict(size=(160, 120), bit_depth=10, color="bt709"),
    "8bit-422": dict(size=(160, 120), chroma="422", color="bt601"),
}


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("planes")
    out = {}
    for name, settings in CLIPS.items():
        clip = make_sample_clip(root / f"{name}.mp4", seconds=1.0, audio=False, **settings)
        info = probe(clip)
        scene = SampleScene((info.width, info.height), info.fps)
        masks = inject_masks(info, {1: "ball", 2: "block"}, lambda i, k: scene.object_mask(i, k)).save(
            root / f"{name}.masks.json")
        out[name] = (clip, masks)
    return out


def planes(path) -> list[list[np.ndarray]]:
    """Every frame's Y, U, V samples as decoded (no conversion)."""
    with av.open(str(path)) as c:
        out = []
        for frame in c.decode(video=0):
            dtype = np.uint16 if frame.format.components[0].bits > 8 else np.uint8
            out.append([np.frombuffer(p, dtype).reshape(p.height, p.line_size // dtype().itemsize)[:, :p.width].copy()
                        for p in frame.planes])
        return out


@pytest.mark.parametrize("name", list(CLIPS))
def test_lossless_render_keeps_every_sample_outside_the_grown_covers(clips, tmp_path, name):
    clip, masks = clips[name]
    info, store = probe(clip), MaskStore.load(masks)
    out = render(clip, options=RenderOptions(style="blur", dilate=3, lossless=True), masks=masks,
                 output=tmp_path / "out.mp4", object_styles={"block": "fill:#00ff00"}, progress=False)
    got = probe(out)
    assert got.pix_fmt == ("yuv444p10le" if info.deep else "yuv444p") and got.bit_depth == info.bit_depth
    plan = plan_render(store, RenderOptions(style="blur", dilate=3), {"block": "fill:#00ff00"}, chroma=(1, 1))
    changed = 0
    for i, (a, b, (_, frame_masks)) in enumerate(zip(planes(clip), planes(out), mask_stream(store, info))):
        keep = ~covered_region(frame_masks, plan, (info.height, info.width))
        sy, sx = info.height // a[1].shape[0], info.width // a[1].shape[1]
        assert np.array_equal(b[0][keep], a[0][keep]), f"{name} frame {i}: a luma sample outside the covers changed"
        for k in (1, 2):  # 4:4:4 out: each source chroma sample repeated over the pixels it serves
            src = np.repeat(np.repeat(a[k], sy, 0), sx, 1)
            assert np.array_equal(b[k][keep], src[keep]), f"{name} frame {i}: a chroma sample outside changed"
        changed += int((b[0][~keep] != a[0][~keep]).sum())
    assert changed > 0, "the covers changed nothing"
    with VideoReader(out) as reader:  # the fill decodes to its colour exactly (8 bits)
        rgb, mask = reader[5], SampleScene((info.width, info.height), info.fps).object_mask(5, 2)
    if not info.deep:
        assert (rgb[mask] == (0, 255, 0)).all()


def test_default_render_is_encoded_in_the_source_layout_from_its_planes(clips, tmp_path):
    clip, masks = clips["8bit-422"]
    out = render(clip, options=RenderOptions(style="pixelate:5"), masks=masks, output=tmp_path / "out.mp4",
                 progress=False)
    assert probe(out).pix_fmt == "yuv422p"
    a, b = planes(clip), planes(out)
    store, info = MaskStore.load(masks), probe(clip)
    plan = plan_render(store, RenderOptions(style="pixelate:5"), chroma=(2, 1))
    for i, (_, frame_masks) in enumerate(mask_stream(store, info)):
        keep = ~covered_region(frame_masks, plan, (info.height, info.width))
        diff = np.abs(b[i][0].astype(int) - a[i][0])[keep]
        assert diff.mean() < 1.0, f"frame {i}: luma outside the covers moved {diff.mean():.2f} levels on average"


def test_a_box_converts_as_the_reader_converts_and_solid_colours_decode_exactly(clips):
    for name in ("8bit-420", "10bit-420-bt709"):
        clip, _ = clips[name]
        info = probe(clip)
        with VideoReader(clip, info=info, deep=True) as reader:
            ref = reader[3]
            pool = FramePool(info.width, info.height, info.pix_fmt, info.sws_colorspace, info.sws_range, size=1)
            index, decoded = next((i, f) for i, f in reader.decoded(3, 4))
            frame = pool.load(decoded, index)
        box = frame.align((31, 17, 101, 77))
        assert box == (30, 16, 102, 78)
        x0, y0, x1, y1 = box
        tolerance = 257 if info.deep else 1  # one level of 8 bits
        assert np.abs(frame.to_rgb(box).astype(int) - ref[y0:y1, x0:x1]).max() <= tolerance
        before = [p.copy() for p in (frame.y, frame.u, frame.v)]
        where = np.zeros((y1 - y0, x1 - x0), bool)
        where[10:20, 10:20] = True
        frame.put_rgb(box, frame.to_rgb(box), where)
        assert np.array_equal(frame.y[:y0], before[0][:y0]) and np.array_equal(frame.u[:y0 // 2], before[1][:y0 // 2])
        assert np.abs(frame.y.astype(int) - before[0]).max() <= (8 if info.deep else 2)
    for color in ((0, 255, 0), (255, 0, 0), (0, 0, 255), (255, 255, 255), (0, 0, 0)):
        y, u, v = solid_yuv(color, False, 1, 1)
        from vidmask_nb.media.planes import rgb_of_planes

        rgb = rgb_of_planes(*(np.full((2, 2), c, np.uint8) for c in (y, u, v)), 1, 1)
        assert (rgb == color).all(), f"{color} decodes as {rgb[0, 0]}"


def test_masks_decode_as_pycocotools_decodes_them():
    from pycocotools import mask as mask_utils

    from vidmask_nb.track.masks import decode_rle, encode_rle

    rng = np.random.default_rng(7)
    for t in range(60):
        h, w = (int(v) for v in rng.integers(1, 70, 2))
        mask = rng.random((h, w)) < rng.random() if t % 2 else np.zeros((h, w), bool)
        if t % 4 == 2:
            mask[h // 3:, w // 2:] = True
        rle = encode_rle(mask)
        ref = mask_utils.decode({"size": rle["size"], "counts": rle["counts"].encode()}).astype(bool)
        assert np.array_equal(decode_rle(rle), ref) and np.array_equal(decode_rle(rle), mask)


def test_the_overlay_drawn_on_the_planes_matches_the_overlay_drawn_on_rgb(clips):
    from vidmask_nb.review.overlay import draw_overlay, overlay_planes

    clip, masks = clips["8bit-420"]
    info, store = probe(clip), MaskStore.load(masks)
    labels = {1: "ball", 2: "block"}
    with VideoReader(clip, info=info) as reader:
        ref = draw_overlay(reader[12], store[12].masks(), labels=labels)
        pool = FramePool(info.width, info.height, info.pix_fmt, info.sws_colorspace, info.sws_range, size=1)
        frame = pool.load(next(f for i, f in reader.decoded(12, 13)), 12)
        other = FramePool(info.width, info.height, info.pix_fmt, info.sws_colorspace, info.sws_range, size=1)
        as_420 = other.load(next(f for i, f in reader.decoded(12, 13)), 12)
    full = (0, 0, info.width, info.height)
    as_420.put_rgb(full, ref, np.ones(ref.shape[:2], bool))  # the drawing as 4:2:0 holds it
    ref = as_420.to_rgb(full).astype(int)
    before = frame.y.copy()
    overlay_planes(frame, store[12].masks(), labels=labels)
    got = frame.to_rgb(full).astype(int)
    drawn = (ref != reader_rgb(clip, 12)).any(axis=2)
    assert drawn.sum() > 100
    assert np.abs(got[drawn] - ref[drawn]).mean() < 1.5, "the overlay's pixels differ from draw_overlay's"
    untouched = ~(frame.y != before)
    assert untouched.sum() > 0.5 * untouched.size and np.array_equal(frame.y[untouched], before[untouched])


def reader_rgb(clip, index):
    with VideoReader(clip) as reader:
        return reader[index]
