"""Covers applied to a frame in the source's own YUV: only what a cover needs is converted.

For each cover (an effect, its region and the region's box, ``render.frame_covers``), ``cover_planes`` takes the
box widened to whole chroma samples; a solid fill (hard-edged) is written
straight into the planes as the YUV samples of its colour (``media.planes.solid_yuv``); any other
effect gets the pixels it reads (``effect.context``: the box for mean, 3 sigma around it for blur,
the frame's blocks for pixelate; the whole frame for an effect that does not say) as RGB with the
source's matrix and range, and only the box's samples under the region are converted back and
written. ``keep`` touches nothing. Every other sample stays the decoder's, bit for bit.

The RGB an effect sees is the one ``VideoReader`` gives for those pixels (same conversion), and its
crop keeps the frame's grid, so an effect draws on a crop what it would have drawn on the frame.

Example::

    covers = frame_covers(masks, plan)        # [Cover(effect, region, box)], snapped to chroma
    cover_planes(yuv_frame, covers)           # in place; returns the frame
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from vidmask_nb.errors import VidmaskError
from vidmask_nb.media.planes import YuvFrame
from vidmask_nb.redact.effects import Box, Effect, FillEffect, fit_reduction


def context_box(effect: Effect, box: Box, width: int, height: int) -> tuple[Box, int]:
    """The pixels ``effect`` reads for a mask whose box is ``box`` and the step its crop keeps."""
    context = getattr(effect, "context", None)
    if context is None:
        return (0, 0, width, height), 1
    (x0, y0, x1, y1), step = context(box, width, height)
    return (min(x0, box[0]), min(y0, box[1]), max(x1, box[2]), max(y1, box[3])), int(step)


def cover_planes(frame: YuvFrame, covers: Sequence[tuple[Effect, np.ndarray, Box]]) -> YuvFrame:
    """Apply each ``render.Cover`` (effect, region, its box) in order to ``frame``'s planes, in place;
    returns the frame."""
    for effect, region, box in covers:
        if getattr(effect, "name", "") == "keep":
            continue
        box = frame.align(box)
        x0, y0, x1, y1 = box
        where = region[y0:y1, x0:x1]
        if isinstance(effect, FillEffect) and where.dtype == bool:
            frame.fill(box, where, effect.color)
            continue
        if hasattr(effect, "cover_from_reduced"):  # blur: reads its context reduced, converts that only
            ctx, k = effect.reduced(box, frame.width, frame.height)
            ctx, size = fit_reduction(frame.align(ctx), k, box)
            covered = effect.cover_from_reduced(frame.to_rgb_reduced(ctx, size), ctx, box)
            if where.dtype != bool:  # feathered: blended by alpha over the box's own pixels
                base = frame.to_rgb(box).astype(np.float32)
                alpha = np.clip(where.astype(np.float32), 0.0, 1.0)[..., None]
                top = np.iinfo(covered.dtype).max
                covered = np.clip(np.rint(base + (covered.astype(np.float32) - base) * alpha), 0, top
                                  ).astype(covered.dtype)
            frame.put_rgb(box, covered, where)
            continue
        ctx, step = context_box(effect, box, frame.width, frame.height)
        cx0, cy0, cx1, cy1 = frame.align(ctx, (step, step))
        scene = frame.to_rgb((cx0, cy0, cx1, cy1))
        covered = effect.annotate(scene, region[cy0:cy1, cx0:cx1])
        if not isinstance(covered, np.ndarray) or covered.shape != scene.shape or covered.dtype != scene.dtype:
            got = f"{getattr(covered, 'shape', '?')} {getattr(covered, 'dtype', type(covered).__name__)}"
            raise VidmaskError(f"effect {getattr(effect, 'name', type(effect).__name__)} must return the "
                               f"frame it was given ({scene.shape[0]}x{scene.shape[1]}x3 {scene.dtype}: "
                               f"uint8 or uint16 RGB), got {got}")
        frame.put_rgb(box, np.ascontiguousarray(covered[y0 - cy0:y1 - cy0, x0 - cx0:x1 - cx0]), where)
    return frame
