"""What the benchmarks (and the tests) measure with, kept out of the product: truth clips, the leak
scorer, masks injected from elsewhere, PSNR outside the covers, and the published LabelMe layout.

A benchmark run as ``python benchmarks/x.py`` has this folder on ``sys.path``: ``from common import ...``;
the tests reach it the same way (``tests/conftest.py`` puts this folder on the path).

**Truth clips** (``TruthScene``, ``write_truth_clip``; ``benchmarks/groundtruth.py``)

A ``TruthScene`` moves *sprites* (a real face cropped from a real frame, or rendered text) over a
real background (the frames of a real clip, in order) along known paths: key points of centre,
height and *squash* (the width's share: 0.05 is a face turned edge-on), linearly interpolated in
time; *occluders* (patches of another real picture) pass in front; *motion blur* averages several
sub-frame positions over the shutter. Because everything is drawn from the spec,
``scene.truth(i)`` is the exact set of pixels of each sprite's *truth box* (the face from brows
to chin, the text's tight box) that is visible on frame ``i``: clipped to the picture, minus the
occluders in front, the union of the sub-frame positions when blurred.

Example::

    scene = TruthScene((1280, 720), Fraction(24000, 1001), 48, actors=[
        Actor("face 1", Sprite(face_rgb, (0.1, 0.1, 0.9, 0.9)), keys=[(0, 200, 300, 90, 1), (2, 900, 300, 90, 1)])])
    write_truth_clip("walk.mp4", scene, backgrounds)   # backgrounds: iterable of (H, W, 3) uint8
    scene.truth(10)                                    # {"face 1": (720, 1280) bool}

**The leak scorer** (``LeakScorer``, ``changed_pixels``)

The truth is, for each frame, the pixels of every region that must not be seen (a face, a line of
text), as boolean masks. The scorer never looks at what the redaction *meant* to do, only at the
pixels it wrote:

- a pixel is **changed** when the output differs from the source there by more than ``tolerance``
  (the largest difference over R, G, B, on 0..255; default ``COVER_TOLERANCE`` 24, above x264's noise
  at crf 10-18 on these clips);
- a region's **coverage** on a frame is the share of its pixels that are changed (regions smaller
  than ``MIN_REGION_PIXELS`` are not counted: nothing recognisable fits in them);
- a **leak frame** is a frame where some region's coverage is below ``LEAK_COVERAGE`` (90 %);
  a **leak run** is a maximal run of consecutive leak frames;
- **recall** is the mean coverage over all (frame, region) pairs;
- **over-redaction** is the share of the pixels outside every region that are changed, over all
  frames (the redaction's cost to the rest of the picture).

A black output scores recall 1 (wherever the source is brighter than the tolerance); a copy of the
source scores 0. Blur keeps a region's mean colour, so a flat part of a blurred face counts as not
covered: the figure says "pixels still as they were", not "recognisable".

Example::

    scorer = LeakScorer()
    for src, out, regions in zip(source_frames, output_frames, truth):   # regions: {name: (H, W) bool}
        scorer.add(src, out, regions)
    result = scorer.result()   # ClipScore: recall, leak_frames, leak_runs, over_redaction, ...
"""
from __future__ import annotations

import bisect
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import av
import numpy as np

from vidmask_nb.detect import floor, floorfile, untracked
from vidmask_nb.errors import VidmaskError
from vidmask_nb.media.encode import DEFAULT_CRF, DEFAULT_PRESET, X264_TUNING
from vidmask_nb.media.video import VideoInfo, VideoReader, probe
from vidmask_nb.prompts.records import TrackedObject, VideoRef, color_for
from vidmask_nb.redact.render import RenderPlan, covered_region, mask_stream
from vidmask_nb.runfolder.folder import atomic_output
from vidmask_nb.track.masks import FrameMasks, MaskStore, ObjectMask, encode_rle

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Sprite:
    """A picture to move (H, W, 3 uint8), its optional alpha (H, W float 0..1), and its truth box
    inside it as fractions of its width and height (x0, y0, x1, y1)."""

    image: np.ndarray
    truth: Box = (0.0, 0.0, 1.0, 1.0)
    alpha: np.ndarray | None = None

    @property
    def aspect(self) -> float:
        return self.image.shape[1] / self.image.shape[0]


