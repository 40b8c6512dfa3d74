"""LabelMe in and out: boxes and points drawn in LabelMe become prompts, and prompts go back.

Import reads the published workflow's layout and the kit's own:

* one flat folder of per-frame files (``00012.json`` beside ``00012.jpg``): frame = file number;
* chunk folders from the published extractor (``3_frame1200-1799/00012.json``): frame = the
  folder's first frame + file number. That extractor writes some first frames one too low
  (``int(i / fps * fps)`` rounds 1200 down to 1199 at 29.97 fps) and sorts folders as text, so
  the folders are ordered by their number and each first frame is recomputed by replaying the
  extractor's arithmetic with the video's frame rate; when that cannot be reproduced, the name
  is used and the report says so;
* the kit's extraction (``chunk_0003_f001200-001799/00012.json`` and ``manifest.json`` from
  ``vidmask_nb.media.extract.extract_jpegs``): the manifest maps each folder to its first frame
  exactly (also with overlapping chunks). A ``manifest.json`` in the folder is used by itself.

Shapes, one prompt each:

* ``rectangle`` -> a box (corners in either order; clipped to the frame, which the report notes);
* ``point`` -> a positive point, or a **negative** point when its label ends in ``_neg`` or
  ``-`` (``dog_neg``, ``dog-``) or its shape flags hold ``{"negative": true}``;
* the label names the object; with a LabelMe ``group_id`` the object is ``label#group_id``
  (two people: ``person`` group 1 and 2 -> objects ``person#1``, ``person#2``).

Shapes it cannot use (polygon, line, circle, mask...) and files it cannot place are listed in
the report by file and label, never dropped silently. Coordinates are rescaled when the LabelMe
image size differs from the video's (frames extracted at a smaller size).

Export writes one LabelMe 5.x file per prompted frame (``00012.json``; with a manifest, into the
chunk folders with their own numbering), so the boxes open in LabelMe over the extracted JPEGs.

Example::

    prompts, report = import_labelme("clip_frames_29fps", info)
    print(report)                       # 14 files, 16 boxes, 2 points; skipped: 1 polygon ...
    prompts.save("runs/clip/prompts.json")
    export_labelme(prompts, "labelme_out")
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Iterable

from vidmask_nb.errors import VidmaskError
from vidmask_nb.prompts.records import FramePrompt, PromptSet, VideoRef
from vidmask_nb.runfolder.folder import read_json, write_json

LABELME_VERSION = "5.5.0"
NEGATIVE_SUFFIXES = ("_neg", "-")
KIT_CHUNK_RE = re.compile(r"^chunk_(\d+)_f(\d+)-(\d+)$")
SEED_CHUNK_RE = re.compile(r"^(\d+)_\D*?(\d+)-(\d+)$")
_IMAGE_EXTS = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class SkippedShape:
    """A shape the import could not use, and why."""

    file: str
    label: str
    shape_type: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.shape_type} {self.label!r} - {self.reason}"


@dataclass
class LabelMeReport:
    """What an import read, used and left out. ``str(report)`` is a summary for a person."""

    folder: str
    files: int = 0
    boxes: int = 0
    points: int = 0
    skipped_shapes: list[SkippedShape] = field(default_factory=list)
    skipped_files: list[tuple[str, str]] = field(default_factory=list)  # (file or folder, why)
    notes: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """True when every shape in every file was used."""
        return not self.skipped_shapes and not self.skipped_files

    def __str__(self) -> str:
        lines = [f"LabelMe import from {self.folder}: {self.files} file(s), {self.boxes} box(es), "
                 f"{self.points} point(s)"]
        if self.skipped_shapes:
            lines.append(f"{len(self.skipped_shapes)} shape(s) NOT used (draw a rectangle or points instead):")
            lines += [f"  - {s}" for s in self.skipped_shapes]
        if self.skipped_files:
            lines.append(f"{len(self.skipped_files)} file(s) or folder(s) NOT used:")
            lines += [f"  - {name}: {why}" for name, why in self.skipped_files]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


@dataclass(frozen=True)
class _Folder:
    """A folder of LabelMe files and the whole-video frame its file number 0 stands for."""

    path: Path
    first_frame: int
    frames: int | None = None  # how many frames the folder holds, when known


# ---------------------------------------------------------------------------------------------
# import
# ---------------------------------------------------------------------------------------------
def import_labelme(folder: str | os.PathLike, info, manifest: str | os.PathLike | dict | None = None,
                   into: PromptSet | None = None) -> tuple[PromptSet, LabelMeReport]:
    """Read LabelMe files under ``folder`` as prompts for the video ``info`` (a ``VideoInfo``).

    ``manifest``: the kit's extraction ``manifest.json`` (path or dict); found by itself in
    ``folder`` or its parent. ``into``: an existing ``PromptSet`` to add to (objects are matched
    by label). Returns the validated prompts and a ``LabelMeReport``.
    """
    from vidmask_nb.media.video import probe

    if isinstance(info, (str, os.PathLike)):
        info = probe(info)
    folder = Path(folder)
    if not folder.is_dir():
        raise VidmaskError(f"LabelMe folder not found: {folder}")
    report = LabelMeReport(str(folder))
    folders = _locate_folders(folder, info, manifest, report)
    prompts = into if into is not None else PromptSet.for_video(info)
    if into is not None:
        prompts.validate(info)
    seen: set[tuple] = {(p.frame, p.obj_id, p.box, p.points, p.point_labels) for p in prompts.prompts}
    for entry in folders:
        files = sorted((p for p in entry.path.glob("*.json") if p.name != "manifest.json"),
                       key=lambda p: (_file_number(p, {}) is None, _file_number(p, {}) or 0, p.name))
        for path in files:
            rel = str(path.relative_to(folder)) if path.is_relative_to(folder) else str(path)
            for prompt in _read_file(path, rel, entry, info, prompts, report):
                key = (prompt.frame, prompt.obj_id, prompt.box, prompt.points, prompt.point_labels)
                if key in seen:  # the same frame in two overlapping chunk folders
                    continue
                seen.add(key)
                prompts.prompts.append(prompt)
                if prompt.box is not None:
                    report.boxes += 1
                else:
                    report.points += len(prompt.points)
    if report.files == 0:
        if report.skipped_files:
            raise VidmaskError(f"none of the LabelMe files in {folder} could be used:\n{report}")
        raise VidmaskError(f"no LabelMe files (*.json) found in {folder} or its sub-folders; "
                           "give the folder LabelMe saved into (Open Dir)")
    prompts.prompts.sort(key=lambda p: (p.frame, p.obj_id))
    return prompts.validate(info), report


def _read_file(path: Path, rel: str, entry: _Folder, info, prompts: PromptSet,
               report: LabelMeReport) -> list[FramePrompt]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        report.skipped_files.append((rel, f"not valid JSON ({exc})"))
        return []
    except RecursionError:
        report.skipped_files.append((rel, "nests too deep to be a LabelMe file"))
        return []
    if not isinstance(data, dict) or not isinstance(data.get("shapes"), list):
        report.skipped_files.append((rel, "not a LabelMe file (no 'shapes' list)"))
        return []
    number = _file_number(path, data)
    if number is None:
        report.skipped_files.append((rel, "cannot tell its frame: name it by frame number (00012.json)"))
        return []
    if entry.frames is not None and number >= entry.frames:
        report.skipped_files.append((rel, f"file number {number} is past the {entry.frames} frames "
                                          f"of its folder"))
        return []
    frame = entry.first_frame + number
    if not 0 <= frame < info.frame_count:
        report.skipped_files.append((rel, f"maps to frame {frame}, past the end of the video "
                                          f"(frames 0..{info.frame_count - 1})"))
        return []
    scale = _scale(data, info, rel, report)
    if scale is None:
        return []
    report.files += 1
    sx, sy = scale
    out = []
    for n, shape in enumerate(data["shapes"]):
        if not isinstance(shape, dict):
            report.skipped_shapes.append(SkippedShape(rel, "", f"shape {n}", "is not a LabelMe shape {...}"))
            continue
        kind = _text(shape.get("shape_type")) or "polygon"
        raw_label = _text(shape.get("label")).strip()
        try:
            xy = [(_number(x) * sx, _number(y) * sy) for x, y in shape.get("points") or []]
        except (TypeError, ValueError):
            report.skipped_shapes.append(SkippedShape(rel, raw_label, kind, "its points are not pairs of numbers"))
            continue
        if not all(math.isfinite(v) for p in xy for v in p):
            report.skipped_shapes.append(SkippedShape(rel, raw_label, kind, "its points are not finite numbers"))
            continue
        negative = kind in ("point", "points") and _is_negative(raw_label, shape)
        label = _object_label(raw_label, shape.get("group_id"), negative)
        if not label:
            report.skipped_shapes.append(SkippedShape(rel, raw_label, kind, "has no label; label it with the object's name"))
            continue
        if kind == "rectangle" and len(xy) >= 2:
            box = _clip_box(xy, info.width, info.height)
            if box is None:
                report.skipped_shapes.append(SkippedShape(rel, raw_label, kind, "has zero area inside the frame"))
                continue
            if box != _corners(xy):
                report.notes.append(f"{rel}: rectangle {raw_label!r} reached outside the frame; clipped")
            obj = prompts.object_by_label(label, create=True)
            out.append(FramePrompt(frame, obj.id, box=box, pts=info.pts[frame]))
        elif kind in ("point", "points") and xy:
            obj = prompts.object_by_label(label, create=True)
            pts = tuple((min(max(x, 0.0), info.width), min(max(y, 0.0), info.height)) for x, y in xy)
            out.append(FramePrompt(frame, obj.id, points=pts, point_labels=(0 if negative else 1,) * len(pts),
                                   pts=info.pts[frame]))
        else:
            report.skipped_shapes.append(SkippedShape(rel, raw_label, kind, _why_not(kind)))
    return out


def _text(value) -> str:
    """A LabelMe text field: a string (a number is its text); anything else is no text."""
    if isinstance(value, str):
        return value
    return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else ""


def _number(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{value!r:.40} is not a number")
    return float(value)


def _why_not(kind: str) -> str:
    if kind in ("polygon", "mask", "circle"):
        return f"a {kind} is not used as a prompt; draw a rectangle around the object"
    if kind in ("line", "linestrip"):
        return f"a {kind} is not used as a prompt; draw a rectangle or click points on the object"
    if kind == "rectangle":
        return "a rectangle needs two corners"
    return f"shape type {kind!r} is not used as a prompt; draw a rectangle or points"


def _is_negative(label: str, shape: dict) -> bool:
    flags = shape.get("flags")
    flags = flags if isinstance(flags, dict) else {}
    return bool(flags.get("negative")) or label.endswith(NEGATIVE_SUFFIXES)


def _object_label(label: str, group_id, negative: bool) -> str:
    if negative:
        for suffix in NEGATIVE_SUFFIXES:
            if label.endswith(suffix):
                label = label[: -len(suffix)].strip()
                break
    group_id = _text(group_id) if group_id is not None else None
    if label and group_id is not None and group_id != "":
        label = f"{label}#{group_id}"
    return label


def _corners(xy) -> tuple[float, float, float, float]:
    xs, ys = [p[0] for p in xy], [p[1] for p in xy]
    return (min(xs), min(ys), max(xs), max(ys))


def _clip_box(xy, width: int, height: int) -> tuple[float, float, float, float] | None:
    x0, y0, x1, y1 = _corners(xy)
    x0, x1 = min(max(x0, 0.0), width), min(max(x1, 0.0), width)
    y0, y1 = min(max(y0, 0.0), height), min(max(y1, 0.0), height)
    if x1 - x0 <= 0 or y1 - y0 <= 0:
        return None
    return (x0, y0, x1, y1)


def _scale(data: dict, info, rel: str, report: LabelMeReport) -> tuple[float, float] | None:
    """Source pixels per LabelMe pixel (1, 1 unless the frames were extracted at another size); None
    (the file listed as not used) when its image size is not two whole numbers of pixels."""
    w, h = data.get("imageWidth"), data.get("imageHeight")
    if w is None or h is None:
        return 1.0, 1.0
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
               and float(v).is_integer() and 1 <= v <= 1_000_000 for v in (w, h)):
        report.skipped_files.append((rel, f"imageWidth/imageHeight must be whole numbers of pixels, not "
                                          f"{w!r:.30} x {h!r:.30}"))
        return None
    w, h = int(w), int(h)
    if (w, h) == (info.width, info.height):
        return 1.0, 1.0
    sx, sy = info.width / int(w), info.height / int(h)
    if abs(sx / sy - 1) > 0.02:
        raise VidmaskError(f"{rel} was drawn on a {w}x{h} image, which does not have the shape of the "
                           f"{info.width}x{info.height} video; were the frames cropped or rotated? "
                           "Draw the boxes on frames extracted from this video")
    note = f"LabelMe images are {w}x{h}; coordinates scaled to the {info.width}x{info.height} video"
    if note not in report.notes:
        report.notes.append(note)
    return sx, sy


def _file_number(path: Path, data: dict) -> int | None:
    """The frame number within its folder: the file name (``00012.json``), else its imagePath."""
    for stem in (path.stem, Path(_text(data.get("imagePath"))).stem):
        if stem.isdigit():
            return int(stem)
    m = re.search(r"(\d+)$", path.stem)
    return int(m.group(1)) if m else None


# ---------------------------------------------------------------------------------------------
# where each folder's frames start
# ---------------------------------------------------------------------------------------------
def _locate_folders(folder: Path, info, manifest, report: LabelMeReport) -> list[_Folder]:
    """The folders holding LabelMe files and the whole-video frame each one starts at."""
    chunks = _manifest_chunks(folder, info, manifest)
    dirs = [folder] + sorted(p for p in folder.iterdir() if p.is_dir())
    dirs = [d for d in dirs if any(p.name != "manifest.json" for p in d.glob("*.json"))]
    if chunks is not None:
        out = []
        for d in dirs:
            if d.name in chunks:
                out.append(_Folder(d, *chunks[d.name]))
            elif d == folder and not any(KIT_CHUNK_RE.match(x.name) for x in dirs):
                out.append(_Folder(d, 0))
            else:
                report.skipped_files.append((d.name, "folder is not in the extraction manifest"))
        return out
    # No manifest: the published extractor's names, the kit's names, or one flat folder.
    seed_dirs = [d for d in dirs if SEED_CHUNK_RE.match(d.name) and not KIT_CHUNK_RE.match(d.name)]
    seed_first = _seed_first_frames(folder, seed_dirs, info, report) if seed_dirs else {}
    out = []
    for d in dirs:
        kit = KIT_CHUNK_RE.match(d.name)
        if kit:
            first, last = int(kit.group(2)), int(kit.group(3))
            images = _count_images(d)
            if images and images != last - first + 1:
                report.skipped_files.append((d.name, f"holds {images} frames but its name says "
                                                     f"{last - first + 1} (overlapping chunks?); "
                                                     "give the extraction manifest.json"))
                continue
            out.append(_Folder(d, first, last - first + 1))
        elif d in seed_first:
            out.append(_Folder(d, *seed_first[d]))
        elif d == folder:
            out.append(_Folder(d, 0))
        else:
            # A sub-folder the layout does not explain: reported, never guessed (the published
            # script crashed here half-way through a batch).
            report.skipped_files.append((d.name, "cannot tell which frames this folder holds: name it like "
                                                 "'3_frame1200-1799' or give the extraction manifest"))
    return out


def _manifest_chunks(folder: Path, info, manifest) -> dict[str, tuple[int, int | None]] | None:
    """{folder name: (frame of its file 00000, frames in the folder or None)} from a manifest."""
    if manifest is None:
        for candidate in (folder / "manifest.json", folder.parent / "manifest.json"):
            if candidate.is_file():
                d = read_json(candidate, "extraction manifest")
                if isinstance(d, dict) and ("chunks" in d or "chunk_plan" in d):
                    manifest, where = d, candidate
                    break
        else:
            return None
    elif isinstance(manifest, dict):
        where = "the manifest"
    else:
        where, manifest = manifest, read_json(manifest, "extraction manifest")
    _check_manifest(manifest, info, where)
    return {c.name: (c.first_file, c.files) for c in _manifest_entries(manifest)}


@dataclass(frozen=True)
class _ManifestChunk:
    name: str
    first_file: int  # the frame its file 00000 holds
    start: int  # first frame it owns
    stop: int  # one past the last frame it owns
    files: int | None  # how many frames its folder holds, when the manifest says


def _manifest_entries(d: dict) -> list[_ManifestChunk]:
    """Chunk folders from ``extract_jpegs``' manifest or from the run folder's ``manifest.json``."""
    try:
        if "chunks" in d:
            return [_ManifestChunk(c["name"], int(c.get("first_file_frame", c["start"])), int(c["start"]),
                                   int(c["stop"]), None) for c in d["chunks"]]
        from vidmask_nb.media.chunks import ChunkPlan

        return [_ManifestChunk(c.name, c.read_start, c.start, c.stop, c.read_stop - c.read_start)
                for c in ChunkPlan.from_json(d["chunk_plan"]).chunks]
    except (KeyError, TypeError, ValueError) as exc:
        raise VidmaskError(f"the extraction manifest lists no chunk folders ({exc!r}); give the manifest.json "
                           "written beside the extracted frames") from exc


def _check_manifest(d: dict, info, where) -> None:
    try:
        ref = VideoRef.from_json(d.get("video", d))
    except (AttributeError, TypeError, ValueError, OverflowError) as exc:
        raise VidmaskError(f"{where} is not an extraction manifest ({exc}); give the manifest.json written "
                           "beside the extracted frames") from None
    ref.check(info, f"{where} was", f"give the manifest extracted from {Path(info.path).name}")


def _count_images(d: Path) -> int:
    return sum(1 for p in d.iterdir() if p.suffix.lower() in _IMAGE_EXTS)


def _seed_first_frames(root: Path, dirs: list[Path], info, report: LabelMeReport) -> dict[Path, tuple[int, int | None]]:
    """First frame and frame count of each of the published extractor's folders.

    Its names are ``{n}_frame{int(t*fps)}-{int(min(t+D, end)*fps - 1)}`` with float arithmetic, so
    the first frame can read one low and the last is usually one low. We replay its loop (cheaply,
    from boundary to boundary) for the start/end/duration arguments that reproduce every name, and
    take the true first frames from the replay.
    """
    # The sibling folders are needed to infer the arguments when one chunk folder is given.
    if root in dirs and len(dirs) == 1 and root.parent.is_dir():
        siblings = sorted(p for p in root.parent.iterdir() if p.is_dir() and SEED_CHUNK_RE.match(p.name))
    else:
        siblings = dirs
    parsed = sorted(((int(m.group(1)), int(m.group(2)), int(m.group(3)), p)
                     for p in siblings if (m := SEED_CHUNK_RE.match(p.name))), key=lambda t: (t[0], t[1]))
    names = [(a, b) for _, a, b, _ in parsed]
    layout = _replay_seed_names(names, info.frame_count, info.fps)
    out = {}
    if layout is None:
        report.notes.append("could not reproduce the published extractor's folder names with this video's "
                            f"frame rate ({float(info.fps):.3f} fps); each folder's first frame is taken from "
                            "its name, which that extractor sometimes writes one frame low: check the preview")
    for _, a, b, p in parsed:
        if p not in dirs:
            continue
        if layout is not None and (a, b) in layout:
            first, stop = layout[(a, b)]
            count = None if stop is None else stop - first
            images = _count_images(p)
            if images and count is not None and images != count:
                report.notes.append(f"{p.name} holds {images} images where the extractor wrote {count}; "
                                    "frames were sampled at an interval or files removed")
            out[p] = (first, None)  # its last frame is only known to within one: do not filter on it
        else:
            out[p] = (a, None)
    return out


def _replay_seed_names(names: list[tuple[int, int]], frame_count: int, fps: Fraction) -> dict | None:
    """{(name_first, name_last): (first, stop or None)} if the extractor arguments that yield these
    names agree on every folder's first frame; None when no arguments do, or readings disagree.

    Arguments that yield exactly these folders are preferred over ones that yield more (folders a
    person deleted); a stop is None when the readings disagree on it.
    """
    if not names:
        return None
    f = float(fps)
    a1, b_last = names[0][0], names[-1][1]
    starts = {s for s in (math.floor(a1 / f), math.ceil(a1 / f), 0) if s >= 0}
    ends = {None} | {e for e in (math.floor((b_last + 1) / f), math.ceil((b_last + 1) / f)) if e > 0}
    # Folder duration: from the gap between the first two folders, or the first folder's span;
    # none at all, or one longer than the video, for a single folder.
    spans = [(names[0][1] - names[0][0] + 1) / f] + ([(names[1][0] - names[0][0]) / f] if len(names) > 1 else [])
    durations = {d for d in {round(d, k) for d in spans for k in range(4)} | set(spans) if d > 0}
    if len(names) == 1:
        durations |= {None, 1e9}
    exact, subset = [], []
    for s in starts:
        for e in ends:
            for dur in durations:
                layout = _seed_layout(frame_count, f, s, e, dur)
                if all(n in layout for n in names):
                    (exact if len(layout) == len(names) else subset).append({n: layout[n] for n in names})
    readings = exact or subset
    if not readings:
        return None
    out = {}
    for n in names:
        firsts = {r[n][0] for r in readings}
        stops = {r[n][1] for r in readings}
        if len(firsts) > 1:
            return None
        out[n] = (firsts.pop(), stops.pop() if len(stops) == 1 else None)
    return out


def _seed_layout(frame_count: int, f: float, start: int, end: float | None, duration: float | None) -> dict:
    """The published extractor's folders: {(name_first, name_last): (first, stop)}."""
    end = frame_count / f if end is None or end > frame_count / f else end
    limit = min(frame_count, int(end * f))  # its loop runs int(end*fps) times: the last frame is dropped

    def first_at_or_after(t: float, lo: int) -> int:
        i = max(lo, int(t * f) - 2)
        while i / f < t:
            i += 1
        return i

    stop_all = min(limit, first_at_or_after(end, 0))
    first = first_at_or_after(start, 0)
    if first >= stop_all:
        return {}
    if duration is None:
        return {(int(start * f), int(end * f - 1)): (first, stop_all)}
    out = {}
    while first < stop_all:
        t = first / f
        name = (int(t * f), int(min(t + duration, end) * f - 1))
        nxt = min(stop_all, first_at_or_after(t + duration, first + 1))
        out[name] = (first, nxt)
        first = nxt
    return out


