"""Memory and speed of the chunked runner against stock SAM 2 (prints figures; not a test).

1. Peak host memory (RSS) tracking N and 8N frames, each in a fresh process:
   ours (lazy frames + pruning; should stay flat: ratio <= 1.10) and the stock predictor
   (JPEG folder -> whole-video tensor, every output kept), on the same generated clips.
2. Seconds per frame: our whole run (decode, track, RLE, chunk files, checkpoints, masks.json)
   against bare stock ``propagate_in_video`` over preloaded frames (overhead should be <= 10%).
3. With CUDA: frames per second and peak GPU memory per model size, with and without
   ``vos_optimized``, at SAM 2's own 1024 px input. Skipped (and said so) without CUDA.

Usage::

    .venv/bin/python benchmarks/bench_propagate.py                  # N=20, 512 px, random weights if no checkpoint
    .venv/bin/python benchmarks/bench_propagate.py --frames 30 --image-size 1024 --weights trained

Figures from random weights measure memory and speed only (what is tracked does not matter).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

FPS = Fraction(24000, 1001)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def make_inputs(folder: Path, frames: int, size: tuple[int, int]) -> dict:
    """A generated clip of ``frames`` frames, its run folder with one prompted object, and a JPEG folder."""
    from PIL import Image

    from vidmask_nb.runfolder.folder import RunFolder
    from vidmask_nb.media.sample import make_sample_clip
    from vidmask_nb.prompts.sources import sample_prompts
    from vidmask_nb.media.video import VideoReader, probe

    folder.mkdir(parents=True, exist_ok=True)
    clip = make_sample_clip(folder / f"clip_{frames}.mp4", seconds=float(frames / FPS) + 1e-6, fps=FPS, size=size)
    info = probe(clip)
    assert info.frame_count == frames, (info.frame_count, frames)
    prompts = sample_prompts(info)
    prompts.objects = prompts.objects[:1]  # one object: the ball, prompted a third of the way in
    prompts.prompts = [p for p in prompts.prompts if p.obj_id == 1]
    work = folder / f"run_{frames}"
    RunFolder(work).create()
    prompts.save(RunFolder(work).prompts_json)
    jpegs = folder / f"jpeg_{frames}"  # what the published workflow extracts for stock SAM 2
    jpegs.mkdir(exist_ok=True)
    with VideoReader(clip, info=info) as reader:
        for fr in reader:
            Image.fromarray(fr.rgb).save(jpegs / f"{fr.index:05d}.jpg", quality=95)
    return {"clip": str(clip), "work": str(work), "jpegs": str(jpegs)}


# -- children: one measurement each, in a fresh process ---------------------------------------------

def child_ours(args) -> dict:
    from vidmask_nb.track.model import load_predictor
    from vidmask_nb.track.propagate import TrackOptions, propagate

    predictor = load_predictor(args.model, weights=args.weights, image_size=args.image_size, device=args.device)
    t, c = time.perf_counter(), time.process_time()
    store = propagate(args.clip, args.work, TrackOptions(chunk_seconds=args.chunk_seconds), predictor=predictor,
                      force=True, progress=False)
    seconds, cpu = time.perf_counter() - t, time.process_time() - c
    first = min(p.frame for p in _prompts(args))
    return {"seconds": seconds, "cpu_seconds": cpu, "frames_run": len(store) + 1 if first > 0 else len(store),
            "peak_rss_mb": peak_rss_mb()}


def child_stock(args) -> dict:
    import numpy as np
    import torch

    from vidmask_nb.track.model import inference_context, load_predictor

    predictor = load_predictor(args.model, weights=args.weights, image_size=args.image_size, device=args.device)
    with inference_context(predictor.device):
        state = predictor.init_state(video_path=args.jpegs)  # stock: the whole video as one tensor
        for p in _prompts(args):
            predictor.add_new_points_or_box(state, frame_idx=p.frame, obj_id=p.obj_id,
                                            box=np.asarray(p.box, np.float32))
        t, c = time.perf_counter(), time.process_time()
        n = 0
        for reverse in (False, True):
            for _, _, logits in predictor.propagate_in_video(state, reverse=reverse):
                (logits > 0).cpu()  # what any caller does with the masks; not kept
                n += 1
        if predictor.device.type == "cuda":
            torch.cuda.synchronize()
    return {"seconds": time.perf_counter() - t, "cpu_seconds": time.process_time() - c, "frames_run": n,
            "peak_rss_mb": peak_rss_mb()}


def child_speed(args) -> dict:
    """Ours and bare stock alternately in one process with one model: pairs close in time see the
    same load from whatever else runs on the machine; the fastest of each is reported."""
    import numpy as np
    import torch

    from vidmask_nb.track.model import inference_context, load_predictor
    from vidmask_nb.track.propagate import TrackOptions, propagate

    predictor = load_predictor(args.model, weights=args.weights, image_size=args.image_size, device=args.device)
    prompts = _prompts(args)
    sync = torch.cuda.synchronize if predictor.device.type == "cuda" else (lambda: None)
    ours, bare = [], []
    for _ in range(args.repeats):
        t = time.perf_counter()
        store = propagate(args.clip, args.work, TrackOptions(chunk_seconds=args.chunk_seconds), predictor=predictor,
                          force=True, progress=False)
        sync()
        ours.append((time.perf_counter() - t) / (len(store) + 1))
        with inference_context(predictor.device):
            state = predictor.init_state(video_path=args.jpegs)
            for p in prompts:
                predictor.add_new_points_or_box(state, frame_idx=p.frame, obj_id=p.obj_id,
                                                box=np.asarray(p.box, np.float32))
            t, n = time.perf_counter(), 0
            for reverse in (False, True):
                for _, _, logits in predictor.propagate_in_video(state, reverse=reverse):
                    (logits > 0).cpu()
                    n += 1
            sync()
            bare.append((time.perf_counter() - t) / n)
        del state
    return {"ours": ours, "bare": bare}


def _prompts(args):
    from vidmask_nb.prompts.records import PromptSet
    from vidmask_nb.runfolder.folder import RunFolder

    return PromptSet.load(RunFolder(args.work).prompts_json).prompts


def run_child(kind: str, inputs: dict, args) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, "--clip", inputs["clip"], "--work", inputs["work"],
           "--jpegs", inputs["jpegs"], "--model", args.model, "--weights", args.weights,
           "--image-size", str(args.image_size), "--chunk-seconds", str(args.chunk_seconds),
           "--repeats", str(args.repeats)]
    if args.device:
        cmd += ["--device", args.device]
    env = {**os.environ, "TQDM_DISABLE": "1", "PYTHONWARNINGS": "ignore"}
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if res.returncode != 0:
        raise SystemExit(f"{kind} child failed:\n{res.stdout}\n{res.stderr}")
    return json.loads(res.stdout.strip().splitlines()[-1])


# -- GPU -----------------------------------------------------------------------------------------

def gpu_section(args, folder: Path) -> None:
    import torch

    print("\n## GPU: frames per second and peak GPU memory (1024 px, our runner, one object)")
    if not torch.cuda.is_available():
        print("skipped: no CUDA GPU on this machine")
        return
    from vidmask_nb.track.model import MODELS, find_checkpoint, load_predictor
    from vidmask_nb.track.propagate import propagate

    inputs = make_inputs(folder / "gpu", args.gpu_frames, (1280, 720))
    print(f"device: {torch.cuda.get_device_name()}; clip: {args.gpu_frames} frames 1280x720")
    print(f"{'model':<10} {'vos_optimized':<14} {'weights':<8} {'FPS':>7} {'peak GPU MiB':>13}")
    for name in MODELS:
        try:
            find_checkpoint(name)
            weights = "trained"
        except Exception:
            weights = "random"
        for vos in (False, True):
            predictor = load_predictor(name, weights=weights, device="cuda", vos_optimized=vos)
            if vos:  # compile outside the timing: first calls autotune for minutes
                propagate(inputs["clip"], inputs["work"], predictor=predictor, force=True, progress=False)
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            t = time.perf_counter()
            store = propagate(inputs["clip"], inputs["work"], predictor=predictor, force=True, progress=False)
            torch.cuda.synchronize()
            fps = (len(store) + 1) / (time.perf_counter() - t)
            peak = torch.cuda.max_memory_allocated() / 2**20
            print(f"{name:<10} {str(vos):<14} {weights:<8} {fps:>7.1f} {peak:>13.0f}", flush=True)
            del predictor
            torch.cuda.empty_cache()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=20, help="N: the short run (the long one is 8N)")
    ap.add_argument("--factor", type=int, default=8)
    ap.add_argument("--image-size", type=int, default=512)
    ap.add_argument("--size", default="640x360", help="generated clip size WxH")
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--weights", default=None, help="trained | random (default: trained if the checkpoint exists)")
    ap.add_argument("--device", default=None)
    ap.add_argument("--chunk-seconds", type=float, default=2.0)
    ap.add_argument("--repeats", type=int, default=2, help="alternating speed runs of ours and bare")
    ap.add_argument("--gpu-frames", type=int, default=300)
    ap.add_argument("--keep", action="store_true", help="keep the generated files")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--clip", help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    ap.add_argument("--jpegs", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child:
        result = {"ours": child_ours, "stock": child_stock, "speed": child_speed}[args.child](args)
        print(json.dumps(result))
        return

    if args.weights is None:
        from vidmask_nb.track.model import find_checkpoint

        try:
            find_checkpoint(args.model)
            args.weights = "trained"
        except Exception:
            args.weights = "random"
    import torch

    from vidmask_nb.track.model import resolve_device

    w, h = (int(v) for v in args.size.split("x"))
    n_short, n_long = args.frames, args.frames * args.factor
    folder = Path(tempfile.mkdtemp(prefix="bench_propagate_"))
    print(f"# bench_propagate: model {args.model} ({args.weights} weights), SAM 2 input {args.image_size} px, "
          f"clip {w}x{h} at {FPS} fps, one object prompted a third of the way in, device "
          f"{resolve_device(args.device)}, torch threads {torch.get_num_threads()}, cores {os.cpu_count()}")
    if args.weights == "random":
        print("# RANDOM WEIGHTS: untrained model; the figures are memory and speed only")
    try:
        inputs = {n: make_inputs(folder, n, (w, h)) for n in (n_short, n_long)}
        results = {}
        for n in (n_short, n_long):
            for kind in ("ours", "stock"):
                results[kind, n] = run_child(kind, inputs[n], args)
                r = results[kind, n]
                print(f"  {kind:<5} {n:>4} frames: peak RSS {r['peak_rss_mb']:7.0f} MB, "
                      f"{r['seconds']:7.1f} s wall, {r['cpu_seconds']:7.1f} s CPU for {r['frames_run']} frame steps", flush=True)

        print(f"\n## Peak host memory (RSS), {n_short} vs {n_long} frames, each in a fresh process")
        print(f"{'':<24} {n_short:>8} {n_long:>8} {'ratio':>7}")
        for kind, label in (("ours", "ours (lazy + pruned)"), ("stock", "stock SAM2VideoPredictor")):
            a, b = results[kind, n_short]["peak_rss_mb"], results[kind, n_long]["peak_rss_mb"]
            verdict = ("  <= 1.10 OK" if b / a <= 1.10 else "  > 1.10 FAIL") if kind == "ours" else ""
            print(f"{label:<24} {a:>6.0f}MB {b:>6.0f}MB {b / a:>7.3f}{verdict}")

        print(f"\n## Seconds per frame, {n_long} frames (forward from the prompt, then backward)")
        speed = run_child("speed", inputs[n_long], args)
        print(f"{args.repeats} alternating runs each in one process, one model; fastest of each:")
        print(f"  ours, whole run (decode, track, RLE, chunk files, checkpoints, masks.json): {min(speed['ours']):.4f} s/frame"
              f"   (all: {', '.join(f'{v:.4f}' for v in speed['ours'])})")
        print(f"  bare propagate_in_video over preloaded frames:                            {min(speed['bare']):.4f} s/frame"
              f"   (all: {', '.join(f'{v:.4f}' for v in speed['bare'])})")
        overhead = min(speed["ours"]) / min(speed["bare"]) - 1
        pairs = sorted(o / b - 1 for o, b in zip(speed["ours"], speed["bare"]))
        print(f"overhead: {100 * overhead:+.1f}% " + ("(<= 10% OK)" if overhead <= 0.10 else "(> 10% FAIL)")
              + f"; per alternating pair: {', '.join(f'{100 * v:+.1f}%' for v in pairs)}")
        gpu_section(args, folder)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            print(f"files kept in {folder}")


if __name__ == "__main__":
    main()