@dataclass(frozen=True)
class Actor:
    """A sprite on a path: ``keys`` are (seconds, centre x, centre y, height px, squash)."""

    name: str
    sprite: Sprite
    keys: Sequence[tuple[float, float, float, float, float]]

    def box_at(self, t: float) -> Box | None:
        """The sprite's box on the frame at ``t`` seconds (None before the first key or after the last)."""
        ks = self.keys
        if t < ks[0][0] or t > ks[-1][0]:
            return None
        j = bisect.bisect_right([k[0] for k in ks], t) - 1
        a, b = ks[j], ks[min(j + 1, len(ks) - 1)]
        u = 0.0 if b[0] == a[0] else (t - a[0]) / (b[0] - a[0])
        cx, cy, h, sq = (a[k] + (b[k] - a[k]) * u for k in range(1, 5))
        w = h * self.sprite.aspect * sq
        return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)

    def truth_box(self, box: Box) -> Box:
        x0, y0, x1, y1 = box
        f = self.sprite.truth
        return (x0 + f[0] * (x1 - x0), y0 + f[1] * (y1 - y0), x0 + f[2] * (x1 - x0), y0 + f[3] * (y1 - y0))


@dataclass(frozen=True)
class Occluder:
    """A patch of a real picture passing in front of the actors: ``keys`` are (seconds, x0, y0, x1, y1)."""

    image: np.ndarray
    keys: Sequence[tuple[float, float, float, float, float]]

    def box_at(self, t: float) -> Box | None:
        ks = self.keys
        if t < ks[0][0] or t > ks[-1][0]:
            return None
        j = max(i for i in range(len(ks)) if ks[i][0] <= t)
        a, b = ks[j], ks[min(j + 1, len(ks) - 1)]
        u = 0.0 if b[0] == a[0] else (t - a[0]) / (b[0] - a[0])
        return tuple(a[k] + (b[k] - a[k]) * u for k in range(1, 5))  # type: ignore[return-value]


def _int_box(box: Box, width: int, height: int) -> tuple[int, int, int, int] | None:
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    if x1 - x0 < 1 or y1 - y0 < 1:
        return None
    return x0, y0, x1, y1


def _paste(canvas: np.ndarray, image: np.ndarray, box: Box, alpha: np.ndarray | None = None) -> None:
    """Draw ``image`` resized to ``box`` onto ``canvas`` (float32), clipped to the canvas."""
    import cv2

    h, w = canvas.shape[:2]
    ib = _int_box(box, w, h)
    if ib is None:
        return
    x0, y0, x1, y1 = ib
    bw, bh = x1 - x0, y1 - y0
    interp = cv2.INTER_AREA if bw < image.shape[1] else cv2.INTER_LINEAR
    patch = cv2.resize(image, (bw, bh), interpolation=interp).astype(np.float32)
    a = None if alpha is None else cv2.resize(alpha.astype(np.float32), (bw, bh), interpolation=cv2.INTER_LINEAR)
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if cx1 <= cx0 or cy1 <= cy0:
        return
    p = patch[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
    if a is None:
        canvas[cy0:cy1, cx0:cx1] = p
    else:
        aa = a[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0, None]
        canvas[cy0:cy1, cx0:cx1] = canvas[cy0:cy1, cx0:cx1] * (1 - aa) + p * aa


def _fill(mask: np.ndarray, box: Box, value: bool) -> None:
    h, w = mask.shape
    x0, y0 = max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1])))
    x1, y1 = min(w, int(np.ceil(box[2]))), min(h, int(np.ceil(box[3])))
    if x1 > x0 and y1 > y0:
        mask[y0:y1, x0:x1] = value


