"""Quality checks of a track before and after rendering: pictures, a review table, mask exports.

- ``overlay_video``: ``qa/<stem>_overlay.mp4``, every frame with each object's translucent mask,
  outline and label (the source's timing and audio, quick to encode).
- ``contact_sheet``: a grid of frames with overlays (beside the redacted frames when given),
  saved as ``qa/<stem>_contact.png``.
- ``area_timeline``: each object's mask area (% of the frame) and score over time, review spans
  shaded, saved as ``qa/<stem>_areas.png``.
- ``review_frames``: spans of frames a person should look at: an object vanishes, its area
  collapses below or jumps above its recent median (a jump to a much larger mask is a sign of
  a wrong track), its score drops, or its mask is implausible on its own: it covers more than
  ``max_share`` of the frame, or is far larger than every box drawn for it (``prompts``). A track
  that is wrong from its first frame (or an untrained model's) changes little over time, so only
  these last two catch it. ``ReviewTable.show()`` shows it.
- ``export_palette_pngs``: one 8-bit palette PNG per frame (pixel = object id, palette = object
  colours) beside the COCO RLE ``masks.json``.

Areas and scores come from the masks index (``MaskStore.areas``: no frame read, no RLE decoded)
and the review is vectorised, so the table finds every span of an hour-long video in bounded
memory and time; figures are drawn from min/max down-sampled series (``timeline.minmax_downsample``).

Example::

    store = MaskStore.load(RunFolder("runs/clip").masks_json)
    table = review_frames(store, hold=3)
    table.show()
    area_timeline(store, table=table, out_path="runs/clip/qa/clip_areas.png")
    contact_sheet("clip.mp4", "runs/clip", redacted="runs/clip/clip_redacted.mp4")
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm.auto import tqdm

from vidmask_nb.redact.effects import MaskMargins
from vidmask_nb.media.encode import VideoWriter
from vidmask_nb.media.planes import FramePool
from vidmask_nb.errors import VidmaskError
from vidmask_nb.track.masks import MaskStore
from vidmask_nb.review.tables import format_table, show_table
from vidmask_nb.review.overlay import FIGURE_WIDTH, draw_overlay, overlay_planes, save_figure, show_grid
from vidmask_nb.redact.render import mask_stream
from vidmask_nb.runfolder.folder import RunFolder, atomic_output, write_json
from vidmask_nb.review.timeline import (ObjectTimeline, labels_and_colors, object_timelines,
                                 timeline_figure)
from vidmask_nb.media.video import VideoReader, fraction_str, probe, sample_indices


# -- per-object series ------------------------------------------------------------------------


def _fps(store: MaskStore) -> Fraction | None:
    try:
        return Fraction(store.header["video"]["fps"])
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None


def _clock(frame: int, fps: Fraction | None) -> str:
    if not fps:
        return ""
    seconds = float(frame / fps)
    return f"{int(seconds // 60)}:{seconds % 60:05.2f}"


# -- review table -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewRow:
    """A span of frames ``first..last`` (inclusive) where one object needs a look."""

    obj_id: int
    label: str
    first: int
    last: int
    reason: str  # "vanished" | "area drop" | "area jump" | "low score" | "never found" | "covers frame" | "beyond box"
    detail: str
    time: str = ""  # m:ss.ss of the first frame
    worst: int | None = None  # the frame the detail names ("at frame 57"); None: the first

    @property
    def frames(self) -> int:
        return self.last - self.first + 1

    @property
    def at(self) -> int:
        """The frame to look at: the one the row names, else its first ("fix" opens it)."""
        return self.first if self.worst is None else self.worst


@dataclass
class ReviewTable:
    """The review rows, sorted by first frame. ``show()`` displays them; ``str()`` is plain text."""

    rows: list[ReviewRow]
    settings: dict

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def as_dicts(self) -> list[dict]:
        return [{"object": f"{r.obj_id} ({r.label})", "first": r.first, "last": r.last, "time": r.time,
                 "frames": r.frames, "reason": r.reason, "detail": r.detail} for r in self.rows]

    def title(self) -> str:
        s = self.settings
        return (f"{len(self.rows)} span(s) to review (area drop > {s['drop']:.0%} or jump > "
                f"{s.get('grow', DEFAULT_GROW):g}x of the median of the last {s['window']} present frames, "
                f"score < {s['min_score']}, any vanishing, a mask over "
                f"{s.get('max_share', DEFAULT_MAX_SHARE):.0%} of the frame or over "
                f"{s.get('box_growth', DEFAULT_BOX_GROWTH):g}x its largest prompt box)")

    def show(self, limit: int = 200) -> None:
        """Display the rows (the first ``limit``: a long video's table stays readable; ``save`` keeps all)."""
        if self.rows:
            rows = self.as_dicts()
            more = f"; the first {limit} shown, all in the saved review JSON" if len(rows) > limit else ""
            show_table(rows[:limit], self.title() + more)
        else:
            s = self.settings
            print("nothing to review: every object stays present, its area steady and its score high, and "
                  f"no mask covers more than {s.get('max_share', DEFAULT_MAX_SHARE):.0%} of the frame")

    def __str__(self) -> str:
        return format_table(self.as_dicts(), self.title()) if self.rows else "nothing to review"

    def frames_to_check(self, limit: int = 12) -> list[int]:
        """One frame per row (its first), at most ``limit``, for a contact sheet."""
        return sorted({r.first for r in self.rows})[:limit]

    def save(self, path: str | os.PathLike) -> Path:
        return write_json(path, {"settings": self.settings, "rows": [asdict(r) for r in self.rows]})

    @classmethod
    def load(cls, path: str | os.PathLike) -> "ReviewTable":
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls([ReviewRow(**r) for r in data["rows"]], data["settings"])


DEFAULT_GROW = 2.0
DEFAULT_MAX_SHARE = 0.5  # a mask over half the frame is reviewed: people and plates rarely fill it
DEFAULT_BOX_GROWTH = 4.0  # a mask over 4x the largest box drawn for its object is reviewed


def review_frames(store: MaskStore, drop: float = 0.5, window: int = 15, min_score: float = 0.5,
                  hold: int = 0, grow: float = DEFAULT_GROW, max_share: float = DEFAULT_MAX_SHARE,
                  prompts=None, box_growth: float = DEFAULT_BOX_GROWTH) -> ReviewTable:
    """Find spans where an object vanishes, its area collapses or jumps, its score falls, or its
    mask is implausibly large.

    - vanished: absent after having been present (``hold``: a gap the render covers says so);
    - area drop: area below ``(1 - drop)`` x the median of its last ``window`` present frames;
    - area jump: area above ``grow`` x that median (the mask leapt to something larger: often
      the track jumped to another object or the background);
    - low score: present with a score below ``min_score``;
    - never found: absent on every frame;
    - covers frame: the mask covers more than ``max_share`` of the frame (0.5: half of it);
    - beyond box: with ``prompts`` (the ``PromptSet`` tracked), the mask is more than
      ``box_growth`` x the area of the largest box drawn for its object.

    Example::

        table = review_frames(store, drop=0.5, hold=3)
        for row in table: print(row.first, row.last, row.reason, row.detail)
    """
    if not 0 < drop < 1:
        raise VidmaskError(f"drop must be a fraction between 0 and 1 (0.5 = area halves), not {drop}")
    if window < 3:
        raise VidmaskError(f"window must be at least 3 frames, not {window}")
    if not grow > 1:
        raise VidmaskError(f"grow must be more than 1 (2.0 = the area doubles), not {grow}")
    if not 0 < max_share <= 1:
        raise VidmaskError(f"max_share must be a fraction of the frame above 0, at most 1 (0.5 = half), "
                           f"not {max_share}")
    if not box_growth > 1:
        raise VidmaskError(f"box_growth must be more than 1 (4.0 = four times the box), not {box_growth}")
    fps = _fps(store)
    w, h = store.size
    boxes: dict[int, float] = {}
    for p in (prompts.prompts if prompts is not None else ()):
        if p.box is not None:
            area = (p.box[2] - p.box[0]) * (p.box[3] - p.box[1])
            boxes[p.obj_id] = max(boxes.get(p.obj_id, 0.0), area)
    rows: list[ReviewRow] = []
    for track in object_timelines(store):
        rows += _review_track(track, drop, window, min_score, hold, fps, grow)
        rows += _implausible(track, w * h, max_share, boxes.get(track.obj_id), box_growth, fps)
    rows.sort(key=lambda r: (r.first, r.obj_id, r.reason))
    return ReviewTable(rows, {"drop": drop, "window": window, "min_score": min_score, "hold": hold,
                              "grow": grow, "max_share": max_share, "box_growth": box_growth})


def _implausible(track: ObjectTimeline, frame_px: int, max_share: float, box_area: float | None,
                 box_growth: float, fps: Fraction | None) -> list[ReviewRow]:
    """Spans where the mask covers more than ``max_share`` of the frame, or more than ``box_growth``
    x its object's largest prompt box (when known); one row per span, its worst frame named."""
    rows = []
    share = track.areas / float(max(frame_px, 1))
    for first, last in _spans(share > max_share):
        worst = first + int(np.argmax(share[first:last + 1]))
        rows.append(ReviewRow(track.obj_id, track.label, first, last, "covers frame",
                              f"mask covers {share[worst]:.0%} of the frame at frame {worst} (> {max_share:.0%}): "
                              "a wrong track, or the background taken for the object?", _clock(first, fps), worst))
    if box_area:
        ratio = track.areas / box_area
        for first, last in _spans((ratio > box_growth) & (share <= max_share)):
            worst = first + int(np.argmax(ratio[first:last + 1]))
            rows.append(ReviewRow(track.obj_id, track.label, first, last, "beyond box",
                                  f"mask {ratio[worst]:.1f}x its largest prompt box at frame {worst} "
                                  f"(> {box_growth:g}x): has it spread to something else?", _clock(first, fps), worst))
    return rows


def _recent_median_ratio(areas: np.ndarray, window: int, block: int = 1 << 16) -> np.ndarray:
    """Each area over the median of the ``window`` areas before it (1.0 for the first three).

    Vectorised over sliding windows, in blocks so memory stays bounded for any length.
    """
    n = len(areas)
    a = areas.astype(np.float64)
    ratio = np.ones(n, np.float64)
    for j in range(3, min(window, n)):  # the first windows are shorter
        ratio[j] = a[j] / np.median(a[:j])
    if n > window:
        windows = np.lib.stride_tricks.sliding_window_view(a, window)  # windows[j] = a[j:j+window]
        for s in range(window, n, block):
            e = min(n, s + block)
            ratio[s:e] = a[s:e] / np.median(windows[s - window:e - window], axis=1)
    return ratio


def _review_track(track: ObjectTimeline, drop: float, window: int, min_score: float, hold: int,
                  fps: Fraction | None, grow: float = DEFAULT_GROW) -> list[ReviewRow]:
    n = len(track.areas)
    present = track.present
    if not present.any():
        return [ReviewRow(track.obj_id, track.label, 0, n - 1, "never found",
                          "no mask on any frame: check its prompts (02) and run 03 again", _clock(0, fps))]
    first_present = int(np.argmax(present))
    vanished = ~present
    vanished[:first_present] = False
    ratio = np.ones(n, np.float64)  # area / median of the last `window` present frames' areas
    ratio[present] = _recent_median_ratio(track.areas[present], window)
    collapsed = present & (ratio < 1 - drop)
    jumped = present & (ratio > grow)
    low = present & (track.scores < min_score)
    rows = []
    for first, last in _spans(vanished):
        back = int(np.argmax(present[last + 1:])) + last + 1 if present[last + 1:].any() else None
        if back is None:
            detail = f"gone for {last - first + 1} frame(s), to the end"
        elif last - first + 1 <= hold:
            detail = f"gone for {last - first + 1} frame(s), back at {back}; covered by hold={hold}"
        else:
            detail = f"gone for {last - first + 1} frame(s), back at {back}; NOT covered (hold={hold})"
        rows.append(ReviewRow(track.obj_id, track.label, first, last, "vanished", detail, _clock(first, fps)))
    for first, last in _spans(collapsed):
        worst = first + int(np.argmin(ratio[first:last + 1]))
        rows.append(ReviewRow(track.obj_id, track.label, first, last, "area drop",
                              f"area {int(track.areas[worst])} px at frame {worst}, "
                              f"{1 - ratio[worst]:.0%} below its recent median", _clock(first, fps), worst))
    for first, last in _spans(jumped):
        worst = first + int(np.argmax(ratio[first:last + 1]))
        rows.append(ReviewRow(track.obj_id, track.label, first, last, "area jump",
                              f"area {int(track.areas[worst])} px at frame {worst}, {ratio[worst]:.1f}x its "
                              "recent median: the mask leapt larger (a wrong track?)", _clock(first, fps), worst))
    for first, last in _spans(low):
        worst = first + int(np.argmin(track.scores[first:last + 1]))
        rows.append(ReviewRow(track.obj_id, track.label, first, last, "low score",
                              f"score {track.scores[worst]:.2f} at frame {worst} (< {min_score})",
                              _clock(first, fps), worst))
    return rows


def _spans(flags: np.ndarray) -> list[tuple[int, int]]:
    """Runs of True as (first, last) inclusive."""
    padded = np.concatenate([[False], flags, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2])]


