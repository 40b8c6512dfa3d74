"""Audit: is anything recognisable still visible in a video? (``vidmask-nb audit``, stage 04)

The detectors run over any video (ours or another tool's) on every frame (or every ``every``-th)
and each detection is a finding: a *leak*, or *kept* when it lies on an object the run left
visible on purpose (style ``keep``). Exit code of the CLI: 0 nothing leaks, 1 something does.

The audit reads too: ``pii`` reports text that OCR still reads as personal data (``what``: the
kind, ``email``; never the text), ``code`` every QR code or barcode that still *decodes* (on the
frame or its Otsu threshold; ``what``: ``qr``, ``ean13``; never what it says). A code only
located, no longer decodable, is not a leak.

Example::

    report = audit_video("runs/clip/clip_redacted.mp4", kinds=("face",))
    report.leak_frames        # [] when nothing is detectable
    report.save("runs/clip/qa/clip_audit.json")
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from vidmask_nb.detect.detectors import Detections, parse_kinds

# A finding is judged covered when at least this fraction of its box lies inside the run's opaque covers
# (fill, mean; grown and held as the render drew them): the source pixels there are gone, so what the
# detector saw is the cover's edge with a hand or a shirt beside it, not a leak. A face outside the
# covers, or under a blur or pixelation (which keep a trace of the source), stays a leak.
COVERED_FRACTION = 0.5


@dataclass(frozen=True)
class Finding:
    frame: int
    time: float  # seconds from the first frame
    kind: str
    box: tuple[float, float, float, float]
    score: float
    kept: bool = False  # on an object styled "keep": left visible on purpose, not a leak
    what: str = ""  # what matched: "email", "phone+word" (pii), "qr", "ean13" (codes); never the text
    covered: bool = False  # mostly inside the run's opaque covers (COVERED_FRACTION): its pixels are gone
    by: str = ""  # "floor": seen by the run's floor on the source at this frame (``floor_looks``); "": by the audit


@dataclass
class AuditReport:
    video: str
    kinds: tuple[str, ...]
    every: int
    frames_checked: int
    findings: list[Finding] = field(default_factory=list)
    face_pass: str = "exact"  # "fast": faces by the fast pass (``audit_face_pass``); "fast+floor": with the floor's looks; "exact"

    @property
    def leaks(self) -> list[Finding]:
        return [f for f in self.findings if not f.kept and not f.covered]

    @property
    def covered_frames(self) -> list[int]:
        return sorted({f.frame for f in self.findings if f.covered})

    @property
    def leak_frames(self) -> list[int]:
        return sorted({f.frame for f in self.leaks})

    @property
    def kept_frames(self) -> list[int]:
        return sorted({f.frame for f in self.findings if f.kept})

    @property
    def clean(self) -> bool:
        return not self.leaks

    def summary(self) -> str:
        if self.clean:
            kept = f"; {len(self.kept_frames)} frame(s) show kept objects" if self.kept_frames else ""
            if self.covered_frames:
                kept += (f"; {sum(f.covered for f in self.findings)} detection(s) on {len(self.covered_frames)} "
                         "frame(s) lie mostly inside the covers (not leaks)")
            return (f"audit {Path(self.video).name}: nothing detectable ({', '.join(self.kinds)}) on "
                    f"{self.frames_checked} frame(s) checked{kept}")
        matched = self.matched()
        what = f"; {', '.join(f'{k} {n}' for k, n in matched.items())}" if matched else ""
        return (f"audit {Path(self.video).name}: {len(self.leaks)} detection(s) on {len(self.leak_frames)} of "
                f"{self.frames_checked} frame(s) checked ({', '.join(self.kinds)}{what})")

    def to_json(self) -> dict:
        return {"video": str(self.video), "kinds": list(self.kinds), "every": self.every,
                "frames_checked": self.frames_checked, "clean": self.clean,
                "leak_frames": self.leak_frames, "kept_frames": self.kept_frames, "matched": self.matched(),
                "covered_frames": self.covered_frames, "face_pass": self.face_pass,
                "findings": [asdict(f) for f in self.findings]}

    def review_table(self):
        """The leaks as a ``qa.ReviewTable`` (one row per run of consecutive leaking frames and kind), so
        04 can give each a "fix" button that opens the prompt editor there (``editor.review_fixer``)."""
        from vidmask_nb.review.qa import ReviewRow, ReviewTable

        rows: list = []
        for f in sorted(self.leaks, key=lambda f: (f.kind, f.frame)):
            last = rows[-1] if rows else None
            if last is not None and last.label == f.kind and 0 < f.frame - last.last <= self.every:
                rows[-1] = ReviewRow(0, f.kind, last.first, f.frame, "audit leak", last.detail, last.time)
                continue
            detail = (f"{_finding_name(f)} {_still(f)} in the redacted video (score {f.score:.2f} at "
                      f"{[round(v) for v in f.box]}): add a prompt there, or check the effect's strength")
            rows.append(ReviewRow(0, f.kind, f.frame, f.frame, "audit leak", detail, f"{f.time:.2f} s"))
        rows.sort(key=lambda r: r.first)
        return ReviewTable(rows, {"source": "audit", "kinds": list(self.kinds), "every": self.every,
                                  "drop": 0.0, "window": 0, "min_score": 0.0})

    def rows(self, limit: int | None = None) -> list[dict]:
        return [{"frame": f.frame, "time s": round(f.time, 3), "kind": f.kind, "what": f.what,
                 "box": [round(v, 1) for v in f.box], "score": round(f.score, 3),
                 "finding": "kept" if f.kept else "covered" if f.covered else "LEAK"} for f in self.findings[:limit]]

    def matched(self) -> dict[str, int]:
        """Leaks by what matched (``{"email": 12, "qr": 10}``), for summaries."""
        out: dict[str, int] = {}
        for f in self.leaks:
            for part in f.what.split("+") if f.what else ():
                out[part] = out.get(part, 0) + 1
        return out

    def save(self, path: str | os.PathLike) -> Path:
        from vidmask_nb.runfolder.folder import write_json

        return write_json(path, self.to_json())

    @classmethod
    def load(cls, path: str | os.PathLike) -> "AuditReport":
        """The report ``save`` wrote (a notebook shows a finished run's audit without running it again)."""
        from vidmask_nb.runfolder.folder import read_json

        data = read_json(path, "the audit report")
        findings = [Finding(**{**f, "box": tuple(f["box"])}) for f in data.get("findings", [])]
        return cls(data["video"], tuple(data["kinds"]), int(data["every"]), int(data["frames_checked"]), findings,
                   str(data.get("face_pass", "exact")))


def _finding_name(f: Finding) -> str:
    return {"pii": "personal text", "code": "a code"}.get(f.kind, f.kind) + (f" ({f.what})" if f.what else "")


def _still(f: Finding) -> str:
    return {"pii": "still readable", "code": "still decodes"}.get(f.kind, "still detected")


def audit_video(video: str | os.PathLike, kinds: str | Sequence[str] = ("face",), every: int = 1,
                keep_masks: Iterable[tuple[int, np.ndarray | None]] | None = None,
                scale: float | None = None, threshold: float | None = None,
                words: Sequence[str] = (),
                covers: Iterable[tuple[int, np.ndarray | None]] | None = None, exact: bool = False,
                floor: tuple[dict, Iterable[tuple[int, Detections]]] | None = None) -> AuditReport:
    """Detect ``kinds`` on every ``every``-th frame of ``video``.

    Faces are looked for by the fast pass with a scan of every frame (``audit_face_pass``), unless
    ``exact`` (or ``every`` > 1): CenterFace at 640 px on each frame checked, at several times the cost.
    ``floor`` (a run's audit, ``floor_looks``): the fast face pass's settings and its faces, frame by frame,
    as the run's floor found them on the source. Outside the covers the output is the source, so a look
    the floor took there is the look the audit would take: its faces are findings on their frames (judged
    against the covers like the audit's own), and the audit's pass looks where the floor's did not.

    ``keep_masks`` (optional): (frame, union of the kept objects' masks or None) for every frame
    in order; a detection centred inside it is reported as kept. ``covers`` (optional): (frame, the
    run's opaque covers or None) for every frame in order; a detection with at least
    ``COVERED_FRACTION`` of its box inside them is reported as covered, not as a leak. ``words``: the
    ``pii`` kind's word list (``pii.read_words``). Codes count only when they decode (``detect.DEFAULT_THRESHOLD``).
    """
    from vidmask_nb.errors import VidmaskError
    from vidmask_nb.detect.floor import detect_video
    from vidmask_nb.media.video import probe

    if every < 1:
        raise VidmaskError(f"--every must be 1 frame or more, not {every}")
    kinds = parse_kinds(kinds)
    info = probe(video)
    keep_iter = iter(keep_masks) if keep_masks is not None else None
    cover_iter = iter(covers) if covers is not None else None
    keep_frame, keep = -1, None
    cover_frame, cover = -1, None
    exact = exact or every != 1 or "face" not in kinds or scale is not None
    floor = None if exact else floor
    fast = None if exact else audit_face_pass(info, threshold, floor[0] if floor else None)
    report = AuditReport(str(video), kinds, every, 0,
                         face_pass="exact" if fast is None else "fast+floor" if floor else "fast")
    floor_iter = iter(floor[1]) if floor else None
    floor_frame, floor_faces = -1, None
    for index, dets in detect_video(video, kinds, every, info, scale, threshold, desc="audit", words=words,
                                    fast=fast):
        report.frames_checked += 1
        while keep_iter is not None and keep_frame < index:
            keep_frame, keep = next(keep_iter, (info.frame_count, None))
        while cover_iter is not None and cover_frame < index:
            cover_frame, cover = next(cover_iter, (info.frame_count, None))
        seen = [(dets, "")]
        while floor_iter is not None and floor_frame < index:
            floor_frame, floor_faces = next(floor_iter, (info.frame_count, None))
        if floor_faces is not None and floor_frame == index:
            seen.append((floor_faces[floor_faces.scores >= fast.threshold], "floor"))
        for (box, score, kind, what), by in ((row, by) for d, by in seen
                                             for row in zip(d.boxes, d.scores, d.kinds, d.what)):
            cx = int(np.clip((box[0] + box[2]) / 2, 0, info.width - 1))
            cy = int(np.clip((box[1] + box[3]) / 2, 0, info.height - 1))
            kept = keep is not None and keep_frame == index and bool(keep[cy, cx])
            covered = cover is not None and cover_frame == index and inside_fraction(box, cover) >= COVERED_FRACTION
            # boxes to 0.1 px and scores to 3 places, as floor.json has them (Detections.to_json)
            report.findings.append(Finding(index, round(info.seconds(index), 4), str(kind),
                                           tuple(round(float(v), 1) for v in box), round(float(score), 3), kept,
                                           str(what), covered and not kept, by))
    return report


def audit_face_pass(info, threshold: float | None = None, floor_pass: dict | None = None):
    """The audit's fast face pass, at the audit's threshold, each face it finds followed frame by frame.

    Alone (any video): the floor's schedule with its cheap scan on every frame instead of every other
    one (a cover missing on a single frame is seen there), the full-size scan every 12th frame and the
    fine tiles every second. After a run's floor (``floor_pass``, its settings): the same detector on the
    same pixels outside the covers sees what the floor saw, so the audit does not take the floor's looks
    again (``audit_video`` counts the floor's faces instead) but looks where they were not: the cheap
    scan on the frames between the floor's, the full-size scan half-way between two of the floor's
    (every other gap) and the fine tiles half a cycle after the floor's (every other cycle). With the
    floor's looks that is more than the two passes on one schedule saw, at a little over half the audit's
    cost. ``benchmarks/bench_audit.py`` measures what both see of unredacted faces."""
    from dataclasses import replace

    from vidmask_nb.detect.detectors import DEFAULT_THRESHOLD
    from vidmask_nb.detect.fastpass import FastPassOptions

    face = threshold.get("face") if isinstance(threshold, dict) else threshold
    face = DEFAULT_THRESHOLD["face"] if face is None else float(face)
    if floor_pass is None:
        return FastPassOptions(low_every=1, fps=float(info.fps), threshold=face)
    f = FastPassOptions.from_json(floor_pass)
    between = f.low_every <= 2  # the floor's cheap scans leave every other frame (or none) to look at
    return replace(f, threshold=face, threads=None, low_every=2 if between else 1, low_phase=1 if between else 0,
                   full_every=2 * f.full_every, full_phase=f.full_phase + f.full_every // 2,
                   fine_cycle=2 * f.fine_cycle, fine_phase=(f.fine_phase + 0.5) % 1).checked()


def floor_looks(floor, video) -> tuple[dict, Iterable[tuple[int, Detections]]] | None:
    """A run's floor as ``audit_video`` takes it: (the fast face pass's settings, (frame, its faces) for
    every frame), when ``floor`` (a ``floor.json``) holds one made on ``video`` (the source); else None
    (no face floor, the exact pass, or every n-th frame: the audit then takes all its looks itself)."""
    from vidmask_nb.detect.floorfile import floor_boxes, read_floor_header
    from vidmask_nb.media.video import probe

    header = read_floor_header(floor)
    detector = header.detector or {}
    if "face" not in header.kinds or detector.get("pass") != "fast" or header.every != 1:
        return None
    # floor_boxes checks the floor was made on this video (with every 1 its frames are the file's own)
    return detector, ((i, dets[dets.kinds == "face"]) for i, dets in floor_boxes(floor, probe(video)))


def inside_fraction(box, region: np.ndarray) -> float:
    """The fraction of ``box`` (x0, y0, x1, y1; clipped to the frame, rounded outwards) inside ``region``."""
    h, w = region.shape
    x0, y0 = max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1])))
    x1, y1 = min(w, int(np.ceil(box[2]))), min(h, int(np.ceil(box[3])))
    if x1 <= x0 or y1 <= y0:
        return 0.0
    return float(region[y0:y1, x0:x1].mean())


