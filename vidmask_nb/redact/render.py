"""Stage 04: the redacted video, rendered from the source and the tracker's masks.

``render`` reads every frame from the source video (never from extracted JPEGs), covers each
object with its effect inside its safety margins, and writes through ``encode.VideoWriter``: the
same frame count, timestamps and frame-rate fraction, every audio stream copied, one MP4. Pixels
outside the (grown, feathered) masks are the source's up to codec loss, and identical with
``lossless=True``. ``audio=`` mutes or bleeps spans, listed words heard, or whole tracks
(``redact.audio``): only the audio packets under them are re-encoded, the rest copied. The file appears under its final name only when complete.

The render works in the source's own YUV (``media.planes``, ``redact.planar``): each decoded
frame's planes are copied into one of a few reused frames; each cover converts only its box (and
the context its effect reads: 3 sigma for blur, reduced before it is converted) to RGB with the
source's matrix and range, and writes back only the samples it covers; the planes are encoded as
they are (the source's layout and depth, no full-frame conversion). Every sample outside the
covers is the decoder's, bit for bit, up to the encoder: with ``lossless=True`` (4:4:4 at qp 0,
each chroma sample repeated over its pixels) they come back exactly.

Decoding, the covers and encoding overlap: a decode thread and an encode thread (PyAV and x264
release the GIL) pass frames through queues of a few frames each, so memory stays flat whatever
the length. ``overlap=False`` runs the same steps one after another (same frames). Sources of
more than 8 bits stay 10-bit end to end (effects see 16-bit RGB). The covered region of
each object is its grown (dilated, feathered) mask, widened to whole chroma samples when the
output is 4:2:0 or 4:2:2, so no chroma sample mixes the cover with the pixels beside it.

Example::

    out = render("clip.mp4", "runs/clip", RenderOptions(style="blur", dilate=4, feather=2, hold_seconds=1.0),
                 object_styles={"plate": "fill:#000000"})
    print(out)          # runs/clip/clip_redacted.mp4
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Iterator, Mapping, NamedTuple, Sequence

import cv2
import numpy as np
from tqdm.auto import tqdm

from vidmask_nb.redact.effects import Box, Effect, FillEffect, MaskMargins, MeanColorEffect, mask_box, parse_style
from vidmask_nb.media.encode import DEFAULT_CRF, VideoWriter, check_output_name, output_pix_fmt, written_by_kit
from vidmask_nb.errors import VidmaskError, check_number
from vidmask_nb.redact.gaps import DEFAULT_HOLD_SECONDS, hold_frames_for
from vidmask_nb.track.masks import MaskStore
from vidmask_nb.prompts.records import TrackedObject
from vidmask_nb.runfolder.folder import RunFolder, seal_output
from vidmask_nb.media.video import VideoInfo, VideoReader, probe
from vidmask_nb.media.planes import FramePool, YuvFrame
from vidmask_nb.media.threads import DEPTH, FrameSink, prefetch
from vidmask_nb.redact.planar import cover_planes

DEFAULT_DILATE = 4
# The container comment of every redacted video: ``render`` overwrites an existing output only when
# it carries this (its own earlier output), never a stranger's file.
RENDER_TAG = "vidmask-nb redacted copy"


@dataclass(frozen=True)
class RenderOptions:
    """The render stage's settings (``vidmask-nb run`` flags, notebook 04's parameters): one default
    each, checked once by ``checked()``. The one way they travel: ``render``, ``plan_render``, the
    review's covers (``review.coverage``) and the audit (``review.audit``) each take this record.

    - ``style``: the effect for every object (``effects.STYLES_HELP``), or an ``Effect`` object.
    - ``dilate`` / ``feather``: grow masks by, and soften their edges over, this many pixels.
    - ``hold_seconds``: always cover an object through dropouts up to this long; ``hold``: the same in
      frames, overriding it (None: from ``hold_seconds``).
    - ``cover_long_gaps``: cover longer dropouts too (always listed for review).
    - ``crf``: H.264 quality, lower is better (None: ``encode.DEFAULT_CRF``); ``lossless``: lossless output.
    """

    style: str | Effect = "fill"
    dilate: int = DEFAULT_DILATE
    feather: int = 0
    hold_seconds: float = DEFAULT_HOLD_SECONDS
    hold: int | None = None
    cover_long_gaps: bool = True
    crf: int | None = None
    lossless: bool = False

    def checked(self) -> "RenderOptions":
        """Raise ``VidmaskError`` (naming the CLI flag) for a bad setting; returns the options."""
        parse_style(self.style)
        for name in ("dilate", "feather", "hold", "hold_seconds"):
            value = getattr(self, name)
            if value is not None:
                check_number(value, f"--{name.replace('_', '-')}", integer=name != "hold_seconds", minimum=0)
        if self.crf is not None:
            check_number(self.crf, "--crf", integer=True)
        if self.crf is not None and not 0 <= self.crf <= 51:
            raise VidmaskError(f"--crf must be 0..51 (lower is better), not {self.crf}")
        return self

    def hold_frames(self, fps) -> int:
        """The hold in frames at ``fps`` (the video's exact rate): ``hold`` when set, else ``hold_seconds``
        rounded up (``gaps.hold_frames_for``)."""
        return self.hold if self.hold is not None else hold_frames_for(self.hold_seconds, fps)

    def for_fps(self, fps) -> "RenderOptions":
        """These options with ``hold`` in frames at ``fps``: what a plan for a video at that rate uses."""
        return replace(self, hold=self.hold_frames(fps))


@dataclass(frozen=True)
class RenderPlan:
    """What ``render`` will do: one effect per object id, and the margins around every mask."""

    effects: dict[int, Effect]
    labels: dict[int, str]
    margins: MaskMargins
    chroma: tuple[int, int] = (1, 1)  # (x, y) subsampling of the output: covers snap to it
    style: str | Effect = "fill"  # the run's style: the floor's covers take it (``cover_stream``)

    def describe(self) -> str:
        """One line per object, e.g. ``1 (ball): blur:0.25``, then the margins."""
        lines = [f"{i} ({self.labels.get(i, '')}): {getattr(e, 'name', type(e).__name__)}"
                 for i, e in self.effects.items()]
        m = self.margins
        lines.append(f"margins: dilate {m.dilate_px} px, feather {m.feather_px} px, "
                     f"hold {m.hold_frames} frame(s), longer gaps {'covered' if m.cover_long_gaps else 'NOT covered'}")
        return "\n".join(lines)


def object_effects(objects: Iterable[TrackedObject], style: str | Effect = "fill",
                   object_styles: Mapping[int | str, str | Effect] | None = None) -> dict[int, Effect]:
    """The effect for each object: ``style`` for all, overridden per object by id or label.

    ``objects`` is ``MaskStore.object_infos`` (``TrackedObject`` records; the header's dicts are
    read too). Keys of ``object_styles`` may be an id (``2`` or ``"2"``) or a label (``"plate"``).

    Example::

        object_effects(store.object_infos, "blur", {"plate": "fill:#000000"})
        # {1: BlurEffect(strength=0.25, ...), 2: FillEffect(color=(0, 0, 0))}
    """
    objects = [TrackedObject.from_json(o) for o in objects]
    default = parse_style(style)
    effects = {o.id: default for o in objects}
    by_label: dict[str, list[int]] = {}
    for o in objects:
        by_label.setdefault(o.label, []).append(o.id)
    known = ", ".join(f"{o.id} ({o.label})" for o in objects) or "none"
    for o in objects:  # a code is covered opaquely whatever the style (a blurred code may still decode)
        if is_code_label(o.label):
            effects[o.id] = opaque_effect(default)
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
        for i in ids:  # a code keeps only a solid style, or "keep" given for it by name
            code = is_code_label(next(o.label for o in objects if o.id == i))
            effects[i] = opaque_effect(effect, keep=True) if code else effect
    return effects


# Words in an object's label that make it a code (find's "code 3"; a person's "QR code", "barcode").
CODE_WORDS = ("code", "codes", "qr", "barcode", "barcodes")


def is_code_label(label: str) -> bool:
    """Is an object labelled ``label`` a QR code or barcode (``code 3``, ``QR code on door``)?"""
    return any(w in CODE_WORDS for w in str(label).lower().replace("_", " ").replace("-", " ").split())


def opaque_effect(effect, keep: bool = False):
    """``effect`` when it covers with a solid colour (fill, mean), else a black fill; ``keep``
    stays only when ``keep`` is True (asked for that object by name)."""
    effect = parse_style(effect)
    if isinstance(effect, (FillEffect, MeanColorEffect)):
        return effect
    if keep and getattr(effect, "name", "") == "keep":
        return effect
    return FillEffect()


def plan_render(store: MaskStore, options: RenderOptions | None = None,
                object_styles: Mapping[int | str, str | Effect] | None = None,
                chroma: tuple[int, int] = (1, 1)) -> RenderPlan:
    """Check the settings against the masks' objects before any frame is decoded.

    ``options`` None: the defaults. ``chroma`` is the output's chroma subsampling (``chroma_of``):
    covers snap to its blocks. Without ``options.hold`` the hold is ``hold_seconds`` at the masks'
    video's exact fps (a caller that probed the video gives ``options.for_fps(info.fps)``).
    """
    options = options or RenderOptions()
    return RenderPlan(effects=object_effects(store.object_infos, options.style, object_styles),
                      labels={o.id: o.label for o in store.object_infos},
                      margins=MaskMargins(dilate_px=options.dilate, feather_px=options.feather,
                                          hold_frames=options.hold_frames(Fraction(store.video.fps)),
                                          cover_long_gaps=options.cover_long_gaps),
                      chroma=chroma, style=options.style)


def chroma_of(pix_fmt: str) -> tuple[int, int]:
    """(x, y) chroma subsampling of a pixel format: (2, 2) for yuv420p*, (2, 1) for 4:2:2."""
    return (2, 2) if "420" in pix_fmt else (2, 1) if "422" in pix_fmt else (1, 1)


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


class Cover(NamedTuple):
    """One cover of a frame: its effect, the region it covers (frame-sized: bool, or float alpha
    when feathered; grown by the margins and snapped to chroma) and that region's bounding box
    (exclusive ends), so no later step scans the whole frame for it again."""

    effect: Effect
    region: np.ndarray
    box: Box


def frame_covers(masks: Mapping[int, np.ndarray], plan: RenderPlan) -> list[Cover]:
    """What covers one frame: a ``Cover`` per object with pixels on it, objects in id order.

    The region is the object's mask after the margins, snapped to ``plan.chroma``. Objects with
    the same fill colour are covered as one region (one pass, and no seam where they touch).
    Each mask's box is found once; the margins and the snapping work inside it.
    """
    pending: list[tuple[Effect, np.ndarray, Box]] = []
    fills: dict[Effect, int] = {}  # fill effect -> its place in ``pending``
    for obj_id in sorted(masks):
        mask = masks[obj_id]
        box = mask_box(mask)
        if box is None:
            continue
        effect = plan.effects.get(obj_id)
        if effect is None:
            raise VidmaskError(f"masks.json has object {obj_id} on a frame but not in its object list; "
                               "run the propagation (03) again")
        if isinstance(effect, FillEffect) and effect in fills:
            place = fills[effect]
            _, union, other = pending[place]
            pending[place] = (effect, union | mask, union_box(other, box))
            continue
        if isinstance(effect, FillEffect):
            fills[effect] = len(pending)
        pending.append((effect, np.asarray(mask, bool), box))
    covers = []
    for effect, mask, box in pending:
        region, box = plan.margins.grow(mask, box)  # a new array: snapped in place
        if box is not None:
            covers.append(Cover(effect, *snap_region(region, plan.chroma, box)))
    return covers


def union_box(a: Box, b: Box) -> Box:
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def snap_region(region: np.ndarray, chroma: tuple[int, int], box: Box) -> tuple[np.ndarray, Box]:
    """Widen a covered region (bool or alpha) to whole ``chroma`` = (x, y) blocks of the frame's grid,
    in place, inside ``box`` (the region's bounding box); returns (region, its new box).

    With 4:2:0 output one chroma sample serves 2x2 pixels; a block half covered would mix the
    cover's colour into the uncovered half. Each block takes its largest value (fail closed).
    """
    cx, cy = chroma
    if (cx, cy) == (1, 1):
        return region, box
    h, w = region.shape
    x0, y0 = box[0] // cx * cx, box[1] // cy * cy
    x1, y1 = min(w, -(-box[2] // cx) * cx), min(h, -(-box[3] // cy) * cy)
    crop = region[y0:y1, x0:x1]
    ph, pw = -(-(y1 - y0) // cy) * cy, -(-(x1 - x0) // cx) * cx
    if (ph, pw) != crop.shape:
        padded = np.zeros((ph, pw), region.dtype)
        padded[:y1 - y0, :x1 - x0] = crop
        crop = padded
    blocks = crop[::cy, ::cx].copy()  # each block's largest value, over its cx * cy pixels
    for dy in range(cy):
        for dx in range(cx):
            if dy or dx:
                np.maximum(blocks, crop[dy::cy, dx::cx], out=blocks)
    if (ph, pw) == (y1 - y0, x1 - x0):
        region[y0:y1, x0:x1].reshape(ph // cy, cy, pw // cx, cx)[:] = blocks[:, None, :, None]
    else:
        region[y0:y1, x0:x1] = np.repeat(np.repeat(blocks, cy, axis=0), cx, axis=1)[:y1 - y0, :x1 - x0]
    return region, (x0, y0, x1, y1)


def covered_region(masks: Mapping[int, np.ndarray], plan: RenderPlan, shape: tuple[int, int]) -> np.ndarray:
    """Every pixel the render changes on a frame (the grown masks, snapped): for quality checks."""
    out = np.zeros(shape, bool)
    for cover in frame_covers(masks, plan):
        out |= cover.region > 0
    return out


def floor_effect(style):
    """The floor's effect: the run's default style, or black fill when that is ``keep`` (fail closed)."""
    effect = parse_style(style)
    return FillEffect() if getattr(effect, "name", "") == "keep" else effect


def kept_ids(objects: Sequence[TrackedObject], effects: Mapping[int, object]) -> list[int]:
    """Object ids whose effect is ``keep`` (left visible on purpose)."""
    return [o.id for o in objects if getattr(effects.get(o.id), "name", "") == "keep"]


def cover_stream(store: MaskStore, info: VideoInfo, plan: RenderPlan,
                 floor=None) -> tuple[RenderPlan, Iterator[tuple[int, dict[int, np.ndarray]]]]:
    """What the render covers, frame by frame: (the plan with the floor's effect, from the plan's
    ``style``; a stream of (frame, {object id: mask})) with every gap held and, given ``floor``, the
    detectors' boxes as object ``FLOOR_ID``. The render draws it; the audit judges its findings against it."""
    masks = plan.margins.hold(mask_stream(store, info), store=store)
    if floor is not None:  # the detectors' boxes as one more object, under the same margins and hold
        from vidmask_nb.detect.hold import CODES_FLOOR_ID, FLOOR_ID, with_floor

        # held box by box (hold.hold_boxes): a face lost beside one still found stays covered too
        masks = with_floor(masks, floor, info, kept_ids(store.object_infos, plan.effects), plan.margins.hold_frames)
        plan = replace(plan, effects={**plan.effects, FLOOR_ID: floor_effect(plan.style),
                                      CODES_FLOOR_ID: opaque_effect(plan.style)})
    return plan, masks


def opaque_region(masks: Mapping[int, np.ndarray], plan: RenderPlan, shape: tuple[int, int]) -> np.ndarray:
    """The pixels of a frame whose source is gone: covered by an opaque effect (fill, mean), grown as
    the render grows them. Blur and pixelate keep a trace of the source, so they are not in it."""
    out = np.zeros(shape, bool)
    for cover in frame_covers(masks, plan):
        if isinstance(cover.effect, (FillEffect, MeanColorEffect)):
            out |= cover.region > 0
    return out


def check_render_output(out_path: Path, video, masks_path, floor=None, own: Path | None = None) -> None:
    """Refuse an output onto any input (the video, the masks and their index, the floor) or onto an
    existing file this kit did not render (``RENDER_TAG``); ``own``, the run folder's redacted video,
    is the run's to replace. Runs before any frame is decoded."""
    from vidmask_nb.track.masks import index_path

    out_path = Path(out_path)
    if out_path.is_dir():
        raise VidmaskError(f"--out {out_path} is a folder; give a file path ending in .mp4")
    inputs = {"the source video": Path(video), "--masks": Path(masks_path), "the masks' index": index_path(masks_path)}
    if floor is not None:
        inputs["the floor"] = Path(floor)
    target = out_path.resolve()
    for what, p in inputs.items():
        if target == p.resolve():
            raise VidmaskError(f"--out {out_path} would overwrite {what} ({p}), an input of the render; "
                               "give a new file name")
    if out_path.exists() and not (own is not None and target == Path(own).resolve()) \
            and not written_by_kit(out_path, RENDER_TAG):
        raise VidmaskError(f"--out {out_path} exists and is not a video this kit rendered; refusing to overwrite "
                           "it: give a new file name, or move that file away")
    check_output_name(out_path, "--out", "give a shorter file name")


def required_floor(folder: Path, floor, masks_path: Path | None = None):
    """``floor``, or the ``floor.json`` the masks need: a run whose detectors found what to hide never renders
    without their floor. Needed when the run folder's state records one (02's find wrote it), or the masks'
    header says it holds a detector floor (``--no-track``: ``untracked.write_untracked_masks``), and then taken from
    beside the masks; a ``floor.json`` beside the masks is used in any case (what it covers stays covered).
    A needed floor that is not there is an error (one line), never an uncovered render."""
    from vidmask_nb.runfolder.state import RunState

    if floor is not None:
        return floor
    try:
        state = RunState.load(folder)
    except VidmaskError:  # masks in a folder whose run.json the kit cannot vouch for: judged by the masks alone
        state = None
    path = Path(folder) / "floor.json"
    if state is not None and state.has_output("floor.json"):
        if not path.is_file():
            raise VidmaskError(f"{path} is missing, but this run's detectors wrote it (find): rendering without "
                               "it would leave what they found uncovered; run notebook 02 (or vidmask-nb run) again")
        return path
    if masks_path is None:
        return None
    beside = Path(masks_path).parent / "floor.json"
    if beside.is_file():
        return beside
    key = str(MaskStore.load(masks_path).header.get("key", ""))
    if "detector floor" in key:
        raise VidmaskError(f"{masks_path} says it holds a detector floor ({key.split(',')[0]}), but no floor.json "
                           f"is beside it: rendering without it would leave what the detectors found uncovered; "
                           "copy the run's floor.json beside the masks, or render from the run folder")
    return None


def render(video: str | os.PathLike, workdir: str | os.PathLike | None = None,
           options: RenderOptions | None = None, *,
           object_styles: Mapping[int | str, str | Effect] | None = None,
           output: str | os.PathLike | None = None, masks: str | os.PathLike | None = None,
           floor: str | os.PathLike | None = None, audio=None, preset: str | None = None,
           encoder: str | None = None, overlap: bool = True, progress: bool = True) -> Path:
    """Write the redacted copy of ``video`` using ``workdir``'s ``masks.json``; return its path.

    ``options`` (``RenderOptions``, checked here; None: the defaults): ``style`` applies to every
    object, ``object_styles`` overrides it by object id or label. ``dilate``/``feather`` are in px;
    dropouts are covered up to ``hold_seconds`` (converted with the video's exact fps), or ``hold``
    frames when given (see ``effects.MaskMargins``); longer gaps are covered too unless
    ``cover_long_gaps=False`` (``vidmask_nb.redact.gaps``). ``crf`` sets quality (lower is better;
    None: ``encode.DEFAULT_CRF``), ``lossless=True`` keeps every unmasked pixel exact (large files).
    ``masks`` reads another masks.json (any in the documented format whose video block matches
    ``video``). The output defaults to ``<workdir>/<stem>_redacted.mp4``; ``preset`` is x264's speed
    (default veryfast); ``encoder`` None picks h264_nvenc when usable, else libx264.
    ``floor``: a ``floor.json`` (``floor.compute_floor``) whose detector boxes are covered too, with
    ``style`` and the same margins; each box held up to the hold after and before the
    detector loses it (``hold.hold_boxes``). Codes (the floor's and objects labelled as codes,
    ``is_code_label``) are filled opaquely whatever the style (``opaque_effect``).
    ``audio``: an ``audio.AudioOptions`` or ``audio.AudioPlan`` (mute or bleep the whole track, spans, listed
    words heard); None copies every audio packet. Only the packets under its spans are re-encoded.
    """
    options = (options or RenderOptions()).checked()
    info = probe(video)
    run = RunFolder(workdir) if workdir is not None else None
    if masks is None and run is None:
        raise VidmaskError("render needs a run folder (workdir) or a masks.json (masks=)")
    if output is None and run is None:
        raise VidmaskError("render needs an output path when there is no run folder")
    masks_path = Path(masks) if masks is not None else run.masks_json
    out_path = Path(output) if output is not None else run.redacted_video(video)
    floor = required_floor(run.root if run is not None else masks_path.parent, floor, masks_path)
    check_render_output(out_path, video, masks_path, floor, own=run.redacted_video(video) if run else None)
    lock = run_folder_lock(out_path, run)  # one writer of a run folder's outputs at a time
    try:
        return _render(video, info, masks_path, out_path, floor, options.for_fps(info.fps), object_styles, preset,
                       progress, overlap, encoder, audio)
    finally:
        if lock is not None:
            lock.release()


def run_folder_lock(out_path: Path, run: RunFolder | None = None):
    """Take the lock of the run folder ``out_path`` is written into (``state.RunLock``), or None when it is not
    in one. A notebook kernel or ``vidmask-nb run`` that holds the lock passes; anyone else is refused with
    one line while it is held, so no render replaces a run's output while its notebook audits and records it."""
    from vidmask_nb.runfolder.state import LOCK_FILE, RunLock, is_run_folder

    folder = out_path.resolve().parent
    if not ((run is not None and run.root.resolve() == folder) or is_run_folder(folder)
            or (folder / LOCK_FILE).exists()):
        return None
    return RunLock(folder).acquire("run")


def _render(video, info, masks_path, out_path, floor, options: RenderOptions, object_styles, preset, progress, overlap,
            encoder, audio) -> Path:
    store = MaskStore.load(masks_path)
    store.check_video(info)
    if store.is_random:
        from vidmask_nb.track.model import announce_random_weights

        announce_random_weights("these masks came from an untrained model: the redaction is not real")
    crf, lossless = DEFAULT_CRF if options.crf is None else options.crf, options.lossless
    plan = plan_render(store, options, object_styles, chroma=chroma_of(output_pix_fmt(info, lossless, planar=True)))
    audio_packets = None
    if audio is not None:
        from vidmask_nb.redact.audio import AudioOptions, edit_audio, plan_audio

        audio_plan = plan_audio(video, audio) if isinstance(audio, AudioOptions) else audio
        audio_packets = edit_audio(video, audio_plan)
        if progress:
            print(audio_plan.summary())
    reader = VideoReader(video, info=info, deep=True)
    plan, masks = cover_stream(store, info, plan, floor)
    stop = threading.Event()
    frames: Iterable = ()
    # The covers' OpenCV calls work on crops of a few hundred pixels, where its worker threads cost
    # more to wake than they save, and the decoder and x264 already keep every core busy: one thread
    # (measured: 40 % less CPU for the covers on 01_dog).
    cv2_threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        with VideoWriter(out_path, info, crf=crf, lossless=lossless, preset=preset, encoder=encoder,
                         audio_edits=audio_packets, planar=True, tag=RENDER_TAG) as writer:
            if progress:
                print(f"render {Path(video).name} -> {out_path} with {writer.encoder} "
                      f"({'lossless' if lossless else f'crf {crf}'}, {writer.pix_fmt}, {info.color_description()})")
            # TQDM_DISABLE (the CLI sets it off a terminal) holds here too: tqdm reads it only as a default
            bar = tqdm(total=info.frame_count, desc=f"render {Path(video).name}", unit="frame",
                       disable=not progress or bool(os.environ.get("TQDM_DISABLE")))
            # The decoder's planes, copied into a few reused frames (media.planes): covers convert only their boxes.
            pool = FramePool(info.width, info.height, writer.pix_fmt, info.sws_colorspace, info.sws_range,
                             size=3 * DEPTH, stop=stop)
            frames = (pool.load(decoded, index) for index, decoded in reader.decoded())
            if overlap:
                frames, masks = prefetch(frames, DEPTH, stop), prefetch(masks, DEPTH, stop)

            def encode(frame: YuvFrame, pts: int) -> None:
                writer.write_planes(frame.frame, pts)
                pool.give_back(frame)

            with bar, FrameSink(encode, DEPTH, stop, enabled=overlap) as sink:
                for frame, (index, frame_masks) in zip(frames, masks):
                    if index != frame.index:  # cannot happen with checked masks; never misalign
                        raise VidmaskError(f"frame {frame.index} met the masks of frame {index}")
                    sink.put(cover_planes(frame, frame_covers(frame_masks, plan)), frame.pts)
                    bar.update(1)
    finally:
        cv2.setNumThreads(cv2_threads)
        stop.set()
        for stage in (frames, masks):
            close = getattr(stage, "close", None)
            if close is not None:
                close()  # joins a prefetch thread before its reader goes away
        reader.close()
    seal_output(out_path)  # what the run records (state.complete) is these very bytes, or nothing
    return out_path
