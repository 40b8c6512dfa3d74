"""Chunk plans: split a video's frames into consecutive ranges by seconds or by frames.

A chunk owns ``[start, stop)``; the owned ranges tile the video exactly (no frame dropped or
repeated). ``overlap`` adds context frames on both sides (``read_start``/``read_stop``) for tools
that want them; ownership never overlaps. Boundaries in seconds are computed with the exact fps
fraction, so 20 s chunks of a 29.97 fps video do not drift (599, 600, 599, ... frames).

Example::

    plan = plan_chunks(frame_count=289, fps=Fraction(30000, 1001), seconds=4)
    [c.frames for c in plan.chunks]   # [120, 120, 49]
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from fractions import Fraction

from vidmask_nb.errors import VidmaskError

# Tracking saves its state and its masks at every chunk boundary: a killed run loses at most this
# much video's work, and the JPEG extraction (01) cuts its folders at the same boundaries.
DEFAULT_CHUNK_SECONDS = 10.0


@dataclass(frozen=True)
class Chunk:
    index: int
    start: int  # first frame owned
    stop: int  # one past the last frame owned
    read_start: int  # with overlap
    read_stop: int

    @property
    def frames(self) -> int:
        return self.stop - self.start

    @property
    def name(self) -> str:
        """A folder name that sorts in time order: ``chunk_0003_f001200-001799``."""
        return f"chunk_{self.index:04d}_f{self.start:06d}-{self.stop - 1:06d}"


@dataclass(frozen=True)
class ChunkPlan:
    frame_count: int
    fps: Fraction
    chunks: tuple[Chunk, ...]

    def to_json(self) -> dict:
        return {"frame_count": self.frame_count, "fps": f"{self.fps.numerator}/{self.fps.denominator}",
                "chunks": [asdict(c) for c in self.chunks]}

    @classmethod
    def from_json(cls, d: dict) -> "ChunkPlan":
        return cls(int(d["frame_count"]), Fraction(d["fps"]), tuple(Chunk(**c) for c in d["chunks"]))


def plan_chunks(frame_count: int, fps: Fraction, seconds: float | None = None,
                frames: int | None = None, overlap: int = 0) -> ChunkPlan:
    """Plan chunks of ``seconds`` (exact, by the fps fraction) or ``frames`` each; one chunk if neither."""
    if frame_count <= 0:
        raise VidmaskError("cannot plan chunks for a video with no frames")
    if seconds is not None and frames is not None:
        raise VidmaskError("give chunk length in seconds or in frames, not both")
    if overlap < 0:
        raise VidmaskError(f"chunk overlap must be 0 or more frames, not {overlap}")
    if seconds is not None:
        if seconds <= 0:
            raise VidmaskError(f"chunk length must be positive, not {seconds} s")
        step = Fraction(seconds).limit_denominator(1000) * Fraction(fps)
        n = max(1, math.ceil(frame_count / step))
        bounds = [min(frame_count, round(k * step)) for k in range(n)] + [frame_count]
    elif frames is not None:
        if frames <= 0:
            raise VidmaskError(f"chunk length must be positive, not {frames} frames")
        bounds = list(range(0, frame_count, frames)) + [frame_count]
    else:
        bounds = [0, frame_count]
    bounds = sorted(set(bounds))
    chunks = tuple(Chunk(i, a, b, max(0, a - overlap), min(frame_count, b + overlap))
                   for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])))
    return ChunkPlan(frame_count, Fraction(fps), chunks)