# -- pictures ---------------------------------------------------------------------------------


def area_timeline(store: MaskStore, table: ReviewTable | None = None,
                  out_path: str | os.PathLike | None = None, changed_spans: Sequence[tuple[int, int]] = ()):
    """Mask area (% of the frame) and score of every object over the frames; returns the figure.

    The tracking timeline (``timeline.timeline_figure``) with the review spans from ``table``
    shaded and its score threshold drawn, and ``changed_spans`` (frames the last correction
    re-tracked: ``corrections.tracking_changes(workdir).corrected_spans``) shaded blue. Saved as
    PNG when ``out_path`` is given.

    Example: ``area_timeline(store, review_frames(store), "qa/clip_areas.png")``.
    """
    rows = table.rows if table is not None else []
    with tqdm(total=2 if out_path is not None else 1, desc="area timeline", unit="step") as bar:
        fig = timeline_figure(store, review_spans=[(r.first, r.last) for r in rows],
                              min_score=table.settings["min_score"] if rows else None,
                              title="mask area per object", changed_spans=changed_spans)
        bar.update()
        if out_path is not None:
            save_figure(fig, out_path)
            bar.update()
    return fig


def contact_sheet(video: str | os.PathLike, workdir: str | os.PathLike, frames: Sequence[int] | None = None,
                  n: int = 12, cols: int = 4, redacted: str | os.PathLike | None = None,
                  out_path: str | os.PathLike | None = None, width: float = FIGURE_WIDTH):
    """Frames with each object's overlay, spread over the video (or ``frames``); returns the figure.

    With ``redacted`` (the rendered video) every tile shows the overlay and the redacted frame side
    by side. Saved to ``qa/<stem>_contact.png`` unless ``out_path`` says otherwise.

    Example: ``contact_sheet("clip.mp4", "runs/clip", redacted="runs/clip/clip_redacted.mp4")``.
    """
    run = RunFolder(workdir)
    info = probe(video)
    with MaskStore.load(run.masks_json) as store:
        return _contact_sheet(video, run, store, info, frames, n, cols, redacted, out_path, width)


