"""Benchmark the render stage against decoding alone, and the encoder settings behind the defaults.

On a 720p real clip (``../shared/media/01_dog.mp4``; a generated 720p clip when absent) with two
objects' masks (a disk and a box moving across, injected, not tracked), blurred:

1. The floor: decoding the clip with PyAV alone (``for f in container.decode(video=0):
   f.to_ndarray(format="rgb24")``, frame threads on; and the bare planes, no conversion), then
   ``render()`` (decode + masks + covers in the source's YUV + H.264 encode + audio copy,
   overlapped) with its defaults, in the same run: the times, render / RGB floor (target <= 3x),
   frames/s, the process's CPU seconds, the machine's load before and after, and the worst
   frame's PSNR outside the covers (both files decoded as a player would, each with its own
   stated colour matrix and range); and the same render with masks that cover nothing (what
   decoding and x264 alone cost inside the render). ``--repeat`` rounds (default 3), each decode then render,
   interleaved; the medians are printed, and each round's ratio.
2. ``--sequential``: the same render with its stages one after another.
3. ``--table``: x264 presets and crf values: frames/s, worst-frame PSNR outside the covers and
   file size: the table behind ``encode.DEFAULT_PRESET`` / ``DEFAULT_CRF``.

Prints figures; it is not a test. Run::

    .venv/bin/python benchmarks/bench_render.py [--style blur] [--sequential] [--table]
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("TQDM_DISABLE", "1")

from vidmask_nb.media.encode import DEFAULT_CRF, DEFAULT_PRESET, X264_TUNING, output_pix_fmt
from vidmask_nb.redact.render import RenderOptions, chroma_of, plan_render, render
from vidmask_nb.media.sample import make_sample_clip
from vidmask_nb.media.video import probe
from common import inject_masks, psnr_outside_covers

SHARED_CLIP = ROOT.parent / "shared" / "media" / "01_dog.mp4"
TABLE = [("medium", 10), ("veryfast", 10), ("veryfast", 12), ("superfast", 10), ("ultrafast", 10)]


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


def pyav_decode_seconds(clip: Path, rgb: bool) -> tuple[float, float]:
    """(seconds, CPU seconds) of PyAV alone, frame threads on: every frame to RGB
    (``to_ndarray(format="rgb24")``) or its bare planes."""
    t, cpu = time.perf_counter(), time.process_time()
    with av.open(str(clip)) as container:
        container.streams.video[0].thread_type = "AUTO"
        for frame in container.decode(video=0):
            if rgb:
                frame.to_ndarray(format="rgb24")
    return time.perf_counter() - t, time.process_time() - cpu


def render_once(clip, info, store, masks, out, style: str, crf: int | None = None,
                **settings) -> tuple[float, float, float, int]:
    """(seconds, CPU seconds, worst PSNR dB outside the covers, bytes)."""
    t, cpu = time.perf_counter(), time.process_time()
    render(clip, options=RenderOptions(style=style, crf=crf), masks=masks, output=out, progress=False, **settings)
    seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
    plan = plan_render(store, RenderOptions(style=style), chroma=chroma_of(output_pix_fmt(info, planar=True)))
    return seconds, cpu, min(psnr_outside_covers(clip, out, store, plan)), out.stat().st_size


def bare_render_seconds(clip, masks, out, style: str) -> tuple[float, float]:
    """(seconds, CPU seconds) of ``render()`` with masks that cover nothing: the decode and encode floor."""
    t, cpu = time.perf_counter(), time.process_time()
    render(clip, options=RenderOptions(style=style), masks=masks, output=out, progress=False)
    return time.perf_counter() - t, time.process_time() - cpu


def median_pair(pairs: list[tuple[float, float]]) -> tuple[float, float]:
    """The (seconds, CPU seconds) of the round with the median seconds."""
    return sorted(pairs)[len(pairs) // 2][:2]


def load() -> str:
    return "/".join(f"{v:.1f}" for v in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(ROOT / "bench_out" / "render"))
    parser.add_argument("--clip", default=str(SHARED_CLIP), help="the clip (default ../shared/media/01_dog.mp4; "
                        "a generated 720p clip when it is absent)")
    parser.add_argument("--style", default="blur", help="the effect for both objects (default blur)")
    parser.add_argument("--sequential", action="store_true", help="also time the render's stages one after another")
    parser.add_argument("--table", action="store_true", help="also measure the preset/crf table")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds of decode and render; "
                        "the medians are printed (default 3)")
    args = parser.parse_args()
    work = Path(args.out)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, python {platform.python_version()}, "
          f"PyAV {av.__version__}; load (1/5/15 min) {load()}")
    clip = Path(args.clip) if Path(args.clip).is_file() else make_sample_clip(
        work / "sample720.mp4", seconds=6.0, fps=Fraction(30000, 1001), size=(1280, 720))
    info = probe(clip)
    store = inject_masks(info, {1: "disk", 2: "box"}, two_objects(info))
    masks = store.save(work / "masks.json")
    nothing = np.zeros((info.height, info.width), bool)  # the same render with nothing to cover: decode + encode
    bare = inject_masks(info, {1: "disk", 2: "box"}, lambda i, k: nothing).save(work / "bare_masks.json")
    print(f"clip: {clip.name}, {info.width}x{info.height}, {info.frame_count} frames, {info.pix_fmt}, "
          f"{info.color_description()}")

    # Interleaved rounds, the median of each: a shared machine's noise (+-15 % a run here) falls on both sides.
    rounds = []
    for _ in range(args.repeat):
        rounds.append((pyav_decode_seconds(clip, rgb=True), pyav_decode_seconds(clip, rgb=False),
                       render_once(clip, info, store, masks, work / "out.mp4", args.style),
                       bare_render_seconds(clip, bare, work / "bare.mp4", args.style)))
    (floor, floor_cpu), (planes, planes_cpu) = (median_pair([r[i] for r in rounds]) for i in (0, 1))
    seconds, cpu = median_pair([r[2][:2] for r in rounds])
    bare_s, bare_cpu = median_pair([r[3] for r in rounds])
    worst, size = rounds[-1][2][2:]
    from vidmask_nb.media.encode import nvenc_usable

    encoder = "h264_nvenc" if nvenc_usable(output_pix_fmt(info, planar=True)) else "libx264"
    n = info.frame_count
    print(f"\n[1] median of {args.repeat} interleaved rounds; render / RGB decode in each round: "
          f"{', '.join(f'{r[2][0] / r[0][0]:.2f}x' for r in rounds)}")
    print(f"    PyAV alone, decode to RGB (to_ndarray rgb24)  {floor:6.2f} s  {n / floor:6.1f} frames/s  "
          f"CPU {floor_cpu:.2f} s"
          f"\n    PyAV alone, decode to planes (no conversion)   {planes:6.2f} s  {n / planes:6.1f} frames/s  "
          f"CPU {planes_cpu:.2f} s")
    tuning = X264_TUNING.get(DEFAULT_PRESET, "") if encoder == "libx264" else ""
    print(f"    render ({args.style}, dilate {RenderOptions.dilate}, 2 objects, {encoder} {DEFAULT_PRESET} {tuning} "
          f"crf {DEFAULT_CRF}, overlapped)\n"
          f"                                                 {seconds:6.2f} s  {n / seconds:6.1f} frames/s  "
          f"CPU {cpu:.2f} s\n"
          f"    = {seconds / floor:.2f}x decoding to RGB (target <= 3x), {seconds / planes:.2f}x decoding the planes; "
          f"CPU {cpu / floor_cpu:.2f}x the RGB decode's")
    print(f"    the same render with nothing to cover (decode + x264 + audio copy): {bare_s:.2f} s, CPU {bare_cpu:.2f} s "
          f"= {bare_s / floor:.2f}x decoding to RGB")
    print(f"    worst frame outside the covers: {worst:.2f} dB (target >= 44); output {size / 1e6:.2f} MB "
          f"(source {clip.stat().st_size / 1e6:.2f} MB)")
    print(f"    load after (1/5/15 min): {load()}")
    if args.sequential:
        t = time.perf_counter()
        render(clip, options=RenderOptions(style=args.style), masks=masks, output=work / "seq.mp4", progress=False,
               overlap=False)
        print(f"\n[2] the same render, stages one after another: {time.perf_counter() - t:6.2f} s")

    if args.table:
        print(f"\n[3] x264 settings (render() each, {args.style}; worst-frame PSNR outside the covers; "
              f"veryfast is {X264_TUNING.get('veryfast', 'untuned')} here)")
        print(f"    {'preset':<10} {'crf':>3} {'frames/s':>9} {'worst dB':>9} {'size MB':>8}")
        for preset, crf in TABLE:
            seconds, _, worst, size = render_once(clip, info, store, masks, work / f"{preset}_{crf}.mp4", args.style,
                                                  preset=preset, crf=crf, encoder="libx264")
            print(f"    {preset:<10} {crf:>3} {n / seconds:9.1f} {worst:9.2f} {size / 1e6:8.2f}", flush=True)


if __name__ == "__main__":
    main()
