"""Prompts from a person's file or LabelMe folder, failing closed: nothing marked is dropped silently.

``load_prompt_source(source, info)`` reads a ``prompts.json`` or a LabelMe folder and checks every
shape, file and prompt against the video. Anything that cannot be used (a polygon, a file past the
last frame, a box wholly outside the frame, a prompt for an unknown object, a shape without a
label...) stops it with ONE error listing each (file, label, why), before any heavy work. With
``drop_unusable=True`` it goes on without them and says so: ``PromptSource.unusable`` lists each,
``show()`` prints them (in red in a notebook) and headless runs record them in ``run.json``.

A box partly outside the frame is CLIPPED to the frame, never dropped: for redaction, covering
the visible part of the object is safer than covering nothing. Each clipped box is listed too
(``PromptSource.clipped``).

Example::

    src = load_prompt_source("labelme_folder", info, drop_unusable=True)
    src.show()                       # dropped shapes and clipped boxes, by file and label
    src.prompts.save(run.prompts_json)
"""
from __future__ import annotations

import html
import math
import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

from vidmask_nb.errors import VidmaskError
from vidmask_nb.prompts.records import FramePrompt, PromptSet, read_prompt_json

DROP_FLAG = "--drop-unusable-prompts"


@dataclass(frozen=True)
class UnusablePrompt:
    """A shape, file or prompt that cannot be used, and why."""

    file: str
    label: str
    why: str

    def __str__(self) -> str:
        return f"{self.file}: {self.label!r}: {self.why}" if self.label else f"{self.file}: {self.why}"

    def to_json(self) -> dict:
        return {"file": self.file, "label": self.label, "why": self.why}


@dataclass
class PromptSource:
    """Prompts read from a person's file or folder, with what was left out or changed."""

    source: str
    prompts: PromptSet
    unusable: list[UnusablePrompt] = field(default_factory=list)
    clipped: list[str] = field(default_factory=list)  # "file: box 'label' reached outside the frame; clipped"
    notes: list[str] = field(default_factory=list)
    summary: str = ""  # what was read, e.g. "LabelMe import from F: 2 file(s), 2 box(es), 2 point(s)"

    def lines(self) -> list[str]:
        """What a person must know: each dropped prompt, each clipped box (empty when all is well)."""
        out = []
        if self.unusable:
            out.append(f"{len(self.unusable)} prompt(s) or shape(s) from {self.source} DROPPED "
                       f"({DROP_FLAG}): those objects may NOT be hidden:")
            out += [f"  - {u}" for u in self.unusable]
        if self.clipped:
            out.append(f"{len(self.clipped)} box(es) reached outside the frame and were clipped to it "
                       "(the visible part is covered):")
            out += [f"  - {c}" for c in self.clipped]
        return out

    def to_json(self) -> dict:
        return {"source": self.source, "dropped": [u.to_json() for u in self.unusable], "clipped": list(self.clipped)}

    @classmethod
    def from_json(cls, data: dict, prompts: PromptSet) -> "PromptSource":
        """What ``to_json`` recorded (the run's ``prompt_check``), over ``prompts``: a notebook shows what a
        headless run dropped and clipped."""
        return cls(str(data.get("source", "")), prompts, [UnusablePrompt(**u) for u in data.get("dropped", [])],
                   list(data.get("clipped", [])))

    def show(self) -> None:
        """Print the dropped and clipped prompts; in a notebook, also show them in red."""
        lines = ([self.summary] if self.summary else []) + self.lines() + [f"note: {n}" for n in self.notes]
        if not lines:
            return
        print("\n".join(lines), file=sys.stderr if _headless() else sys.stdout, flush=True)
        if "ipykernel" in sys.modules and self.lines():
            from IPython.display import HTML, display

            display(HTML('<div style="color:#b00000;border:2px solid #b00000;padding:6px;white-space:pre-wrap;'
                         f'font-weight:bold">{html.escape(chr(10).join(self.lines()))}</div>'))


def _headless() -> bool:
    return "ipykernel" not in sys.modules


