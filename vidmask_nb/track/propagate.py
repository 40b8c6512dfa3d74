"""Track the prompted objects through the whole video with one SAM 2 state: flat memory, resumable.

How it runs (stage 03; reads ``prompts.json``, writes ``masks/`` and ``masks.json``):

- One SAM 2 inference state for the whole video, over frames decoded lazily from the source
  (``sam.SamFrames``; no JPEG folder, no whole-video tensor).
- Forward from the earliest prompted frame to the end, then backward from it to frame 0, so frames
  before the first prompt are masked too. Objects first prompted later are tracked from the
  earliest prompt on, as stock SAM 2 does (their prompt is a conditioning memory for every frame).
- After each frame, outputs the model will never read again are dropped (see ``Pruner``), so host
  and GPU memory stay flat however long the video is; the masks equal stock SAM 2's bit for bit.
- Chunks (``chunks.plan_chunks``) are units of progress, mask files and checkpoints, not state
  resets: each is a ``Segment`` (a chunk's frames in one direction), tracked by calling stock
  ``propagate_in_video`` again on the same state. After each segment its masks are written
  (``masks/<segment>.json``, COCO RLE at source resolution with each object's score) and then the
  pruned tracker state (``masks/tracker_state.pt``), both atomically.
- Every file carries a key naming what produced it (model, weights, prompts, input size, device,
  video, code version); files with another key are never reused. A run killed at any point is
  rerun with the same call and continues after the last complete segment, giving the same bytes
  as an uninterrupted run.
- Finally ``masks.json``: every frame, every object (empty mask where it is absent).

Example::

    store = propagate("clip.mp4", "runs/clip", TrackOptions(model="tiny"))   # -> masks.MaskStore
    store[0].masks()                                              # {obj_id: HxW bool}

From a shell: ``vidmask-nb track clip.mp4 --prompts prompts.json --out runs/clip``.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Iterator

import numpy as np

from vidmask_nb.media.chunks import DEFAULT_CHUNK_SECONDS, plan_chunks
from vidmask_nb.track.corrections import (DEFAULT_AGREE_FRAMES, DEFAULT_AGREE_IOU, FIX_PREFIX, INCREMENTAL, TrackingChanges,
                                    correct, remove_other_records, tracking_changes, write_record)
from vidmask_nb.errors import VidmaskError, check_number
from vidmask_nb.track.masks import FrameMasks, MaskStore, ObjectMask, encode_rle, write_masks_json
from vidmask_nb.track.model import (ModelIdentity, check_image_size, check_weights, find_checkpoint, load_predictor,
                              model_identity, model_spec, resolve_device)
from vidmask_nb.prompts.records import PromptSet, VideoRef
from vidmask_nb.runfolder.folder import RunFolder, atomic_output, write_json
from vidmask_nb.track.sam import SamFrames, add_prompt, init_state, masks_from_logits, object_scores
from vidmask_nb.track.tracker import Pruner, tracked_frames, tracking_context
from vidmask_nb.media.video import VideoInfo, probe

RUNNER_VERSION = 1  # bump when a change alters the masks: old mask files then stop matching
DEFAULT_IMAGE_SIZE = 1024  # every SAM 2.1 config's input size
TRACKER_STATE_FILE = "tracker_state.pt"
# The parts of a SAM 2 inference state that tracking changes; the rest is rebuilt by init_state.
SAVED_STATE_KEYS = ("point_inputs_per_obj", "mask_inputs_per_obj", "constants", "obj_id_to_idx",
                    "obj_idx_to_id", "obj_ids", "output_dict_per_obj", "temp_output_dict_per_obj",
                    "frames_tracked_per_obj")


@dataclass(frozen=True)
class Segment:
    """A stretch of one chunk tracked in one direction: a unit of progress, mask file and checkpoint.

    SAM 2 is run from ``run_from`` over ``[start, stop)`` in the segment's direction. ``run_from``
    is the earliest prompted frame for the first backward segment (stock SAM 2's backward pass
    starts there; its output there is not kept, the forward one is), else the segment's first frame.
    """

    order: int
    chunk: int
    reverse: bool
    start: int
    stop: int
    run_from: int

    @property
    def name(self) -> str:
        return f"seg_{self.order:04d}_{'rev' if self.reverse else 'fwd'}_f{self.start:06d}-{self.stop - 1:06d}"

    @property
    def frames_to_run(self) -> list[int]:
        """SAM 2 frame indices in processing order."""
        if self.reverse:
            return list(range(self.run_from, self.start - 1, -1))
        return list(range(self.run_from, self.stop))


def plan_segments(frame_count: int, chunk_bounds: list[tuple[int, int]], first_prompt: int) -> list[Segment]:
    """Forward segments from ``first_prompt`` to the end, then backward ones down to frame 0.

    Example::

        plan_segments(100, [(0, 40), (40, 80), (80, 100)], first_prompt=50)
        # fwd [50,80) [80,100), then rev [40,50) (run from 50), [0,40)
    """
    segments: list[Segment] = []
    for ci, (a, b) in enumerate(chunk_bounds):
        lo = max(a, first_prompt)
        if lo < b:
            segments.append(Segment(len(segments), ci, False, lo, b, lo))
    for ci, (a, b) in reversed(list(enumerate(chunk_bounds))):
        hi = min(b, first_prompt)
        if a >= hi:
            continue
        first_backward = not any(s.reverse for s in segments)
        run_from = first_prompt if first_backward else hi - 1
        if run_from == 0:
            # Stock SAM 2 runs nothing backward from frame 0: fold a lone frame 0 into the segment above.
            prev = segments.pop()
            segments.append(Segment(prev.order, prev.chunk, True, 0, prev.stop, prev.run_from))
            continue
        segments.append(Segment(len(segments), ci, True, a, hi, run_from))
    return segments


# -- options ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TrackOptions:
    """The tracking stage's settings (``vidmask-nb track``/``run`` flags, notebook 03's parameters):
    one default each, checked once by ``checked()``. The one way they travel: ``propagate``, ``track``,
    ``tracking_progress`` and ``expected_identity`` take this record; ``predictor()`` builds its SAM 2.

    - ``model``: SAM 2.1 size (``tiny``, ``small``, ``base_plus``, ``large``).
    - ``checkpoint``: a ``.pt`` file (None: ``checkpoints/sam2.1_hiera_<model>.pt``).
    - ``weights``: ``"trained"``, or ``"random"`` (untrained: a smoke test, the masks mean nothing).
    - ``image_size``: SAM 2's input size override (None: the model's 1024).
    - ``device``: ``cpu``, ``cuda``, ``cuda:N``, ``mps`` (None: the best available).
    - ``chunk_seconds``: tracking checkpoint interval, in seconds of video.
    """

    model: str = "tiny"
    checkpoint: str | None = None
    weights: str = "trained"
    image_size: int | None = None
    device: str | None = None
    chunk_seconds: float = DEFAULT_CHUNK_SECONDS

    def checked(self, resolve_checkpoint: bool = True) -> "TrackOptions":
        """Raise ``VidmaskError`` (naming the CLI flag) for a bad setting; returns the options with the
        model's canonical name and, for trained weights with ``resolve_checkpoint``, the checkpoint's
        absolute path (a missing file fails here, before any work)."""
        spec = model_spec(self.model)
        check_weights(self.weights, "--weights")
        image_size = check_image_size(self.image_size, "--image-size")
        if self.device is not None:
            resolve_device(self.device)  # '--device cuda' without a GPU fails here
        check_number(self.chunk_seconds, "--chunk-seconds", positive=True)
        if not self.chunk_seconds > 0:
            raise VidmaskError(f"--chunk-seconds must be positive, not {self.chunk_seconds}")
        checkpoint = self.checkpoint
        if self.weights == "trained" and resolve_checkpoint:
            checkpoint = str(find_checkpoint(spec.name, self.checkpoint).resolve())
        return replace(self, model=spec.name, checkpoint=checkpoint, image_size=image_size)

    def predictor(self, vos_optimized: bool = False, seed: int = 0):
        """SAM 2 as these options name it (``model.load_predictor``: built once a process)."""
        return load_predictor(self.model, self.checkpoint, self.weights, self.device, self.image_size,
                              vos_optimized, seed)


# -- keys ------------------------------------------------------------------------------------------

def expected_identity(options: TrackOptions | None = None, seed: int = 0) -> ModelIdentity:
    """What ``options.predictor(seed=seed)`` would load, worked out without loading it."""
    o = options or TrackOptions()
    spec = model_spec(o.model)
    check_weights(o.weights)
    dev = resolve_device(o.device)
    if o.weights == "trained":
        from vidmask_nb.media.video import fingerprint

        path = find_checkpoint(spec.name, o.checkpoint)
        weights_id, ckpt = fingerprint(path), str(path)
    else:
        weights_id, ckpt = f"random-seed{seed}", None
    return ModelIdentity(spec.name, spec.config, o.weights, weights_id, ckpt,
                         int(o.image_size or DEFAULT_IMAGE_SIZE), dev.type)


def _identity_payload(identity: ModelIdentity, info: VideoInfo) -> dict:
    """Everything but the prompts that determines the masks: code, model, weights, input size, device, video."""
    import importlib.metadata

    from vidmask_nb import __version__

    return {"runner": RUNNER_VERSION, "vidmask": __version__, "sam2": importlib.metadata.version("sam2"),
            "model": identity.model, "config": identity.config, "weights": identity.weights_id,
            "image_size": identity.image_size, "device": identity.device,
            "video": [info.fingerprint, info.width, info.height, info.frame_count]}


def tracker_digest(identity: ModelIdentity, info: VideoInfo) -> str:
    """A digest of ``_identity_payload``: masks with the same one can be corrected incrementally."""
    return hashlib.sha256(json.dumps(_identity_payload(identity, info), sort_keys=True).encode()).hexdigest()[:16]


def masks_key(identity: ModelIdentity, prompts: PromptSet, info: VideoInfo) -> str:
    """A key naming everything that determines the masks; readable prefix, then a digest.

    Example: ``sam2.1-tiny/trained/1024px/cuda/3f9c0a1b2c3d4e5f`` (``RANDOM-WEIGHTS`` for random).
    """
    payload = {**_identity_payload(identity, info),
               "prompts": [{k: v for k, v in p.to_json().items() if k != "pts"} for p in prompts.merged().values()]}
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]
    weights = "RANDOM-WEIGHTS" if identity.is_random else "trained"
    return f"sam2.1-{identity.model}/{weights}/{identity.image_size}px/{identity.device}/{digest}"


# -- the run ---------------------------------------------------------------------------------------

def load_prompts(run: RunFolder, info: VideoInfo) -> PromptSet:
    """The run folder's prompts, checked against the video; every object must have a prompt."""
    if not run.prompts_json.is_file():
        raise VidmaskError(f"no prompts at {run.prompts_json}: draw a box on each object to hide "
                           "(notebook 02) before tracking")
    prompts = PromptSet.load(run.prompts_json, info).require_prompts()
    prompted = {p.obj_id for p in prompts.prompts}
    for obj in prompts.objects:
        if obj.id not in prompted:
            raise VidmaskError(f"object {obj.id} ({obj.label}) has no prompt: draw a box on it in one frame "
                               "(notebook 02) or remove it; it would otherwise not be hidden")
    return prompts


