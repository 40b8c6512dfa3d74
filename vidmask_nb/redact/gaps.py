"""Gaps in a track, failing closed: an object lost between two frames where it is present stays covered.

A gap is a run of frames where an object's mask is empty, with the object present on the frame
before and the frame after (frames before its first or after its last appearance are not gaps).
Short gaps (at most ``hold_frames``, from a duration in seconds: ``hold_frames_for``) are always
covered; longer ones are covered too unless ``cover_long_gaps=False``, and every gap left
uncovered is listed (review table, ``run.json``). A gap is covered by the union of the object's
masks on the frames on both sides of it.

Memory stays flat however long the video: ``presence_of`` reads the masks' areas from their index
(RLE, nothing decoded), ``find_gaps`` plans from those flags, and ``fill_gaps`` fetches the two
boundary masks of a gap by random access (``store[i]``) when the render reaches it; nothing of the
gap's frames is buffered.

Example::

    hold = hold_frames_for(1.0, info.fps)                  # 60 at 60 fps, 24 at 24 fps
    gaps = find_gaps(presence_of(store), hold, cover_long_gaps=True)
    for index, masks in fill_gaps(mask_stream(store, info), gaps, store_masks(store)):
        ...
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from vidmask_nb.errors import VidmaskError

# 1 s: an object hidden behind a passer-by or a post, or lost by the tracker under motion blur,
# is typically back well within a second; the same in seconds at 24 and 60 fps. Longer gaps are
# covered as well by default (``cover_long_gaps``) and always listed for review.
DEFAULT_HOLD_SECONDS = 1.0


@dataclass(frozen=True)
class Gap:
    """Frames ``first..last`` (inclusive) where object ``obj_id`` is lost between two present frames."""

    obj_id: int
    first: int
    last: int
    covered: bool
    long: bool  # longer than the hold

    @property
    def frames(self) -> int:
        return self.last - self.first + 1

    def to_json(self) -> dict:
        return {"obj_id": self.obj_id, "first": self.first, "last": self.last, "frames": self.frames,
                "covered": self.covered, "long": self.long}


def hold_frames_for(seconds: float, fps) -> int:
    """The frames ``seconds`` last at ``fps`` (an exact fraction such as ``Fraction(60000, 1001)``), rounded up.

    Example: ``hold_frames_for(1.0, Fraction(24000, 1001))`` -> 24; at 60 fps -> 60.
    """
    if seconds < 0 or not math.isfinite(seconds):
        raise VidmaskError(f"hold seconds must be 0 or more, not {seconds}")
    # limit_denominator: 0.1 s is 0.1, not the float just above it (which would round 6.0 up to 7).
    return math.ceil(Fraction(seconds).limit_denominator(1_000_000) * Fraction(fps))


def presence_of(store) -> dict[int, np.ndarray]:
    """{object id: bool per frame}: where each object's mask is non-empty (the store's index areas, nothing decoded)."""
    areas, _ = store.areas()
    return {o.id: areas[:, k] > 0 for k, o in enumerate(store.object_infos)}


def find_gaps(presence: Mapping[int, Sequence[bool]], hold_frames: int, cover_long_gaps: bool = True) -> list[Gap]:
    """Every gap of every object, in frame order, each marked covered or not."""
    gaps = []
    for obj_id, flags in presence.items():
        idx = np.flatnonzero(np.asarray(flags, bool))
        for a, b in zip(idx[:-1], idx[1:]):
            if b - a > 1:
                long = int(b - a - 1) > hold_frames
                gaps.append(Gap(int(obj_id), int(a) + 1, int(b) - 1, covered=cover_long_gaps or not long, long=long))
    return sorted(gaps, key=lambda g: (g.first, g.obj_id))


def store_masks(store) -> Callable[[int, int], np.ndarray]:
    """``mask_at(frame, obj_id)``: one object's bool mask on one frame, by random access to the store."""
    def mask_at(frame: int, obj_id: int) -> np.ndarray:
        for o in store[frame].objects:
            if o.obj_id == obj_id:
                return o.mask()
        raise VidmaskError(f"masks.json has no object {obj_id} on frame {frame}; run the propagation (03) again")
    return mask_at


def fill_gaps(stream: Iterable[tuple[int, dict[int, np.ndarray]]], gaps: Iterable[Gap],
              mask_at: Callable[[int, int], np.ndarray]) -> Iterator[tuple[int, dict[int, np.ndarray]]]:
    """Cover each covered gap's frames with the union of the masks on both sides of it.

    Holds one cover mask per object while inside its gap; yields the stream's items in order
    (dicts copied where changed, never changed in place).
    """
    by_obj: dict[int, list[Gap]] = {}
    for g in gaps:
        if g.covered:
            by_obj.setdefault(g.obj_id, []).append(g)
    for gl in by_obj.values():
        gl.sort(key=lambda g: g.first)
    pos = {k: 0 for k in by_obj}
    cover: dict[int, tuple[Gap, np.ndarray]] = {}
    for index, masks in stream:
        out = None
        for obj_id, gl in by_obj.items():
            k = pos[obj_id]
            while k < len(gl) and gl[k].last < index:
                k += 1
            pos[obj_id] = k
            if k == len(gl) or gl[k].first > index:
                cover.pop(obj_id, None)
                continue
            g = gl[k]
            if obj_id not in cover or cover[obj_id][0] is not g:
                cover[obj_id] = (g, mask_at(g.first - 1, obj_id) | mask_at(g.last + 1, obj_id))
            out = dict(masks) if out is None else out
            held = out.get(obj_id)
            out[obj_id] = cover[obj_id][1] if held is None else (held | cover[obj_id][1])
        yield index, (masks if out is None else out)


def gap_rows(gaps: Iterable[Gap], labels: Mapping[int, str] | None = None, fps=None) -> list[dict]:
    """A table of the gaps longer than the hold, and of every uncovered one (for the review)."""
    rows = []
    for g in gaps:
        if g.long or not g.covered:
            row = {"object": f"{g.obj_id}: {(labels or {}).get(g.obj_id, '')}", "first": g.first, "last": g.last,
                   "frames": g.frames, "covered": "yes" if g.covered else "NO (--no-cover-long-gaps)"}
            if fps:
                row["seconds"] = round(g.frames / float(Fraction(fps)), 3)
            rows.append(row)
    return rows


def mark_review(table, gaps: Iterable[Gap]):
    """The review table (``qa.review_frames``) with each 'vanished' row saying whether its gap is covered."""
    by_span = {(g.obj_id, g.first, g.last): g for g in gaps}
    rows = []
    for r in table.rows:
        g = by_span.get((r.obj_id, r.first, r.last)) if r.reason == "vanished" else None
        if g is not None and g.long:  # short gaps already read "covered by hold=N"
            head = r.detail.split(";")[0]
            how = ("covered: a long gap, by the masks on both sides (check it)" if g.covered else
                   "NOT covered (--no-cover-long-gaps)")
            r = replace(r, detail=f"{head}; {how}")
        rows.append(r)
    table.rows[:] = rows
    return table
