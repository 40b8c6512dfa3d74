"""Pictures of tracking results: per-object area and score over time, and overlays on sampled frames.

Example::

    store = MaskStore.load(run.masks_json)
    timeline_figure(store, fps=info.fps)            # area (% of frame) and score per object
    overlay_frames(video, store, n=8)               # masks drawn on 8 frames spread over the video
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Sequence

import numpy as np

from vidmask_nb.masks import MaskStore, rle_area
from vidmask_nb.overlay import draw_overlay, show_grid
from vidmask_nb.prompts import color_for
from vidmask_nb.video import VideoReader, sample_indices


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
    """Area and score per object and frame, read from the RLE in one pass (no mask is decoded).

    Stage 03 draws them as the tracking timeline, stage 04's QA reviews them.
    """
    n = len(store)
    areas = {int(o["id"]): np.zeros(n, np.int64) for o in store.objects}
    scores = {int(o["id"]): np.zeros(n, np.float32) for o in store.objects}
    for k, fm in enumerate(store):
        for om in fm.objects:
            areas[om.obj_id][k] = rle_area(om.rle)
            scores[om.obj_id][k] = om.score
    return [ObjectTimeline(int(o["id"]), str(o.get("label", "")), object_color(o), areas[int(o["id"])],
                           scores[int(o["id"])]) for o in store.objects]


def object_color(obj: dict) -> tuple[int, int, int]:
    """An object's colour from a ``masks.json`` object entry (the palette's when it has none)."""
    color = obj.get("color")
    return tuple(int(c) for c in color) if color else color_for(int(obj["id"]))  # type: ignore[return-value]


def labels_and_colors(store: MaskStore) -> tuple[dict[int, str], dict[int, tuple[int, int, int]]]:
    """{id: label} and {id: colour} of a store's objects, as ``overlay.draw_overlay`` takes them."""
    labels = {int(o["id"]): str(o.get("label", "")) for o in store.objects}
    colors = {int(o["id"]): object_color(o) for o in store.objects}
    return labels, colors


def timeline_figure(store: MaskStore, fps: Fraction | None = None, prompt_frames: dict[int, list[int]] | None = None,
                    review_spans: Sequence[tuple[int, int]] = (), min_score: float | None = None,
                    width: float = 14.0, title: str = "Tracking timeline",
                    changed_spans: Sequence[tuple[int, int]] = ()):
    """A two-panel figure: each object's mask area (% of the frame) and score over time.

    ``fps`` puts seconds on the x axis (frames otherwise); ``prompt_frames`` ({obj_id: [frames]})
    marks where each object was prompted; ``review_spans`` ((first, last) frames) are shaded and
    ``min_score`` drawn as a line (the QA review); ``changed_spans`` (frames a correction re-tracked)
    are shaded blue. Returns a closed matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    w, h = store.size
    x = np.arange(len(store), dtype=float)
    step = 1.0
    xlabel = "frame"
    if fps:
        step = 1.0 / float(fps)
        x = x * step
        xlabel = "seconds"
    fig, (ax_area, ax_score) = plt.subplots(2, 1, figsize=(width, 5.5), sharex=True,
                                            gridspec_kw={"height_ratios": [3, 1.4]})
    for tl in object_timelines(store):
        color = np.array(tl.color) / 255.0
        name = f"{tl.obj_id}: {tl.label}"
        ax_area.plot(x, 100.0 * tl.areas / (w * h), color=color, lw=1.4,
                     label=f"{name} ({tl.absent_frames} frames empty)")
        ax_score.plot(x, tl.scores, color=color, lw=1.0)
        for f in (prompt_frames or {}).get(tl.obj_id, []):
            for ax in (ax_area, ax_score):
                ax.axvline(x[f], color=color, linestyle=":", linewidth=1)
    for first, last in review_spans:
        for ax in (ax_area, ax_score):
            ax.axvspan((first - 0.5) * step, (last + 0.5) * step, color="red", alpha=0.12, lw=0)
    for first, last in changed_spans:
        for ax in (ax_area, ax_score):
            ax.axvspan((first - 0.5) * step, (last + 0.5) * step, color="tab:blue", alpha=0.12, lw=0)
    if min_score is not None:
        ax_score.axhline(min_score, color="gray", ls="--", lw=0.8)
    ax_area.set_ylabel("mask area, % of frame")
    if store.objects:
        ax_area.legend(loc="upper right", fontsize=8)
    ax_area.grid(alpha=0.3)
    ax_score.set_ylabel("object score")
    ax_score.set_ylim(-0.02, 1.02)
    ax_score.set_xlabel(xlabel)
    ax_score.grid(alpha=0.3)
    notes = [n for n, on in (("dotted: prompted frames", prompt_frames), ("shaded: frames to review", review_spans),
                                               ("blue: re-tracked by the last correction", changed_spans)) if on]
    fig.suptitle(title + (f" ({'; '.join(notes)})" if notes else ""))
    fig.tight_layout()
    plt.close(fig)
    return fig


def overlay_frames(video: str | os.PathLike, store: MaskStore, n: int = 8, frames: list[int] | None = None,
                   max_side: int = 640, cols: int = 4, width: float = 16.0):
    """Masks drawn on ``n`` frames spread over the video (or on ``frames``); a closed Figure.

    Frames are decoded at most ``max_side`` pixels wide or high, so a 4K video costs no more.
    """
    from vidmask_nb.video import fit_size, probe

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