class _RleWriter:
    """Encodes masks to RLE in a worker thread (overlapping the model), at most ``depth`` frames behind."""

    def __init__(self, depth: int = 8):
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="vidmask-rle")
        self.pending: deque[Future] = deque()
        self.done: list[FrameMasks] = []
        self.depth = depth

    def submit(self, frame: int, pts: int, masks: dict[int, np.ndarray], scores: dict[int, float],
               labels: dict[int, str]) -> None:
        def encode() -> FrameMasks:
            return FrameMasks(frame, pts, tuple(ObjectMask(i, labels.get(i, ""), scores.get(i, 0.0), encode_rle(m))
                                                for i, m in sorted(masks.items())))

        self.pending.append(self.pool.submit(encode))
        while len(self.pending) > self.depth:
            self.done.append(self.pending.popleft().result())

    def collect(self) -> list[FrameMasks]:
        while self.pending:
            self.done.append(self.pending.popleft().result())
        out, self.done = sorted(self.done, key=lambda fm: fm.frame), []
        return out

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def _segment_path(masks_dir: Path, seg: Segment) -> Path:
    return masks_dir / f"{seg.name}.json"


def _read_segment(path: Path, key: str) -> dict | None:
    """A segment file's content if it is complete and made with ``key``; None otherwise."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return data if data.get("key") == key else None


def _remove_stale(masks_dir: Path, keep: set[str]) -> None:
    """Delete this runner's files in ``masks_dir`` that are not in ``keep`` (older runs, other keys)."""
    if not masks_dir.is_dir():
        return
    for p in masks_dir.iterdir():
        if p.name not in keep and (p.name.startswith("seg_") and p.suffix == ".json" or p.name == TRACKER_STATE_FILE
                                   or p.name.startswith(FIX_PREFIX) or ".partial-" in p.name):
            p.unlink(missing_ok=True)


