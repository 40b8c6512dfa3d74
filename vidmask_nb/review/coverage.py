"""How much of each frame a run's render covers, from the covers the render itself makes: the masks of
the tracked (or drawn) objects, the detector floor and the codes' floor together, grown, held and
snapped as the render grows, holds and snaps them (``render.cover_stream``, ``render.frame_covers``).

The review's question is "what did the redaction hide that a viewer wanted to see?": a frame mostly
black is worth a look whatever made it, and the floor's boxes and the codes are not masks, so a review
of the masks alone misses them. ``cover_shares`` gives, per frame, the covered share of the picture,
the frames over a set share, and the largest single cover (one connected region) of each kind:

- ``masks``: the objects of ``masks.json`` (tracked, or drawn for ``--no-track``);
- ``floor``: the detector floor's boxes (faces, text, personal text);
- ``codes``: the codes' floor (always opaque).

Example::

    report = cover_shares("clip.mp4", "run", over=0.5)
    report.over            # [(frame, share), ...] frames whose covers exceed half the picture
    report.largest["floor"]  # {"frame": 41, "share": 0.12, "box": [x0, y0, x1, y1]}
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# The review's default: a frame more than this share covered is listed for a person to look at.
DEFAULT_OVER_SHARE = 0.5
COVER_KINDS = ("masks", "floor", "codes")


@dataclass
class CoverReport:
    """A run's covers, frame by frame (see the module's docstring)."""

    frames: int
    over_share: float
    shares: np.ndarray  # (frames,) the covered share of each frame's pixels, every kind together
    over: list[tuple[int, float]] = field(default_factory=list)  # frames whose share exceeds over_share
    largest: dict[str, dict] = field(default_factory=dict)  # kind -> {"frame", "share", "box"}

    @property
    def mean(self) -> float:
        return float(self.shares.mean()) if len(self.shares) else 0.0

    @property
    def worst(self) -> tuple[int, float]:
        """(frame, share) of the most covered frame ((-1, 0.0) for none)."""
        if not len(self.shares):
            return -1, 0.0
        i = int(self.shares.argmax())
        return i, float(self.shares[i])

    def to_json(self) -> dict:
        frame, share = self.worst
        return {"frames": self.frames, "over_share": self.over_share, "mean_share": round(self.mean, 5),
                "worst": {"frame": frame, "share": round(share, 5)},
                "over": [{"frame": f, "share": round(s, 5)} for f, s in self.over],
                "largest": self.largest}


def cover_kind(obj_id: int) -> str:
    """Which kind of cover an object id of the render's stream is."""
    from vidmask_nb.detect.hold import CODES_FLOOR_ID, FLOOR_ID

    return "floor" if obj_id == FLOOR_ID else "codes" if obj_id == CODES_FLOOR_ID else "masks"


def _largest_region(region: np.ndarray) -> tuple[int, list[int]]:
    """(pixels, [x0, y0, x1, y1]) of the largest connected part of a bool region."""
    import cv2

    rows, cols = np.flatnonzero(region.any(axis=1)), np.flatnonzero(region.any(axis=0))
    if not len(rows):
        return 0, [0, 0, 0, 0]
    y0, x0 = int(rows[0]), int(cols[0])
    # labelled within the covers' bounding box only: a frame's covers are a small part of it
    part = np.ascontiguousarray(region[y0:rows[-1] + 1, x0:cols[-1] + 1]).view(np.uint8)
    n, _, stats, _ = cv2.connectedComponentsWithStats(part, connectivity=8)
    k = 1 + int(stats[1:, cv2.CC_STAT_AREA].argmax())
    x, y, w, h, area = (int(v) for v in stats[k])
    return area, [x0 + x, y0 + y, x0 + x + w, y0 + y + h]


def frame_cover_shares(masks, plan, shape: tuple[int, int]) -> tuple[float, dict[str, tuple[int, list[int]]]]:
    """One frame of the render's stream: (the covered share, kind -> (pixels, box) of its largest
    single cover). Covers are the render's own (``render.frame_covers``): grown and snapped."""
    from vidmask_nb.redact.render import frame_covers

    union = np.zeros(shape, bool)
    largest: dict[str, tuple[int, list[int]]] = {}
    by_kind: dict[str, dict[int, np.ndarray]] = {}
    for obj_id, mask in masks.items():
        by_kind.setdefault(cover_kind(obj_id), {})[obj_id] = mask
    for kind, kind_masks in by_kind.items():
        region = np.zeros(shape, bool)
        for cover in frame_covers(kind_masks, plan):
            region |= cover.region > 0
        if region.any():
            union |= region
            largest[kind] = _largest_region(region)
    return float(union.mean()), largest