@dataclass(frozen=True)
class TruthScene:
    """Actors and occluders over a background, ``frame_count`` frames at ``fps``."""

    size: tuple[int, int]  # (width, height)
    fps: Fraction
    frame_count: int
    actors: Sequence[Actor] = ()
    occluders: Sequence[Occluder] = ()
    blur_samples: int = 1  # sub-frame positions averaged per frame (motion blur over half a frame)
    meta: dict = field(default_factory=dict)

    def _times(self, i: int) -> list[float]:
        t = float(i / self.fps)
        n = self.blur_samples
        if n <= 1:
            return [t]
        shutter = 0.5 / float(self.fps)
        return [t + shutter * (k / (n - 1) - 0.5) for k in range(n)]

    def frame(self, i: int, background: np.ndarray) -> np.ndarray:
        w, h = self.size
        if background.shape[:2] != (h, w):
            import cv2

            background = cv2.resize(background, (w, h), interpolation=cv2.INTER_AREA)
        acc = np.zeros((h, w, 3), np.float32)
        times = self._times(i)
        for t in times:
            canvas = background.astype(np.float32)
            for a in self.actors:
                box = a.box_at(t)
                if box is not None:
                    _paste(canvas, a.sprite.image, box, a.sprite.alpha)
            for o in self.occluders:
                box = o.box_at(t)
                if box is not None:
                    _paste(canvas, o.image, box)
            acc += canvas
        return (acc / len(times)).round().clip(0, 255).astype(np.uint8)

    def truth(self, i: int) -> dict[str, np.ndarray]:
        """Each actor's visible truth pixels on frame ``i`` (actors out of the picture: empty masks)."""
        w, h = self.size
        out = {}
        for a in self.actors:
            mask = np.zeros((h, w), bool)
            for t in self._times(i):
                box = a.box_at(t)
                if box is None:
                    continue
                one = np.zeros((h, w), bool)
                _fill(one, a.truth_box(box), True)
                for o in self.occluders:
                    ob = o.box_at(t)
                    if ob is not None:
                        _fill(one, ob, False)
                mask |= one
            out[a.name] = mask
        return out


def write_truth_clip(path: str | os.PathLike, scene: TruthScene, backgrounds: Iterable[np.ndarray],
                     crf: int = 12) -> str:
    """Encode ``scene`` over ``backgrounds`` (looped if short) as H.264 (untagged BT.601, like ``make_sample_clip``)."""
    bgs = list(backgrounds)
    if not bgs:
        raise ValueError("write_truth_clip needs at least one background frame")
    w, h = scene.size
    with atomic_output(path) as tmp, av.open(str(tmp), "w", format="mp4") as out:
        vs = out.add_stream("libx264", rate=scene.fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.options = {"crf": str(crf), "preset": "veryfast"}
        for i in range(scene.frame_count):
            n = len(bgs)
            k = i % (2 * n - 1 if n > 1 else 1)  # ping-pong through the background frames
            bg = bgs[k if k < n else 2 * n - 2 - k]
            frame = av.VideoFrame.from_ndarray(scene.frame(i, bg), format="rgb24")
            frame.pts, frame.time_base = i, 1 / scene.fps
            for p in vs.encode(frame):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)
    return str(path)


# The leak scorer

COVER_TOLERANCE = 24
LEAK_COVERAGE = 0.9
MIN_REGION_PIXELS = 16


def changed_pixels(source: np.ndarray, output: np.ndarray, tolerance: int = COVER_TOLERANCE) -> np.ndarray:
    """(H, W) bool: where ``output`` differs from ``source`` by more than ``tolerance`` in some channel."""
    if source.shape != output.shape:
        raise ValueError(f"source frame {source.shape} and output frame {output.shape} differ in size")
    if source.dtype == np.uint16:  # deep frames: compare on 0..255
        source, output = (source >> 8).astype(np.uint8), (output >> 8).astype(np.uint8)
    diff = np.abs(source.astype(np.int16) - output.astype(np.int16))
    return diff.max(axis=2) > tolerance


