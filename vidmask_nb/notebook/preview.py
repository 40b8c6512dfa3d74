"""Prompt-frame preview: what SAM 2 makes of each prompt, before tracking the whole video.

Each prompted frame is run through SAM 2 alone (a one-frame state over that frame, decoded from
the source video) with the same predictor, input size and prompt handling the tracker uses
(``sam.init_state`` + ``sam.add_prompt``), so the mask shown is the mask tracking starts from.
A bad box shows up here in seconds instead of after a long run.

Example::

    predictor = load_predictor("tiny")
    result = preview_prompt_frame(predictor, info, prompts, frame=120)   # {obj_id: (mask, score)}
    preview_grid(predictor, info, prompts)                              # every prompted frame
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from vidmask_nb.errors import VidmaskError
from vidmask_nb.review.overlay import FIGURE_WIDTH, draw_overlay, show_grid
from vidmask_nb.prompts.records import PromptSet
from vidmask_nb.media.video import VideoInfo, VideoReader, fit_size


def preview_prompt_frame(predictor, info: VideoInfo, prompts: PromptSet, frame: int) -> dict[int, tuple[np.ndarray, float]]:
    """SAM 2's masks on ``frame`` from that frame's prompts alone.

    Returns ``{obj_id: (HxW bool mask at source resolution, object score 0..1)}`` for every object
    prompted on the frame (one merged SAM 2 call per object, as the tracker makes).
    """
    from vidmask_nb.track.sam import add_prompt, init_state, object_scores

    on_frame = {obj_id: p for (f, obj_id), p in prompts.merged().items() if f == frame}
    if not on_frame:
        raise VidmaskError(f"frame {frame} has no prompts to preview")
    state = init_state(predictor, info, indices=[frame])
    try:
        masks: dict[int, np.ndarray] = {}
        for obj_id, prompt in on_frame.items():
            masks = add_prompt(predictor, state, prompt, frame_idx=0)  # every object's mask so far
        scores = object_scores(state, 0)
    finally:
        state["images"].close()
    return {obj_id: (masks[obj_id], scores.get(obj_id, 0.0)) for obj_id in on_frame}


def draw_prompt_frame(rgb: np.ndarray, info: VideoInfo, prompts: PromptSet, frame: int,
                      result: dict[int, tuple[np.ndarray, float]] | None = None) -> np.ndarray:
    """The frame (any size) with predicted masks, boxes and points (prompts are in source pixels)."""
    h, w = rgb.shape[:2]
    sx, sy = w / info.width, h / info.height
    merged = {obj_id: p for (f, obj_id), p in prompts.merged().items() if f == frame}
    boxes = {obj_id: (p.box[0] * sx, p.box[1] * sy, p.box[2] * sx, p.box[3] * sy)
             for obj_id, p in merged.items() if p.box is not None}
    points = [(x * sx, y * sy, lab) for p in merged.values() for (x, y), lab in zip(p.points, p.point_labels)]
    objects = {o.id: o for o in prompts.objects}
    masks = {obj_id: m for obj_id, (m, _) in (result or {}).items()}
    return draw_overlay(rgb, masks, labels={i: o.label for i, o in objects.items()},
                        colors={i: o.color for i, o in objects.items()}, boxes=boxes, points=points)


def _title(info: VideoInfo, prompts: PromptSet, frame: int, result) -> str:
    scores = ", ".join(f"{prompts.object(i).label} {s:.2f}" for i, (_, s) in (result or {}).items())
    return f"frame {frame} · {info.seconds(frame):.2f} s" + (f" · score {scores}" if scores else "")


def prompt_rows(prompts: PromptSet, info: VideoInfo) -> list[dict]:
    """One row per prompt for a table: frame, time, object, box, and the + and - points counted apart."""
    return [{"frame": p.frame, "time s": round(info.seconds(p.frame), 3), "object": prompts.object(p.obj_id).label,
             "box": p.box and [round(v, 1) for v in p.box],
             "+ points": sum(1 for v in p.point_labels if v), "\u2212 points": sum(1 for v in p.point_labels if not v)}
            for p in prompts.prompts]


def preview_figure(predictor, info: VideoInfo, prompts: PromptSet, frame: int, max_side: int = 960, width: float = 9.0):
    """One prompted frame with SAM 2's masks over it (a matplotlib figure)."""
    result = preview_prompt_frame(predictor, info, prompts, frame)
    with VideoReader(info.path, size=fit_size(info.width, info.height, max_side), info=info) as reader:
        img = draw_prompt_frame(reader[frame], info, prompts, frame, result)
    return show_grid([img], [_title(info, prompts, frame, result)], cols=1, width=width)


def preview_grid(predictor, info: VideoInfo, prompts: PromptSet, frames: Sequence[int] | None = None,
                 cols: int = 3, max_side: int = 480, width: float = FIGURE_WIDTH):
    """Every prompted frame (or ``frames``) with SAM 2's masks, boxes and points: a matplotlib figure.

    ``predictor=None`` draws the prompts only (no model). Returns None when there are no prompts.
    """
    from tqdm.auto import tqdm

    frames = list(prompts.prompt_frames if frames is None else frames)
    if not frames:
        return None
    images, titles = [], []
    with VideoReader(info.path, size=fit_size(info.width, info.height, max_side), info=info) as reader:
        for frame in tqdm(frames, desc="preview", unit="frame", disable=len(frames) < 2):
            result = preview_prompt_frame(predictor, info, prompts, frame) if predictor is not None else None
            images.append(draw_prompt_frame(reader[frame], info, prompts, frame, result))
            titles.append(_title(info, prompts, frame, result))
    what = "SAM 2 on each prompted frame alone" if predictor is not None else "prompts (no model)"
    return show_grid(images, titles, cols=cols, width=width, suptitle=f"{what} · {len(frames)} frame(s)")
