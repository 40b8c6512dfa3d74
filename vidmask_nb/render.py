"""Stage 04: the redacted video, rendered from the source and the tracker's masks.

``render`` reads every frame from the source video (never from extracted JPEGs), covers each
object with its effect inside its safety margins, and writes through ``encode.VideoWriter``: the
same frame count, timestamps and frame-rate fraction, every audio stream copied, one MP4. Pixels
outside the (grown, feathered) masks are the source's up to codec loss, and identical with
``lossless=True``. The file appears under its final name only when complete.

Example::

    out = render("clip.mp4", "runs/clip", style="blur", object_styles={"plate": "fill:#000000"},
                 dilate=4, feather=2, hold=3)
    print(out)          # runs/clip/clip_redacted.mp4
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator, Mapping

import numpy as np
from tqdm.auto import tqdm

from vidmask_nb.effects import Effect, MaskMargins, parse_style
from vidmask_nb.encode import DEFAULT_CRF, VideoWriter
from vidmask_nb.errors import VidmaskError
from vidmask_nb.masks import FrameMasks, MaskStore, ObjectMask, encode_rle
from vidmask_nb.prompts import color_for
from vidmask_nb.runfolder import RunFolder
from vidmask_nb.video import VideoInfo, VideoReader, fraction_str, probe

DEFAULT_DILATE = 4
DEFAULT_HOLD = 3


@dataclass(frozen=True)
class RenderPlan:
    """What ``render`` will do: one effect per object id, and the margins around every mask."""

    effects: dict[int, Effect]
    labels: dict[int, str]
    margins: MaskMargins

    def describe(self) -> str:
        """One line per object, e.g. ``1 (ball): blur:0.25``, then the margins."""
        lines = [f"{i} ({self.labels.get(i, '')}): {getattr(e, 'name', type(e).__name__)}"
                 for i, e in self.effects.items()]
        m = self.margins
        lines.append(f"margins: dilate {m.dilate_px} px, feather {m.feather_px} px, "
                     f"hold {m.hold_frames} frame(s)")
        return "\n".join(lines)


def object_effects(objects: list[dict], style: str | Effect = "fill",
                   object_styles: Mapping[int | str, str | Effect] | None = None) -> dict[int, Effect]:
    """The effect for each object: ``style`` for all, overridden per object by id or label.

    ``objects`` is ``MaskStore.objects`` (dicts with ``id`` and ``label``). Keys of
    ``object_styles`` may be an id (``2`` or ``"2"``) or a label (``"plate"``).

    Example::

        object_effects([{"id": 1, "label": "face"}, {"id": 2, "label": "plate"}],
                       "blur", {"plate": "fill:#000000"})
        # {1: BlurEffect(strength=0.25, ...), 2: FillEffect(color=(0, 0, 0))}
    """
    default = parse_style(style)
    effects = {int(o["id"]): default for o in objects}
    by_label: dict[str, list[int]] = {}
    for o in objects:
        by_label.setdefault(str(o.get("label", "")), []).append(int(o["id"]))
    known = ", ".join(f"{o['id']} ({o.get('label', '')})" for o in objects) or "none"
    for key, obj_style in (object_styles or {}).items():
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            ids = [int(key)] if int(key) in effects else []
        elif isinstance(key, str) and key in by_label:
            ids = by_label[key]
        elif isinstance(key, str) and key.strip().isdigit() and int(key) in effects:
            ids = [int(key)]
        else:
            ids = []
        if not ids:
            raise VidmaskError(f"object_styles names {key!r}, which is not an object in masks.json; "
                               f"known objects (id (label)): {known}")
        effect = parse_style(obj_style)
        for i in ids:
            effects[i] = effect
    return effects


def plan_render(store: MaskStore, style: str | Effect = "fill",
                object_styles: Mapping[int | str, str | Effect] | None = None,
                dilate: int = DEFAULT_DILATE, feather: int = 0, hold: int = DEFAULT_HOLD) -> RenderPlan:
    """Check the settings against the masks' objects before any frame is decoded."""
    return RenderPlan(effects=object_effects(store.objects, style, object_styles),
                      labels={int(o["id"]): str(o.get("label", "")) for o in store.objects},
                      margins=MaskMargins(dilate_px=dilate, feather_px=feather, hold_frames=hold))


def mask_stream(store: MaskStore, info: VideoInfo) -> Iterator[tuple[int, dict[int, np.ndarray]]]:
    """(frame index, {object id: bool mask}) for every frame, checked against the video's frames.

    The frame count is checked at once; each entry's index and pts as it is read.
    """
    if len(store) != info.frame_count:
        raise VidmaskError(f"masks.json holds {len(store)} frames, the video {info.frame_count}; "
                           "run the propagation (03) again")

    def entries() -> Iterator[tuple[int, dict[int, np.ndarray]]]:
        for expected, fm in enumerate(store):
            if fm.frame != expected:
                raise VidmaskError(f"masks.json skips or repeats frames (entry {expected} is frame "
                                   f"{fm.frame}); run the propagation (03) again")
            if fm.pts != info.pts[expected]:
                raise VidmaskError(f"masks.json frame {expected} has pts {fm.pts}, the video's is "
                                   f"{info.pts[expected]}: the masks belong to another cut of this "
                                   "video; run the propagation (03) again")
            yield fm.frame, fm.masks()

    return entries()