@dataclass(frozen=True)
class ClipScore:
    """One clip's score (see the module's docstring for each figure's definition)."""

    frames: int
    region_frames: int  # (frame, region) pairs counted
    recall: float  # mean coverage over them (1.0 when there were none)
    worst_coverage: float
    leak_frames: int
    leak_runs: int
    longest_run: int
    over_redaction: float
    leaks: tuple[int, ...] = field(default=())  # the leak frames' indices

    def to_json(self) -> dict:
        return {"frames": self.frames, "region_frames": self.region_frames, "recall": round(self.recall, 4),
                "worst_coverage": round(self.worst_coverage, 4), "leak_frames": self.leak_frames,
                "leak_runs": self.leak_runs, "longest_run": self.longest_run,
                "over_redaction": round(self.over_redaction, 5), "leaks": list(self.leaks)}


class LeakScorer:
    """Frame by frame accumulation of a clip's score (memory: a few numbers per frame)."""

    def __init__(self, tolerance: int = COVER_TOLERANCE, leak_coverage: float = LEAK_COVERAGE,
                 min_region_pixels: int = MIN_REGION_PIXELS):
        self.tolerance = tolerance
        self.leak_coverage = leak_coverage
        self.min_region_pixels = min_region_pixels
        self._frame = 0
        self._coverage: list[float] = []
        self._leaks: list[int] = []
        self._outside_changed = 0
        self._outside_total = 0

    def add(self, source: np.ndarray, output: np.ndarray, regions: Mapping[str, np.ndarray]) -> list[float]:
        """Score the next frame; returns each counted region's coverage."""
        changed = changed_pixels(source, output, self.tolerance)
        inside = np.zeros(changed.shape, bool)
        shares = []
        for mask in regions.values():
            mask = np.asarray(mask, bool)
            inside |= mask
            n = int(mask.sum())
            if n < self.min_region_pixels:
                continue
            shares.append(float(changed[mask].sum()) / n)
        if shares and min(shares) < self.leak_coverage:
            self._leaks.append(self._frame)
        self._coverage += shares
        outside = ~inside
        self._outside_changed += int((changed & outside).sum())
        self._outside_total += int(outside.sum())
        self._frame += 1
        return shares

    def result(self) -> ClipScore:
        runs, longest, prev, length = 0, 0, None, 0
        for f in self._leaks:
            length = length + 1 if prev is not None and f == prev + 1 else 1
            runs += length == 1
            longest = max(longest, length)
            prev = f
        cov = self._coverage
        return ClipScore(self._frame, len(cov), float(np.mean(cov)) if cov else 1.0,
                         float(min(cov)) if cov else 1.0, len(self._leaks), runs, longest,
                         self._outside_changed / max(self._outside_total, 1), tuple(self._leaks))


# Masks and the pixels around them

def psnr_outside_covers(source: str | os.PathLike, output: str | os.PathLike, store: MaskStore,
                        plan: RenderPlan) -> list[float]:
    """PSNR (dB) of every output frame against the source, over the pixels the render left alone.

    Both files are decoded as a player would, each with the matrix and range its own stream
    states (``VideoReader``), at full depth (peak 65535 for 16-bit). inf where they are equal.
    """
    src_info, out_info = probe(source), probe(output)
    values = []
    with VideoReader(source, info=src_info, deep=True) as a, VideoReader(output, info=out_info, deep=True) as b:
        for fa, fb, (_, frame_masks) in zip(a, b, plan.margins.hold(mask_stream(store, src_info))):
            keep = ~covered_region(frame_masks, plan, fa.rgb.shape[:2])
            peak = float(np.iinfo(fa.rgb.dtype).max)
            scale = peak / float(np.iinfo(fb.rgb.dtype).max)
            diff = fa.rgb[keep].astype(np.float64) - fb.rgb[keep].astype(np.float64) * scale
            mse = float(np.mean(diff * diff)) if diff.size else 0.0
            values.append(float("inf") if mse == 0 else 10 * np.log10(peak * peak / mse))
    return values


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
    objects = [TrackedObject(int(k), str(v), color_for(int(k))) for k, v in labels.items()]
    return MaskStore.from_frames(VideoRef.of(info), objects, frames, key=key)


