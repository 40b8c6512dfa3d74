"""Incremental tracking: after the prompts change, re-track only the objects and frames that changed.

``propagate.track`` calls ``correct`` when ``masks.json`` is complete and the prompts differ from
those it was made from (kept beside it in ``masks/tracked-<digest>.json``, one per ``masks.json``
key, with the record of what that run tracked). Per object, against those prompts:

- removed: its masks are dropped; nothing is tracked.
- label or colour changed: nothing is tracked; the labels are rewritten.
- added (or every one of its prompts changed): tracked alone over the whole video, forward and
  backward from the pass start a full run of the new prompts uses (the earliest prompted frame of
  all objects). SAM 2 1.1 tracks objects independently, so its masks equal a full run's bit for bit.
- a prompt added, moved or deleted on frame t of object k: object k alone, in a fresh SAM 2 state
  holding all its (new) prompts, is re-tracked forward from t up to its next prompted frame and
  backward from t down to its previous one (or to the video's ends), each pass stopping early once
  the new masks agree with the old ones (IoU >= ``agree_iou``) on ``agree_frames`` frames in a row.
  Where two passes reach the same frame, the one that started nearer wins (forward on a tie).

Every other frame and object keeps its mask bytes (RLE and score). Each pass writes its masks to
``masks/fix_*.jsonl`` when complete (a killed correction resumes after the last complete pass); then
``masks.json`` is rewritten once, atomically, streaming frame by frame from the old ``masks.json``
and the new passes, so it is never half old, half new.

What an incremental result may differ in from a full run (the one that equals stock SAM 2): a
full run re-tracks every frame of a corrected object with the new prompt in its memory (SAM 2
attends to every prompted frame), and starts the first few frames after t with memories of the
frames before t; the incremental run keeps the old masks outside the changed spans and starts each
pass with no earlier memories. Objects whose prompts did not change keep the masks of the run that
made them, even if the earliest prompted frame of the video (a full run's pass start) moved.

Example::

    result = track("clip.mp4", "runs/clip")    # after editing prompts.json: re-tracks what changed
    print(result.changes.summary())             # re-tracked `ball` over frames 6–34 (29 frames, 4.1 s); ...
    tracking_changes("runs/clip").changed_spans # {1: [(6, 34)]}: for the QA to mark
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from vidmask_nb.errors import VidmaskError
from vidmask_nb.track.masks import FrameMasks, MaskStore, ObjectMask, encode_rle, write_masks_json
from vidmask_nb.prompts.records import FramePrompt, PromptSet, VideoRef
from vidmask_nb.runfolder.folder import RunFolder, atomic_output, write_json
from vidmask_nb.media.video import VideoInfo
from vidmask_nb.track.sam import SamFrames, add_prompt, init_state, masks_from_logits, object_scores
from vidmask_nb.track.tracker import Pruner, tracked_frames, tracking_context

DEFAULT_AGREE_IOU = 0.95  # a re-tracked pass stops once new and old masks overlap this much ...
DEFAULT_AGREE_FRAMES = 5  # ... on this many frames in a row
RECORD_PREFIX = "tracked-"
FIX_PREFIX = "fix_"
INCREMENTAL = "/incremental-"  # masks.json key of a corrected run: the full run's key, this, the base's digest


# -- the record of a run ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ObjectChange:
    """What a tracking run did to one object.

    ``action``: ``tracked`` (full run), ``added`` (tracked whole: new, or all its prompts changed),
    ``retracked`` (spans around changed prompts), ``relabelled``, ``unchanged`` or ``removed``.
    ``spans``: inclusive (first, last) frame spans whose masks were computed by this run.
    """

    obj_id: int
    label: str
    action: str
    spans: tuple[tuple[int, int], ...] = ()
    seconds: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "seconds", round(float(self.seconds), 2))  # as recorded

    @property
    def frames(self) -> int:
        return sum(b - a + 1 for a, b in self.spans)

    def to_json(self) -> dict:
        return {"id": self.obj_id, "label": self.label, "action": self.action,
                "spans": [list(s) for s in self.spans], "frames": self.frames, "seconds": round(self.seconds, 2)}

    @classmethod
    def from_json(cls, d: dict) -> "ObjectChange":
        return cls(int(d["id"]), str(d["label"]), str(d["action"]), tuple((int(a), int(b)) for a, b in d["spans"]),
                   float(d.get("seconds", 0.0)))


@dataclass(frozen=True)
class TrackingChanges:
    """What one tracking run did: ``full`` (every object, every frame) or ``incremental``.

    ``model_loaded`` says whether SAM 2 was loaded at all (a removal or a relabel never loads it).
    """

    mode: str
    key: str
    frame_count: int
    objects: tuple[ObjectChange, ...]
    seconds: float = 0.0
    model_loaded: bool = True

    def __post_init__(self):
        object.__setattr__(self, "seconds", round(float(self.seconds), 2))  # as recorded

    @property
    def changed_spans(self) -> dict[int, list[tuple[int, int]]]:
        """{object id: [(first, last) frames]} whose masks this run computed (QA marks them)."""
        return {o.obj_id: list(o.spans) for o in self.objects if o.spans}

    @property
    def corrected_spans(self) -> list[tuple[int, int]]:
        """(first, last) frames an incremental run re-tracked, all objects together; [] after a full run."""
        if self.mode != "incremental":
            return []
        return list(_merge_spans([s for spans in self.changed_spans.values() for s in spans]))

    def summary(self) -> str:
        def frames(o: ObjectChange) -> str:
            span = ", ".join(f"{a}–{b}" for a, b in o.spans)
            return f"over frames {span} ({o.frames} frames, {o.seconds:.1f} s)"

        if self.mode == "full":
            return (f"tracked {len(self.objects)} object(s) over all {self.frame_count} frames in "
                    f"{self.seconds:.1f} s (full run: every object, every frame)")
        parts = []
        for o in self.objects:
            if o.action == "retracked":
                parts.append(f"re-tracked `{o.label}` {frames(o)}")
            elif o.action == "added":
                parts.append(f"tracked `{o.label}` (new or all prompts changed) {frames(o)}")
            elif o.action == "removed":
                parts.append(f"dropped `{o.label}`'s masks")
            elif o.action == "relabelled":
                parts.append(f"relabelled `{o.label}` (not re-tracked)")
        unchanged = sum(o.action == "unchanged" for o in self.objects)
        if unchanged:
            parts.append(f"{unchanged} object(s) unchanged")
        if not any(o.spans for o in self.objects):
            parts.insert(0, "nothing re-tracked (SAM 2 not loaded)" if not self.model_loaded else "nothing re-tracked")
        return "; ".join(parts) + f" ({self.seconds:.1f} s in all)"

    def to_json(self) -> dict:
        return {"mode": self.mode, "key": self.key, "frame_count": self.frame_count,
                "seconds": round(self.seconds, 2), "model_loaded": self.model_loaded,
                "summary": self.summary(), "objects": [o.to_json() for o in self.objects]}

    @classmethod
    def from_json(cls, d: dict) -> "TrackingChanges":
        return cls(d["mode"], d["key"], int(d["frame_count"]), tuple(ObjectChange.from_json(o) for o in d["objects"]),
                   float(d.get("seconds", 0.0)), bool(d.get("model_loaded", True)))

    @classmethod
    def full(cls, key: str, frame_count: int, objects: list[dict], seconds: float, model_loaded: bool = True):
        every = ((0, frame_count - 1),)
        return cls("full", key, frame_count, tuple(ObjectChange(int(o["id"]), str(o["label"]), "tracked", every)
                                                   for o in objects), seconds, model_loaded)


def object_prompts(prompts: PromptSet) -> dict[int, dict[int, dict]]:
    """{object id: {frame: merged prompt as JSON, without pts}}: what a correction compares."""
    out: dict[int, dict[int, dict]] = {o.id: {} for o in prompts.objects}
    for (frame, obj_id), p in prompts.merged().items():
        out.setdefault(obj_id, {})[frame] = {k: v for k, v in p.to_json().items() if k != "pts"}
    return out


def _record_path(masks_dir: Path, key: str) -> Path:
    return masks_dir / f"{RECORD_PREFIX}{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"


def write_record(masks_dir: Path, key: str, tracker: str, prompts: PromptSet, changes: TrackingChanges) -> Path:
    """What the masks.json with ``key`` was made from (tracker digest, prompts) and what its run did.

    Written before that masks.json is renamed into place; named by the key, so the record of the
    masks.json still in place is never overwritten by a run that has not finished.
    """
    return write_json(_record_path(masks_dir, key), {
        "key": key, "tracker": tracker,
        "prompts": {str(i): {str(f): p for f, p in per.items()} for i, per in object_prompts(prompts).items()},
        "changes": changes.to_json()})


def read_record(masks_dir: Path, key: str) -> dict | None:
    path = _record_path(masks_dir, key)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if data.get("key") == key else None


def remove_other_records(masks_dir: Path, key: str) -> None:
    keep = _record_path(masks_dir, key).name
    for p in masks_dir.glob(f"{RECORD_PREFIX}*.json"):
        if p.name != keep:
            p.unlink(missing_ok=True)


def tracking_changes(workdir: str | os.PathLike) -> TrackingChanges | None:
    """What the run that made the current ``masks.json`` tracked; None when unknown (no record)."""
    run = RunFolder(workdir)
    try:
        key = MaskStore.load(run.masks_json).header.get("key", "")
    except VidmaskError:
        return None
    record = read_record(run.masks_dir, key)
    return None if record is None else TrackingChanges.from_json(record["changes"])


# -- planning --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FixPass:
    """One SAM 2 pass of a correction: object ``obj_id`` from frame ``start`` towards ``limit``.

    Forward passes cover ``start .. limit``; backward ones ``start - 1 .. limit`` (frame ``start``
    is processed first, so its output is in memory, but the forward pass from it owns it).
    Early stopping is allowed only past ``must_reach`` (changed frames the pass is responsible for).
    """

    obj_id: int
    start: int
    reverse: bool
    limit: int
    must_reach: int

    @property
    def name(self) -> str:
        return f"{FIX_PREFIX}o{self.obj_id}_{'rev' if self.reverse else 'fwd'}_f{self.start:06d}-{self.limit:06d}"

    @property
    def order(self) -> list[int]:
        """SAM 2 frame indices in processing order (the start frame first)."""
        return list(range(self.start, self.limit - 1, -1)) if self.reverse else list(range(self.start, self.limit + 1))


def plan_passes(obj_id: int, old: dict[int, dict], new: dict[int, dict], frame_count: int) -> list[FixPass]:
    """The passes that re-track one object whose prompts changed from ``old`` to ``new`` ({frame: prompt}).

    The new prompted frames cut the video into gaps. A changed prompted frame t runs forward over
    the gap after it (t included) and backward over the gap before it; a gap holding only deleted
    prompts, with unchanged ends, is run forward and backward from its first deleted frame.

    Example::

        plan_passes(1, {5: a, 35: b}, {5: a, 15: c, 35: b}, 100)
        # backward from 15 down to 6, forward from 15 up to 34
    """
    changed = sorted(f for f in set(old) | set(new) if old.get(f) != new.get(f))
    if not changed:
        return []
    bounds = [-1] + sorted(new) + [frame_count]
    passes: list[FixPass] = []
    for p, n in zip(bounds, bounds[1:]):
        deleted = [f for f in changed if p < f < n]
        p_changed, n_changed = p >= 0 and p in changed, n < frame_count and n in changed
        if p_changed:  # forward from the changed prompt over the gap after it (its own frame included)
            passes.append(FixPass(obj_id, p, False, n - 1, max(deleted, default=p)))
        if n_changed and n - 1 > p:  # backward from the changed prompt over the gap before it
            passes.append(FixPass(obj_id, n, True, p + 1, min(deleted, default=n)))
        if deleted and not p_changed and not n_changed:
            first = deleted[0]
            passes.append(FixPass(obj_id, first, False, n - 1, deleted[-1]))
            if first - 1 > p:
                passes.append(FixPass(obj_id, first, True, p + 1, first))
    return sorted(passes, key=lambda s: (s.start, s.reverse))


@dataclass
class CorrectionPlan:
    """Per object, what a correction does (see the module docstring)."""

    removed: list[int] = field(default_factory=list)
    relabelled: list[int] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)
    added: list[int] = field(default_factory=list)
    retrack: dict[int, list[FixPass]] = field(default_factory=dict)


def plan_correction(old_objects: list[dict], old_prompts: dict[int, dict[int, dict]], prompts: PromptSet,
                    frame_count: int) -> CorrectionPlan:
    new_prompts = object_prompts(prompts)
    old_by_id = {int(o["id"]): o for o in old_objects}
    plan = CorrectionPlan(removed=sorted(set(old_by_id) - set(new_prompts)))
    for obj in prompts.objects:
        old, new = old_prompts.get(obj.id), new_prompts[obj.id]
        if obj.id not in old_by_id or old is None or not any(old.get(f) == p for f, p in new.items()):
            plan.added.append(obj.id)  # new, or none of its prompts is kept: its old masks say nothing
            continue
        passes = plan_passes(obj.id, old, new, frame_count)
        if passes:
            plan.retrack[obj.id] = passes
        elif (old_by_id[obj.id].get("label"), list(old_by_id[obj.id].get("color") or [])) != (obj.label, list(obj.color)):
            plan.relabelled.append(obj.id)
        else:
            plan.unchanged.append(obj.id)
    return plan


# -- running ---------------------------------------------------------------------------------------

def rle_iou(a: dict, b: dict) -> float:
    """IoU of two COCO RLE masks of one size (1.0 when both are empty)."""
    from pycocotools import mask as mask_utils

    def raw(r):
        c = r["counts"]
        return {"size": list(r["size"]), "counts": c.encode("ascii") if isinstance(c, str) else c}

    ra, rb = raw(a), raw(b)
    if mask_utils.area(ra) == 0 and mask_utils.area(rb) == 0:
        return 1.0
    return float(mask_utils.iou([ra], [rb], [0])[0][0])


class _FixFile:
    """A finished pass: one JSON line per frame (``{"frame", "score", "rle"}``), then a summary line."""

    def __init__(self, path: Path, key: str):
        self.path = path
        self.offsets: dict[int, int] = {}
        self.summary: dict | None = None
        try:
            with open(path, "rb") as f:
                pos = 0
                for line in f:
                    d = json.loads(line)
                    if "summary" in d:
                        self.summary = d["summary"] if d.get("key") == key else None
                    else:
                        self.offsets[int(d["frame"])] = pos
                    pos += len(line)
        except (OSError, ValueError, KeyError):
            self.summary = None
        self._fh = None

    @property
    def complete(self) -> bool:
        return self.summary is not None

    @property
    def span(self) -> tuple[int, int] | None:
        return (min(self.offsets), max(self.offsets)) if self.offsets else None

    def get(self, frame: int) -> tuple[float, dict]:
        if self._fh is None:
            self._fh = open(self.path, "rb")
        self._fh.seek(self.offsets[frame])
        d = json.loads(self._fh.readline())
        return float(d["score"]), d["rle"]

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()


def _clear_tracked_outputs(state: dict) -> None:
    """Forget every tracked (non-conditioning) output: each pass starts from the prompts alone,
    so a resumed correction gives the same bytes as an uninterrupted one."""
    for obj_store in state["output_dict_per_obj"].values():
        obj_store["non_cond_frame_outputs"].clear()
    for tracked in state["frames_tracked_per_obj"].values():
        tracked.clear()


def _run_passes(predictor, info: VideoInfo, masks_dir: Path, key: str, obj_prompts: dict[int, FramePrompt],
                passes: list[FixPass], old: MaskStore, agree_iou: float, agree_frames: int, progress: bool) -> None:
    """Run the passes not yet on disk on one fresh SAM 2 state holding one object's prompts."""
    from tqdm.auto import tqdm

    todo = [s for s in passes if not _FixFile(masks_dir / f"{s.name}.jsonl", key).complete]
    if not todo:
        return
    if len(todo) < len(passes):
        print(f"resuming: {len(passes) - len(todo)} of {len(passes)} correction passes were already tracked", flush=True)
    frames = SamFrames(info, predictor.image_size)
    state = init_state(predictor, info, frames=frames)
    for frame, prompt in sorted(obj_prompts.items()):
        add_prompt(predictor, state, prompt, frame_idx=frame)
    pruner = Pruner(predictor, pass_starts=[])
    bar = tqdm(total=sum(len(s.order) for s in todo), unit="frame", desc="re-tracking", disable=not progress)
    try:
        with tracking_context(predictor):
            for s in todo:
                _clear_tracked_outputs(state)
                order = s.order
                frames.prefetch(order)
                t0, agree, last = time.perf_counter(), 0, s.start
                with atomic_output(masks_dir / f"{s.name}.jsonl") as tmp, open(tmp, "w", encoding="utf-8") as f:
                    for frame, obj_ids, video_res_masks in tracked_frames(predictor, state, pruner, s.start, order,
                                                                          s.reverse, bar):
                        if s.reverse and frame == s.start:
                            continue  # the forward pass from here owns this frame
                        rle = encode_rle(masks_from_logits(obj_ids, video_res_masks)[s.obj_id])
                        score = object_scores(state, frame)[s.obj_id]
                        f.write(json.dumps({"frame": frame, "score": round(score, 4), "rle": rle}) + "\n")
                        last = frame
                        before = next(o for o in old[frame].objects if o.obj_id == s.obj_id)
                        past = frame < s.must_reach if s.reverse else frame > s.must_reach
                        agree = agree + 1 if past and rle_iou(rle, before.rle) >= agree_iou else 0
                        if agree >= agree_frames:
                            bar.update(1)
                            break
                    f.write(json.dumps({"key": key, "summary": {**asdict(s), "last": last, "stopped_early": agree >= agree_frames,
                                                                "seconds": round(time.perf_counter() - t0, 2)}}) + "\n")
                    f.flush()
                    os.fsync(f.fileno())
                frames.stop_prefetch()
                bar.update(len(order) - 1 - order.index(last) if last in order else 0)
    finally:
        frames.close()
        bar.close()


