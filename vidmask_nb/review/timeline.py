"""Pictures of tracking results: per-object area and score over time, and overlays on sampled frames.

Example::

    store = MaskStore.load(run.masks_json)
    timeline_figure(store, fps=info.fps)            # area (% of frame) and score per object
    overlay_frames(video, store, n=8)               # masks drawn on 8 frames spread over the video

Any length: the series come from the masks index (``MaskStore.areas``: a few numbers per frame,
no RLE decoded) and figures draw at most ``MAX_POINTS`` bins per line, each bin's minimum and
maximum at their own frames (``minmax_downsample``), so a one-frame spike or dropout in an hour
of video stays visible.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Sequence

import numpy as np

from vidmask_nb.track.masks import MaskStore
from vidmask_nb.review.overlay import CAPTION_PT, FIGURE_WIDTH, TITLE_PT, draw_overlay, show_grid
from vidmask_nb.media.video import VideoReader, sample_indices

MAX_POINTS = 2000  # bins per line in a figure (each drawn as its min and max)


@dataclass(frozen=True)
class ObjectTimeline:
    """One object's mask area (pixels) and score on every frame."""

    obj_id: int
    label: str
    color: tuple[int, int, int]
    areas: np.ndarray = field(repr=False)  # int64, one per frame
    scores: np.ndarray = field(repr=False)  # float32, one per frame

    @property
    def present(self) -> np.ndarray:
        return self.areas > 0

    @property
    def absent_frames(self) -> int:
        return int((~self.present).sum())


def object_timelines(store: MaskStore) -> list[ObjectTimeline]:
    """Area and score per object and frame, from the masks index (no frame is read, no mask decoded).

    Stage 03 draws them as the tracking timeline, stage 04's QA reviews them.
    """
    areas, scores = store.areas()
    return [ObjectTimeline(o.id, o.label, o.color, areas[:, k], scores[:, k])
            for k, o in enumerate(store.object_infos)]