def run_covers(video, workdir, options=None, object_styles=None, floor=None) -> Iterable[tuple[int, np.ndarray]]:
    """(frame, the opaque covers the render drew) for every frame of a run (``coverage.run_cover_stream``:
    its masks and floor, grown and held as the render with ``options``, a ``RenderOptions``, grows and
    holds them). ``floor`` None: the run folder's ``floor.json`` when there is one (as notebook 04
    renders); False: none."""
    from vidmask_nb.redact.render import opaque_region
    from vidmask_nb.review.coverage import run_cover_stream

    info, plan, masks = run_cover_stream(video, workdir, options, object_styles, floor)
    for index, frame_masks in masks:
        yield index, opaque_region(frame_masks, plan, (info.height, info.width))


def kept_masks(store, kept: Sequence[int], dilate: int = 0) -> Iterable[tuple[int, np.ndarray | None]]:
    """(frame, union of the ``kept`` objects' masks) from a ``MaskStore`` (for ``audit_video``)."""
    import cv2

    kept = set(kept)
    for fm in store:
        masks = [m for k, m in fm.masks().items() if k in kept and m.any()]
        union = np.logical_or.reduce(masks) if masks else None
        if union is not None and dilate:
            union = cv2.dilate(union.view(np.uint8), np.ones((2 * dilate + 1,) * 2, np.uint8)).view(bool)
        yield fm.frame, union