def _save_tracker_state(path: Path, key: str, segments: list[Segment], done: int, state: dict) -> None:
    import torch

    payload = {"key": key, "segments": [s.name for s in segments], "done": done,
               "state": {k: state[k] for k in SAVED_STATE_KEYS}}
    with atomic_output(path) as tmp:
        torch.save(payload, tmp)


def _load_tracker_state(path: Path, key: str, segments: list[Segment], device) -> dict | None:
    """The saved tracker state if it belongs to this key and segment plan; None to start afresh.

    Tensors come back where SAM 2 had them: host tensors on the host (offloaded memories), GPU
    tensors on ``device`` (the key holds the device type, so a state never crosses device types).
    """
    import torch

    if not path.is_file():
        return None

    def place(storage, location: str):
        return storage if location == "cpu" else storage.to(device)

    try:
        payload = torch.load(path, map_location=place, weights_only=True)
    except Exception:  # a damaged checkpoint only costs a restart
        return None
    if payload.get("key") != key or payload.get("segments") != [s.name for s in segments]:
        return None
    return payload


GROUP_KEY_SEP = "+objects:"  # a group's key: the whole run's key, then its objects and pass start


@dataclass(frozen=True)
class TrackResult:
    """What one tracking call produced: its ``masks.json`` and how much of it was resumed."""

    masks_json: Path
    key: str
    objects: tuple[int, ...]
    pass_start: int
    segments: int
    resumed_segments: int  # segments found complete on disk and not tracked again
    device: str
    changes: TrackingChanges | None = None  # what this run (or the one that made masks.json) tracked


