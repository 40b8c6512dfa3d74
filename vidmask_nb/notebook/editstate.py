"""The prompt editor's state and edits, without widgets: what ``editor.PromptEditor`` shows and changes.

``EditState`` holds a video's prompts (``prompts.json``), the frame shown, the picked object, the
drawing mode, the selected prompt, the undo stack and the detectors' pending proposals. Every
operation that changes prompts saves ``prompts.json`` at once (atomically); if the file cannot be
written the edit is taken back, so what is shown is what the file holds. Each operation leaves a
one-line ``message`` saying what it did (the widget's status line). Coordinates are source pixels.

Example (no notebook needed)::

    state = EditState(probe("clip.mp4"), Path("runs/clip/prompts.json"))
    state.set_frame(120)
    state.new_object("licence plate")
    state.add_box(400, 300, 520, 340)        # saved at once
    state.add_point(460, 320, positive=False)
    state.undo()

What the mouse draws goes through ``drag_box``: a drag shorter than ``min_box`` source pixels is a
slip (nothing changes, the message says so), and a drag for an object that already has a box on
the frame is held as ``pending_box`` until ``replace_box`` (the deliberate act; undoable) or
anything else drops it. ``add_box`` (a call, not a mouse) replaces at once and says so.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from vidmask_nb.detect.detectors import Detections, iou_matrix
from vidmask_nb.errors import VidmaskError
from vidmask_nb.prompts.records import FramePrompt, PromptSet, TrackedObject
from vidmask_nb.media.video import VideoInfo

MODES = {"box": "box (a click: + point)", "positive": "+ point", "negative": "- point"}
MODE_BADGES = {"box": "box", "positive": "+ point", "negative": "− point"}  # drawn in the image's corner
UNDO_DEPTH = 200
# A detection belongs to an object already there when this share of its box lies inside the object's box
# prompt or tracked mask on that frame: a face inside a drawn person is that person's, not a new object.
OWNED_SHARE = 0.5
MIN_BOX_PX = 8  # a drawn box's longer side must reach this many source pixels (and 1 % of the frame)


def min_box_px(width: int, height: int) -> int:
    """The shortest drag (its longer side, source pixels) taken as a box: ``MIN_BOX_PX`` or 1 % of
    the frame's longer side, whichever is larger (8 px at 540p, 19 px at 1080p, 38 px at 4K), so a
    slip of the hand is a slip at any resolution and display scale."""
    return max(MIN_BOX_PX, round(max(width, height) / 100))


def _count(n: int, kind: str) -> str:
    noun = {"face": "face", "text": "text box", "pii": "personal text box", "code": "code"}.get(kind, kind)
    return f"{n} {noun}" + ("" if n == 1 else ("es" if noun.endswith("x") else "s"))  # "2 personal text boxes", not "2 piis"


@dataclass(frozen=True)
class Proposal:
    """A detector's box on one frame, waiting to be accepted (-> an object's box prompt) or rejected."""

    frame: int
    kind: str  # "face" | "text" | "pii" | "code"
    box: tuple[float, float, float, float]  # source pixels
    score: float
    group: str | None = None  # the whole-video pass's object for it ("face 2"): accepted ones join it
    boxed_by: int | None = None  # found on a box prompt already there: that prompt's object (not proposed)

    def describe(self) -> str:
        x0, y0, x1, y1 = self.box
        return (f"frame {self.frame} · {self.group or self.kind} · score {self.score:.2f} · "
                f"box ({x0:.0f}, {y0:.0f})-({x1:.0f}, {y1:.0f})")


@dataclass(frozen=True)
class _Snapshot:
    objects: tuple[TrackedObject, ...]
    prompts: tuple[FramePrompt, ...]
    obj_id: int
    restores: tuple[Proposal, ...] = ()  # proposals an accept used up: undo brings them back


class EditState:
    """The editable prompts of one video, saved to ``path`` after every edit.

    - ``info``: the video; ``path``: its ``prompts.json`` (loaded and checked against the video if
      it exists; otherwise written with the first edit).
    - ``frame``: the frame shown first (default: the first prompted frame, else 0).
    """

    def __init__(self, info: VideoInfo, path: str | Path, frame: int | None = None):
        self.info = info
        self.path = Path(path)
        self.loaded = self.path.is_file()
        self.prompts = PromptSet.load(self.path, info) if self.loaded else PromptSet.for_video(info)
        if not self.prompts.objects:
            self.prompts.add_object("object 1")  # in memory; written with the first edit
        self._sort_prompts()
        self.frame = self.prompts.prompt_frames[0] if self.prompts.prompts else 0
        if frame is not None:
            self.frame = self.check_frame(frame)
        self.obj_id = self.prompts.objects[0].id
        self.mode = "box"
        self.selected: int | None = None  # index into prompts.prompts
        self.proposals: list[Proposal] = []
        self.selected_proposal: int | None = None  # index into proposals
        self.matched: list[Proposal] = []  # the last Find's detections already boxed (``boxed_by`` set)
        self.show_matched = False  # draw ``matched`` (the "show found" button)
        self.pending_box: FramePrompt | None = None  # a drawn box waiting for ``replace_box``
        self.min_box = min_box_px(info.width, info.height)
        self.message = (f"{len(self.prompts.prompts)} prompt(s) loaded from {self.path}" if self.loaded
                        else f"new prompts; every edit is saved to {self.path}")
        self._undo: list[_Snapshot] = []
        self._group_objects: dict[str, int] = {}  # whole-video pass group -> the object accepted for it

    # ------------------------------------------------------------------ frames, mode, objects
    def check_frame(self, frame) -> int:
        """``frame`` as an int, or a ``VidmaskError`` when it is outside the video."""
        frame = int(frame)
        if not 0 <= frame < self.info.frame_count:
            raise VidmaskError(f"frame {frame} is outside the video (0..{self.info.frame_count - 1})")
        return frame

    def set_frame(self, frame: int) -> None:
        self.frame = self.check_frame(frame)
        if self.pending_box is not None and self.pending_box.frame != self.frame:
            self.pending_box = None
        if self.selected is not None and self.prompts.prompts[self.selected].frame != self.frame:
            self.selected = None

    def step_frame(self, step: int = 1) -> None:
        self.set_frame(min(max(self.frame + step, 0), self.info.frame_count - 1))

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise VidmaskError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
        self.mode = mode

    def mode_badge(self) -> str:
        """What the image's corner says: the mode and the object a click adds to."""
        return f"{MODE_BADGES[self.mode]} · {self.prompts.object(self.obj_id).label}"

    def select_object(self, obj_id: int | None) -> None:
        if obj_id is None:
            return
        self.prompts.object(int(obj_id))  # raises for an unknown id
        if int(obj_id) != self.obj_id:
            self.pending_box = None
        self.obj_id = int(obj_id)

    def new_object(self, label: str | None = None) -> TrackedObject:
        """Add an object (a label; 'object N' if empty) and pick it. Saved.

        An untouched placeholder ('object N' with no prompt, such as the 'object 1' a new editor
        starts with) is reused rather than left behind empty: tracking refuses objects without prompts.
        """
        label = (label or "").strip()
        if label and any(o.label == label for o in self.prompts.objects):
            raise VidmaskError(f"there is already an object labelled {label!r}; pick it in the list or "
                               "choose another label")
        empty = self._placeholder()
        if empty and not label:
            self.select_object(empty.id)
            self.message = f"object {empty.id} is still empty: draw on it (picked)"
            return empty
        self._push_undo()
        obj = self._reuse_empty_object(label) or self.prompts.add_object(
            label or f"object {max(o.id for o in self.prompts.objects) + 1}")
        self.obj_id = obj.id
        self._saved(f"new object {obj.id}: {obj.label}" + (" (reused the empty placeholder)" if empty else ""))
        return obj

    def rename_object(self, obj_id: int, label: str) -> TrackedObject:
        label = (label or "").strip()
        if not label:
            raise VidmaskError("type the new label first")
        if any(o.label == label and o.id != obj_id for o in self.prompts.objects):
            raise VidmaskError(f"another object is already labelled {label!r}")
        old = self.prompts.object(obj_id)
        if old.label == label:
            self.message = f"object {obj_id} is already labelled {label!r}: type the new label first"
            return old
        self._push_undo()
        new = replace(old, label=label)
        self.prompts.objects = [new if o.id == obj_id else o for o in self.prompts.objects]
        self._saved(f"object {obj_id} renamed {old.label!r} -> {label!r}")
        return new

    def delete_object(self, obj_id: int | None = None) -> None:
        """Remove an object (default: the picked one) and all its prompts. Saved; undo brings it back."""
        obj_id = self.obj_id if obj_id is None else int(obj_id)
        self.prompts.object(obj_id)
        self._push_undo()
        self.prompts.prompts = [p for p in self.prompts.prompts if p.obj_id != obj_id]
        self.prompts.objects = [o for o in self.prompts.objects if o.id != obj_id]
        if not self.prompts.objects:
            self.prompts.add_object("object 1")
        if self.obj_id == obj_id:
            self.obj_id = self.prompts.objects[0].id
        self.selected = None
        self._saved(f"object {obj_id} deleted with its prompts")

    # ------------------------------------------------------------------ prompts
    def add_box(self, x0: float, y0: float, x1: float, y1: float, frame: int | None = None,
                obj_id: int | None = None) -> FramePrompt:
        """Add a box in source pixels (corners in any order, clamped to the frame). Saved.

        An object has one box per frame (SAM 2 takes one): a new box replaces the old one there.
        """
        frame, obj_id = self._target(frame, obj_id)
        W, H = self.info.width, self.info.height
        x0, x1 = sorted((min(max(float(x0), 0.0), W), min(max(float(x1), 0.0), W)))
        y0, y1 = sorted((min(max(float(y0), 0.0), H), min(max(float(y1), 0.0), H)))
        if x1 - x0 <= 0 or y1 - y0 <= 0:
            raise VidmaskError(f"the box ({x0:.0f}, {y0:.0f})-({x1:.0f}, {y1:.0f}) has no area inside the frame; "
                               "drag a larger box")
        self._push_undo()
        replaced = [p for p in self.prompts.prompts if p.frame == frame and p.obj_id == obj_id and p.box is not None]
        self.prompts.prompts = [p for p in self.prompts.prompts if p not in replaced]
        prompt = FramePrompt(frame, obj_id, box=(x0, y0, x1, y1), pts=self.info.pts[frame])
        self._insert(prompt)
        self._saved(f"box ({x0:.0f}, {y0:.0f})-({x1:.0f}, {y1:.0f}) for {self._obj_name(obj_id)} on frame {frame}"
                    + (" (replaced its previous box; undo: z)" if replaced else ""))
        return prompt

    def box_on_frame(self, frame: int | None = None, obj_id: int | None = None) -> FramePrompt | None:
        """The box prompt of ``obj_id`` (default: the picked object) on ``frame`` (default: shown), if any."""
        frame, obj_id = self._target(frame, obj_id)
        return next((p for p in self.prompts.prompts if p.frame == frame and p.obj_id == obj_id
                     and p.box is not None), None)

    def drag_box(self, x0: float, y0: float, x1: float, y1: float, replace: bool = False) -> FramePrompt | None:
        """What a mouse drag from (x0, y0) to (x1, y1) (source pixels) does in box mode.

        - Its longer side under ``min_box`` px (or its shorter under a quarter of that): a slip.
          Nothing changes; the message says so. Returns None.
        - The picked object has a box on this frame already: nothing changes yet. The drawn box is
          held as ``pending_box`` and the message says how to put it in place (``replace_box``).
          With ``replace`` it replaces the old one at once (undoable). Returns None / the new box.
        - Otherwise: a new box for the picked object (``add_box``). Saved.
        """
        self.pending_box = None
        w, h = abs(float(x1) - float(x0)), abs(float(y1) - float(y0))
        if max(w, h) < self.min_box or min(w, h) < max(2.0, self.min_box / 4):
            self.message = (f"a {w:.0f}x{h:.0f} px drag is too small for a box (at least {self.min_box} px "
                            f"across), so nothing changed: drag wider for a box, click without moving for a point")
            return None
        old = self.box_on_frame()
        if old is not None and not replace:
            x0, x1 = sorted((min(max(float(x0), 0.0), self.info.width), min(max(float(x1), 0.0), self.info.width)))
            y0, y1 = sorted((min(max(float(y0), 0.0), self.info.height), min(max(float(y1), 0.0), self.info.height)))
            self.pending_box = FramePrompt(self.frame, self.obj_id, box=(x0, y0, x1, y1), pts=self.info.pts[self.frame])
            self.message = (f"{self._obj_name(self.obj_id)} already has a box on frame {self.frame}, kept: press "
                            "'replace box' (r) to put the dashed one in its place, Esc to drop it; for "
                            "something else, pick or add another object first")
            return None
        return self.add_box(x0, y0, x1, y1)

    def replace_box(self) -> FramePrompt:
        """Put ``pending_box`` (a drag over the picked object's box) in place of that box. Saved; undoable."""
        pending = self.pending_box
        if pending is None:
            raise VidmaskError("no box waiting to replace another: drag the new box first")
        self.pending_box = None
        return self.add_box(*pending.box, frame=pending.frame, obj_id=pending.obj_id)

    def drop_pending(self) -> None:
        """Forget ``pending_box`` (Esc)."""
        if self.pending_box is not None:
            self.pending_box = None
            self.message = "the dashed box was dropped; the object's box is unchanged"

    def add_point(self, x: float, y: float, positive: bool = True, frame: int | None = None,
                  obj_id: int | None = None) -> FramePrompt:
        """Add a positive (on the object) or negative (not the object) point in source pixels. Saved."""
        frame, obj_id = self._target(frame, obj_id)
        x = min(max(float(x), 0.0), float(self.info.width))
        y = min(max(float(y), 0.0), float(self.info.height))
        self._push_undo()
        prompt = FramePrompt(frame, obj_id, points=((x, y),), point_labels=(1 if positive else 0,),
                             pts=self.info.pts[frame])
        self._insert(prompt)
        self._saved(f"{'+' if positive else '-'} point ({x:.0f}, {y:.0f}) for {self._obj_name(obj_id)} "
                    f"on frame {frame}")
        return prompt

    def delete(self, prompt_index: int | None = None) -> FramePrompt:
        """Delete a prompt by its index in ``prompts.prompts`` (the list's order); the selected one if None."""
        index = self.selected if prompt_index is None else int(prompt_index)
        if index is None:
            raise VidmaskError("no prompt selected: pick one in the list first")
        if not 0 <= index < len(self.prompts.prompts):
            raise VidmaskError(f"there is no prompt {index}; there are {len(self.prompts.prompts)}")
        self._push_undo()
        prompt = self.prompts.prompts.pop(index)
        self.selected = None
        self._saved(f"deleted {prompt.describe()}")
        return prompt

    def select_prompt(self, prompt_index: int | None) -> None:
        """Select a prompt (the target of delete); shows its frame and picks its object."""
        if prompt_index is None:
            self.selected = None
            return
        p = self.prompts.prompts[int(prompt_index)]
        self.selected = int(prompt_index)
        self.obj_id = p.obj_id
        self.frame = p.frame

    def undo(self) -> bool:
        """Undo the last edit (boxes, points, deletions, objects, accepts). Saved. False if nothing to undo."""
        if not self._undo:
            self.message = "nothing to undo"
            return False
        snap, current = self._undo.pop(), self._snapshot()
        self._restore(snap)
        try:
            self._saved("undone", take_back=False)
        except BaseException:
            self._restore(current)
            self._undo.append(snap)
            raise
        return True

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    def save(self) -> Path:
        """Write ``prompts.json`` atomically (every edit already does)."""
        return self.prompts.save(self.path)

    def prompts_on_frame(self, frame: int | None = None) -> list[FramePrompt]:
        frame = self.frame if frame is None else frame
        return [p for p in self.prompts.prompts if p.frame == frame]

    def describe_prompt(self, i: int) -> str:
        """One line for prompt ``i`` (the list's entry)."""
        p = self.prompts.prompts[i]
        label = self.prompts.object(p.obj_id).label
        if p.box is not None:
            x0, y0, x1, y1 = p.box
            what = f"box ({x0:.0f}, {y0:.0f})-({x1:.0f}, {y1:.0f})"
        else:
            what = ", ".join(f"{'+' if lab else '-'} point ({x:.0f}, {y:.0f})"
                             for (x, y), lab in zip(p.points, p.point_labels))
        return f"#{i} frame {p.frame} · {p.obj_id}: {label} · {what}"

    def _target(self, frame, obj_id) -> tuple[int, int]:
        frame = self.check_frame(self.frame if frame is None else frame)
        obj_id = self.obj_id if obj_id is None else int(obj_id)
        self.prompts.object(obj_id)
        return frame, obj_id

    def _insert(self, prompt: FramePrompt) -> None:
        self.prompts.prompts.append(prompt)
        self._sort_prompts()
        self.selected = max(i for i, p in enumerate(self.prompts.prompts) if p is prompt)

    def _sort_prompts(self) -> None:
        # The order the file is written in (PromptSet.to_json sorts the same way, stably), so a
        # list index means the same prompt on screen and on disk.
        self.prompts.prompts.sort(key=lambda p: (p.frame, p.obj_id))

    def _snapshot(self) -> _Snapshot:
        return _Snapshot(tuple(self.prompts.objects), tuple(self.prompts.prompts), self.obj_id)

    def _restore(self, snap: _Snapshot) -> None:
        self.prompts.objects, self.prompts.prompts = list(snap.objects), list(snap.prompts)
        self.obj_id, self.selected = snap.obj_id, None
        self.pending_box = None
        self.proposals += [p for p in snap.restores if p not in self.proposals]
        self.selected_proposal = None

    def _push_undo(self, restores: tuple[Proposal, ...] = ()) -> None:
        self.pending_box = None  # any edit drops a box waiting for "replace"
        self._undo.append(replace(self._snapshot(), restores=restores))
        del self._undo[:-UNDO_DEPTH]

    def _saved(self, what: str, take_back: bool = True) -> None:
        """Save after an edit. If the file cannot be written, the edit is taken back (``take_back``)
        so that what the screen shows is what the file holds."""
        try:
            self.save()
        except BaseException:
            if take_back:
                self._restore(self._undo.pop())
            raise
        self.message = f"{what} · saved {self.path.name} ({len(self.prompts.prompts)} prompts)"

    def _obj_name(self, obj_id: int) -> str:
        return f"'{self.prompts.object(obj_id).label}'"

    # ------------------------------------------------------------------ proposals (from the detectors)
    def owner(self, frame: int, box, masks: dict | None = None, carried: dict | None = None) -> int | None:
        """The object already there that a detection ``box`` on ``frame`` belongs to, or None (a new one).

        Its box prompt on that frame matches the detection (IoU ``MATCH_IOU``) or holds ``OWNED_SHARE`` of
        it (a face inside a drawn person); or its tracked mask there (``masks``: {object id: HxW bool})
        covers that share of it; or (``carried``: {object id: box}) it continues that object's detection
        on the frame searched before, as ``find.find_objects`` follows its own objects (IoU ``MATCH_IOU``).
        """
        from vidmask_nb.detect.options import MATCH_IOU

        box = np.asarray(box, np.float64)
        area = max(float((box[2] - box[0]) * (box[3] - box[1])), 1e-9)
        best, owner = 0.0, None

        def inside(other) -> float:  # the share of ``box`` that ``other`` (a box) holds
            w = min(box[2], other[2]) - max(box[0], other[0])
            h = min(box[3], other[3]) - max(box[1], other[1])
            return max(w, 0) * max(h, 0) / area

        candidates = [(p.obj_id, np.asarray(p.box, np.float64)) for p in self.prompts_on_frame(frame) if p.box is not None]
        for obj_id, other in candidates:
            score = max(inside(other), 1.0 if float(iou_matrix(box, other)[0, 0]) >= MATCH_IOU else 0.0)
            if score >= OWNED_SHARE and score > best:
                best, owner = score, obj_id
        if owner is None and masks:
            x0, y0 = max(int(box[0]), 0), max(int(box[1]), 0)
            for obj_id, mask in masks.items():
                part = mask[y0:max(int(np.ceil(box[3])), y0), x0:max(int(np.ceil(box[2])), x0)]
                score = float(part.sum()) / area
                if score >= OWNED_SHARE and score > best and any(o.id == obj_id for o in self.prompts.objects):
                    best, owner = score, int(obj_id)
        if owner is None and carried:
            for obj_id, other in carried.items():
                score = float(iou_matrix(box, np.asarray(other, np.float64))[0, 0])
                if score >= MATCH_IOU and score > best:
                    best, owner = score, obj_id
        return owner

    def _detections(self, frame: int, dets: Detections, masks: dict | None = None,
                    carried: dict | None = None) -> list[Proposal]:
        """Every detection as a proposal, best first; one that belongs to an object already there (``owner``)
        has ``boxed_by`` set."""
        out = []
        for i in np.argsort(-dets.scores, kind="stable"):
            box = tuple(round(float(v), 2) for v in dets.boxes[i])  # as prompts.json keeps it
            out.append(Proposal(frame, str(dets.kinds[i]), box, float(dets.scores[i]),
                                boxed_by=self.owner(frame, box, masks, carried)))
        return out

    def propose_on_frame(self, frame: int, kinds: tuple[str, ...], dets: Detections,
                         masks: dict | None = None) -> list[Proposal]:
        """``dets`` (of ``kinds``, found on ``frame``) replace that frame's pending proposals of those
        kinds; the best is selected and its frame shown. Detections of an object already there (its box
        prompt, or its tracked mask in ``masks``: ``owner``) are not proposed but counted in the message
        and kept in ``matched`` (``show_matched`` draws them). Nothing is saved."""
        frame = self.check_frame(frame)
        every = self._detections(frame, dets, masks)
        found = [p for p in every if p.boxed_by is None]
        self.matched = [p for p in every if p.boxed_by is not None]
        self.proposals = [p for p in self.proposals if not (p.frame == frame and p.kind in kinds)] + found
        self.selected_proposal = self.proposals.index(found[0]) if found else None
        if frame != self.frame:
            self.set_frame(frame)
        self.message = self._found_message(frame, kinds, every, found)
        return found

    def _found_message(self, frame: int, kinds, every: list[Proposal], found: list[Proposal]) -> str:
        if not every:
            return f"no {' or '.join(kinds)} found on frame {frame}"
        by_kind = {}
        for p in every:
            by_kind[p.kind] = by_kind.get(p.kind, 0) + 1
        what = " and ".join(_count(n, k) for k, n in by_kind.items()) + f" found on frame {frame}"
        if self.matched:
            names = ", ".join(dict.fromkeys(self.prompts.object(p.boxed_by).label for p in self.matched))
            n = len(self.matched)
            boxed = (f"{n} already boxed" if n < len(every) else "already boxed" if n == 1 else
                     "both already boxed" if n == 2 else "all already boxed")
            boxed += f" ({names}): show them ('show found')"
        if not found:
            return f"{what}, {boxed}"
        new = f"{len(found)} new proposal(s): click one, then accept or reject"
        return f"{what}: {new}" + (f"; {boxed}" if self.matched else "")

    def set_show_matched(self, show: bool) -> None:
        """Draw (or not) the last Find's detections that were already boxed."""
        self.show_matched = bool(show)
        if self.show_matched:
            shown = [p for p in self.matched if p.frame == self.frame]
            self.message = (f"{len(shown)} detection(s) already boxed shown dotted on frame {self.frame}" if shown
                            else "no detection already boxed on this frame (press Find first)")

    def propose_objects(self, log: list[dict], matched: list[Proposal] = ()) -> list[Proposal]:
        """Proposals from ``find.find_objects``'s log (one per object found, or found again): all
        pending proposals are replaced. ``matched``: the detections that belong to objects already there
        (``owner``), not proposed but counted in the message and drawn by ``show_matched``."""
        self.proposals = sorted((Proposal(e["frame"], e["kind"], tuple(float(v) for v in e["box"]),
                                          float(e["score"]), group=e["object"]) for e in log),
                                key=lambda p: (p.frame, p.group or ""))
        self.matched = list(matched)
        self.selected_proposal = None
        return list(self.proposals)

    def claim_known(self, frame: int, dets: Detections, masks: dict | None, carried: dict) -> Detections:
        """``dets`` without those that belong to an object already there (``owner``; each goes to
        ``matched``); ``carried`` ({object id: box}) is updated with the claimed boxes, so the next frame
        searched follows them. For the whole-video find, frame by frame in order."""
        props = self._detections(frame, dets, masks, carried)
        order = np.argsort(-dets.scores, kind="stable")
        keep = [int(i) for i, p in zip(order, props) if p.boxed_by is None]
        for p in props:
            if p.boxed_by is not None:
                self.matched.append(p)
                carried[p.boxed_by] = p.box
        return dets[np.array(sorted(keep), dtype=int)]

    def matched_line(self) -> str:
        """How many detections the last Find left out as already boxed, and whose ("" for none)."""
        if not self.matched:
            return ""
        names = ", ".join(dict.fromkeys(self.prompts.object(p.boxed_by).label for p in self.matched))
        return f"{len(self.matched)} detection(s) already boxed ({names}), not proposed: show them ('show found')"

    def select_proposal(self, index: int | None) -> None:
        """Pick a proposal (for accept / reject) and show its frame."""
        if index is None:
            self.selected_proposal = None
            return
        index = self._proposal_index(index)
        self.selected_proposal = index
        self.frame = self.proposals[index].frame
        self.message = f"proposal #{index}: {self.proposals[index].describe()} · accept or reject"

    def proposal_at(self, x: float, y: float) -> int | None:
        """The index of the (smallest) proposal on this frame under source pixel (x, y), if any."""
        hits = [(area, i) for i, p in enumerate(self.proposals) if p.frame == self.frame
                and p.box[0] <= x <= p.box[2] and p.box[1] <= y <= p.box[3]
                for area in [(p.box[2] - p.box[0]) * (p.box[3] - p.box[1])]]
        return min(hits)[1] if hits else None

    def accept(self, index: int | None = None, into: int | None = None) -> FramePrompt:
        """Accept a proposal (default: the selected one) as a box prompt on its frame. Saved; undo
        takes it back and returns the proposal.

        - ``into=None``: a new object labelled by its kind (``face 3``; a whole-video group's accepted
          proposals share one); the placeholder ``object 1`` is reused.
        - ``into=<object id>``: that object gets the box (and the proposal's group joins it). Refused
          when it has a box on that frame already (delete that box first, or accept as a new object).
        The object that got the box is picked.
        """
        index = self._proposal_index(index)
        if into is not None:
            into = int(into)
            prop = self.proposals[index]
            if self.box_on_frame(prop.frame, into) is not None:
                raise VidmaskError(f"{self._obj_name(into)} already has a box on frame {prop.frame}: accept as a "
                                   "new object, or select that box in the list and delete it first")
        return self._accept([index], into=into)[0]

    def accept_into_picked(self, index: int | None = None) -> FramePrompt:
        """Accept a proposal into the picked object (``accept(index, into=obj_id)``)."""
        return self.accept(index, into=self.obj_id)

    def accept_all(self) -> list[FramePrompt]:
        """Accept every pending proposal (one undo step)."""
        if not self.proposals:
            raise VidmaskError("no proposals to accept: press Find first")
        return self._accept(list(range(len(self.proposals))))

    def reject(self, index: int | None = None) -> Proposal:
        """Drop a proposal (default: the selected one); nothing is saved."""
        index = self._proposal_index(index)
        prop = self.proposals.pop(index)
        self.selected_proposal = None
        self.message = f"rejected {prop.describe()} · {len(self.proposals)} proposal(s) left"
        return prop

    def reject_all(self) -> int:
        n = len(self.proposals)
        self.proposals, self.selected_proposal = [], None
        self.message = f"rejected {n} proposal(s)"
        return n

    def _accept(self, indices: list[int], into: int | None = None) -> list[FramePrompt]:
        chosen = [self.proposals[i] for i in indices]
        self._push_undo(restores=tuple(chosen))
        added = []
        for prop in chosen:
            obj = self._object_for(prop) if into is None else self.prompts.object(into)
            if into is not None and prop.group:
                self._group_objects[prop.group] = into
            self.prompts.prompts = [p for p in self.prompts.prompts
                                    if not (p.frame == prop.frame and p.obj_id == obj.id and p.box is not None)]
            prompt = FramePrompt(prop.frame, obj.id, box=prop.box, pts=self.info.pts[prop.frame])
            self._insert(prompt)
            added.append(prompt)
            self.obj_id = obj.id
        self.proposals = [p for p in self.proposals if p not in chosen]
        self.selected_proposal = None
        labels = ", ".join(dict.fromkeys(self.prompts.object(p.obj_id).label for p in added))
        self._saved(f"accepted {len(added)} proposal(s) as {labels}" if len(added) > 1 else
                    f"accepted into {labels}: box on frame {added[0].frame}" if into is not None else
                    f"accepted: {labels}, box on frame {added[0].frame}")
        return added

    def _object_for(self, prop: Proposal) -> TrackedObject:
        """The object an accepted proposal joins: its group's, or a new one labelled ``<kind> N``."""
        ids = {o.id for o in self.prompts.objects}
        if prop.group and self._group_objects.get(prop.group) in ids:
            return self.prompts.object(self._group_objects[prop.group])
        labels = {o.label for o in self.prompts.objects}
        if prop.group and prop.group not in labels:
            label = prop.group
        else:
            taken = [int(n) for kind, _, n in (lab.rpartition(" ") for lab in labels)
                     if kind == prop.kind and n.isdigit()]
            label = f"{prop.kind} {max(taken, default=0) + 1}"
        obj = self._reuse_empty_object(label) or self.prompts.add_object(label)
        if prop.group:
            self._group_objects[prop.group] = obj.id
        return obj

    def _reuse_empty_object(self, label: str) -> TrackedObject | None:
        """An untouched placeholder renamed ``label``, so no empty object is left behind (tracking
        refuses objects without prompts); None if there is none."""
        old = self._placeholder()
        if old is None:
            return None
        new = replace(old, label=label)
        self.prompts.objects = [new if o.id == old.id else o for o in self.prompts.objects]
        return new

    def _placeholder(self) -> TrackedObject | None:
        """An object with its automatic label ('object N') and no prompt yet (the picked one first)."""
        used = {p.obj_id for p in self.prompts.prompts}
        empty = [o for o in self.prompts.objects if o.id not in used and o.label == f"object {o.id}"]
        return next((o for o in empty if o.id == self.obj_id), empty[0] if empty else None)

    def _proposal_index(self, index: int | None) -> int:
        index = self.selected_proposal if index is None else int(index)
        if index is None:
            raise VidmaskError("no proposal selected: click a cyan box (or pick one in the list) first"
                               if self.proposals else "no proposals: press Find first")
        if not 0 <= index < len(self.proposals):
            raise VidmaskError(f"there is no proposal {index}; there are {len(self.proposals)}")
        return index
