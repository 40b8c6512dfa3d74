"""The whole run against deface's whole run, back to back on the same clip (issue 27).

``vidmask-nb run CLIP --find faces --no-track`` as a person runs it (every stage in one process, the audit
of the output, the notebooks executed as its report) and with ``--no-reports``, against
``deface --replacewith solid`` (and deface's default blur): wall and CPU seconds, frames per second, and the
kit's frame rate as a multiple of deface's, the median of interleaved rounds. Also prints the kit's
stage times from its ``run.json``, so what dominates is plain.

    python benchmarks/bench_whole_run.py                     # bedroom.mp4's first 150 frames (../shared/media)
    python benchmarks/bench_whole_run.py --clip my.mp4 --rounds 3
    python benchmarks/bench_whole_run.py --clip long.mp4 --rounds 1 --no-blur
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
from pathlib import Path

from common import MEDIA, cut, run_deface, run_whole


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", type=Path, default=None, help="the clip (default: bedroom.mp4's first --frames frames)")
    ap.add_argument("--frames", type=int, default=150, help="frames cut from bedroom.mp4 (default 150)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    ap.add_argument("--no-blur", action="store_true", help="leave out deface's blur (its solid is the reference)")
    args = ap.parse_args()
    from vidmask_nb.media.video import probe

    work = Path(tempfile.mkdtemp(prefix="whole_run_"))
    clip = args.clip or cut(MEDIA / "bedroom.mp4", work / "clip.mp4", args.frames)
    n = probe(clip).frame_count
    print(f"{clip} ({n} frames); load average at start {os.getloadavg()[0]:.2f}")
    modes = {
        "kit run": lambda: run_whole(clip, work, "faces")[1],
        "kit run --no-reports": lambda: run_whole(clip, work, "faces", reports=False)[1],
        "deface solid": lambda: run_deface(clip, work, solid=True)[1],
        "deface blur": lambda: run_deface(clip, work, solid=False)[1],
    }
    if args.no_blur:
        del modes["deface blur"]
    times: dict[str, list[dict]] = {m: [] for m in modes}
    for r in range(args.rounds):
        for name, go in modes.items():
            times[name].append(go())
            print(f"round {r + 1} {name}: {times[name][-1]['s']:.1f} s, {times[name][-1]['cpu']:.1f} CPU s", flush=True)
    stages = json.loads((work / "kit_run" / "run.json").read_text()).get("stage_seconds", {})
    med = {m: statistics.median(t["s"] for t in ts) for m, ts in times.items()}
    cpu = {m: statistics.median(t["cpu"] for t in ts) for m, ts in times.items()}
    print(f"\n{'mode':24} {'s':>8} {'CPU s':>8} {'frames/s':>9} {'x deface solid':>15}")
    for m in modes:
        print(f"{m:24} {med[m]:8.1f} {cpu[m]:8.1f} {n / med[m]:9.2f} {med['deface solid'] / med[m]:15.2f}")
    print(f"kit stages (last round, s): {stages}")
    print(f"load average at end {os.getloadavg()[0]:.2f}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
