"""Memory of covering a long gap: the gap plan (random access to the boundary masks) against the
look-ahead hold (which buffers every frame of the gap), for gaps of growing length.

    PYTHONPATH=. python benchmarks/bench_gaps.py [--size 640x360] [--frames 100,400,1600]

Prints the peak Python heap (tracemalloc) while masks stream through each, after the masks are
built, and the ratio between the longest and shortest gap.
"""
from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np

from vidmask_nb.redact.effects import hold_dropouts
from vidmask_nb.redact.gaps import fill_gaps, find_gaps, presence_of, store_masks
from vidmask_nb.track.masks import FrameMasks, MaskStore, ObjectMask, encode_rle


def store_with_gap(frames: int, w: int, h: int) -> MaskStore:
    """One object present on the first and last frame only: a gap of ``frames - 2`` frames."""
    full, empty = np.zeros((h, w), bool), np.zeros((h, w), bool)
    full[h // 4: 3 * h // 4, w // 4: 3 * w // 4] = True
    rle_full, rle_empty = encode_rle(full), encode_rle(empty)
    fms = [FrameMasks(i, i, (ObjectMask(1, "x", 1.0, rle_full if i in (0, frames - 1) else rle_empty),))
           for i in range(frames)]
    video = {"width": w, "height": h, "frame_count": frames, "fps": "30", "fingerprint": ""}
    return MaskStore.from_frames(video, [{"id": 1, "label": "x", "color": [1, 2, 3]}], fms)


def stream(store):
    for fm in store:
        yield fm.frame, fm.masks()


def peak(run) -> tuple[float, float]:
    tracemalloc.start()
    tracemalloc.reset_peak()
    t0 = time.perf_counter()
    run()
    dt = time.perf_counter() - t0
    _, top = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return top / 2**20, dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="640x360")
    ap.add_argument("--frames", default="100,400,1600")
    args = ap.parse_args()
    w, h = map(int, args.size.split("x"))
    rows = []
    for n in map(int, args.frames.split(",")):
        store = store_with_gap(n, w, h)

        def plan_run():
            gaps = find_gaps(presence_of(store), hold_frames=30, cover_long_gaps=True)
            for _ in fill_gaps(stream(store), gaps, store_masks(store)):
                pass

        def lookahead_run():
            for _ in hold_dropouts(stream(store), n):
                pass

        rows.append((n, *peak(plan_run), *peak(lookahead_run)))
    print(f"gap covering, {w}x{h} masks, one object present on the first and last frame only")
    print(f"{'frames':>7} {'gap plan MB':>12} {'s':>6} {'look-ahead MB':>14} {'s':>6}")
    for n, pm, pt, lm, lt in rows:
        print(f"{n:>7} {pm:>12.1f} {pt:>6.2f} {lm:>14.1f} {lt:>6.2f}")
    (n0, p0, _, l0, _), (n1, p1, _, l1, _) = rows[0], rows[-1]
    print(f"peak ratio {n1}/{n0} frames: gap plan x{p1 / p0:.2f}, look-ahead x{l1 / l0:.2f}")


if __name__ == "__main__":
    main()
