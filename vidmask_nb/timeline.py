"""Pictures of tracking results: per-object area and score over time, and overlays on sampled frames.

Example::

    store = MaskStore.load(run.masks_json)
    timeline_figure(store, fps=info.fps)            # area (% of frame) and score per object
    overlay_frames(video, store, n=8)               # masks drawn on 8 frames spread over the video
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from vidmask_nb.masks import MaskStore, rle_area
from vidmask_nb.overlay import draw_overlay, show_grid
from vidmask_nb.video import VideoReader, sample_indices


@dataclass(frozen=True)
class ObjectTimeline:
    """One object's mask area (pixels) and score on every frame."""

    obj_id: int
    label: str
    color: tuple[int, int, int]
    area: np.ndarray  # int, one per frame
    score: np.ndarray  # float, one per frame

    @property
    def absent_frames(self) -> int:
        return int((self.area == 0).sum())


def object_timelines(store: MaskStore) -> list[ObjectTimeline]:
    """Area and score per object and frame, read from the RLE (no mask is decoded)."""
    objects = store.objects
    area = {o["id"]: np.zeros(len(store), dtype=np.int64) for o in objects}
    score = {o["id"]: np.zeros(len(store), dtype=np.float32) for o in objects}
    for k, fm in enumerate(store):
        for om in fm.objects:
            area[om.obj_id][k] = rle_area(om.rle)
            score[om.obj_id][k] = om.score
    return [ObjectTimeline(o["id"], o.get("label", str(o["id"])), tuple(o.get("color") or (0, 0, 0)),
                           area[o["id"]], score[o["id"]]) for o in objects]


def timeline_figure(store: MaskStore, fps: Fraction | None = None, prompt_frames: dict[int, list[int]] | None = None,
                    width: float = 14.0):
    """A two-panel figure: each object's mask area (% of the frame) and score over time.

    ``fps`` puts seconds on the x axis (frames otherwise); ``prompt_frames`` ({obj_id: [frames]})
    marks where each object was prompted. Returns a closed matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    w, h = store.size
    x = np.arange(len(store), dtype=float)
    xlabel = "frame"
    if fps:
        x = x / float(fps)
        xlabel = "seconds"
    fig, (ax_area, ax_score) = plt.subplots(2, 1, figsize=(width, 5.5), sharex=True)
    for tl in object_timelines(store):
        color = np.array(tl.color) / 255.0
        name = f"{tl.obj_id}: {tl.label}"
        ax_area.plot(x, 100.0 * tl.area / (w * h), color=color, label=f"{name} ({tl.absent_frames} frames empty)")
        ax_score.plot(x, tl.score, color=color, label=name)
        for f in (prompt_frames or {}).get(tl.obj_id, []):
            for ax in (ax_area, ax_score):
                ax.axvline(x[f], color=color, linestyle=":", linewidth=1)
    ax_area.set_ylabel("mask area, % of frame")
    ax_area.legend(loc="upper right", fontsize=8)
    ax_area.grid(alpha=0.3)
    ax_score.set_ylabel("object score")
    ax_score.set_ylim(-0.02, 1.02)
    ax_score.set_xlabel(xlabel)
    ax_score.grid(alpha=0.3)
    fig.suptitle("Tracking timeline" + (" (dotted: prompted frames)" if prompt_frames else ""))
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
    labels = {o["id"]: o.get("label", "") for o in store.objects}
    colors = {o["id"]: tuple(o["color"]) for o in store.objects if o.get("color")}
    images, titles = [], []
    with VideoReader(video, size=size, info=info) as reader:
        for f in sorted(frames):
            fm = store[f]
            images.append(draw_overlay(reader[f], fm.masks(), labels=labels, colors=colors))
            scores = ", ".join(f"{labels.get(o.obj_id) or o.obj_id} {o.score:.2f}" for o in fm.objects)
            titles.append(f"frame {f} ({info.seconds(f) - info.start_time:.2f} s)\n{scores}")
    return show_grid(images, titles, cols=cols, width=width, suptitle="Masks on sampled frames")