def group_dir(workdir: str | os.PathLike, objects) -> Path:
    """Where a group of objects tracked on its own keeps its checkpoints and masks: ``masks/objects_1-3``."""
    return RunFolder(workdir).masks_dir / ("objects_" + "-".join(str(i) for i in sorted(set(objects))))


def object_groups(ids, n: int) -> list[tuple[int, ...]]:
    """Split object ids into at most ``n`` groups of near-equal size, in id order."""
    ids = sorted(set(ids))
    n = max(1, min(n, len(ids)))
    size, extra = divmod(len(ids), n)
    groups, at = [], 0
    for g in range(n):
        k = size + (g < extra)
        groups.append(tuple(ids[at:at + k]))
        at += k
    return groups


def propagate(video: str | os.PathLike, workdir: str | os.PathLike, options: TrackOptions | None = None, *,
              predictor=None, full: bool = False, objects=None, pass_start: int | None = None,
              chunk_frames: int | None = None, vos_optimized: bool = False, offload_state_to_cpu: bool = False,
              seed: int = 0, force: bool = False, agree_iou: float = DEFAULT_AGREE_IOU,
              agree_frames: int = DEFAULT_AGREE_FRAMES, progress: bool = True) -> MaskStore:
    """Track every prompted object through the whole video; write ``masks/`` and ``masks.json``.

    - ``video``, ``workdir``: the source and its run folder (``prompts.json`` must be there).
    - ``options``: the model's settings and the chunk length (``TrackOptions``; None: the defaults).
      With ``vos_optimized`` and ``seed`` they are ``model.load_predictor``'s arguments
      (``weights="random"`` for tests only; it is announced loudly).
    - ``chunk_frames``: chunk length in frames instead of ``options.chunk_seconds`` (progress, mask
      files, checkpoints).
    - ``predictor``: an already loaded predictor (from ``load_predictor``) instead of loading one.
    - ``force``: track again even if ``masks.json`` for the same key exists.
    - ``objects``: track only these object ids (one group of a video split across workers), into
      ``group_dir(workdir, objects)`` with its own checkpoints and ``masks.json``; ``pass_start``
      (default: the earliest prompted frame of ALL objects, as a run of all objects uses) is where
      the forward and backward passes start. SAM 2 tracks objects independently, so with the same
      pass start a group's masks equal those of a run of all objects; ``merge_groups`` joins them.
    - ``full``: when the prompts changed after a complete run, track every object over every frame
      (the result equals stock SAM 2's). Default: re-track only what changed (``corrections``);
      a re-tracked pass stops once its masks agree with the old ones (IoU >= ``agree_iou``,
      default 0.95) on ``agree_frames`` frames in a row (default 5). It prints what it re-tracked.

    Returns the masks (``MaskStore``). Rerunning after a crash resumes after the last complete
    segment (or correction pass); rerunning after success returns the existing masks at once.

    Example::

        store = propagate("clip.mp4", "runs/clip", TrackOptions(model="tiny", chunk_seconds=10))
    """
    result = track(video, workdir, options, predictor=predictor, full=full, objects=objects, pass_start=pass_start,
                   chunk_frames=chunk_frames, vos_optimized=vos_optimized, offload_state_to_cpu=offload_state_to_cpu,
                   seed=seed, force=force, agree_iou=agree_iou, agree_frames=agree_frames, progress=progress)
    return MaskStore.load(result.masks_json)