def redact_frame(rgb: np.ndarray, masks: Mapping[int, np.ndarray], plan: RenderPlan) -> np.ndarray:
    """Cover every object of one frame (in id order) with its effect inside its margins."""
    for obj_id in sorted(masks):
        mask = masks[obj_id]
        if not mask.any():
            continue
        effect = plan.effects.get(obj_id)
        if effect is None:
            raise VidmaskError(f"masks.json has object {obj_id} on a frame but not in its object list; "
                               "run the propagation (03) again")
        rgb = effect.annotate(rgb, plan.margins.apply(mask))
    return rgb


def render(video: str | os.PathLike, workdir: str | os.PathLike, style: str | Effect = "fill",
           object_styles: Mapping[int | str, str | Effect] | None = None, dilate: int = DEFAULT_DILATE,
           feather: int = 0, hold: int = DEFAULT_HOLD, output: str | os.PathLike | None = None,
           crf: int = DEFAULT_CRF, lossless: bool = False, preset: str = "medium",
           progress: bool = True, floor: str | os.PathLike | None = None) -> Path:
    """Write the redacted copy of ``video`` using ``workdir``'s ``masks.json``; return its path.

    ``style`` applies to every object; ``object_styles`` overrides it by object id or label.
    ``dilate``/``feather`` are in px, ``hold`` in frames (see ``effects.MaskMargins``). The output
    defaults to ``<workdir>/<stem>_redacted.mp4``; ``crf`` sets quality (lower is better) and
    ``lossless=True`` keeps every unmasked pixel exact (large files). ``floor``: a ``floor.json``
    (``find.compute_floor``) whose detector boxes are covered too, with ``style`` and the margins.
    """
    info = probe(video)
    run = RunFolder(workdir)
    store = MaskStore.load(run.masks_json)
    store.check_video(info)
    if "RANDOM-WEIGHTS" in str(store.header.get("key", "")):
        from vidmask_nb.model import announce_random_weights

        announce_random_weights("these masks came from an untrained model: the redaction is not real")
    plan = plan_render(store, style, object_styles, dilate, feather, hold)
    out_path = Path(output) if output is not None else run.redacted_video(video)
    if out_path.exists() and out_path.is_dir():
        raise VidmaskError(f"output {out_path} is a folder; give a file path ending in .mp4")
    reader = VideoReader(video, info=info)
    stream = mask_stream(store, info)
    if floor is not None:  # the detectors' boxes as one more object, under the same margins and hold
        from vidmask_nb.find import FLOOR_ID, floor_effect, kept_ids, with_floor

        stream = with_floor(stream, floor, info, kept_ids(store.objects, plan.effects))
        plan = replace(plan, effects={**plan.effects, FLOOR_ID: floor_effect(style)})
    masks = plan.margins.hold(stream)
    try:
        with VideoWriter(out_path, info, crf=crf, lossless=lossless, preset=preset) as writer:
            bar = tqdm(total=info.frame_count, desc=f"render {Path(video).name}", unit="frame",
                       disable=not progress)
            with bar:
                for frame, (index, frame_masks) in zip(reader, masks):
                    if index != frame.index:  # cannot happen with checked masks; never misalign
                        raise VidmaskError(f"frame {frame.index} met the masks of frame {index}")
                    writer.write(redact_frame(frame.rgb, frame_masks, plan), frame.pts)
                    bar.update(1)
    finally:
        reader.close()
    return out_path


def inject_masks(info: VideoInfo, labels: Mapping[int, str],
                 mask_of: Callable[[int, int], np.ndarray | None],
                 score_of: Callable[[int, int], float] | None = None, key: str = "injected") -> MaskStore:
    """Masks from elsewhere (ground truth, another tool) as a ``MaskStore`` that renders like 03's.

    ``mask_of(frame, obj_id)`` gives a bool mask at the video's size, or None for an absent object;
    ``score_of(frame, obj_id)`` a score (default 1.0 when present, 0.0 when absent). Save it with
    ``store.save(RunFolder(workdir).masks_json)``.

    Example::

        scene = SampleScene((info.width, info.height), info.fps)
        store = inject_masks(info, {1: "ball"}, lambda i, k: scene.object_mask(i, k))
    """
    empty = np.zeros((info.height, info.width), bool)
    frames = []
    for i in range(info.frame_count):
        objects = []
        for obj_id, label in labels.items():
            mask = mask_of(i, obj_id)
            mask = empty if mask is None else np.asarray(mask, dtype=bool)
            if mask.shape != empty.shape:
                raise VidmaskError(f"mask for object {obj_id} on frame {i} is {mask.shape[1]}x{mask.shape[0]}, "
                                   f"the video is {info.width}x{info.height}")
            score = score_of(i, obj_id) if score_of else float(mask.any())
            objects.append(ObjectMask(int(obj_id), str(label), float(score), encode_rle(mask)))
        frames.append(FrameMasks(i, info.pts[i], tuple(objects)))
    video = {"width": info.width, "height": info.height, "frame_count": info.frame_count,
             "fps": fraction_str(info.fps), "fingerprint": info.fingerprint}
    objects = [{"id": int(k), "label": str(v), "color": list(color_for(int(k)))} for k, v in labels.items()]
    return MaskStore.from_frames(video, objects, frames, key=key)