def audit_run(video, workdir, output, kinds: str | Sequence[str] = ("face",), every: int = 1, options=None, *,
              object_styles=None, floor=None, pii_words: str | os.PathLike | None = None) -> AuditReport:
    """Stage 04's audit of the redacted ``output``: saved as ``qa/<stem>_audit.json``.

    ``options``: the render's ``RenderOptions`` (None: the defaults). Objects styled ``keep`` (by its
    ``style`` or ``object_styles``) are reported as kept, not as leaks; a detection mostly inside the
    run's opaque covers (``run_covers``: masks and floor, grown and held as the render grows and holds
    them) as covered, not as a leak. ``pii_words``: the run's word list file for the ``pii`` kind. A
    face floor's looks at the source count as the audit's where it took them (``floor_looks``).
    """
    from vidmask_nb.detect.pii import read_words
    from vidmask_nb.redact.render import RenderOptions, object_effects
    from vidmask_nb.runfolder.folder import RunFolder
    from vidmask_nb.track.masks import MaskStore

    options = options or RenderOptions()
    run = RunFolder(workdir)
    store = MaskStore.load(run.masks_json)
    effects = object_effects(store.object_infos, options.style, object_styles)
    kept = [i for i, e in effects.items() if getattr(e, "name", "") == "keep"]
    from vidmask_nb.detect.floorfile import run_floor

    floor = run_floor(workdir, floor)
    covers = run_covers(video, workdir, options, object_styles, floor or False)
    looks = floor_looks(floor, video) if floor else None
    report = audit_video(output, kinds, every, kept_masks(store, kept, options.dilate) if kept else None, covers=covers,
                         words=read_words(pii_words) if pii_words else (), floor=looks)
    run.qa_dir.mkdir(parents=True, exist_ok=True)
    report.save(run.qa_dir / f"{Path(video).stem}_audit.json")
    return report


