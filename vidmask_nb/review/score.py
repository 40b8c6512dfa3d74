"""Score a redaction against exact ground truth: recall, leak frames, leak runs, over-redaction.

The truth is, for each frame, the pixels of every region that must not be seen (a face, a line of
text), as boolean masks. The scorer never looks at what the redaction *meant* to do, only at the
pixels it wrote:

- a pixel is **changed** when the output differs from the source there by more than ``tolerance``
  (the largest difference over R, G, B, on 0..255; default ``COVER_TOLERANCE`` 24, above x264's noise
  at crf 10-18 on these clips);
- a region's **coverage** on a frame is the share of its pixels that are changed (regions smaller
  than ``MIN_REGION_PIXELS`` are not counted: nothing recognisable fits in them);
- a **leak frame** is a frame where some region's coverage is below ``LEAK_COVERAGE`` (90 %);
  a **leak run** is a maximal run of consecutive leak frames;
- **recall** is the mean coverage over all (frame, region) pairs;
- **over-redaction** is the share of the pixels outside every region that are changed, over all
  frames (the redaction's cost to the rest of the picture).

A black output scores recall 1 (wherever the source is brighter than the tolerance); a copy of the
source scores 0. Blur keeps a region's mean colour, so a flat part of a blurred face counts as not
covered: the figure says "pixels still as they were", not "recognisable".

Example::

    scorer = LeakScorer()
    for src, out, regions in zip(source_frames, output_frames, truth):   # regions: {name: (H, W) bool}
        scorer.add(src, out, regions)
    result = scorer.result()   # ClipScore: recall, leak_frames, leak_runs, over_redaction, ...
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

COVER_TOLERANCE = 24
LEAK_COVERAGE = 0.9
MIN_REGION_PIXELS = 16


def changed_pixels(source: np.ndarray, output: np.ndarray, tolerance: int = COVER_TOLERANCE) -> np.ndarray:
    """(H, W) bool: where ``output`` differs from ``source`` by more than ``tolerance`` in some channel."""
    if source.shape != output.shape:
        raise ValueError(f"source frame {source.shape} and output frame {output.shape} differ in size")
    if source.dtype == np.uint16:  # deep frames: compare on 0..255
        source, output = (source >> 8).astype(np.uint8), (output >> 8).astype(np.uint8)
    diff = np.abs(source.astype(np.int16) - output.astype(np.int16))
    return diff.max(axis=2) > tolerance


@dataclass(frozen=True)
class ClipScore:
    """One clip's score (see the module's docstring for each figure's definition)."""

    frames: int
    region_frames: int  # (frame, region) pairs counted
    recall: float  # mean coverage over them (1.0 when there were none)
    worst_coverage: float
    leak_frames: int
    leak_runs: int
    longest_run: int
    over_redaction: float
    leaks: tuple[int, ...] = field(default=())  # the leak frames' indices

    def to_json(self) -> dict:
        return {"frames": self.frames, "region_frames": self.region_frames, "recall": round(self.recall, 4),
                "worst_coverage": round(self.worst_coverage, 4), "leak_frames": self.leak_frames,
                "leak_runs": self.leak_runs, "longest_run": self.longest_run,
                "over_redaction": round(self.over_redaction, 5), "leaks": list(self.leaks)}


class LeakScorer:
    """Frame by frame accumulation of a clip's score (memory: a few numbers per frame)."""

    def __init__(self, tolerance: int = COVER_TOLERANCE, leak_coverage: float = LEAK_COVERAGE,
                 min_region_pixels: int = MIN_REGION_PIXELS):
        self.tolerance = tolerance
        self.leak_coverage = leak_coverage
        self.min_region_pixels = min_region_pixels
        self._frame = 0
        self._coverage: list[float] = []
        self._leaks: list[int] = []
        self._outside_changed = 0
        self._outside_total = 0

    def add(self, source: np.ndarray, output: np.ndarray, regions: Mapping[str, np.ndarray]) -> list[float]:
        """Score the next frame; returns each counted region's coverage."""
        changed = changed_pixels(source, output, self.tolerance)
        inside = np.zeros(changed.shape, bool)
        shares = []
        for mask in regions.values():
            mask = np.asarray(mask, bool)
            inside |= mask
            n = int(mask.sum())
            if n < self.min_region_pixels:
                continue
            shares.append(float(changed[mask].sum()) / n)
        if shares and min(shares) < self.leak_coverage:
            self._leaks.append(self._frame)
        self._coverage += shares
        outside = ~inside
        self._outside_changed += int((changed & outside).sum())
        self._outside_total += int(outside.sum())
        self._frame += 1
        return shares

    def result(self) -> ClipScore:
        runs, longest, prev, length = 0, 0, None, 0
        for f in self._leaks:
            length = length + 1 if prev is not None and f == prev + 1 else 1
            runs += length == 1
            longest = max(longest, length)
            prev = f
        cov = self._coverage
        return ClipScore(self._frame, len(cov), float(np.mean(cov)) if cov else 1.0,
                         float(min(cov)) if cov else 1.0, len(self._leaks), runs, longest,
                         self._outside_changed / max(self._outside_total, 1), tuple(self._leaks))