def load_prompt_source(source: str | os.PathLike, info, drop_unusable: bool = False,
                       into: PromptSet | None = None, required: bool = True) -> PromptSource:
    """Read ``source`` (a ``prompts.json`` or a LabelMe folder) as prompts for ``info`` (a VideoInfo).

    Raises ``VidmaskError`` listing every unusable shape, file or prompt unless ``drop_unusable``;
    also when no usable prompt is left (unless not ``required``: detectors add objects). ``into``:
    prompts to add a LabelMe import to.
    """
    source = Path(source)
    if not source.exists():
        raise VidmaskError(f"prompts not found: {source} (give a prompts.json or a LabelMe folder)")
    if source.is_dir():
        out = _from_labelme(source, info, into)
    else:
        out = _from_file(source, info)
    if out.unusable and not drop_unusable:
        listed = "\n".join(f"  - {u}" for u in out.unusable)
        raise VidmaskError(f"{len(out.unusable)} prompt(s) or shape(s) in {source} cannot be used; nothing was run:\n"
                           f"{listed}\nFix them (draw a rectangle or points on a frame of this video), or pass "
                           f"{DROP_FLAG} to go on without them (they are then listed on the console and in run.json)")
    if required:
        out.prompts.require_prompts()
    return out


def _from_labelme(folder: Path, info, into: PromptSet | None) -> PromptSource:
    from vidmask_nb.prompts.labelme import import_labelme

    prompts, report = import_labelme(folder, info, into=into)
    unusable = [UnusablePrompt(s.file, s.label, f"{s.shape_type}: {s.reason}") for s in report.skipped_shapes]
    unusable += [UnusablePrompt(name, "", why) for name, why in report.skipped_files]
    clipped = [n for n in report.notes if n.endswith("clipped")]
    notes = [n for n in report.notes if not n.endswith("clipped")]
    return PromptSource(str(folder), prompts, unusable, clipped, notes, summary=str(report).splitlines()[0])


def _from_file(path: Path, info) -> PromptSource:
    prompts = PromptSet.from_json(read_prompt_json(path, "prompts"), source=str(path)).check_video(info)
    labels = {o.id: o.label for o in prompts.objects}
    w, h = prompts.video.width, prompts.video.height
    kept, unusable, clipped = [], [], []
    for p in prompts.prompts:
        label = labels.get(p.obj_id, f"object id {p.obj_id}")
        where = f"{path.name}, frame {p.frame}"
        if p.box is not None and p.obj_id in labels and len(p.box) == 4 and all(map(math.isfinite, p.box)):
            x0, y0, x1, y1 = p.box
            box = (min(max(x0, 0.0), w), min(max(y0, 0.0), h), min(max(x1, 0.0), w), min(max(y1, 0.0), h))
            if box != tuple(p.box) and box[2] > box[0] and box[3] > box[1] and x1 > x0 and y1 > y0:
                clipped.append(f"{where}: box {label!r} {list(p.box)} reached outside the {w}x{h} frame; clipped")
                p = replace(p, box=box)
        why = prompts.prompt_problem(p)
        if why:
            unusable.append(UnusablePrompt(where, label, why))
        else:
            kept.append(p)
    prompts.prompts = kept
    return PromptSource(str(path), prompts, unusable, clipped)


def sample_prompts(info, frames: tuple[int, ...] | None = None):
    """Boxes a person would draw on the sample clip: the ball on a frame a third of the way in
    (so the reverse pass has work to do) and the block later on. Returns a ``PromptSet``."""
    from vidmask_nb.media.sample import SAMPLE_OBJECTS, SampleScene

    scene = SampleScene((info.width, info.height), info.fps)
    n = info.frame_count
    frames = frames or (n // 3, (2 * n) // 3)
    prompts = PromptSet.for_video(info)
    for obj_id, frame in zip((1, 2), frames):
        label, color = SAMPLE_OBJECTS[obj_id]
        prompts.add_object(label, color)
        prompts.prompts.append(FramePrompt(frame=frame, obj_id=obj_id, box=scene.object_box(frame, obj_id),
                                           pts=info.pts[frame]))
    return prompts.validate(info)