def leak_sheet(report: AuditReport, n: int = 8, out_path=None):
    """A contact sheet of the frames with leaks, the detections boxed in red (None when clean)."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from vidmask_nb.media.video import VideoReader, sample_indices

    frames = report.leak_frames
    if not frames:
        return None
    frames = [frames[i] for i in sample_indices(len(frames), min(n, len(frames)))]
    cols = min(4, len(frames))
    rows = (len(frames) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.6 * rows), squeeze=False)
    with VideoReader(report.video) as reader:
        images = reader.frames_at(frames)
    for ax in axes.flat:
        ax.axis("off")
    for ax, frame, rgb in zip(axes.flat, frames, images):
        ax.imshow(rgb)
        for f in report.leaks:
            if f.frame == frame:
                x0, y0, x1, y1 = f.box
                ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, color="red", lw=2))
        ax.set_title(f"frame {frame}: {', '.join(sorted({_finding_name(f) for f in report.leaks if f.frame == frame}))}",
                     fontsize=10)
    fig.suptitle(f"still detectable in {Path(report.video).name}", fontsize=12)
    from vidmask_nb.review.overlay import finish_figure

    return finish_figure(fig, out_path, dpi=80)


@dataclass
class SpeechAudit:
    """Listed words and spoken numbers still heard in a video's audio (``audit --say-words``/``--say-pii``),
    transcribed by ``asr`` (by default another model than the one that did the work): one ``HeardWord`` each."""

    video: str
    source: str  # the word list's file ("" with --say-pii alone)
    tracks: tuple[int, ...]
    heard: list = field(default_factory=list)
    asr: str = ""  # which recogniser listened (detect.asr.Recogniser.source)
    say_pii: bool = False

    @property
    def clean(self) -> bool:
        return not self.heard

    def summary(self) -> str:
        what = "listed word" + (" or spoken number" if self.say_pii else "") if self.source else "spoken number"
        by = f" (heard by {self.asr})" if self.asr else ""
        if self.clean:
            return f"audit {Path(self.video).name}: no {what} heard on {len(self.tracks)} audio track(s){by}"
        return (f"audit {Path(self.video).name}: {len(self.heard)} {what}(s) still heard on "
                f"{len({h.stream for h in self.heard})} of {len(self.tracks)} audio track(s){by}")

    def rows(self, with_words: bool = False) -> list[dict]:
        """One row per hit: track, time span and kind (the word itself only ``with_words``: it is a name)."""
        return [{"track": h.stream, "start s": h.start, "end s": h.end, "kind": getattr(h, "kind", "word"),
                 "finding": "LEAK", **({"word": h.phrase, "heard": getattr(h, "text", "")} if with_words else {})}
                for h in self.heard]

    def to_json(self) -> dict:
        return {"video": str(self.video), "say_words": self.source, "say_pii": self.say_pii, "asr": self.asr,
                "tracks": list(self.tracks), "clean": self.clean, "heard": self.rows()}

    @classmethod
    def from_json(cls, data: dict) -> "SpeechAudit":
        """What ``to_json`` recorded: every hit's track, span and kind (never the word, which is not kept)."""
        from vidmask_nb.detect.speech import HeardWord

        heard = [HeardWord(int(r["track"]), "", float(r["start s"]), float(r["end s"]), str(r.get("kind", "word")))
                 for r in data.get("heard", [])]
        return cls(str(data.get("video", "")), str(data.get("say_words") or ""), tuple(data.get("tracks", ())), heard,
                   str(data.get("asr", "")), bool(data.get("say_pii")))


