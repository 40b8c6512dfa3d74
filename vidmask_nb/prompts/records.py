"""Prompts: which objects to hide, and the boxes and points that show SAM 2 where they are.

``prompts.json`` (version 1)::

    {"version": 1,
     "video": {"name": "clip.mp4", "width": 1280, "height": 720, "frame_count": 289,
               "fps": "30000/1001", "fingerprint": "sha256:..."},
     "objects": [{"id": 1, "label": "dog", "color": [230, 25, 75]}],
     "prompts": [{"frame": 12, "pts": 6006, "obj_id": 1, "box": [x0, y0, x1, y1],
                  "points": [[x, y], ...], "point_labels": [1, 0, ...]}]}

Coordinates are source pixels (x right, y down; a box is [x0, y0, x1, y1]). A point label of 1
is positive (part of the object), 0 negative. Several prompts may share a frame and object: they
are merged into one SAM 2 call (box + all points) for that frame and object.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from vidmask_nb.errors import VidmaskError
from vidmask_nb.runfolder.folder import read_json, write_json

PROMPTS_VERSION = 1

# A palette that stays distinguishable on video (Sasha Trubetskoy's 20 distinct colours, first 10).
PALETTE = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
           (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212)]


def color_for(obj_id: int) -> tuple[int, int, int]:
    return PALETTE[(obj_id - 1) % len(PALETTE)]


# -- reading a person's file: every value checked, any shape of JSON gives one plain error ----------

def _whole(value, what: str) -> int:
    """A whole number from a file (``3``, ``3.0``); ValueError naming ``what`` for anything else."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not float(value).is_integer():
        raise ValueError(f"{what} must be a whole number, not {_short(value)}")
    return int(value)


def _real(value, what: str) -> float:
    """A number from a file (NaN and infinity are kept: the prompt check names them)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{what} must be a number, not {_short(value)}")
    return float(value)


def _items(value, what: str) -> list:
    if not isinstance(value, list):
        raise ValueError(f"{what} must be a list, not {_short(value)}")
    return value


def _entry(value, what: str) -> dict:
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be an object {{...}}, not {_short(value)}")
    return value


def _short(value, limit: int = 40) -> str:
    """A value as an error names it: its repr, cut short (a 10 MB list stays one short line)."""
    try:
        text = repr(value) if not isinstance(value, (list, dict)) else type(value).__name__
    except RecursionError:
        text = type(value).__name__
    return text if len(text) <= limit else text[:limit] + "..."


def read_prompt_json(path: str | os.PathLike, what: str = "prompts"):
    """The JSON of a person's prompt file; a file nested too deep to parse is one plain error."""
    try:
        return read_json(path, what)
    except RecursionError:
        raise VidmaskError(f"{what} file {path} nests too deep to be a {what} file") from None