# The published LabelMe layout (../shared/seed)

def published_folders(total_frames, fps, start=0, end=None, folder_duration=None, folder_prefix="frame",
                      folder_start_idx=1) -> dict[str, list[int]]:
    """The published ``extract_frames`` loop (../shared/seed), its arithmetic verbatim, without cv2.

    Returns {folder name: whole-video frame indices saved in it, in file order}.
    """
    if end is None or end > total_frames / fps:
        end = total_frames / fps
    out: dict[str, list[int]] = {}
    now_save_dir = f"{folder_start_idx}_{folder_prefix}{int(start * fps)}-{int(end * fps - 1)}"
    if folder_duration is None:
        out[now_save_dir] = []
    now_end = None
    frame_count = 0
    for _ in range(0, int(end * fps)):
        if frame_count >= total_frames:  # cap.read() fails
            break
        current_time_sec = frame_count / fps
        index = frame_count
        frame_count += 1
        if end is not None and current_time_sec >= end:
            break
        if current_time_sec < start:
            continue
        if folder_duration is not None and (now_end is None or current_time_sec >= now_end):
            now_save_dir = (f"{folder_start_idx}_{folder_prefix}{int(current_time_sec * fps)}-"
                            f"{int(min(current_time_sec + folder_duration, end) * fps - 1)}")
            out[now_save_dir] = []
            folder_start_idx += 1
            now_end = current_time_sec + folder_duration
        out[now_save_dir].append(index)
    return {k: v for k, v in out.items() if v}


def rect(label, x0, y0, x1, y1, group_id=None):
    return {"label": label, "points": [[x0, y0], [x1, y1]], "group_id": group_id, "shape_type": "rectangle",
            "flags": {}}


def write_labelme(path: Path, shapes, size=(64, 48)):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"version": "5.5.0", "flags": {}, "shapes": shapes,
                                "imagePath": path.with_suffix(".jpg").name, "imageData": None,
                                "imageHeight": size[1], "imageWidth": size[0]}))


# -- the peer and the modes the benchmarks compare (groundtruth, judge_mtcnn, judge_reid, measure_find, whole run) --

ROOT = Path(__file__).resolve().parents[1]
MEDIA = Path(os.environ.get("VIDMASK_SHARED_MEDIA", ROOT.parent / "shared" / "media"))
DEFACE = Path(sys.executable).parent / "deface"
# deface encodes as the kit does (its crf, x264 preset and tuning), so both carry the same encoder noise
DEFACE_FFMPEG = json.dumps({"codec": "libx264", "quality": None, "output_params": [
    "-crf", str(DEFAULT_CRF), "-preset", DEFAULT_PRESET, "-x264-params", X264_TUNING.get(DEFAULT_PRESET, "")]})


def cut(src: Path, dst: Path, n: int, crf: int = 12) -> Path:
    """The first ``n`` frames of ``src``, re-encoded (H.264 at ``crf``, no audio; cached at ``dst``): short real
    material for the tests and benchmarks."""
    if dst.is_file():
        return dst
    tmp = dst.with_suffix(".part.mp4")
    with av.open(str(src)) as inp, av.open(str(tmp), "w") as out:
        vs = inp.streams.video[0]
        os_ = out.add_stream("libx264", rate=vs.average_rate)
        os_.width, os_.height, os_.pix_fmt = vs.codec_context.width, vs.codec_context.height, "yuv420p"
        os_.options = {"crf": str(crf), "preset": "veryfast"}
        for i, f in zip(range(n), inp.decode(vs)):
            g = av.VideoFrame.from_ndarray(f.to_ndarray(format="rgb24"), format="rgb24")
            g.pts, g.time_base = i, Fraction(1) / vs.average_rate
            for p in os_.encode(g):
                out.mux(p)
        for p in os_.encode():
            out.mux(p)
    tmp.rename(dst)
    return dst


