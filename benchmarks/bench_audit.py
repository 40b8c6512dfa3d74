"""What the audit sees of a face left uncovered, and what it costs: its fast pass against the exact one.

The audit (``review.audit.audit_video``) is the run's last check. Alone it looks for faces with the
fast pass, scanning every frame (``audit.audit_face_pass``, mode ``fast``). In a run it counts the face
floor's looks at the source and looks where they were not (mode ``after floor``: the floor computed on the
clip as a run computes it, its seconds apart, since the run pays them anyway; ``floor`` scores the floor's
faces alone at the audit's threshold; ``fast or floor`` the alone audit's findings with the floor's, what the
two passes on one schedule saw together). ``exact`` runs CenterFace at 640 px on every frame. They are scored
here on unredacted made clips, where every visible face is a leak to be seen:

- **flashes**: a real face shown on one frame alone, every 4th frame, at 16-128 px, somewhere new each
  time (a cover missing on a single frame: no face to follow, the scan must see it);
- the ground-truth harness's clips (``groundtruth.scenes``): faces walking, growing and shrinking,
  turning away, occluded, leaving and coming back, blurred by motion, small.

A face-frame is seen when a finding's centre lies in the face's true box grown by half, or the face's
centre in the finding's box. Printed: face-frames seen by size band, and each audit's seconds.

    python benchmarks/bench_audit.py                 # 2 s clips
    python benchmarks/bench_audit.py --seconds 1 --clips flashes,small
    python benchmarks/bench_audit.py --modes "fast,after floor,exact"
"""
from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from common import MEDIA, Actor, TruthScene, write_truth_clip
from groundtruth import F24, H, W, backgrounds, decode, face_sprites, fh, scenes

from vidmask_nb.detect.floor import compute_floor
from vidmask_nb.detect.floorfile import floor_path
from vidmask_nb.review.audit import audit_video, floor_looks

MODES = ("fast", "after floor", "floor", "fast or floor", "exact")

BANDS = ((0, 24), (24, 40), (40, 80), (80, 10_000))
FLASH_SIZES = (16, 20, 24, 32, 48, 64, 96, 128)


def flashes(faces, seconds: float, every: int = 4, seed: int = 7) -> TruthScene:
    """One face on one frame alone, every ``every``-th frame, at each of FLASH_SIZES in turn."""
    rng = np.random.default_rng(seed)
    n = max(2, round(seconds * F24))
    actors = []
    for k, i in enumerate(range(1, n, every)):
        t = float(i / F24)  # the frame's own time, as TruthScene computes it: shown on frame i alone
        face = faces[k % len(faces)]
        px = FLASH_SIZES[k % len(FLASH_SIZES)]
        h = fh(face, px)
        x, y = rng.uniform(0.1, 0.9) * W, rng.uniform(0.15, 0.85) * H
        actors.append(Actor(f"flash{k}_{px}px", face, [(t, x, y, h, 1), (t, x, y, h, 1)]))
    return TruthScene((W, H), F24, n, actors)


def true_boxes(scene: TruthScene, i: int) -> list[tuple[float, float, float, float]]:
    out = []
    for mask in scene.truth(i).values():
        ys, xs = np.nonzero(mask)
        if len(xs) >= 16:
            out.append((xs.min(), ys.min(), xs.max() + 1, ys.max() + 1))
    return out


def seen(truth, findings) -> bool:
    x0, y0, x1, y1 = truth
    gx, gy = (x1 - x0) / 2, (y1 - y0) / 2
    for f in findings:
        fx0, fy0, fx1, fy1 = f.box
        cx, cy = (fx0 + fx1) / 2, (fy0 + fy1) / 2
        tx, ty = (x0 + x1) / 2, (y0 + y1) / 2
        if (x0 - gx <= cx <= x1 + gx and y0 - gy <= cy <= y1 + gy) or (fx0 <= tx <= fx1 and fy0 <= ty <= fy1):
            return True
    return False