@dataclass(frozen=True)
class VideoRef:
    """The video a file of the run was made for (``prompts.json``, ``masks.json``, an extraction
    manifest): its ``check(info)`` is THE same-video check. Unknown fields are None (not compared)."""

    name: str = ""
    width: int | None = None
    height: int | None = None
    frame_count: int | None = None
    fps: str = ""
    fingerprint: str = ""

    def to_json(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, d: dict) -> "VideoRef":
        """From a file's ``video`` entry (a manifest's may have ``source``/``path`` and ``pts`` instead
        of ``name`` and ``frame_count``)."""
        def number(key):
            return None if d.get(key) is None else int(d[key])

        frame_count = number("frame_count")
        if frame_count is None and d.get("pts") is not None:
            frame_count = len(d["pts"])
        name = d.get("name") or Path(str(d.get("source") or d.get("path") or "")).name
        return cls(str(name), number("width"), number("height"), frame_count, str(d.get("fps") or ""),
                   str(d.get("fingerprint") or ""))

    def check(self, info, made: str = "this file was", redo: str = "make it again for this video") -> None:
        """Raise ``VidmaskError`` when ``info`` (a ``VideoInfo``) is not the video this refers to:
        another content fingerprint, or another size or frame count. ``made`` is the subject of the
        message (``"these prompts were"``), ``redo`` what to do."""
        name = Path(info.path).name
        if self.fingerprint and info.fingerprint and self.fingerprint != info.fingerprint:
            size = f", {self.width}x{self.height}" if self.width is not None else ""
            frames = f", {self.frame_count} frames" if self.frame_count is not None else ""
            raise VidmaskError(f"{made} made for another video ({self.name or '?'}{size}{frames}, fingerprint "
                               f"{self.fingerprint}); {name} differs. {redo[:1].upper()}{redo[1:]}")
        mine = (self.width, self.height, self.frame_count)
        theirs = (info.width, info.height, info.frame_count)
        if any(a is not None and a != b for a, b in zip(mine, theirs)):
            size = f"{self.width}x{self.height} " if self.width is not None else ""
            raise VidmaskError(f"{made} made for a {size}video of {self.frame_count} frames ({self.name or '?'}); "
                               f"{name} is {info.width}x{info.height} with {info.frame_count} frames. "
                               f"{redo[:1].upper()}{redo[1:]}")

    @classmethod
    def from_file(cls, d) -> "VideoRef":
        """A prompt file's ``video`` entry, every field checked (ValueError naming the bad one)."""
        d = _entry(d, '"video"')
        known = {f.name for f in fields(cls)}
        unknown = sorted(str(k) for k in d if k not in known)
        if unknown:
            raise ValueError(f'"video" has unknown fields {unknown[:5]}; known: {sorted(known)}')
        missing = [k for k in ("width", "height", "frame_count") if d.get(k) is None]
        if missing:
            raise ValueError(f'"video" must give {", ".join(missing)} (the kit writes them; draw the prompts '
                             "for this video in notebook 02)")
        out = {}
        for k in ("width", "height", "frame_count"):
            out[k] = _whole(d[k], f"video {k}")
            if out[k] < 1:
                raise ValueError(f"video {k} must be 1 or more, not {out[k]}")
        for k in ("name", "fps", "fingerprint"):
            if d.get(k) is not None and not isinstance(d[k], str):
                raise ValueError(f"video {k} must be text, not {_short(d[k])}")
            out[k] = d.get(k) or ""
        return cls(**out)

    @classmethod
    def of(cls, info) -> "VideoRef":
        """From a ``video.VideoInfo``."""
        from vidmask_nb.media.video import fraction_str

        return cls(Path(info.path).name, info.width, info.height, info.frame_count,
                   fraction_str(info.fps), info.fingerprint)


@dataclass(frozen=True)
class TrackedObject:
    """An object to hide, as prompts, masks and pictures name it: its id, label and drawing colour."""

    id: int
    label: str
    color: tuple[int, int, int]

    def to_json(self) -> dict:
        return {"id": self.id, "label": self.label, "color": list(self.color)}

    @classmethod
    def from_json(cls, d: "dict | TrackedObject") -> "TrackedObject":
        """From a file's object entry (no colour: the palette's for its id); a record is returned as is."""
        if isinstance(d, TrackedObject):
            return d
        d = _entry(d, "an object")
        if "id" not in d:
            raise ValueError("an object has no id")
        obj_id = _whole(d["id"], "an object's id")
        label = d.get("label", "")
        if not isinstance(label, (str, int, float)) or isinstance(label, bool):
            raise ValueError(f"object {obj_id}'s label must be text, not {_short(label)}")
        color = d.get("color") or color_for(obj_id)
        color = tuple(_whole(c, f"object {obj_id}'s colour") for c in _items(list(color) if isinstance(color, tuple)
                                                                             else color, f"object {obj_id}'s colour"))
        if len(color) != 3 or not all(0 <= c <= 255 for c in color):
            raise ValueError(f"object {obj_id}'s colour must be 3 numbers 0..255, not {list(color)}")
        return cls(obj_id, str(label), color)


