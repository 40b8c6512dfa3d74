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

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from vidmask_nb.errors import VidmaskError
from vidmask_nb.runfolder.folder import read_json, write_json

PROMPTS_VERSION = 1

# A palette that stays distinguishable on video (Sasha Trubetskoy's 20 distinct colours, first 10).
PALETTE = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
           (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212)]


def color_for(obj_id: int) -> tuple[int, int, int]:
    return PALETTE[(obj_id - 1) % len(PALETTE)]


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
        obj_id = int(d["id"])
        return cls(obj_id, str(d.get("label", "")), tuple(int(c) for c in d.get("color") or color_for(obj_id)))


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
        box = d.get("box")
        return cls(frame=int(d["frame"]), obj_id=int(d["obj_id"]),
                   box=None if box is None else tuple(float(v) for v in box),
                   points=tuple((float(x), float(y)) for x, y in d.get("points", [])),
                   point_labels=tuple(int(v) for v in d.get("point_labels", [])),
                   pts=d.get("pts"))


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
        if d.get("version") != PROMPTS_VERSION:
            raise VidmaskError(f"{source} has prompt-file version {d.get('version')!r}; this kit reads "
                               f"version {PROMPTS_VERSION}")
        try:
            return cls(video=VideoRef(**d["video"]),
                       objects=[TrackedObject.from_json(o) for o in d.get("objects", [])],
                       prompts=[FramePrompt.from_json(p) for p in d.get("prompts", [])])
        except (KeyError, TypeError, ValueError) as exc:
            raise VidmaskError(f"{source} is not a valid prompt file ({exc!r})") from exc

    def save(self, path: str | os.PathLike) -> Path:
        """Write atomically: a crash mid-save leaves the previous file intact."""
        return write_json(path, self.to_json())

    @classmethod
    def load(cls, path: str | os.PathLike, info=None) -> "PromptSet":
        """Load and validate; with ``info`` (a VideoInfo) also check it is this video's."""
        return cls.from_json(read_json(path, "prompts"), source=str(path)).validate(info)

    @classmethod
    def for_video(cls, info) -> "PromptSet":
        return cls(VideoRef.of(info))