KIT_MODES = {"kit fast": {"fine_model": "int8"}, "kit fast fp32": {"fine_model": "fp32"}, "kit exact": {"exact": True}}


def run_kit(clip: Path, work: Path, kinds: str, mode: str) -> tuple[Path, dict]:
    from vidmask_nb.redact import render
    from vidmask_nb.runfolder.folder import RunFolder

    w = work / mode.replace(" ", "_")
    if w.exists():
        import shutil

        shutil.rmtree(w)
    w.mkdir(parents=True)
    info = probe(clip)
    t0, c0 = time.perf_counter(), time.process_time()
    RunFolder(w).create()
    floor.compute_floor(clip, w, kinds, info=info, **KIT_MODES[mode])  # find_and_floor's, not tracking
    t_floor, c_floor = time.perf_counter() - t0, time.process_time() - c0
    untracked.write_untracked_masks(clip, w, info)
    out = render.render(clip, w, floor=floorfile.floor_path(w), progress=False)  # the default hold
    return out, {"s": time.perf_counter() - t0, "cpu": time.process_time() - c0, "floor_s": t_floor,
                 "floor_cpu": c_floor}


# The kit's whole CLI run (`vidmask-nb run CLIP --find KINDS --no-track`, its audit, review and report
# included), as deface's modes are deface's whole CLI run.
WHOLE_RUN = "kit run"
KIT = Path(sys.executable).parent / "vidmask-nb"


def run_whole(clip: Path, work: Path, kinds: str, reports: bool = True) -> tuple[Path, dict]:
    """``vidmask-nb run clip --find kinds --no-track`` into a fresh ``work/kit_run``: the output and its
    seconds (its exit code 1, the run's own audit flagging something, is a result to score, not a failure)."""
    import shutil

    w = work / ("kit_run" if reports else "kit_run_no_reports")
    shutil.rmtree(w, ignore_errors=True)
    cmd = [str(KIT), "run", str(clip), "--find", kinds, "--no-track", "--out", str(w)]
    return w / f"{clip.stem}_redacted.mp4", timed_command(cmd + ([] if reports else ["--no-reports"]), ok=(0, 1))


def run_mode(clip: Path, work: Path, kinds: str, mode: str) -> tuple[Path, dict]:
    """The output of one mode (a key of KIT_MODES, WHOLE_RUN, or deface blur / deface solid) and its seconds."""
    if mode in KIT_MODES:
        return run_kit(clip, work, kinds, mode)
    if mode == WHOLE_RUN:
        return run_whole(clip, work, kinds)
    if mode not in ("deface blur", "deface solid"):
        raise SystemExit(f"unknown mode {mode!r}: one of {', '.join(KIT_MODES)}, {WHOLE_RUN}, deface blur, "
                         "deface solid")
    return run_deface(clip, work, solid=mode == "deface solid")


def run_deface(clip: Path, work: Path, solid: bool) -> tuple[Path, dict]:
    """deface 1.5.0 on ``clip`` (its blur, or ``--replacewith solid``) into ``work``: the output and its seconds."""
    out = work / f"deface_{'solid' if solid else 'blur'}.mp4"
    out.unlink(missing_ok=True)
    cmd = [str(DEFACE), str(clip), "-o", str(out), "--ffmpeg-config", DEFACE_FFMPEG]
    return out, timed_command(cmd + (["--replacewith", "solid"] if solid else []))


def timed_command(cmd: list[str], ok: tuple[int, ...] = (0,), **kw) -> dict:
    """Run ``cmd`` to its end (an exit code outside ``ok`` raises): its wall and CPU seconds (the child's user
    and system time, its own children's included)."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)
    if done.returncode not in ok:
        raise subprocess.CalledProcessError(done.returncode, cmd, stderr=done.stderr)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"s": time.perf_counter() - t0, "cpu": (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)}