def track(video, workdir, options: TrackOptions | None = None, *, predictor=None, full: bool = False, objects=None,
          pass_start: int | None = None, chunk_frames: int | None = None, vos_optimized: bool = False,
          offload_state_to_cpu: bool = False, seed: int = 0, force: bool = False,
          agree_iou: float = DEFAULT_AGREE_IOU, agree_frames: int = DEFAULT_AGREE_FRAMES,
          progress: bool = True) -> TrackResult:
    """``propagate`` without loading the result: returns where the masks are and what was resumed or corrected."""
    options = options or TrackOptions()
    info = probe(video)
    run = RunFolder(workdir).create()
    prompts = load_prompts(run, info)  # every prompt problem is reported before the model loads
    if chunk_frames is not None:
        plan = plan_chunks(info.frame_count, info.fps, frames=chunk_frames)
    else:
        plan = plan_chunks(info.frame_count, info.fps, seconds=options.chunk_seconds)
    identity = model_identity(predictor) if predictor is not None else expected_identity(options, seed)
    key = masks_key(identity, prompts, info)
    merged = prompts.merged()
    first_prompt = min(frame for frame, _ in merged)
    ids = tuple(o.id for o in prompts.objects)
    masks_dir, masks_json = run.masks_dir, run.masks_json
    if objects is not None:  # one group of the objects, tracked on its own
        ids = tuple(sorted(set(int(i) for i in objects)))
        unknown = sorted(set(ids) - {o.id for o in prompts.objects})
        if not ids or unknown:
            raise VidmaskError(f"objects {unknown or '(none)'} are not in {run.prompts_json}; "
                               f"known: {[o.id for o in prompts.objects]}")
        first_prompt = first_prompt if pass_start is None else int(pass_start)
        group_first = min(frame for frame, obj in merged if obj in ids)
        if not 0 <= first_prompt <= group_first:
            raise VidmaskError(f"pass start {first_prompt} must be a frame at or before the group's first "
                               f"prompt ({group_first})")
        merged = {k: p for k, p in merged.items() if k[1] in ids}
        masks_dir = group_dir(workdir, ids)
        masks_json = masks_dir / "masks.json"
        key = f"{key}{GROUP_KEY_SEP}{','.join(map(str, ids))}+from:{first_prompt}"
    labels = {o.id: o.label for o in prompts.objects if o.id in ids}
    header_objects = tuple(o for o in prompts.objects if o.id in ids)
    video_ref = VideoRef.of(info)
    segments = plan_segments(info.frame_count, [(c.start, c.stop) for c in plan.chunks], first_prompt)

    def result(resumed: int, changes=None, result_key: str | None = None) -> TrackResult:
        return TrackResult(masks_json, result_key or key, ids, first_prompt, len(segments), resumed, identity.device,
                           changes)

    if not force and masks_json.is_file():
        try:
            existing = MaskStore.load(masks_json)
        except VidmaskError:
            existing = None
        found = existing.header.get("key", "") if existing is not None else ""
        if existing is not None and existing.object_infos == header_objects and (
                found == key or (not full and objects is None and found.startswith(key + INCREMENTAL))):
            if progress and objects is None:
                print(f"masks are up to date with the prompts ({masks_json}); nothing tracked", flush=True)
            return result(len(segments), tracking_changes(workdir) if objects is None else None, found)

    def loaded_predictor():
        nonlocal predictor
        if predictor is None:
            predictor = options.predictor(vos_optimized, seed)
            if model_identity(predictor) != identity:
                raise VidmaskError("the loaded model is not the one the masks are keyed by "
                                   f"({model_identity(predictor)} vs {identity}); run again")
        elif identity.is_random:
            from vidmask_nb.track.model import announce_random_weights

            announce_random_weights("propagate")
        return predictor

    tracker = tracker_digest(identity, info)
    t_start = time.perf_counter()
    if not force and not full and objects is None and (masks_json.is_file() or run.previous_masks_json.is_file()):
        def track_objects(group: tuple[int, ...], start: int) -> Path:
            return track(video, workdir, options, predictor=loaded_predictor(), objects=group, pass_start=start,
                         chunk_frames=chunk_frames, vos_optimized=vos_optimized,
                         offload_state_to_cpu=offload_state_to_cpu, seed=seed, progress=progress).masks_json

        corrected = correct(run, info, prompts, key, tracker, loaded_predictor, track_objects,
                            agree_iou=agree_iou, agree_frames=agree_frames, progress=progress)
        if corrected is not None:
            new_key, changes = corrected
            print(changes.summary(), flush=True)
            return result(0, changes, new_key)

    state_path = masks_dir / TRACKER_STATE_FILE

    # What is already done: the checkpoint names the segments whose mask files are complete.
    masks_dir.mkdir(parents=True, exist_ok=True)
    target = predictor.device if predictor is not None else resolve_device(options.device)
    saved = None if force else _load_tracker_state(state_path, key, segments, target)
    done = 0
    if saved is not None:
        done = saved["done"]
        if any(_read_segment(_segment_path(masks_dir, s), key) is None for s in segments[:done]):
            saved, done = None, 0
    elif not force and all(_read_segment(_segment_path(masks_dir, s), key) is not None for s in segments):
        done = len(segments)  # all segments done, only masks.json is missing
    _remove_stale(masks_dir, {f"{s.name}.json" for s in segments[:done]} | ({TRACKER_STATE_FILE} if saved else set()))
    if 0 < done < len(segments):
        print(f"resuming: {done} of {len(segments)} segments were already tracked "
              f"(up to {segments[done - 1].name}); continuing from there", flush=True)

    if done < len(segments):
        _track(loaded_predictor(), info, masks_dir, merged, first_prompt, segments, done, saved, key,
               labels, offload_state_to_cpu, progress)

    changes = None
    if objects is None:  # what these masks were made from, for a later correction, before they are in place
        changes = TrackingChanges.full(key, info.frame_count, [o.to_json() for o in header_objects],
                                       time.perf_counter() - t_start,
                                       done < len(segments))
        write_record(masks_dir, key, tracker, prompts, changes)
    with atomic_output(masks_json) as tmp:
        write_masks_json(tmp, video_ref, header_objects, _assembled_frames(masks_dir, segments, key, labels), key=key,
                         weights=identity.weights)
    state_path.unlink(missing_ok=True)  # complete: the tracker state is no longer needed
    if changes is not None:
        remove_other_records(masks_dir, key)
        if progress:
            print(changes.summary(), flush=True)
    return result(done, changes)