def run_cover_stream(video, workdir, options=None, object_styles=None, floor=None):
    """(info, plan, stream of (frame, {object id: mask})) as a run's render covers it with ``options``
    (``RenderOptions``; None: the defaults) and ``object_styles``: its masks and floor (the run folder's
    ``floor.json`` when ``floor`` is None; False: none)."""
    from vidmask_nb.detect.floorfile import run_floor
    from vidmask_nb.media.encode import output_pix_fmt
    from vidmask_nb.media.video import probe
    from vidmask_nb.redact.render import RenderOptions, chroma_of, cover_stream, plan_render
    from vidmask_nb.runfolder.folder import RunFolder
    from vidmask_nb.track.masks import MaskStore

    info = probe(video)
    store = MaskStore.load(RunFolder(workdir).masks_json)
    store.check_video(info)
    floor = run_floor(workdir, floor)
    plan = plan_render(store, (options or RenderOptions()).for_fps(info.fps), object_styles,
                       chroma=chroma_of(output_pix_fmt(info)))
    plan, masks = cover_stream(store, info, plan, floor)
    return info, plan, masks


def cover_shares(video, workdir, options=None, *, object_styles=None, floor=None,
                 over: float = DEFAULT_OVER_SHARE) -> CoverReport:
    """The covers a run's render makes (``run_cover_stream``: ``options``, a ``RenderOptions``, with
    ``object_styles`` and ``floor`` as ``render`` takes them), frame by frame: the covered share, the
    frames over ``over`` (a share of the picture, 0..1), and the largest single cover of each kind
    (``COVER_KINDS``) over the whole run."""
    from vidmask_nb.errors import VidmaskError, check_number

    check_number(over, "the covered share", minimum=0)
    if over > 1:
        raise VidmaskError(f"the covered share is a fraction of the frame, 0..1, not {over}")
    info, plan, masks = run_cover_stream(video, workdir, options, object_styles, floor)
    shape = (info.height, info.width)
    shares = np.zeros(info.frame_count, np.float64)
    report = CoverReport(info.frame_count, float(over), shares)
    best: dict[str, tuple[int, int, list[int]]] = {}  # kind -> (pixels, frame, box)
    for index, frame_masks in masks:
        share, largest = frame_cover_shares(frame_masks, plan, shape)
        shares[index] = share
        if share > over:
            report.over.append((index, share))
        for kind, (pixels, box) in largest.items():
            if pixels > best.get(kind, (0,))[0]:
                best[kind] = (pixels, index, box)
    total = float(info.width * info.height)
    report.largest = {k: {"frame": f, "share": round(p / total, 5), "box": b} for k, (p, f, b) in best.items()}
    return report


def with_cover_rows(table, report: CoverReport, fps=None):
    """``table`` (a ``qa.ReviewTable``) with one row per run of consecutive frames whose covers, every kind
    together, exceed the report's share: the review sees what the floor and the codes cover, not only the
    masks. The "fix" button opens the editor at the row's worst frame, as for a mask's row."""
    from vidmask_nb.review.qa import ReviewRow, ReviewTable, _clock

    rows, run = [], []
    for frame, share in report.over + [(-2, 0.0)]:  # a sentinel closes the last run
        if run and frame != run[-1][0] + 1:
            first, last = run[0][0], run[-1][0]
            worst, at = max((s, f) for f, s in run)
            rows.append(ReviewRow(0, "covers", first, last, "covers frame",
                                  f"masks, floor and codes together cover up to {worst:.0%} of the frame at frame "
                                  f"{at} (over {report.over_share:.0%}): is that what must be hidden?",
                                  _clock(first, fps), at))
            run = []
        run.append((frame, share))
    settings = dict(table.settings, cover_share=report.over_share)
    return ReviewTable(sorted(list(table.rows) + rows, key=lambda r: (r.first, r.obj_id)), settings)