def correct(run: RunFolder, info: VideoInfo, prompts: PromptSet, full_key: str, tracker: str,
            load_model: Callable[[], object], track_objects: Callable[[tuple[int, ...], int], Path],
            agree_iou: float = DEFAULT_AGREE_IOU, agree_frames: int = DEFAULT_AGREE_FRAMES,
            progress: bool = True) -> tuple[str, TrackingChanges] | None:
    """Correct the complete ``masks.json`` in ``run`` to ``prompts``; None when it cannot be (a full run is due).

    ``load_model()`` returns the predictor (called only when something is tracked);
    ``track_objects(ids, pass_start)`` tracks whole objects on their own and returns their masks.json.
    Returns the new masks.json key and what was done.
    """
    if not 0 < agree_iou <= 1 or agree_frames < 1:
        raise VidmaskError(f"agree_iou must be in (0, 1] and agree_frames 1 or more, not {agree_iou}, {agree_frames}")
    try:
        # A run with changed inputs moved the masks off their final name (runfolder.state.RunState.retire_stale).
        old = MaskStore.load(run.masks_json if run.masks_json.is_file() else run.previous_masks_json)
        old.check_video(info)
    except VidmaskError:
        return None
    old_key = str(old.header.get("key", ""))
    record = read_record(run.masks_dir, old_key)
    if record is None or record.get("tracker") != tracker:
        return None  # made by another model, size, device or code version (or by an older kit): track afresh
    old_prompts = {int(i): {int(f): p for f, p in per.items()} for i, per in record["prompts"].items()}
    if sorted(old_prompts) != sorted(int(o["id"]) for o in old.objects):
        return None
    t_start = time.perf_counter()
    plan = plan_correction(old.objects, old_prompts, prompts, info.frame_count)
    key = f"{full_key}{INCREMENTAL}{hashlib.sha256(old_key.encode()).hexdigest()[:8]}"
    labels = {o.id: o.label for o in prompts.objects}
    merged = prompts.merged()
    pass_start = min(frame for frame, _ in merged)
    loaded = False
    seconds: dict[int, float] = {}

    added_json = None
    if plan.added:
        t0 = time.perf_counter()
        added_json = track_objects(tuple(plan.added), pass_start)
        loaded = True
        for i in plan.added:
            seconds[i] = (time.perf_counter() - t0) / len(plan.added)
    fixes: dict[int, list[_FixFile]] = {}
    for obj_id, passes in plan.retrack.items():
        t0 = time.perf_counter()
        _run_passes(load_model(), info, run.masks_dir, key,
                    {frame: p for (frame, i), p in merged.items() if i == obj_id}, passes, old,
                    agree_iou, agree_frames, progress)
        loaded = True
        seconds[obj_id] = time.perf_counter() - t0
        fixes[obj_id] = [_FixFile(run.masks_dir / f"{s.name}.jsonl", key) for s in passes]
        if not all(fx.complete for fx in fixes[obj_id]):
            raise VidmaskError(f"correction files in {run.masks_dir} are incomplete; run the propagation again")

    spans: dict[int, tuple[tuple[int, int], ...]] = {
        i: _merge_spans([fx.span for fx in fxs if fx.span]) for i, fxs in fixes.items()}
    objects = []
    for o in prompts.objects:
        if o.id in plan.added:
            objects.append(ObjectChange(o.id, o.label, "added", ((0, info.frame_count - 1),), seconds[o.id]))
        elif o.id in plan.retrack:
            objects.append(ObjectChange(o.id, o.label, "retracked", spans[o.id], seconds[o.id]))
        else:
            objects.append(ObjectChange(o.id, o.label, "relabelled" if o.id in plan.relabelled else "unchanged"))
    for i in plan.removed:
        label = next(str(o.get("label", "")) for o in old.objects if int(o["id"]) == i)
        objects.append(ObjectChange(i, label, "removed"))
    changes = TrackingChanges("incremental", key, info.frame_count, tuple(objects),
                              time.perf_counter() - t_start, loaded)

    owner = {i: _owner_of_frames(fxs) for i, fxs in fixes.items()}
    header_objects = [{"id": o.id, "label": o.label, "color": list(o.color)} for o in prompts.objects]

    def frames() -> Iterator[FrameMasks]:
        added_frames = iter(MaskStore.load(added_json)) if added_json is not None else None
        for fm in old:
            objs = {}
            if added_frames is not None:
                g = next(added_frames)
                if g.frame != fm.frame:
                    raise VidmaskError(f"the new objects' masks skip frame {fm.frame}; run the propagation again")
                objs.update({o.obj_id: o for o in g.objects})
            for o in fm.objects:
                if o.obj_id not in labels or o.obj_id in plan.added:
                    continue  # removed, or tracked afresh
                score, rle = o.score, o.rle
                fx = owner.get(o.obj_id, {}).get(fm.frame)
                if fx is not None:
                    score, rle = fx.get(fm.frame)
                objs[o.obj_id] = ObjectMask(o.obj_id, labels[o.obj_id], score, rle)
            yield FrameMasks(fm.frame, fm.pts, tuple(objs[i] for i in sorted(objs)))

    try:
        write_record(run.masks_dir, key, tracker, prompts, changes)
        with atomic_output(run.masks_json) as tmp:
            write_masks_json(tmp, VideoRef.of(info).__dict__, header_objects, frames(), key=key)
    finally:
        for fxs in fixes.values():
            for fx in fxs:
                fx.close()
    remove_other_records(run.masks_dir, key)
    for p in run.masks_dir.glob(f"{FIX_PREFIX}*.jsonl"):
        p.unlink(missing_ok=True)
    if added_json is not None:
        shutil.rmtree(Path(added_json).parent, ignore_errors=True)
    return key, changes


def _merge_spans(spans: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    out: list[list[int]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return tuple((a, b) for a, b in out)


def _owner_of_frames(fixes: list[_FixFile]) -> dict[int, _FixFile]:
    """{frame: the pass whose mask it takes}: the pass that started nearest (forward on a tie)."""
    best: dict[int, tuple[tuple[int, int], _FixFile]] = {}
    for fx in fixes:
        start, reverse = int(fx.summary["start"]), bool(fx.summary["reverse"])
        for frame in fx.offsets:
            rank = (abs(frame - start), int(reverse))
            if frame not in best or rank < best[frame][0]:
                best[frame] = (rank, fx)
    return {f: fx for f, (_, fx) in best.items()}