def minmax_downsample(y: np.ndarray, max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """(frame indices, values) of at most ``2 x max_points`` points that draw like ``y``.

    The series is cut into ``max_points`` bins; each gives its minimum and its maximum at their own
    frames, in frame order, so a one-frame spike or dropout survives any length. Short series
    come back whole.
    """
    y = np.asarray(y)
    n = len(y)
    if n <= 2 * max_points:
        return np.arange(n), y
    edges = np.linspace(0, n, max_points + 1).astype(np.int64)
    lo = np.minimum.reduceat(y, edges[:-1])
    hi = np.maximum.reduceat(y, edges[:-1])
    # the frame of each bin's min / max: the first frame in the bin holding that value
    bin_of = np.repeat(np.arange(max_points), np.diff(edges))
    frames = np.arange(n)
    at_lo = np.full(max_points, n, np.int64)
    at_hi = np.full(max_points, n, np.int64)
    np.minimum.at(at_lo, bin_of[y == lo[bin_of]], frames[y == lo[bin_of]])
    np.minimum.at(at_hi, bin_of[y == hi[bin_of]], frames[y == hi[bin_of]])
    idx = np.sort(np.concatenate([at_lo, at_hi]))
    return idx, y[idx]


def _merge_spans(spans: Sequence[tuple[int, int]], gap: int) -> list[tuple[int, int]]:
    """Spans closer than ``gap`` frames joined (thousands of shaded slivers draw as a few bands)."""
    merged: list[list[int]] = []
    for first, last in sorted(spans):
        if merged and first - merged[-1][1] <= gap:
            merged[-1][1] = max(merged[-1][1], last)
        else:
            merged.append([first, last])
    return [(a, b) for a, b in merged]


def labels_and_colors(store: MaskStore) -> tuple[dict[int, str], dict[int, tuple[int, int, int]]]:
    """{id: label} and {id: colour} of a store's objects, as ``overlay.draw_overlay`` takes them."""
    labels = {o.id: o.label for o in store.object_infos}
    colors = {o.id: o.color for o in store.object_infos}
    return labels, colors


def timeline_figure(store: MaskStore, fps: Fraction | None = None, prompt_frames: dict[int, list[int]] | None = None,
                    review_spans: Sequence[tuple[int, int]] = (), min_score: float | None = None,
                    width: float = FIGURE_WIDTH, title: str = "Tracking timeline",
                    changed_spans: Sequence[tuple[int, int]] = ()):
    """A two-panel figure: each object's mask area (% of the frame) and score over time.

    One time axis for 03 and 04: frames along the bottom and, when the frame rate is known (``fps``,
    else the masks' own), the same axis in seconds along the top; ``prompt_frames`` ({obj_id: [frames]})
    marks where each object was prompted; ``review_spans`` ((first, last) frames) are shaded and
    ``min_score`` drawn as a line (the QA review); ``changed_spans`` (frames a correction re-tracked)
    are shaded blue. Returns a closed matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    w, h = store.size
    n = len(store)
    step = 1.0  # x is the frame index
    if fps is None and store.header.get("video", {}).get("fps"):
        fps = Fraction(store.header["video"]["fps"])
    fig, (ax_area, ax_score) = plt.subplots(2, 1, figsize=(width, 5.5), sharex=True,
                                            gridspec_kw={"height_ratios": [3, 1.4]})
    for tl in object_timelines(store):
        color = np.array(tl.color) / 255.0
        name = f"{tl.obj_id}: {tl.label}"
        fa, area = minmax_downsample(tl.areas)
        ax_area.plot(fa * step, 100.0 * area / (w * h), color=color, lw=1.4,
                     label=f"{name} ({tl.absent_frames} frames empty)")
        fs, score = minmax_downsample(tl.scores)
        ax_score.plot(fs * step, score, color=color, lw=1.0)
        for f in (prompt_frames or {}).get(tl.obj_id, []):
            for ax in (ax_area, ax_score):
                ax.axvline(f * step, color=color, linestyle=":", linewidth=1)
    for first, last in _merge_spans(review_spans, gap=n // MAX_POINTS):
        for ax in (ax_area, ax_score):
            ax.axvspan((first - 0.5) * step, (last + 0.5) * step, color="red", alpha=0.12, lw=0)
    for first, last in changed_spans:
        for ax in (ax_area, ax_score):
            ax.axvspan((first - 0.5) * step, (last + 0.5) * step, color="tab:blue", alpha=0.12, lw=0)
    if min_score is not None:
        ax_score.axhline(min_score, color="gray", ls="--", lw=0.8)
    ax_area.set_ylabel("mask area, % of frame", fontsize=CAPTION_PT)
    if store.object_infos:
        ax_area.legend(loc="upper right", fontsize=CAPTION_PT - 1)
    ax_area.grid(alpha=0.3)
    ax_score.set_ylabel("object score", fontsize=CAPTION_PT)
    ax_score.set_ylim(-0.02, 1.02)
    ax_score.set_xlabel("frame", fontsize=CAPTION_PT)
    ax_score.set_xlim(-0.5, max(n - 0.5, 0.5))
    ax_score.grid(alpha=0.3)
    if fps:
        rate = float(fps)
        top = ax_area.secondary_xaxis("top", functions=(lambda f: f / rate, lambda s: s * rate))
        top.set_xlabel("seconds", fontsize=CAPTION_PT)
        top.tick_params(labelsize=CAPTION_PT - 1)
    for ax in (ax_area, ax_score):
        ax.tick_params(labelsize=CAPTION_PT - 1)
    notes = [n for n, on in (("dotted: prompted frames", prompt_frames), ("shaded: frames to review", review_spans),
                             ("blue: re-tracked by the last correction", changed_spans)) if on]
    fig.suptitle(title + (f" ({'; '.join(notes)})" if notes else ""), fontsize=TITLE_PT)
    fig.tight_layout()
    plt.close(fig)
    return fig


def overlay_frames(video: str | os.PathLike, store: MaskStore, n: int = 8, frames: list[int] | None = None,
                   max_side: int = 640, cols: int = 4, width: float = FIGURE_WIDTH):
    """Masks drawn on ``n`` frames spread over the video (or on ``frames``); a closed Figure.

    Frames are decoded at most ``max_side`` pixels wide or high, so a 4K video costs no more.
    """
    from vidmask_nb.media.video import fit_size, probe

    info = probe(video)
    frames = frames if frames is not None else sample_indices(len(store), n)
    size = fit_size(info.width, info.height, max_side)
    labels, colors = labels_and_colors(store)
    images, titles = [], []
    with VideoReader(video, size=size, info=info) as reader:
        for f in sorted(frames):
            fm = store[f]
            images.append(draw_overlay(reader[f], fm.masks(), labels=labels, colors=colors))
            scores = ", ".join(f"{labels.get(o.obj_id) or o.obj_id} {o.score:.2f}" for o in fm.objects)
            titles.append(f"frame {f} ({info.seconds(f) - info.start_time:.2f} s)\n{scores}")
    return show_grid(images, titles, cols=cols, width=width, suptitle="Masks on sampled frames")
