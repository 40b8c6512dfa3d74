"""Benchmark a long render: does memory stay flat when the video is eight times longer?

For each length (300 and 2400 frames by default) it generates a clip (``make_sample_clip``,
640x360 at 30 fps) and DENSE masks for two objects on every frame (the sample ball, and a
moving band of fine stripes, half the frame wide, so its RLE is large: ~20 KB a frame),
written streaming with ``write_masks_json`` from a generator. Then, in a fresh child process
per length, it renders with the public ``vidmask_nb.redact.render.render`` and prints frames/s, the
child's peak RSS (VmHWM: its own ``ru_maxrss``) and the worst-frame PSNR outside the grown,
held masks; last, the peak RSS ratio between the two lengths (the target: within 10 %) and the
masks store's own memory while reading every frame (streaming ``MaskStore`` against the whole
file parsed at once).

Prints figures; it is not a test. Run::

    .venv/bin/python benchmarks/bench_render_long.py [--lengths 300 2400] [--size 640x360] [--out DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
import tracemalloc
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("TQDM_DISABLE", "1")

from vidmask_nb.track.masks import FrameMasks, MaskStore, ObjectMask, encode_rle, write_masks_json
from vidmask_nb.prompts.records import color_for
from vidmask_nb.runfolder.folder import RunFolder, atomic_output
from vidmask_nb.media.sample import SampleScene, make_sample_clip
from vidmask_nb.media.video import fraction_str, probe

DILATE, HOLD = 4, 3
CHROMA_PX = 2  # 4:2:0 chroma bleeds about this far past a covered edge


def dense_frames(info):
    """Two objects on every frame, generated one frame at a time (never a list of frames)."""
    scene = SampleScene((info.width, info.height), info.fps)
    w, h = info.width, info.height
    rows = np.arange(h)[:, None]
    for i in range(info.frame_count):
        ball = scene.object_mask(i, 1)
        band = np.zeros((h, w), bool)
        x0 = (i * 3) % (w // 2)
        band[h // 3:2 * h // 3, x0:x0 + w // 2] = True
        band &= np.broadcast_to(((rows + i) // 2) % 2 == 0, (h, w))  # stripes: many runs per column
        yield FrameMasks(i, info.pts[i], (ObjectMask(1, "ball", 0.9, encode_rle(ball)),
                                          ObjectMask(2, "band", 0.8, encode_rle(band & ~ball))))


def prepare(work: Path, frames: int, size: tuple[int, int], fps: Fraction) -> tuple[Path, Path]:
    run = RunFolder(work / f"len{frames}").create()
    clip = make_sample_clip(run.root / "clip.mp4", seconds=float(frames / fps), fps=fps, size=size, crf=18)
    info = probe(clip)
    video = {"width": info.width, "height": info.height, "frame_count": info.frame_count,
             "fps": fraction_str(info.fps), "fingerprint": info.fingerprint}
    objects = [{"id": k, "label": label, "color": list(color_for(k))} for k, label in ((1, "ball"), (2, "band"))]
    with atomic_output(run.masks_json) as tmp:
        write_masks_json(tmp, video, objects, dense_frames(info), key="bench")
    return clip, run.root


def peak_rss_mb() -> float:
    """This process's peak RSS in MB: VmHWM on Linux (``ru_maxrss`` there keeps the parent's peak
    across fork+exec, so a big parent would hide the child's own), else ``ru_maxrss``."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KB elsewhere
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2 ** 20


