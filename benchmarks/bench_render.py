"""Benchmark the render stage against decoding alone, and the encoder settings behind the defaults.

On a 720p real clip (``../shared/media/01_dog.mp4``; a generated 720p clip when absent) with two
objects' masks (a disk and a box moving across, injected, not tracked):

1. Decoding the clip to RGB alone, then ``render()`` (decode + masks + effects + H.264 encode +
   audio copy, overlapped), in the same run: both times, their ratio (target <= 4x), frames/s,
   the encoder used, and the worst frame's PSNR outside the covers (both files decoded as a
   player would, each with its own stated colour matrix and range).
2. x264 presets and crf values: frames/s, worst-frame PSNR outside the covers and file size: the
   table behind ``encode.DEFAULT_PRESET`` / ``DEFAULT_CRF`` (the cheapest row that keeps >= 40 dB).

Prints figures; it is not a test. Run::

    .venv/bin/python benchmarks/bench_render.py [--frames 120] [--table]
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TQDM_DISABLE", "1")

from vidmask_nb.media.encode import DEFAULT_CRF, DEFAULT_PRESET, output_pix_fmt  # noqa: E402
from vidmask_nb.redact.render import chroma_of, inject_masks, plan_render, psnr_outside_covers, render  # noqa: E402
from vidmask_nb.media.sample import make_sample_clip  # noqa: E402
from vidmask_nb.media.video import VideoReader, probe  # noqa: E402

SHARED_CLIP = ROOT.parent / "shared" / "media" / "01_dog.mp4"
TABLE = [("medium", 10), ("veryfast", 10), ("veryfast", 14), ("superfast", 10), ("ultrafast", 10)]


def two_objects(info):
    """A disk (radius H/6) sweeping right and a box sweeping left: ~12% of the frame, hard edges."""
    h, w = info.height, info.width
    yy, xx = np.mgrid[0:h, 0:w]

    def mask_of(i: int, obj_id: int) -> np.ndarray:
        cx = h / 6 + (w - h / 3) * i / max(1, info.frame_count - 1)
        if obj_id == 1:
            return (xx - cx) ** 2 + (yy - h / 2) ** 2 <= (h / 6) ** 2
        return (abs(xx - (w - cx)) < w / 10) & (abs(yy - h / 3) < h / 8)

    return mask_of


def decode_seconds(clip: Path, info) -> float:
    t = time.perf_counter()
    with VideoReader(clip, info=info, deep=True) as reader:
        for _ in reader:
            pass
    return time.perf_counter() - t


def render_once(clip, info, store, masks, out, **settings) -> tuple[float, float, int]:
    """(seconds, worst PSNR dB outside the covers, bytes)."""
    t = time.perf_counter()
    render(clip, masks=masks, output=out, style="fill", dilate=4, progress=False, **settings)
    seconds = time.perf_counter() - t
    plan = plan_render(store, "fill", dilate=4, chroma=chroma_of(output_pix_fmt(info)))
    return seconds, min(psnr_outside_covers(clip, out, store, plan)), out.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(ROOT / "bench_out" / "render"))
    parser.add_argument("--table", action="store_true", help="also measure the preset/crf table")
    args = parser.parse_args()
    work = Path(args.out)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, python {platform.python_version()}, "
          f"load {os.getloadavg()[0]:.1f}")
    clip = SHARED_CLIP if SHARED_CLIP.is_file() else make_sample_clip(
        work / "sample720.mp4", seconds=6.0, fps=Fraction(30000, 1001), size=(1280, 720))
    info = probe(clip)
    store = inject_masks(info, {1: "disk", 2: "box"}, two_objects(info))
    masks = store.save(work / "masks.json")
    print(f"clip: {clip.name}, {info.width}x{info.height}, {info.frame_count} frames, {info.color_description()}")

    decode = decode_seconds(clip, info)
    seconds, worst, size = render_once(clip, info, store, masks, work / "out.mp4")
    from vidmask_nb.media.encode import nvenc_usable

    encoder = "h264_nvenc" if nvenc_usable(output_pix_fmt(info)) else "libx264"
    n = info.frame_count
    print(f"\n[1] decode to RGB alone   {decode:6.2f} s  {n / decode:6.1f} frames/s")
    print(f"    render (fill, dilate 4, 2 objects, {encoder} {DEFAULT_PRESET} crf {DEFAULT_CRF}, overlapped)"
          f"\n                          {seconds:6.2f} s  {n / seconds:6.1f} frames/s  "
          f"= {seconds / decode:.2f}x decoding (target <= 4x)")
    print(f"    worst frame outside the covers: {worst:.2f} dB; output {size / 1e6:.2f} MB "
          f"(source {clip.stat().st_size / 1e6:.2f} MB)")
    t = time.perf_counter()
    render(clip, masks=masks, output=work / "seq.mp4", style="fill", dilate=4, progress=False, overlap=False)
    print(f"    the same render, stages one after another: {time.perf_counter() - t:6.2f} s")

    if args.table:
        print("\n[2] x264 settings (render() each; worst-frame PSNR outside the covers)")
        print(f"    {'preset':<10} {'crf':>3} {'frames/s':>9} {'worst dB':>9} {'size MB':>8}")
        for preset, crf in TABLE:
            seconds, worst, size = render_once(clip, info, store, masks, work / f"{preset}_{crf}.mp4",
                                               preset=preset, crf=crf, encoder="libx264")
            print(f"    {preset:<10} {crf:>3} {n / seconds:9.1f} {worst:9.2f} {size / 1e6:8.2f}", flush=True)


if __name__ == "__main__":
    main()