def _contact_sheet(video, run: RunFolder, store: MaskStore, info, frames, n, cols, redacted, out_path, width):
    store.check_video(info)
    indices = list(frames) if frames is not None else sample_indices(info.frame_count, n)
    bad = [i for i in indices if not 0 <= i < info.frame_count]
    if bad:
        raise VidmaskError(f"frames {bad} are outside the video (0..{info.frame_count - 1})")
    if not indices:
        raise VidmaskError("no frames to show: give at least one frame index")
    labels, colors = labels_and_colors(store)
    # one step a frame read (source, and the redacted copy), one a tile drawn, two for the figure
    steps = len(set(indices)) * (2 if redacted is not None else 1) + len(indices) + 2
    with tqdm(total=steps, desc="contact sheet", unit="step") as bar:
        with VideoReader(video, info=info) as reader:
            sources = _frames_at(reader, indices, bar)
        outputs = None
        if redacted is not None:
            with VideoReader(redacted) as out_reader:
                if len(out_reader) != info.frame_count:
                    raise VidmaskError(f"{redacted} has {len(out_reader)} frames, the source "
                                       f"{info.frame_count}: it is not this video's render")
                outputs = _frames_at(out_reader, indices, bar)
        tiles = []
        for k, i in enumerate(indices):
            tile = draw_overlay(sources[k], store[i].masks(), labels=labels, colors=colors)
            if outputs is not None:
                gap = np.full((tile.shape[0], max(2, tile.shape[1] // 80), 3), 255, np.uint8)
                tile = np.concatenate([tile, gap, outputs[k]], axis=1)
            tiles.append(tile)
            bar.update()
        titles = [f"frame {i}  {_clock(i, info.fps)}" for i in indices]
        what = "overlay | redacted" if outputs is not None else "overlay"
        fig = show_grid(tiles, titles, cols=cols if outputs is None else max(1, cols // 2), width=width,
                        suptitle=f"{Path(video).name}: {what}")
        bar.update()
        save_figure(fig, out_path if out_path is not None else run.qa_dir / f"{Path(video).stem}_contact.png")
        bar.update()
    return fig


def _frames_at(reader: VideoReader, indices: Sequence[int], bar) -> list[np.ndarray]:
    """``reader.frames_at`` (in file order, each GOP decoded once, only these frames converted), the
    steps of ``bar`` after each GOP."""
    from itertools import groupby

    out: dict[int, np.ndarray] = {}
    for _key, group in groupby(sorted(set(indices)), key=reader.keyframe_before):
        group = list(group)
        out.update(zip(group, reader.frames_at(group)))
        bar.update(len(group))
    return [out[i] for i in indices]


def overlay_video(video: str | os.PathLike, workdir: str | os.PathLike, output: str | os.PathLike | None = None,
                  margins: MaskMargins | None = None, crf: int = 26, preset: str = "veryfast",
                  progress: bool = True) -> Path:
    """Write ``qa/<stem>_overlay.mp4``: every frame with translucent masks, outlines and labels.

    With ``margins`` the overlay shows the region the render covers (grown, held) instead of the
    tracker's raw masks. Same timing and audio as the source; quality is for viewing, not keeping.

    Example: ``overlay_video("clip.mp4", "runs/clip")``.
    """
    run = RunFolder(workdir)
    info = probe(video)
    with MaskStore.load(run.masks_json) as store:
        return _overlay_video(video, run, store, info, output, margins, crf, preset, progress)


def _overlay_video(video, run: RunFolder, store: MaskStore, info, output, margins, crf, preset, progress) -> Path:
    store.check_video(info)
    labels, colors = labels_and_colors(store)
    out_path = Path(output) if output is not None else run.qa_dir / f"{Path(video).stem}_overlay.mp4"
    stream = mask_stream(store, info)
    if margins is not None:
        stream = ((i, {k: margins.apply(m) > 0 for k, m in ms.items()}) for i, ms in margins.hold(stream))
    # Drawn on the source's own planes (media.planes): only the band of rows under the masks is converted.
    with VideoReader(video, info=info) as reader, \
            VideoWriter(out_path, info, crf=crf, preset=preset, planar=True) as writer:
        pool = FramePool(info.width, info.height, writer.pix_fmt, info.sws_colorspace, info.sws_range, size=1)
        for (index, decoded), (_, masks) in tqdm(zip(reader.decoded(), stream), total=info.frame_count,
                                                 unit="frame", desc=f"overlay {Path(video).name}",
                                                 disable=not progress):
            frame = overlay_planes(pool.load(decoded, index), masks, labels=labels, colors=colors)
            writer.write_planes(frame.frame, frame.pts)
            pool.give_back(frame)
    return out_path


# -- palette PNG export -----------------------------------------------------------------------


def export_palette_pngs(store: MaskStore, out_dir: str | os.PathLike, progress: bool = True) -> Path:
    """One 8-bit palette PNG per frame: pixel value = object id (0 = none), palette = object colours.

    Files are ``frame_000000.png`` ... (whole-video frame index), each written atomically, plus
    ``objects.json`` (id, label, colour). Where masks overlap, the higher id wins.

    Example::

        export_palette_pngs(store, "runs/clip/masks_png")
        np.array(Image.open("runs/clip/masks_png/frame_000010.png"))   # HxW uint8 ids
    """
    from PIL import Image

    objects = store.object_infos
    ids = [o.id for o in objects]
    if any(not 1 <= i <= 255 for i in ids):
        raise VidmaskError(f"palette PNGs hold object ids 1..255; these masks have ids {ids}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    palette = np.zeros((256, 3), np.uint8)
    for o in objects:
        palette[o.id] = o.color
    palette_bytes = palette.tobytes()
    w, h = store.size
    for fm in tqdm(store, total=len(store), unit="frame", desc="palette PNGs", disable=not progress):
        index = np.zeros((h, w), np.uint8)
        for obj_id, mask in sorted(fm.masks().items()):
            index[mask] = obj_id
        image = Image.fromarray(index, mode="P")
        image.putpalette(palette_bytes)
        path = out_dir / f"frame_{fm.frame:06d}.png"
        with atomic_output(path) as tmp:
            image.save(tmp, format="PNG", optimize=False)
    write_json(out_dir / "objects.json", {"objects": [o.to_json() for o in objects],
                                          "frames": len(store), "size": [w, h]})
    return out_dir


# -- the output against its source ------------------------------------------------------------


@dataclass(frozen=True)
class StreamDigest:
    """A copied stream's packets: how many, their times, and a hash of their bytes."""

    kind: str
    codec: str
    packets: int
    times: tuple[Fraction, ...] = field(repr=False)  # pts x time base of every packet
    sha256: str = ""


def stream_digests(path: str | os.PathLike) -> list[StreamDigest]:
    """Digest every audio and subtitle stream of a file, in stream order (demuxing only).

    Example: ``stream_digests("clip.mp4")[0].packets`` -> 452.
    """
    import hashlib

    import av

    digests = []
    with av.open(str(path)) as container:
        streams = [s for s in container.streams if s.type in ("audio", "subtitle")]
        for s in streams:
            h = hashlib.sha256()
            times = []
            for packet in container.demux(s):
                if packet.size == 0:
                    continue
                h.update(bytes(packet))
                t = packet.pts if packet.pts is not None else packet.dts
                times.append(Fraction(t) * Fraction(s.time_base.numerator, s.time_base.denominator))
            container.seek(0)
            digests.append(StreamDigest(s.type, s.codec_context.name, len(times), tuple(times),
                                        "sha256:" + h.hexdigest()[:32]))
    return digests


def compare_to_source(source: str | os.PathLike, output: str | os.PathLike) -> list[dict]:
    """Rows of (check, source, output, same) for size, frames, frame rate, timestamps and audio.

    Example: ``show_table(compare_to_source("clip.mp4", out), "output against source")``.
    """
    a, b = probe(source), probe(output)
    times_a = [p * a.time_base for p in a.pts]
    times_b = [p * b.time_base for p in b.pts]
    rows = [
        {"check": "size", "source": f"{a.width}x{a.height}", "output": f"{b.width}x{b.height}"},
        {"check": "frames", "source": a.frame_count, "output": b.frame_count},
        {"check": "frame rate", "source": fraction_str(a.fps), "output": fraction_str(b.fps)},
        {"check": "every frame's timestamp", "source": f"{a.start_time:.3f}..{float(times_a[-1]):.3f} s",
         "output": f"{b.start_time:.3f}..{float(times_b[-1]):.3f} s", "same": times_a == times_b},
    ]
    da, db = stream_digests(source), stream_digests(output)
    rows.append({"check": "audio/subtitle streams", "source": len(da), "output": len(db)})
    for k, (x, y) in enumerate(zip(da, db)):
        rows.append({"check": f"stream {k + 1} ({x.kind} {x.codec}) packets",
                     "source": x.packets, "output": y.packets,
                     "same": (x.packets, x.times, x.sha256) == (y.packets, y.times, y.sha256)})
    for row in rows:
        row.setdefault("same", row["source"] == row["output"])
    return rows
