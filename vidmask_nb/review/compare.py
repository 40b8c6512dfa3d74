"""The source beside its redacted copy, one frame at a time: what 04 shows at a time a person picks.

Example::

    frame = frame_at(info, 12.5)                       # the frame shown at 12.5 s
    img = side_by_side("clip.mp4", "runs/clip/clip_redacted.mp4", frame)   # source | redacted, RGB
"""
from __future__ import annotations

import os

import numpy as np

from vidmask_nb.errors import VidmaskError
from vidmask_nb.media.video import VideoInfo, VideoReader, fit_size, probe


def frame_at(info: VideoInfo, seconds: float) -> int:
    """The frame on screen at ``seconds`` from the video's start (its last frame after the end)."""
    if seconds is None or not np.isfinite(float(seconds)) or float(seconds) < 0:
        raise VidmaskError(f"the time must be a number of seconds from 0 to {info.seconds(info.frame_count - 1):.2f}, "
                           f"not {seconds}")
    times = (np.asarray(info.pts, np.float64) - float(info.pts[0])) * float(info.time_base)
    return max(0, min(int(np.searchsorted(times, float(seconds) + 1e-9, side="right")) - 1, info.frame_count - 1))


def side_by_side(video: str | os.PathLike, redacted: str | os.PathLike, frame: int, max_side: int = 640,
                 info: VideoInfo | None = None) -> np.ndarray:
    """Frame ``frame`` of the source and of its redacted copy side by side (RGB, each at most
    ``max_side`` px on its longer side, a white gap between). Refuses a copy of another length."""
    info = info or probe(video)
    out_info = probe(redacted)
    if out_info.frame_count != info.frame_count:
        raise VidmaskError(f"{redacted} has {out_info.frame_count} frames, the source {info.frame_count}: "
                           "it is not this video's render")
    if not 0 <= int(frame) < info.frame_count:
        raise VidmaskError(f"frame {frame} is outside the video (0..{info.frame_count - 1})")
    size = fit_size(info.width, info.height, max_side)
    with VideoReader(video, size=size, info=info) as a, VideoReader(redacted, size=size, info=out_info) as b:
        left, right = a[int(frame)], b[int(frame)]
    gap = np.full((left.shape[0], max(4, left.shape[1] // 80), 3), 255, np.uint8)
    return np.concatenate([left, gap, right], axis=1)