def child(clip: Path, workdir: Path) -> None:
    """Render, then measure; print one JSON line (run in a fresh process per length)."""
    from vidmask_nb.redact.effects import MaskMargins
    from vidmask_nb.redact.render import RenderOptions, mask_stream, render
    from vidmask_nb.media.video import VideoReader

    rss_before = peak_rss_mb()
    info = probe(clip)
    t = time.perf_counter()
    out = render(clip, workdir, RenderOptions(style="fill", dilate=DILATE, hold=HOLD), progress=False)
    seconds = time.perf_counter() - t
    rss_render = peak_rss_mb()
    # PSNR outside what the render covers (masks grown, held, plus the chroma reach), every frame
    margins = MaskMargins(dilate_px=DILATE + CHROMA_PX, hold_frames=HOLD)
    worst = float("inf")
    with MaskStore.load(RunFolder(workdir).masks_json) as store, \
            VideoReader(clip, info=info) as src, VideoReader(out) as dst:
        for a, b, (_, masks) in zip(src, dst, margins.hold(mask_stream(store, info))):
            covered = np.zeros((info.height, info.width), bool)
            for m in masks.values():
                covered |= margins.apply(m)
            diff = a.rgb[~covered].astype(np.float64) - b.rgb[~covered]
            mse = float(np.mean(diff * diff)) if diff.size else 0.0
            worst = min(worst, 99.0 if mse == 0 else 10 * np.log10(255.0 ** 2 / mse))
    print(json.dumps({"frames": info.frame_count, "seconds": seconds, "fps": info.frame_count / seconds,
                      "rss_start_mb": rss_before, "rss_render_mb": rss_render, "rss_end_mb": peak_rss_mb(),
                      "worst_psnr": worst, "mb_per_s": out.stat().st_size / 1e6}))


def store_memory(masks_json: Path) -> tuple[float, float, int]:
    """Peak Python memory (MB) reading every frame: streaming store, and the whole file parsed at once."""
    tracemalloc.start()
    with MaskStore.load(masks_json) as store:
        n = sum(len(fm.objects) for fm in store)
    streaming = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    tracemalloc.start()
    data = json.loads(masks_json.read_text())
    frames = [FrameMasks.from_json(f) for f in data.pop("frames")]
    whole = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    del frames
    return streaming, whole, n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[300, 2400], help="frames (default 300 2400)")
    parser.add_argument("--size", default="640x360", help="clip size WxH (default 640x360)")
    parser.add_argument("--fps", default="30", help="clip frame rate (default 30)")
    parser.add_argument("--out", default=str(ROOT / "bench_out" / "render_long"), help="work folder (default bench_out/render_long)")
    parser.add_argument("--child", nargs=2, metavar=("CLIP", "WORKDIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), Path(args.child[1]))
        return
    size = tuple(int(v) for v in args.size.lower().split("x"))
    work = Path(args.out)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, python {platform.python_version()}")
    print(f"{size[0]}x{size[1]} at {args.fps} fps, 2 objects with masks on every frame, fill, dilate {DILATE}, "
          f"hold {HOLD}; one fresh process per length")
    print(f"{'frames':>7} {'masks.json':>11} {'render':>9} {'fps':>7} {'RSS start':>10} {'RSS peak':>9} "
          f"{'worst PSNR outside':>19}")
    results = []
    for frames in args.lengths:
        clip, workdir = prepare(work, frames, size, Fraction(args.fps))
        proc = subprocess.run([sys.executable, __file__, "--child", str(clip), str(workdir)],
                              capture_output=True, text=True)
        if proc.returncode:
            sys.exit(f"render of {frames} frames failed:\n{proc.stderr[-2000:]}")
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        r["masks_mb"] = RunFolder(workdir).masks_json.stat().st_size / 1e6
        results.append((r, RunFolder(workdir).masks_json))
        print(f"{r['frames']:>7} {r['masks_mb']:>8.1f} MB {r['seconds']:>7.1f} s {r['fps']:>7.1f} "
              f"{r['rss_start_mb']:>7.0f} MB {r['rss_render_mb']:>6.0f} MB {r['worst_psnr']:>15.1f} dB")
    if len(results) >= 2:
        (a, _), (b, _) = results[0], results[-1]
        print(f"peak RSS {b['frames']} / {a['frames']} frames: {b['rss_render_mb'] / a['rss_render_mb']:.3f} "
              f"(target <= 1.10); fps ratio {b['fps'] / a['fps']:.2f}")
    for r, masks_json in results:
        streaming, whole, n = store_memory(masks_json)
        print(f"masks store, {r['frames']} frames ({r['masks_mb']:.1f} MB): reading every frame peaks at "
              f"{streaming:.2f} MB streaming (its index included), {whole:.1f} MB parsed whole "
              "(Python heap, tracemalloc)")


if __name__ == "__main__":
    main()