@dataclass(frozen=True)
class FramePrompt:
    """A box and/or points for one object on one frame, in source pixels."""

    frame: int
    obj_id: int
    box: tuple[float, float, float, float] | None = None
    points: tuple[tuple[float, float], ...] = ()
    point_labels: tuple[int, ...] = ()
    pts: int | None = None

    def describe(self) -> str:
        what = "box" if self.box is not None else f"{len(self.points)} point(s)"
        return f"prompt ({what}) for object {self.obj_id} on frame {self.frame}"

    def to_json(self) -> dict:
        return {"frame": self.frame, "pts": self.pts, "obj_id": self.obj_id,
                "box": None if self.box is None else [round(float(v), 2) for v in self.box],
                "points": [[round(float(x), 2), round(float(y), 2)] for x, y in self.points],
                "point_labels": [int(v) for v in self.point_labels]}

    @classmethod
    def from_json(cls, d: dict) -> "FramePrompt":
        """From a file's prompt entry, every value checked: ValueError naming the bad one. A box of
        the wrong length or with a NaN is kept as it is, for ``PromptSet.prompt_problem`` to name."""
        d = _entry(d, "a prompt")
        for key in ("frame", "obj_id"):
            if key not in d:
                raise ValueError(f"a prompt has no {key!r}")
        frame, obj_id = _whole(d["frame"], "a prompt's frame"), _whole(d["obj_id"], "a prompt's obj_id")
        where = f"the prompt for object {obj_id} on frame {frame}:"
        box = d.get("box")
        if box is not None:
            box = tuple(_real(v, f"{where} box values") for v in _items(box, f"{where} box"))
        points = []
        for pt in _items(d.get("points") or [], f"{where} points"):
            pt = _items(pt, f"{where} a point")
            if len(pt) != 2:
                raise ValueError(f"{where} a point must be [x, y], not {len(pt)} numbers")
            points.append((_real(pt[0], f"{where} point x"), _real(pt[1], f"{where} point y")))
        labels = tuple(_whole(v, f"{where} point labels") for v in _items(d.get("point_labels") or [],
                                                                          f"{where} point labels"))
        pts = d.get("pts")
        return cls(frame=frame, obj_id=obj_id, box=box, points=tuple(points), point_labels=labels,
                   pts=None if pts is None else _whole(pts, f"{where} pts"))