# ---------------------------------------------------------------------------------------------
# export
# ---------------------------------------------------------------------------------------------
def export_labelme(prompts: PromptSet, out_dir: str | os.PathLike, image_size: tuple[int, int] | None = None,
                   manifest: str | os.PathLike | dict | None = None, image_ext: str = ".jpg") -> list[Path]:
    """Write one LabelMe 5.x JSON per prompted frame; returns the files written.

    ``image_size`` (width, height): the size of the images LabelMe shows (default: the video's);
    coordinates are scaled to it. With ``manifest`` (the kit's extraction manifest), files go
    into each chunk folder holding the frame, numbered as its JPEGs are. Shapes in an existing
    file that prompts cannot hold (polygons...) are kept; its rectangles and points are replaced.
    """
    out_dir = Path(out_dir)
    v = prompts.video
    iw, ih = image_size or (v.width, v.height)
    sx, sy = iw / v.width, ih / v.height
    placements = _export_places(prompts.prompt_frames, out_dir, manifest)
    by_frame: dict[int, list[FramePrompt]] = {}
    for p in prompts.prompts:
        by_frame.setdefault(p.frame, []).append(p)
    written = []
    for frame, places in placements.items():
        shapes = []
        for p in by_frame[frame]:
            label, group_id = _split_label(prompts.object(p.obj_id).label)
            if p.box is not None:
                x0, y0, x1, y1 = p.box
                shapes.append(_shape(label, [[x0 * sx, y0 * sy], [x1 * sx, y1 * sy]], "rectangle", group_id))
            for (x, y), lab in zip(p.points, p.point_labels):
                shapes.append(_shape(label if lab else label + NEGATIVE_SUFFIXES[0], [[x * sx, y * sy]], "point",
                                     group_id, {"negative": True} if not lab else {}))
        for path in places:
            kept = _kept_shapes(path)
            write_json(path, {"version": LABELME_VERSION, "flags": {}, "shapes": kept + shapes,
                              "imagePath": path.with_suffix(image_ext).name, "imageData": None,
                              "imageHeight": ih, "imageWidth": iw})
            written.append(path)
    return written


def _export_places(frames: Iterable[int], out_dir: Path, manifest) -> dict[int, list[Path]]:
    """Where each frame's file goes: ``00012.json``, or the owning chunk folder's own numbering."""
    if manifest is None:
        return {f: [out_dir / f"{f:05d}.json"] for f in frames}
    d = manifest if isinstance(manifest, dict) else read_json(manifest, "extraction manifest")
    chunks = _manifest_entries(d)
    return {f: [out_dir / c.name / f"{f - c.first_file:05d}.json" for c in chunks if c.start <= f < c.stop]
            for f in frames}


def _split_label(label: str) -> tuple[str, int | None]:
    m = re.match(r"^(.*)#(\d+)$", label)
    return (m.group(1), int(m.group(2))) if m else (label, None)


def _shape(label: str, points, kind: str, group_id, flags: dict | None = None) -> dict:
    return {"label": label, "points": [[round(float(x), 2), round(float(y), 2)] for x, y in points],
            "group_id": group_id, "description": "", "shape_type": kind, "flags": flags or {}, "mask": None}


def _kept_shapes(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return []
    return [s for s in data.get("shapes", []) if s.get("shape_type") not in ("rectangle", "point", "points")]