def audit_speech(video: str | os.PathLike, say_words: str | os.PathLike | None = None, say_pii: bool = False,
                 asr: str | None = None) -> SpeechAudit:
    """Transcribe every audio track of ``video`` and list each ``say_words`` phrase and (``say_pii``) each
    spoken number or address still heard. ``asr`` None: ``detect.asr.AUDIT_MODEL`` (Whisper base), a
    different model from the one that did the work (tiny.en), so the audit does not share its blind spots."""
    from vidmask_nb.detect.asr import AUDIT_MODEL, load_model
    from vidmask_nb.detect.speech import POCKETSPHINX, SayWords, spot_words
    from vidmask_nb.errors import VidmaskError
    from vidmask_nb.media.video import probe

    if not say_words and not say_pii:
        raise VidmaskError("audit: give --say-words FILE or --say-pii to check the audio")
    asr = asr or AUDIT_MODEL
    if asr == POCKETSPHINX:
        from vidmask_nb.detect.speech import RETIRED

        raise VidmaskError(RETIRED)
    words = SayWords.load(say_words, asr=asr) if say_words else None
    tracks = tuple(s.index for s in probe(video).audio)
    heard = spot_words(video, words, tracks, asr, say_pii, confirm=True)  # hot words it wrote, not heard, dropped
    return SpeechAudit(str(video), str(say_words or ""), tracks, heard, load_model(asr).source, say_pii)
