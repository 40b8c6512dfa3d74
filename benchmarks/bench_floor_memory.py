"""Peak memory of the floor's fast face pass against the clip's length (it must stay flat).

Generates clips of each length (``--minutes``, default 2 and 20) at ``--size`` (default 256x144, to
keep a 20-minute run within reach of a 2-core machine: the pass holds no more per frame at 720p),
a real face (cropped from bedroom.mp4) walking back and forth over real frames of 02_hummingbird;
then runs ``floor.compute_floor`` (fast pass, faces) on each in a fresh process and prints its peak
RSS, its CPU seconds and the share of frames with a face found.

    PYTHONPATH=. python benchmarks/bench_floor_memory.py --minutes 2,20
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path


FPS = Fraction(24000, 1001)


def make_clip(path: Path, minutes: float, size: tuple[int, int]) -> Path:
    import cv2

    from groundtruth import MEDIA, decode, face_sprites
    from common import Actor, TruthScene, write_truth_clip

    if path.is_file():
        return path
    face = face_sprites(path.parent)[0]
    w, h = size
    n = round(minutes * 60 * FPS)
    seconds = float(n / FPS)
    fh = h * 0.4
    keys = [(t, w * (0.25 if t % 8 == 0 else 0.75), h * 0.5, fh, 1.0) for t in range(0, int(seconds) + 5, 4)]
    scene = TruthScene(size, FPS, n, [Actor("face", face, keys)])
    bgs = [cv2.resize(b, size, interpolation=cv2.INTER_AREA) for b in decode(MEDIA / "02_hummingbird.mp4", n=8)]
    return Path(write_truth_clip(path, scene, bgs))


def floor_child(clip: str, work: str) -> None:
    from vidmask_nb.detect import floor

    c0 = time.process_time()
    path = floor.compute_floor(clip, work, "faces")
    found = frames = 0
    with open(path) as f:
        f.readline()
        for line in f:
            frames += 1
            found += bool(json.loads(line)["detections"])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"frames": frames, "found": found, "cpu": time.process_time() - c0, "peak_mb": peak}))


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        floor_child(sys.argv[2], sys.argv[3])
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", default="2,20")
    ap.add_argument("--size", default="256x144")
    ap.add_argument("--work", default="/tmp/vidmask_floor_memory")
    a = ap.parse_args()
    size = tuple(int(v) for v in a.size.split("x"))
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    load0 = os.getloadavg()
    rows = []
    for m in (float(v) for v in a.minutes.split(",")):
        clip = make_clip(work / f"long_{m:g}min_{a.size}.mp4", m, size)
        run = work / f"run_{m:g}"
        shutil.rmtree(run, ignore_errors=True)  # a fresh run, never one resumed from a killed run's checkpoint
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, __file__, "--child", str(clip), str(run)], check=True,
                             capture_output=True, text=True, env={**os.environ, "TQDM_DISABLE": "1"})
        r = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(f"| {m:g} min | {r['frames']} | {r['peak_mb']:.0f} MB | {r['cpu']:.0f} | "
                    f"{time.perf_counter() - t0:.0f} | {r['found'] / max(r['frames'], 1):.1%} |")
        print(rows[-1], flush=True)
    print(f"\n| clip ({a.size}, 23.976 fps) | frames | peak RSS | CPU s | wall s | frames with a face found |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    print(f"\nload average at start {load0[0]:.1f}, at end {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