def band(h: float) -> str:
    lo, hi = next(b for b in BANDS if b[0] <= h < b[1])
    return f"{lo}-{hi} px" if hi < 10_000 else f"{lo}+ px"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0, help="length of each clip (default 2)")
    ap.add_argument("--clips", default=None, help="only clips whose names contain one of these (comma-separated)")
    ap.add_argument("--work", default="/tmp/vidmask_bench_audit")
    ap.add_argument("--modes", default="fast,after floor,floor,fast or floor",
                    help=f"comma-separated, of {', '.join(MODES)} (default fast,after floor,floor,fast or floor)")
    a = ap.parse_args()
    modes = [m.strip() for m in a.modes.split(",")]
    if not modes or set(modes) - set(MODES):
        raise SystemExit(f"--modes: one or more of {', '.join(MODES)}, not {a.modes!r}")
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    print(f"load average at start {os.getloadavg()[0]:.2f}")
    faces = face_sprites(work)
    bgs = backgrounds()
    occ = next(decode(MEDIA / "07_snowboarder.mp4", n=1))[200:520, 300:700]
    clips = {"flashes 23.976": flashes(faces, a.seconds)}
    clips.update({name: scene for name, (scene, kinds) in scenes(faces, a.seconds, occ).items() if kinds == "faces"})
    totals = {m: {} for m in modes}
    cost = {m: [0, 0.0] for m in [*modes, "floor pass"]}
    print("| clip | audit | face-frames seen | by size | s |")
    print("|---|---|---|---|---|")
    for name, scene in clips.items():
        if a.clips and not any(c.strip() in name for c in a.clips.split(",")):
            continue
        clip = work / (name.replace(" ", "_").replace("/", "-") + ".mp4")
        write_truth_clip(clip, scene, bgs)
        truth = {i: true_boxes(scene, i) for i in range(scene.frame_count)}
        looks = None
        if {"after floor", "floor", "fast or floor"} & set(modes):
            t0 = time.perf_counter()
            floor_path(work).unlink(missing_ok=True)
            compute_floor(clip, work, ("face",))
            cost["floor pass"][0] += scene.frame_count
            cost["floor pass"][1] += time.perf_counter() - t0
        after = alone = None
        for mode in totals:
            t0 = time.perf_counter()
            if mode in ("after floor", "floor", "fast or floor"):
                if after is None:
                    looks = floor_looks(floor_path(work), clip)
                    after = audit_video(clip, ("face",), floor=looks)
                report = after
            else:
                report = audit_video(clip, ("face",), exact=mode == "exact")
                alone = report if mode == "fast" else alone
            if mode == "fast or floor":
                alone = alone or audit_video(clip, ("face",))
                report = replace(alone, findings=alone.findings + [f for f in after.findings if f.by == "floor"])
            s = time.perf_counter() - t0
            cost[mode][0] += scene.frame_count
            cost[mode][1] += s
            by_frame: dict[int, list] = {}
            for f in report.findings:
                if mode == "floor" and f.by != "floor":
                    continue
                by_frame.setdefault(f.frame, []).append(f)
            per: dict[str, list[int]] = {}
            for i, boxes in truth.items():
                for b in boxes:
                    k = band(b[3] - b[1])
                    per.setdefault(k, [0, 0])
                    per[k][0] += seen(b, by_frame.get(i, []))
                    per[k][1] += 1
                    tot = totals[mode].setdefault(k, [0, 0])
                    tot[0] += seen(b, by_frame.get(i, []))
                    tot[1] += 1
            hit, n = sum(v[0] for v in per.values()), sum(v[1] for v in per.values())
            sizes = ", ".join(f"{k} {v[0]}/{v[1]}" for k, v in sorted(per.items(), key=lambda kv: int(kv[0].split("-")[0].rstrip("+ px"))))
            print(f"| {name} | {mode} | {hit}/{n} ({hit / max(n, 1):.1%}) | {sizes} | {s:.1f} |", flush=True)
    print("\n| audit | face-frames seen, all clips | by size | frames/s |")
    print("|---|---|---|---|")
    for mode, per in totals.items():
        hit, n = sum(v[0] for v in per.values()), sum(v[1] for v in per.values())
        sizes = ", ".join(f"{k} {v[0]}/{v[1]} ({v[0] / max(v[1], 1):.0%})"
                          for k, v in sorted(per.items(), key=lambda kv: int(kv[0].split("-")[0].rstrip("+ px"))))
        fps = "(not its own)" if mode in ("floor", "fast or floor") else f"{cost[mode][0] / max(cost[mode][1], 1e-9):.2f}"
        print(f"| {mode} | {hit}/{n} ({hit / max(n, 1):.1%}) | {sizes} | {fps} |")
    if cost["floor pass"][1]:
        print(f"(the floor pass itself, which a run makes anyway: {cost['floor pass'][0] / cost['floor pass'][1]:.2f} "
              "frames/s; 'floor' and 'fast or floor' reuse the others' audits)")
    print(f"load average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
