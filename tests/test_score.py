"""The ground-truth scorer (benchmarks/common.py) on synthetic arrays: black output, source copy, one miss."""
from __future__ import annotations

import numpy as np

from common import LeakScorer, changed_pixels


def _clip(n=6, h=40, w=60, seed=1):
    rng = np.random.default_rng(seed)
    frames = [rng.integers(60, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]
    regions = []
    for i in range(n):
        m = np.zeros((h, w), bool)
        m[5:20, 5 + i:25 + i] = True
        regions.append({"face": m})
    return frames, regions


def _score(frames, outputs, regions):
    s = LeakScorer()
    for a, b, r in zip(frames, outputs, regions):
        s.add(a, b, r)
    return s.result()


def test_black_output_scores_recall_one_and_no_leak():
    frames, regions = _clip()
    r = _score(frames, [np.zeros_like(f) for f in frames], regions)
    assert r.recall == 1.0 and r.leak_frames == 0 and r.leak_runs == 0
    assert r.over_redaction == 1.0  # everything outside the truth changed too


def test_a_copy_of_the_source_scores_recall_zero_and_leaks_every_frame():
    frames, regions = _clip()
    r = _score(frames, [f.copy() for f in frames], regions)
    assert r.recall == 0.0 and r.leak_frames == len(frames) and r.leak_runs == 1
    assert r.longest_run == len(frames) and r.over_redaction == 0.0


def test_a_region_covered_on_all_frames_but_one_is_exactly_one_leak_frame():
    frames, regions = _clip(n=8)
    outputs = []
    for i, (f, r) in enumerate(zip(frames, regions)):
        out = f.copy()
        if i != 3:
            out[r["face"]] = 0
        outputs.append(out)
    r = _score(frames, outputs, regions)
    assert (r.leak_frames, r.leak_runs, r.longest_run, r.leaks) == (1, 1, 1, (3,))
    assert abs(r.recall - 7 / 8) < 1e-9 and r.over_redaction == 0.0


def test_noise_within_the_tolerance_is_not_a_change_and_small_regions_are_not_counted():
    frames, _ = _clip(n=1)
    noisy = (frames[0].astype(np.int16) + 20).clip(0, 255).astype(np.uint8)
    assert not changed_pixels(frames[0], noisy).any()
    tiny = np.zeros(frames[0].shape[:2], bool)
    tiny[0:3, 0:3] = True  # 9 px < MIN_REGION_PIXELS
    r = _score(frames, [frames[0].copy()], [{"dot": tiny}])
    assert r.region_frames == 0 and r.leak_frames == 0
