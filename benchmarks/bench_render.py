"""Benchmark the render stage: frames/s at 720p per effect, and a whole run's time split.

1. Per effect, on a 720p clip (``../shared/media/02_hummingbird.mp4`` if present, else a generated
   720p clip) with one moving object covering ~6% of the frame: the effect alone (margins +
   annotate on decoded frames) and the whole ``render()`` (decode + effect + H.264 encode + audio
   copy), in frames per second.
2. A whole run on a generated 720p clip: decode, track (SAM 2 tiny, random weights, CPU unless a
   GPU is there, at ``--image-size``), render (effects) and encode, each timed on its own.

Prints figures; it is not a test. Run::

    .venv/bin/python benchmarks/bench_render.py [--out bench_out] [--image-size 256] [--crf 16]
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

from vidmask_nb.encode import VideoWriter  # noqa: E402
from vidmask_nb.render import inject_masks, mask_stream, plan_render, redact_frame, render  # noqa: E402
from vidmask_nb.runfolder import RunFolder  # noqa: E402
from vidmask_nb.sample import make_sample_clip, sample_prompts  # noqa: E402
from vidmask_nb.video import VideoReader, probe  # noqa: E402

SHARED_CLIP = ROOT.parent / "shared" / "media" / "02_hummingbird.mp4"
EFFECTS = ["fill", "mean", "blur", "pixelate:16"]


def moving_disk(info):
    """A disk of radius H/6 sweeping left to right: ~6% of a 16:9 frame, like a face close up."""
    h, w = info.height, info.width
    yy, xx = np.mgrid[0:h, 0:w]
    r = h / 6

    def mask_of(i: int, obj_id: int) -> np.ndarray:
        cx = r + (w - 2 * r) * i / max(1, info.frame_count - 1)
        return (xx - cx) ** 2 + (yy - h / 2) ** 2 <= r * r

    return mask_of


def per_effect(clip: Path, work: Path, crf: int, preset: str) -> None:
    info = probe(clip)
    run = RunFolder(work / "effects").create()
    store = inject_masks(info, {1: "object"}, moving_disk(info))
    store.save(run.masks_json)
    with VideoReader(clip, info=info) as reader:
        frames = [f.rgb for f in reader]
    t = time.perf_counter()
    with VideoReader(clip, info=info) as reader:
        for _ in reader:
            pass
    decode_fps = info.frame_count / (time.perf_counter() - t)
    print(f"\n[1] render at {info.width}x{info.height}, {info.frame_count} frames of {clip.name}, "
          f"one object (~{100 * store[0].objects[0].area / (info.width * info.height):.1f}% of the frame), "
          f"dilate 4, hold 3, crf {crf}, preset {preset}")
    print(f"    decode alone: {decode_fps:6.1f} frames/s")
    print(f"    {'effect':<12} {'effect only':>12} {'render()+encode':>16}")
    for style in EFFECTS:
        plan = plan_render(store, style, dilate=4, hold=3)
        t = time.perf_counter()
        for (i, masks), rgb in zip(plan.margins.hold(mask_stream(store, info)), frames):
            redact_frame(rgb, masks, plan)
        effect_fps = info.frame_count / (time.perf_counter() - t)
        t = time.perf_counter()
        render(clip, run.root, style=style, dilate=4, hold=3, crf=crf, preset=preset, progress=False)
        total_fps = info.frame_count / (time.perf_counter() - t)
        print(f"    {style:<12} {effect_fps:9.1f} f/s {total_fps:13.1f} f/s")


def whole_run(work: Path, image_size: int, crf: int, preset: str, seconds: float) -> None:
    clip = make_sample_clip(work / "run" / "sample720.mp4", seconds=seconds, size=(1280, 720))
    info = probe(clip)
    run = RunFolder(work / "run").create()
    sample_prompts(info).save(run.prompts_json)
    print(f"\n[2] whole run on a generated {info.width}x{info.height} clip, {info.frame_count} frames, "
          "2 objects")
    times: dict[str, float] = {}
    t = time.perf_counter()
    with VideoReader(clip, info=info) as reader:
        for _ in reader:
            pass
    times["decode (full size, once)"] = time.perf_counter() - t
    try:
        from vidmask_nb.model import load_predictor, resolve_device
        from vidmask_nb.propagate import propagate
    except ImportError as exc:
        print(f"    track: not measured ({exc})")
        store = inject_masks(info, {1: "ball", 2: "block"}, lambda i, k: None)
        store.save(run.masks_json)
    else:
        device = resolve_device(None)
        t = time.perf_counter()
        predictor = load_predictor("tiny", weights="random", image_size=image_size, device=device)
        times["model build (tiny, random weights)"] = time.perf_counter() - t
        t = time.perf_counter()
        store = propagate(clip, run.root, predictor=predictor, chunk_seconds=10, progress=False)
        times[f"track (SAM 2 tiny at {image_size} px on {device}, incl. its own decode + masks.json)"] = \
            time.perf_counter() - t
    # Render split into its three parts, as render() runs them.
    plan = plan_render(store, "blur", dilate=4, hold=3)
    decode = effect = encode = 0.0
    with VideoReader(clip, info=info) as reader, \
            VideoWriter(run.redacted_video(clip), info, crf=crf, preset=preset) as writer:
        masks = plan.margins.hold(mask_stream(store, info))
        frames = iter(reader)
        for _ in range(info.frame_count):
            t0 = time.perf_counter()
            frame = next(frames)
            t1 = time.perf_counter()
            _, frame_masks = next(masks)
            rgb = redact_frame(frame.rgb, frame_masks, plan)
            t2 = time.perf_counter()
            writer.write(rgb, frame.pts)
            t3 = time.perf_counter()
            decode, effect, encode = decode + t1 - t0, effect + t2 - t1, encode + t3 - t2
        t = time.perf_counter()
    encode += time.perf_counter() - t  # flushing the encoder at close
    times["render: decode"] = decode
    times["render: masks (RLE decode) + margins + blur"] = effect
    times[f"render: encode (H.264 crf {crf} {preset}) + audio copy"] = encode
    total = sum(times.values())
    for name, seconds_taken in times.items():
        print(f"    {name:<72} {seconds_taken:7.2f} s  {100 * seconds_taken / total:5.1f}%  "
              f"{info.frame_count / seconds_taken:7.1f} f/s")
    print(f"    {'total':<72} {total:7.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(ROOT / "bench_out" / "render"))
    parser.add_argument("--image-size", type=int, default=256, help="SAM 2 input size for the track timing")
    parser.add_argument("--crf", type=int, default=16)
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--seconds", type=float, default=2.0, help="length of the whole-run clip")
    parser.add_argument("--skip-track", action="store_true")
    args = parser.parse_args()
    work = Path(args.out)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, python {platform.python_version()}")
    if SHARED_CLIP.is_file():
        clip = SHARED_CLIP
    else:
        clip = make_sample_clip(work / "sample720.mp4", seconds=6.0, fps=Fraction(30000, 1001), size=(1280, 720))
    per_effect(clip, work, args.crf, args.preset)
    if not args.skip_track:
        whole_run(work, args.image_size, args.crf, args.preset, args.seconds)


if __name__ == "__main__":
    main()
