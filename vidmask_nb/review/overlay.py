"""Masks drawn over frames, shared by the prompt preview, the tracking notebook and the QA pictures.

``draw_overlay`` returns a new RGB array (translucent fill, outline, label per object);
``overlay_planes`` draws the same on a decoded frame's YUV planes (``media.planes.YuvFrame``),
converting only the band of rows the masks and labels span and writing back only what it drew;
``show_grid`` lays frames out with matplotlib and returns the figure (closed, so a long loop
of figures does not pile up in memory; Jupyter still displays a returned figure).

Sizes are for reading at a normal zoom: figures are ``FIGURE_WIDTH`` inches wide (about 1100 px
at matplotlib's 100 dpi: a JupyterLab cell at a 1280 px window shows them unscaled) with
captions of ``CAPTION_PT`` points (about 15 px), and each row of tiles leaves room for its
captions' lines so they never run into the row above.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import cv2
import numpy as np

from vidmask_nb.prompts.records import color_for

FIGURE_WIDTH = 11.0  # inches; 1100 px at 100 dpi
GRID_DPI = 150  # pixels an inch a grid's images keep (figures are saved at 100 dpi, shown at up to 2x on screens)
CAPTION_PT = 11  # tile captions
TITLE_PT = 13  # a figure's title


def draw_overlay(rgb: np.ndarray, masks: Mapping[int, np.ndarray], labels: Mapping[int, str] | None = None,
                 colors: Mapping[int, Sequence[int]] | None = None, alpha: float = 0.45,
                 boxes: Mapping[int, Sequence[float]] | None = None,
                 points: Sequence[tuple[float, float, int]] = (),
                 frame_size: tuple[int, int] | None = None) -> np.ndarray:
    """Draw each object's mask (translucent), outline and label; optional prompt boxes and points.

    ``masks`` maps object id to a boolean mask of the frame's size (or any size: it is resized).
    ``points`` are (x, y, label) with label 1 positive (green) or 0 negative (red).
    ``frame_size`` (height, width): the whole frame's, when ``rgb`` is a band of its rows (line and
    label sizes follow the frame).
    """
    out = rgb.copy()
    h, w = out.shape[:2]
    thick = max(1, round(max(frame_size or (h, w)) / 400))
    for obj_id, mask in masks.items():
        if mask.shape != (h, w):
            mask = cv2.resize(mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
        color = np.array((colors or {}).get(obj_id) or color_for(obj_id), dtype=np.float32)
        if mask.any():
            out[mask] = (out[mask] * (1 - alpha) + color * alpha).astype(np.uint8)
            contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            cv2.drawContours(out, contours, -1, tuple(int(c) for c in color), thick)
            if labels and labels.get(obj_id):
                ys, xs = np.nonzero(mask)
                _put_label(out, labels[obj_id], int(xs.min()), int(ys.min()), color, frame_size)
    for obj_id, box in (boxes or {}).items():
        color = tuple(int(c) for c in ((colors or {}).get(obj_id) or color_for(obj_id)))
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        cv2.rectangle(out, (x0, y0), (x1, y1), color, thick + 1)
    for x, y, lab in points:
        color = (40, 220, 40) if lab else (230, 30, 30)
        cv2.circle(out, (int(round(x)), int(round(y))), 3 * thick + 2, color, -1)
        cv2.circle(out, (int(round(x)), int(round(y))), 3 * thick + 2, (255, 255, 255), thick)
    return out


def _label_scale(frame_size: tuple[int, int]) -> tuple[float, int]:
    # about 1/22 of the frame's longer side tall: about 10 px when a frame is a quarter of a figure's width
    scale = max(0.5, max(frame_size) / 550)
    return scale, max(1, round(scale * 1.5))


def overlay_planes(frame, masks: Mapping[int, np.ndarray], labels: Mapping[int, str] | None = None,
                   colors: Mapping[int, Sequence[int]] | None = None, alpha: float = 0.45):
    """``draw_overlay`` on a ``media.planes.YuvFrame`` in place: only the rows its masks and labels
    span are converted to RGB (8 bits for drawing), and only the pixels drawn on are written back."""
    present = {k: m for k, m in masks.items() if m.any()}
    if not present:
        return frame
    h, w = frame.height, frame.width
    rows = np.flatnonzero(np.logical_or.reduce([m.any(axis=1) for m in present.values()]))
    thick = max(1, round(max(h, w) / 400))
    scale, lthick = _label_scale((h, w))
    (_, th), base = cv2.getTextSize("Ag", cv2.FONT_HERSHEY_SIMPLEX, scale, lthick)
    # full-width band: labels above the masks and outlines around them land where they would on the frame
    y0, y1 = max(0, int(rows[0]) - th - base - 2 * thick - 2), min(h, int(rows[-1]) + 2 * thick + 2)
    band = frame.align((0, y0, w, y1))
    y0, y1 = band[1], band[3]
    rgb = frame.to_rgb(band)
    rgb8 = (rgb >> 8).astype(np.uint8) if rgb.dtype == np.uint16 else rgb
    drawn = draw_overlay(rgb8, {k: m[y0:y1] for k, m in present.items()}, labels=labels, colors=colors,
                         alpha=alpha, frame_size=(h, w))
    changed = (drawn != rgb8).any(axis=2)
    frame.put_rgb(band, drawn.astype(np.uint16) * 257 if rgb.dtype == np.uint16 else drawn, changed)
    return frame


def _put_label(img: np.ndarray, text: str, x: int, y: int, color, frame_size: tuple[int, int] | None = None) -> None:
    scale, thick = _label_scale(frame_size or img.shape[:2])
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    y = max(th + base, y)
    x = min(x, max(0, img.shape[1] - tw - 4))
    cv2.rectangle(img, (x, y - th - base), (x + tw + 4, y), tuple(int(c) for c in color), -1)
    r, g, b = (float(c) for c in color)
    ink = (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 140 else (255, 255, 255)  # readable on any plate
    cv2.putText(img, text, (x + 2, y - base), cv2.FONT_HERSHEY_SIMPLEX, scale, ink, thick, cv2.LINE_AA)


def show_grid(images: Sequence[np.ndarray], titles: Sequence[str] = (), cols: int = 4,
              width: float = FIGURE_WIDTH, suptitle: str | None = None):
    """Lay images out in a grid; returns a closed matplotlib Figure (display it or ``savefig`` it)."""
    import matplotlib.pyplot as plt

    n = max(1, len(images))
    cols = min(cols, n)
    rows = (n + cols - 1) // cols
    h, w = images[0].shape[:2] if images else (1, 1)
    lines = max((str(t).count("\n") + 1 for t in titles if t), default=0)
    caption_in = lines * CAPTION_PT * 1.35 / 72 + (0.1 if lines else 0)  # each row's captions, inches
    height = rows * (width / cols * h / w + caption_in) + (TITLE_PT * 2 / 72 if suptitle else 0.1)
    fig, axes = plt.subplots(rows, cols, figsize=(width, height), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    # matplotlib resamples an image to its axis on every draw (the notebook's, the saved PNG's): shrunk
    # once to what the axis can show at GRID_DPI, a contact sheet of 720p frames draws in a fraction
    most = max(1, int(width / cols * GRID_DPI))
    for ax, img, title in zip(axes.flat, images, list(titles) + [""] * n):
        if img.shape[1] > most:
            img = cv2.resize(img, (most, max(1, round(img.shape[0] * most / img.shape[1]))),
                             interpolation=cv2.INTER_AREA)
        ax.imshow(img)
        if title:
            ax.set_title(title, fontsize=CAPTION_PT)
    if suptitle:
        fig.suptitle(suptitle, fontsize=TITLE_PT)
    fig.tight_layout(h_pad=1.2)
    plt.close(fig)
    return fig


def finish_figure(fig, path: str | os.PathLike | None, dpi: int = 80):
    """Lay a figure out, write it to ``path`` when given (``save_figure``), close it; returns it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    if path is not None:
        save_figure(fig, path, dpi=dpi)
    plt.close(fig)
    return fig


def save_figure(fig, path: str | os.PathLike, dpi: int = 100) -> Path:
    """Write a figure atomically (the format from the suffix; a half-written picture never has its name)."""
    from vidmask_nb.runfolder.folder import atomic_output

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".") or "png")
    return path