def merge_groups(video, workdir, groups, key: str | None = None) -> MaskStore:
    """Join the masks of object groups tracked on their own into the run's ``masks.json``, frame by frame.

    The groups must cover every object of ``prompts.json`` once and share one run key (and pass
    start); with ``key`` given, that key. The result is byte-identical to a run of all objects.
    """
    info = probe(video)
    run = RunFolder(workdir)
    prompts = load_prompts(run, info)
    stores = [MaskStore.load(group_dir(workdir, g) / "masks.json") for g in groups]
    bases = {s.header.get("key", "").split(GROUP_KEY_SEP)[0] for s in stores}
    starts = {s.header.get("key", "").rsplit("+from:", 1)[-1] for s in stores}
    if len(bases) != 1 or len(starts) != 1 or (key is not None and bases != {key}):
        raise VidmaskError(f"the object groups in {run.masks_dir} come from different runs; track them again")
    covered = sorted(o.id for s in stores for o in s.object_infos)
    wanted = sorted(o.id for o in prompts.objects)
    if covered != wanted:
        raise VidmaskError(f"the object groups hold objects {covered}, prompts.json has {wanted}; track them again")
    for s in stores:
        s.check_video(info)
    weights = {s.weights for s in stores}
    if len(weights) != 1:
        raise VidmaskError(f"the object groups in {run.masks_dir} come from different models; track them again")

    def frames() -> Iterator[FrameMasks]:
        count = 0
        for per_group in zip(*stores):
            first = per_group[0]
            if any(fm.frame != first.frame for fm in per_group):
                raise VidmaskError(f"the object groups disagree at frame {first.frame}; track them again")
            count += 1
            yield FrameMasks(first.frame, first.pts,
                             tuple(sorted((o for fm in per_group for o in fm.objects), key=lambda o: o.obj_id)))
        if count != info.frame_count or any(len(s) != count for s in stores):
            raise VidmaskError(f"the object groups do not cover all {info.frame_count} frames; track them again")

    with atomic_output(run.masks_json) as tmp:
        write_masks_json(tmp, VideoRef.of(info), prompts.objects, frames(), key=bases.pop(), weights=weights.pop())
    return MaskStore.load(run.masks_json)


