"""``Run``: one run folder and the pipeline's stages as its methods.

The notebooks and the CLI are two faces of this one object::

    import vidmask_nb as vm

    run = vm.Run.create("clip.mp4", "runs/clip", vm.RunOptions(find="faces", no_track=True))
    run.extract()        # 01: probe (once, kept), chunk plan            -> manifest.json
    run.find()           # 02: detectors: the floor and found objects    -> floor.json, prompts.json
    run.track()          # 03: SAM 2 through every frame                 -> masks.json
    run.render()         # 04: the redacted copy                         -> <stem>_redacted.mp4
    run.audit()          # 04: what is still detectable (pictures, text, codes, speech)
    run.review()         # 04: spans to check
    run.finish()         # complete when every stage is done and current (``share`` checks it)

- The run's settings are ``RunOptions``, fixed by ``create`` (notebook 01, ``vidmask-nb run``) in the
  run's state (``run.json``); ``open`` reads them back, a keyword given there overriding one setting
  for this process (said in one line).
- The video is probed once a process (``media.video.probe`` keeps what it learnt while the file is
  unchanged) and the probe is held here; SAM 2 is built once a process (``track.model``).
- Each stage records itself in the run's state (running, done with its outputs' sha256, failed), so
  a folder says the same whichever face drove it. A stage that is done and current is not done
  again: a notebook executed after a headless run (its report) shows what the run made.
"""
from __future__ import annotations

import json
import shlex
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from vidmask_nb.errors import VidmaskError
from vidmask_nb.media.video import VideoInfo, probe
from vidmask_nb.run.options import RunOptions
from vidmask_nb.run.settings import RunSettings, run_settings
from vidmask_nb.runfolder.folder import RunFolder
from vidmask_nb.runfolder.state import RunState, input_digests, sha256_file
from vidmask_nb.run.share import audit_flags

@dataclass
class Audit:
    """Every audit of one rendered output: pictures (faces, text, pii, codes) and speech."""

    pictures: object | None = None  # review.audit.AuditReport
    speech: object | None = None  # review.audit.SpeechAudit
    output_sha256: str | None = None

    @property
    def clean(self) -> bool:
        return all(a is None or a.clean for a in (self.pictures, self.speech))

    def summary(self) -> str:
        parts = [a.summary() for a in (self.pictures, self.speech) if a is not None]
        return "\n".join(parts) if parts else "no audit asked for"