@dataclass
class PromptSet:
    """Objects and their prompts for one video."""

    video: VideoRef
    objects: list[TrackedObject] = field(default_factory=list)
    prompts: list[FramePrompt] = field(default_factory=list)

    # -- objects -----------------------------------------------------------
    def object(self, obj_id: int) -> TrackedObject:
        for o in self.objects:
            if o.id == obj_id:
                return o
        raise VidmaskError(f"no object with id {obj_id}; known objects: "
                           f"{', '.join(f'{o.id} ({o.label})' for o in self.objects) or 'none'}")

    def add_object(self, label: str, color: tuple[int, int, int] | None = None) -> TrackedObject:
        new_id = max((o.id for o in self.objects), default=0) + 1
        obj = TrackedObject(new_id, label, tuple(color) if color else color_for(new_id))
        self.objects.append(obj)
        return obj

    def object_by_label(self, label: str, create: bool = False) -> TrackedObject:
        for o in self.objects:
            if o.label == label:
                return o
        if create:
            return self.add_object(label)
        raise VidmaskError(f"unknown label {label!r}; known labels: "
                           f"{', '.join(o.label for o in self.objects) or 'none'}")

    # -- prompts -----------------------------------------------------------
    @property
    def prompt_frames(self) -> list[int]:
        return sorted({p.frame for p in self.prompts})

    def merged(self) -> dict[tuple[int, int], FramePrompt]:
        """One prompt per (frame, object): boxes (the last one wins) and all points together."""
        out: dict[tuple[int, int], FramePrompt] = {}
        for p in self.prompts:
            key = (p.frame, p.obj_id)
            if key not in out:
                out[key] = p
                continue
            q = out[key]
            out[key] = replace(q, box=p.box if p.box is not None else q.box,
                               points=q.points + p.points, point_labels=q.point_labels + p.point_labels)
        return dict(sorted(out.items()))

    # -- validation --------------------------------------------------------
    def validate(self, info=None) -> "PromptSet":
        """Raise ``VidmaskError`` naming the first bad prompt; check against ``info`` (a VideoInfo) if given."""
        self.check_video(info)
        for p in self.prompts:
            why = self.prompt_problem(p)
            if why:
                raise VidmaskError(f"{p.describe()} {why}")
        return self

    def check_video(self, info=None) -> "PromptSet":
        """Raise when these prompts belong to another video than ``info``, or object ids repeat."""
        if info is not None:
            self.video.check(info, "these prompts were", "draw prompts for this video (notebook 02)")
        ids = [o.id for o in self.objects]
        if len(ids) != len(set(ids)):
            raise VidmaskError(f"object ids repeat in the prompt file: {ids}")
        return self

    def prompt_problem(self, p: FramePrompt) -> str | None:
        """Why ``p`` cannot be used (e.g. ``"is past the end of the video (frames 0..47)"``), or None."""
        v = self.video
        ids = [o.id for o in self.objects]
        if p.obj_id not in ids:
            return f"names an unknown object id {p.obj_id}; known ids: {ids or 'none'}"
        if not 0 <= p.frame < v.frame_count:
            return f"is past the end of the video (frames 0..{v.frame_count - 1})"
        if p.box is None and not p.points:
            return "has neither a box nor points"
        numbers = (p.box or ()) + tuple(v for xy in p.points for v in xy)
        if not all(math.isfinite(v) for v in numbers):
            return f"has a number that is not finite (box {list(p.box) if p.box else None}, points {list(p.points)})"
        if p.box is not None and len(p.box) != 4:
            return f"has a box of {len(p.box)} number(s) {list(p.box)}; a box is [x0, y0, x1, y1]"
        if p.box is not None:
            x0, y0, x1, y1 = p.box
            if x1 - x0 <= 0 or y1 - y0 <= 0:
                return f"has a zero-area box {list(p.box)} (need x0 < x1 and y0 < y1)"
            if x0 < 0 or y0 < 0 or x1 > v.width or y1 > v.height:
                return f"box {list(p.box)} lies outside the {v.width}x{v.height} frame"
        if len(p.points) != len(p.point_labels):
            return f"has {len(p.points)} points but {len(p.point_labels)} point labels"
        for (x, y), lab in zip(p.points, p.point_labels):
            if not (0 <= x <= v.width and 0 <= y <= v.height):
                return f"point ({x}, {y}) lies outside the {v.width}x{v.height} frame"
            if lab not in (0, 1):
                return f"point label {lab} must be 1 (positive) or 0 (negative)"
        return None

    def require_prompts(self) -> "PromptSet":
        if not self.prompts:
            raise VidmaskError("the prompt file holds no prompts: draw at least one box on the object "
                               "to hide (notebook 02), or import LabelMe boxes")
        return self

    # -- files -------------------------------------------------------------
    def to_json(self) -> dict:
        return {"version": PROMPTS_VERSION, "video": self.video.to_json(),
                "objects": [o.to_json() for o in self.objects],
                "prompts": [p.to_json() for p in sorted(self.prompts, key=lambda p: (p.frame, p.obj_id))]}

    @classmethod
    def from_json(cls, d: dict, source: str = "prompts") -> "PromptSet":
        """From a prompt file's JSON, whatever its shape: anything but a version-1 prompt file is one
        plain ``VidmaskError`` naming the first bad value (never a Python error)."""
        if not isinstance(d, dict):
            raise VidmaskError(f"{source} is not a prompt file: its top level is {_short(d)}, not "
                               '{"version": 1, "video": ..., "objects": [...], "prompts": [...]}')
        if d.get("version") != PROMPTS_VERSION:
            raise VidmaskError(f"{source} has prompt-file version {_short(d.get('version'))}; this kit reads "
                               f"version {PROMPTS_VERSION}")
        try:
            if "video" not in d:
                raise ValueError('it has no "video" entry')
            return cls(video=VideoRef.from_file(d["video"]),
                       objects=[TrackedObject.from_json(o) for o in _items(d.get("objects") or [], '"objects"')],
                       prompts=[FramePrompt.from_json(p) for p in _items(d.get("prompts") or [], '"prompts"')])
        except (KeyError, TypeError, ValueError, OverflowError, RecursionError) as exc:
            raise VidmaskError(f"{source} is not a valid prompt file: {_first_line(exc)}") from None

    def save(self, path: str | os.PathLike) -> Path:
        """Write atomically: a crash mid-save leaves the previous file intact."""
        return write_json(path, self.to_json())

    @classmethod
    def load(cls, path: str | os.PathLike, info=None) -> "PromptSet":
        """Load and validate; with ``info`` (a VideoInfo) also check it is this video's."""
        return cls.from_json(read_prompt_json(path, "prompts"), source=str(path)).validate(info)

    @classmethod
    def for_video(cls, info) -> "PromptSet":
        return cls(VideoRef.of(info))



def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