def tracking_progress(video: str | os.PathLike, workdir: str | os.PathLike, options: TrackOptions | None = None,
                      seed: int = 0) -> tuple[int, int] | None:
    """(segments already tracked, segments) that ``propagate`` with these options starts from.

    Worked out from ``masks/`` without loading the model (the tracker checkpoint is memory-mapped,
    its tensors never read), so a headless run can say on its console that it resumes. None when
    there are no prompts yet.
    """
    import torch

    info = probe(video)
    run = RunFolder(workdir)
    if not run.prompts_json.is_file():
        return None
    prompts = load_prompts(run, info)
    options = options or TrackOptions()
    plan = plan_chunks(info.frame_count, info.fps, seconds=options.chunk_seconds)
    key = masks_key(expected_identity(options, seed), prompts, info)
    segments = plan_segments(info.frame_count, [(c.start, c.stop) for c in plan.chunks],
                             min(frame for frame, _ in prompts.merged()))
    state_path = run.masks_dir / TRACKER_STATE_FILE
    if state_path.is_file():
        try:
            payload = torch.load(state_path, map_location="cpu", weights_only=True, mmap=True)
        except Exception:  # a damaged checkpoint: propagate starts afresh
            payload = {}
        done = int(payload.get("done", 0))
        if (payload.get("key") == key and payload.get("segments") == [s.name for s in segments]
                and all(_read_segment(_segment_path(run.masks_dir, s), key) is not None for s in segments[:done])):
            return done, len(segments)
    if all(_read_segment(_segment_path(run.masks_dir, s), key) is not None for s in segments):
        return len(segments), len(segments)
    return 0, len(segments)