@dataclass
class Run:
    """One run folder: its settings, its probe, its state; the stages are methods (see the module)."""

    settings: RunSettings
    say: Callable[[str], None] = print
    caller: str = "notebook"
    _info: VideoInfo | None = field(default=None, repr=False)
    _output: Path | None = field(default=None, repr=False)
    found_log: list = field(default_factory=list, repr=False)  # the prompts find added (02's table)
    object_styles: dict | None = field(default=None, repr=False)  # what the last render styled per object
    last_audit: Audit | None = field(default=None, repr=False)
    _audio_plans: dict = field(default_factory=dict, repr=False)

    # -- opening ------------------------------------------------------------------------------------

    @classmethod
    def create(cls, video, workdir, options: RunOptions | None = None, *, say=print, caller: str = "notebook",
               lock: str | None = None, **overrides) -> "Run":
        """Start (or resume) the run of ``video`` in ``workdir`` with ``options`` and ``overrides`` (None keeps
        the folder's saved value). Every check comes first: the options, the video, the folder."""
        base = asdict(options) if options is not None else {}
        given = {**base, **{k: v for k, v in overrides.items() if v is not None}}
        settings = run_settings(workdir, video, save=True, say=say, caller=caller,
                                lock=lock or ("notebook" if caller == "notebook" else None), **given)
        return cls._made(settings, say, caller)

    @classmethod
    def open(cls, workdir, *, video=None, say=print, caller: str = "notebook", lock: str | None = None,
             **overrides) -> "Run":
        """The run in ``workdir`` as it was started; a keyword that is not None overrides one setting here."""
        settings = run_settings(workdir, video, save=False, say=say, caller=caller,
                                lock=lock or ("notebook" if caller == "notebook" else None), **overrides)
        given = {k for k, v in overrides.items() if v is not None}
        if given:  # each overridden stage's own check (04's render options need no SAM 2 checkpoint)
            settings.options.checked_parts(given, caller=caller)
        return cls._made(settings, say, caller)

    @classmethod
    def _made(cls, settings: RunSettings, say, caller: str) -> "Run":
        if caller == "notebook":  # in a kernel: a VidmaskError as its one line, the random-weights banner not twice
            import warnings

            from vidmask_nb.errors import show_errors_as_one_line
            from vidmask_nb.track.model import RandomWeightsWarning

            show_errors_as_one_line()
            warnings.filterwarnings("ignore", category=RandomWeightsWarning)
        return cls(settings, say, caller)

    @property
    def progress(self) -> bool:
        """Progress bars: always in a notebook; on the console only when it is a terminal."""
        return self.caller == "notebook" or sys.stderr.isatty()

    # -- what a run is --------------------------------------------------------------------------

    @property
    def video(self) -> Path:
        return self.settings.video

    @property
    def workdir(self) -> Path:
        return self.settings.workdir

    @property
    def options(self) -> RunOptions:
        return self.settings.options

    @property
    def folder(self) -> RunFolder:
        return RunFolder(self.workdir)

    @property
    def state(self) -> RunState:
        return RunState.open(self.workdir)

    @property
    def info(self) -> VideoInfo:
        if self._info is None:
            self._info = probe(self.video)
        return self._info

    @property
    def output(self) -> Path:
        """The redacted video this run writes (``<stem>_redacted.mp4`` in the run folder)."""
        return self._output or self.folder.redacted_video(self.video)

    @property
    def hold_frames(self) -> int:
        return self.options.render_options.hold_frames(self.info.fps)

    @property
    def floor_file(self) -> Path | None:
        from vidmask_nb.detect.floorfile import run_floor

        return run_floor(self.workdir)

    @property
    def prompts(self):
        """The run's prompts (``prompts.json``), checked against the video; an empty set when none."""
        from vidmask_nb.prompts.records import PromptSet

        p = self.folder.prompts_json
        return PromptSet.load(p, self.info) if p.is_file() else PromptSet.for_video(self.info)

    def masks(self):
        """The run's masks (``masks.json``), a ``MaskStore`` (close it, or use it in ``with``)."""
        from vidmask_nb.track.masks import MaskStore

        return MaskStore.load(self.folder.masks_json)

    def _running(self, stage: str) -> RunState:
        state = self.state
        state.stage_running(stage, options=asdict(self.options))
        return state

    def _done(self, stage: str, *outputs, **fields) -> None:
        self.state.stage_done(stage, outputs, **fields)

    def _stage_current(self, stage: str, **expected) -> bool:
        """``stage`` is done in this folder with these records and its outputs are the files it wrote."""
        rec = self.state.record.stage(stage)
        if not rec.done or any(getattr(rec, k) != v for k, v in expected.items()):
            return False
        return bool(rec.outputs) and all((self.workdir / n).is_file() and sha256_file(self.workdir / n) == d
                                         for n, d in rec.outputs.items())

    # -- 01 -------------------------------------------------------------------------------------

    def extract(self, jpegs: bool = False, overlap: int = 0):
        """01: the probe and the chunk plan (``manifest.json``); JPEG folders for LabelMe with ``jpegs``
        (into ``sensitive/frames``: they show the source). Returns the ``Manifest``."""
        from vidmask_nb.media import extract

        record = {"options": asdict(self.options)}
        if not jpegs and self._stage_current("01_extract", **record):
            return extract.Manifest.load(self.workdir)
        self._running("01_extract")
        manifest = extract.prepare(self.video, self.workdir, chunk_seconds=self.options.chunk_seconds, overlap=overlap)
        if jpegs:
            folder = extract.extract_jpegs(self.video, self.folder.frames_dir, manifest.plan, info=self.info)
            self.say(f"JPEG folders for LabelMe: {folder}")
        self._done("01_extract", self.folder.manifest_json)
        return manifest

    # -- 02 -------------------------------------------------------------------------------------

    def import_prompts(self, prompts_file=None, labelme_dir=None):
        """02: a prompts.json (``prompts_file``) or a LabelMe folder (``labelme_dir``: its shapes join the
        prompts already there), checked against this video, into the run's ``prompts.json``. Returns the
        ``PromptSource`` (what could not be used is listed), or None when neither is given. A given file
        is read, never rewritten."""
        from vidmask_nb.prompts.sources import load_prompt_source
        from vidmask_nb.run.settings import resolve_path

        src = None
        for given, what in ((prompts_file, "prompts file"), (labelme_dir, "LabelMe folder")):
            if not given:
                continue
            path = resolve_path(given, what, self.workdir)
            into = self.prompts if path.is_dir() and self.folder.prompts_json.is_file() else None
            src = load_prompt_source(path, self.info, drop_unusable=self.options.drop_unusable_prompts, into=into,
                                     required=not self.options.find)
            src.show()
            if path.resolve() != self.folder.prompts_json.resolve():
                self.folder.create()
                src.prompts.save(self.folder.prompts_json)
        return src

    def find(self):
        """02: with ``find`` set, the detectors' floor over every frame (``floor.json``, resumable) and, when
        tracking, the objects they find as box prompts (``no_track``: ``prompts_done`` makes the covers). Returns
        the floor's summary (boxes per kind, what matched); None when ``find`` is not set. Done again only
        when the options or 02's files changed."""
        from vidmask_nb.detect.find import find_and_floor
        from vidmask_nb.detect.floorfile import floor_path, floor_summary

        o = self.options
        if not o.find:
            return None
        if not self._stage_current("02_prompt", options=asdict(o)) or self.floor_file is None:
            self._running("02_prompt")  # the untracked masks follow in prompts_done, after any drawing
            _, self.found_log = find_and_floor(self.video, self.workdir, o.find_options, info=self.info)
        return floor_summary(floor_path(self.workdir))

    def prompts_done(self) -> None:
        """02 is done: the prompts (and the floor and masks ``find`` wrote) recorded with their sha256. With
        ``no_track`` the drawn boxes are made covers here (``detect.untracked.write_untracked_masks``)."""
        from vidmask_nb.detect.untracked import write_untracked_masks

        f = self.folder
        if self._stage_current("02_prompt", options=asdict(self.options)):
            return
        if self.options.no_track:
            write_untracked_masks(self.video, self.workdir, self.info, hold=self.hold_frames)
        if self.state.record.stage("02_prompt").status != "running":
            self._running("02_prompt")
        self._done("02_prompt", f.prompts_json, self.floor_file, f.masks_json if self.options.no_track else None)

    def prompt(self, prompts=None):
        """02 headless: import ``prompts`` (a file or LabelMe folder), run ``find``, record 02. With neither
        prompts nor ``find``, the run has nothing to hide: one line, nothing written."""
        self._running("02_prompt")
        if prompts is not None:
            self.import_prompts(**({"labelme_dir": prompts} if Path(prompts).is_dir() else {"prompts_file": prompts}))
        self.find()
        self.prompts_done()

    # -- 03 -------------------------------------------------------------------------------------

    def predictor(self):
        """SAM 2 as the run's settings name it (built once a process, ``track.model.load_predictor``)."""
        return self.options.track_options.predictor()

    def track(self, vos_optimized: bool = False, predictor=None):
        """03: SAM 2 through every frame from the prompts (resumable; after a prompt edit only what
        changed, unless ``full``). With ``no_track`` nothing is tracked (02 wrote the masks). Returns the
        ``MaskStore``."""
        from vidmask_nb.track.propagate import propagate

        if self.options.no_track:
            self.say("no_track: the detector floor and the drawn boxes are the covers; nothing to track")
            return self.masks()
        tracked = (self.state.record.stage("03_propagate").inputs or {}).get("prompts.json")
        if self._stage_current("03_propagate", options=asdict(self.options)) and \
                tracked == input_digests(self.workdir).get("prompts.json"):
            return self.masks()
        self._running("03_propagate")
        store = propagate(self.video, self.workdir, self.options.track_options, vos_optimized=vos_optimized,
                          full=self.options.full, predictor=predictor, progress=self.progress)
        self._done("03_propagate", self.folder.masks_json, inputs=input_digests(self.workdir))
        return store

    # -- 04 -------------------------------------------------------------------------------------

    def audio_plan(self, spans=()):
        """04: the audio's plan (``--audio``, ``--audio-spans``, ``--say-words``, and ``spans`` added here)."""

        o = self.options
        key = (o.audio, o.audio_spans, o.say_words, o.say_margin, o.say_pii, o.asr, tuple(map(tuple, spans)))
        if key not in self._audio_plans:  # the recogniser runs once a run: 04's table, render and strip share it
            self._audio_plans[key] = self._plan_audio(spans)
        return self._audio_plans[key]

    def _plan_audio(self, spans):
        from vidmask_nb.redact import audio as audio_redact

        o = self.options
        return audio_redact.plan_audio(self.video, audio_redact.AudioOptions(
            audio=o.audio, audio_spans=list(audio_redact.parse_spans(o.audio_spans)) + list(spans),
            say_words=o.say_words, say_margin=o.say_margin, say_pii=o.say_pii, asr=o.asr))

    def render_plan(self, object_styles=None):
        from vidmask_nb.redact.render import plan_render

        with self.masks() as store:
            return plan_render(store, self.options.render_options.for_fps(self.info.fps), object_styles)

    def render(self, object_styles=None, audio_spans=(), output=None) -> Path:
        """04: the redacted copy (``<stem>_redacted.mp4``): every mask and the floor covered, the audio
        plan applied. Done again only when its inputs, options or the file changed. Returns its path."""
        from vidmask_nb.redact.render import render

        o = self.options
        styles = {str(k): v for k, v in (object_styles or {}).items()}
        record = {"inputs": input_digests(self.workdir), "render_options": asdict(o), "object_styles": styles,
                  "audio_spans": [list(s) for s in audio_spans]}
        out = Path(output).resolve() if output else self.output
        self._output, self.object_styles = out, object_styles
        if output is None and self._stage_current("04_render", **record):
            return out
        self._running("04_render")
        audio = self.audio_plan(audio_spans)
        render(self.video, self.workdir, o.render_options, object_styles=object_styles, output=out,
               floor=self.floor_file, audio=audio if audio.changes_audio else None, progress=self.progress)
        self._done("04_render", out, **record)
        return out

    def audit_kinds(self) -> str | None:
        """What the audit looks for: every kind the run found (``find``), else faces."""
        return self.options.find or "faces"

    def audit(self, every: int = 1, object_styles=None) -> Audit:
        """04: the output audited: every kind the run found (else faces) judged against what the render
        covered, and the listed words still heard (``say_words``). Saved under ``sensitive/qa`` and in the
        run's state; done again only when the output changed."""
        from vidmask_nb.review import audit as auditing

        o = self.options
        out = self.output
        if not out.is_file():
            raise VidmaskError(f"{out} is not rendered yet: run render() first")
        digest = sha256_file(out)
        styles = object_styles if object_styles is not None else self.object_styles
        record = {"output_sha256": digest, "kinds": self.audit_kinds(), "every": every, "face_pass": "fast+floor",
                  "listened_for": [o.say_words, o.say_pii],
                  "object_styles": {str(k): v for k, v in (styles or {}).items()}}
        saved = self.state.record.stage("04_render").audit or {}
        report_file = self.folder.qa_dir / f"{self.video.stem}_audit.json"
        if all(saved.get(k) == v for k, v in record.items()) and report_file.is_file():  # this very file, audited
            speech = auditing.SpeechAudit.from_json(saved["speech"]) if saved.get("speech") else None
            self.last_audit = Audit(auditing.AuditReport.load(report_file), speech, digest)
            return self.last_audit
        pictures = auditing.audit_run(self.video, self.workdir, out, self.audit_kinds(), every, o.render_options,
                                      object_styles=styles, floor=self.floor_file or False, pii_words=o.pii_words)
        speech = self._speech_audit(out)
        result = Audit(pictures, speech, digest)
        state = self.state
        state.stage("04_render").audit = {**record, "clean": result.clean,
                                          "speech": speech.to_json() if speech else None}
        state.save()
        self.last_audit = result
        return result

    def _speech_audit(self, out: Path):
        """What is still heard in ``out``: the listed words and (``say_pii``) spoken numbers, by another model
        than the one that did the work (``review.audit.audit_speech``); None when neither is asked for."""
        from vidmask_nb.review.audit import audit_speech

        o = self.options
        return audit_speech(out, o.say_words, o.say_pii) if (o.say_words or o.say_pii) else None

    def review(self, cover_share: float | None = None):
        """04: spans to check (an object vanishes, shrinks or jumps, a low score, an implausible mask), marked
        with the gaps the render covered, and the frames whose covers (masks, floor and codes together)
        exceed ``cover_share`` of the picture (``review.coverage``; default half). Saved as
        ``sensitive/qa/<stem>_review.json``; the covers' figures go in the run's state and ``summary.json``.
        Done again only when what it is made from changed (the report's 04 reads the run's own)."""
        from vidmask_nb.redact.gaps import mark_review
        from vidmask_nb.review import qa
        from vidmask_nb.review.coverage import DEFAULT_OVER_SHARE, cover_shares, with_cover_rows

        o = self.options
        review_file = self.folder.qa_dir / f"{self.video.stem}_review.json"
        record = {"inputs": input_digests(self.workdir), "render_options": asdict(o.render_options),
                  "object_styles": {str(k): v for k, v in (self.object_styles or {}).items()},
                  "cover_share": cover_share}
        if self.state.record.stage("04_render").review == record and review_file.is_file():
            return qa.ReviewTable.load(review_file)
        plan = self.render_plan()
        prompts = self.prompts if self.folder.prompts_json.is_file() else None
        with self.masks() as store:
            table = mark_review(qa.review_frames(store, hold=self.hold_frames, prompts=prompts), plan.margins.gaps(store))
        covers = cover_shares(self.video, self.workdir, o.render_options, object_styles=self.object_styles,
                              floor=self.floor_file or False,
                              over=DEFAULT_OVER_SHARE if cover_share is None else cover_share)
        table = with_cover_rows(table, covers, self.info.fps)
        table.save(review_file)
        state = self.state
        state.stage("04_render").covers = covers.to_json()
        state.stage("04_render").review = record
        state.save()
        return table

    def finish(self) -> bool:
        """Complete the run when every stage is done and current (``pipeline.finish_run``); says what is
        still flagged. Returns True when the run is complete."""
        done = finish_run(self.workdir, self.output, say=self.say)
        if done:
            flagged = self.flagged()
            if flagged:
                self.say("the run is complete, with flags (`vidmask-nb share` refuses it unless --accept-leaks):")
                for line in flagged:
                    self.say(f"  - {line}")
            else:
                self.say(f"the run is complete; share it with: vidmask-nb share {shlex.quote(str(self.workdir))} --to DIR")
        return done

    def flagged(self) -> list[str]:
        """What the run's records still flag: each audit that found something, by kind."""
        return audit_flags(self.state.record)

    # -- the whole run ------------------------------------------------------------------------

    def run_all(self, prompts=None, before_tracking=None, timings: dict | None = None) -> Path:
        """Every stage in order, in this process (``vidmask-nb run``); returns the redacted video.
        ``before_tracking(run)`` runs between 02 and 03; ``timings`` gets each stage's seconds."""
        import time

        def track() -> None:
            if before_tracking is not None:
                before_tracking(self)
            self.track()

        stages = [("01_extract", self.extract), ("02_prompt", lambda: self.prompt(prompts))]
        if not self.options.no_track:
            stages.append(("03_propagate", track))
        stages.append(("04_render", self._render_and_audit))
        for n, (name, step) in enumerate(stages, start=1):
            self.say(f"{n}/{len(stages)} {name}")
            t0 = time.perf_counter()
            try:
                step()
            except VidmaskError as exc:
                self.state.stage_failed(name, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
                raise
            if timings is not None:
                timings[name] = round(time.perf_counter() - t0, 2)
        return self.output

    def _render_and_audit(self) -> None:
        self.render()
        self.audit()
        self.review()
        self.finish()

    def share(self, to, **kw):
        from vidmask_nb.run.share import share

        return share(self.workdir, to, **kw)


def say_on_stderr(prefix: str) -> Callable[[str], None]:
    def say(line: str) -> None:
        print(f"[{prefix}] {line}", file=sys.stderr, flush=True)

    return say


# -- completion ----------------------------------------------------------------------------

def finish_run(workdir, output, say=print) -> bool:
    """Complete the run in ``workdir`` once 04 rendered and audited ``output``: its sha256 (the very bytes
    the audit read), the digests of the inputs it was made from, gaps, objects, every audit, the tracking
    record, then ``complete``. Returns False (and says why) when a stage before it is not done in this
    folder, the prompts changed after 03 tracked them, or the output is not the file that was audited:
    then the run stays incomplete and ``share`` refuses it. The one completion of every driver."""
    from vidmask_nb.track.corrections import tracking_changes

    workdir = Path(workdir)
    state = RunState.load(workdir)
    if state is None or not state.record.video:
        say(f"no run started in {workdir} (notebook 01 starts it): the render is not recorded as a complete run")
        return False
    settings = RunSettings.load(workdir)
    record = state.record
    rendered = record.stage("04_render")
    used = rendered.options or asdict(settings.options)
    opts = RunOptions(**used)
    needed = ["01_extract", "02_prompt"] + ([] if opts.no_track else ["03_propagate"]) + ["04_render"]
    missing = [n for n in needed if not record.stage(n).done]
    run = RunFolder(workdir)
    audited = (rendered.audit or {}).get("output_sha256")
    digest = sha256_file(output) if Path(output).is_file() else None
    why = None
    if missing:
        why = f"{', '.join(missing)} did not finish in this run folder"
    elif not opts.no_track and run.prompts_json.is_file() and \
            (record.stage("03_propagate").inputs or {}).get("prompts.json") != sha256_file(run.prompts_json):
        why = "prompts.json changed after 03 tracked it: run 03 and then 04 again"
    elif audited is None or audited != digest:
        why = f"{Path(output).name} is not the file its audit read (audit it again: run 04)"
    if why:
        say(f"the run is NOT complete: {why}; `vidmask-nb share` refuses it until then")
        return False
    info = probe(settings.video)
    gaps = run_gaps(run, info, opts)
    uncovered = [g for g in gaps if not g.covered]
    changes = tracking_changes(workdir)  # what 03's tracking did: full, or which objects and frames it re-tracked
    speech = (rendered.audit or {}).get("speech")
    state.complete(output, inputs=input_digests(workdir), audit=_output_audit(run, settings.video),
                   speech_audit=speech, covers=rendered.covers, objects=_objects(run), uncovered_gaps=[g.to_json() for g in uncovered],
                   long_gaps=[g.to_json() for g in gaps if g.long], render_options=used,
                   tracking=changes.to_json() if changes else None, floor=_floor(run), output_sha256=digest)
    return True


def run_gaps(run: RunFolder, info: VideoInfo, opts: RunOptions) -> list:
    """The gaps of the finished masks, as the render planned them (``gaps.Gap``)."""
    from vidmask_nb.redact.effects import MaskMargins
    from vidmask_nb.track.masks import MaskStore

    margins = MaskMargins(hold_frames=opts.render_options.hold_frames(info.fps), cover_long_gaps=opts.cover_long_gaps)
    return margins.gaps(MaskStore.load(run.masks_json))


def _objects(run: RunFolder) -> list[dict]:
    """The objects the run hid, for ``run.json``: each one covered by ``masks.json`` (an object of the
    prompts that no masks cover is an error, never listed as hidden)."""
    from vidmask_nb.prompts.records import PromptSet
    from vidmask_nb.track.masks import MaskStore

    if not run.prompts_json.is_file():  # --find --no-track without --prompts: the floor alone, no objects
        return []
    objects = PromptSet.load(run.prompts_json).objects
    covered = {o.id for o in MaskStore.load(run.masks_json).object_infos}
    bare = [o.label for o in objects if o.id not in covered]
    if bare:
        raise VidmaskError(f"nothing covers {len(bare)} object(s) of the prompts ({', '.join(map(repr, bare[:5]))}): "
                           f"{run.masks_json} holds no masks for them; run again (the run is not complete)")
    return [{"id": o.id, "label": o.label} for o in objects]


def _floor(run: RunFolder) -> dict | None:
    """What the detector floor covered (``floorfile.floor_summary``: boxes per kind, what matched), or None."""
    from vidmask_nb.detect.floorfile import floor_path, floor_summary

    path = floor_path(run.root)
    return floor_summary(path) if path.is_file() else None


def _output_audit(run: RunFolder, video: Path) -> dict | None:
    """Stage 04's audit of the output (``qa/<stem>_audit.json``), summed up for run.json."""
    audit_file = run.qa_dir / f"{Path(video).stem}_audit.json"
    if not audit_file.is_file():
        return None
    full = json.loads(audit_file.read_text())
    audit = {k: full[k] for k in ("kinds", "every", "frames_checked", "clean", "leak_frames", "kept_frames")}
    audit["matched"] = full.get("matched", {})  # leaks by what matched ("email": 3), never the text
    return audit