def _track(predictor, info: VideoInfo, masks_dir: Path, merged: dict, pass_start: int, segments: list[Segment],
           done: int, saved: dict | None, key: str, labels: dict[int, str], offload_state_to_cpu: bool, progress: bool) -> None:
    """Run the remaining segments on one SAM 2 state, writing masks and a checkpoint after each."""
    from tqdm.auto import tqdm

    frames = SamFrames(info, predictor.image_size)
    state = init_state(predictor, info, offload_state_to_cpu=offload_state_to_cpu, frames=frames)
    if saved is not None:
        state.update(saved["state"])
    else:
        for (frame, _), prompt in merged.items():
            add_prompt(predictor, state, prompt, frame_idx=frame)
    pruner = Pruner(predictor, pass_starts=[pass_start])
    total = sum(len(s.frames_to_run) for s in segments)
    bar = tqdm(total=total, initial=sum(len(s.frames_to_run) for s in segments[:done]), unit="frame",
               desc="tracking", disable=not progress)
    writer = _RleWriter()
    try:
        with tracking_context(predictor):
            for seg in segments[done:]:
                order = seg.frames_to_run
                frames.prefetch(order)
                bar.set_postfix_str(f"{'backward' if seg.reverse else 'forward'} f{seg.start}-{seg.stop - 1}")
                for frame, obj_ids, video_res_masks in tracked_frames(predictor, state, pruner, seg.run_from, order,
                                                                      seg.reverse, bar):
                    if seg.start <= frame < seg.stop:
                        writer.submit(frame, info.pts[frame], masks_from_logits(obj_ids, video_res_masks),
                                      object_scores(state, frame), labels)
                frames.stop_prefetch()
                # Masks first, then the checkpoint that says they are done: a kill in between
                # only repeats this segment.
                write_json(_segment_path(masks_dir, seg), {"key": key, "segment": asdict(seg),
                                                           "frames": [fm.to_json() for fm in writer.collect()]})
                _save_tracker_state(masks_dir / TRACKER_STATE_FILE, key, segments, seg.order + 1, state)
    finally:
        writer.close()
        frames.close()
        bar.close()


def _assembled_frames(masks_dir: Path, segments: list[Segment], key: str, labels: dict[int, str]) -> Iterator[FrameMasks]:
    """Every frame in order from the segment files, with the current labels."""
    expected = 0
    for seg in sorted(segments, key=lambda s: s.start):
        data = _read_segment(_segment_path(masks_dir, seg), key)
        if data is None:
            raise VidmaskError(f"mask file {_segment_path(masks_dir, seg)} is missing or from another run; "
                               "run the propagation again")
        for d in data["frames"]:
            fm = FrameMasks.from_json(d)
            if fm.frame != expected:
                raise VidmaskError(f"mask files skip from frame {expected} to {fm.frame}; run the propagation again")
            expected += 1
            yield FrameMasks(fm.frame, fm.pts, tuple(ObjectMask(o.obj_id, labels.get(o.obj_id, o.label), o.score, o.rle)
                                                     for o in fm.objects))
