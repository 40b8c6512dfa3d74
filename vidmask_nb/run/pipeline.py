"""Headless runs: the four numbered notebooks executed by papermill, one video or a batch.

``run_video`` executes 01 -> 02 -> 03 -> 04 on one video, keeping each executed notebook in
``WORKDIR/sensitive/reports/`` as the run's report. Every option, path, device and prompt is
checked before notebook 01 starts. It is one driver of the run folder's state
(``runfolder.state``); the notebooks record their own stages there, so stepping through them by
hand leaves the same state, and ``share`` checks either the same way. It fails closed:

- the folder's lock is taken first (a second run into it is refused); the run's state is written
  with its key (video, prompts, options) and status ``running``, and 04 marks it ``complete``
  last (``finish_run``); a batch skips videos whose complete mark matches;
- outputs of an earlier run with other inputs leave their final names (moved to ``stale/``, QA
  and reports removed) before anything else, so a failed or killed run never leaves a
  final-named file that does not match ``run.json``; a non-empty folder that is not a run folder
  is refused, so nothing the kit did not write is moved;
- stray ``.name.partial-PID.ext`` files of killed runs are removed, and a resumed tracking
  run says so on the console;
- unusable prompts stop the run unless ``drop_unusable_prompts`` (then listed in ``run.json``),
  and every gap in a track left uncovered is listed there too.

Example::

    opts = RunOptions(weights="random", image_size=256, style="blur")
    result = run_video("clip.mp4", "prompts.json", "runs/clip", opts)
    result.output   # runs/clip/clip_redacted.mp4
"""
from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from vidmask_nb.errors import VidmaskError
from vidmask_nb.run.options import RunOptions
from vidmask_nb.runfolder.folder import RunFolder, atomic_output, clean_partials, write_json
from vidmask_nb.runfolder.state import (RunLock, RunState, check_run_folder, input_digests, run_key,
                                        sha256_file)
from vidmask_nb.run.settings import RunSettings
from vidmask_nb.media.video import VideoInfo, check_video_file, probe

NOTEBOOKS = ("01_extract", "02_prompt", "03_propagate", "04_render")


def notebooks_dir() -> Path:
    """The numbered notebooks: ``notebooks/`` beside the package (a clone installed with ``pip -e``)."""
    d = Path(os.environ.get("VIDMASK_NOTEBOOKS", Path(__file__).resolve().parents[2] / "notebooks"))
    missing = [n for n in NOTEBOOKS if not (d / f"{n}.ipynb").is_file()]
    if missing:
        raise VidmaskError(f"notebooks {', '.join(missing)} not found in {d}; run from a clone of vidmask-nb "
                           "installed with `pip install -e .`, or set VIDMASK_NOTEBOOKS")
    return d


@dataclass
class RunResult:
    video: str
    workdir: str
    output: str | None = None
    status: str = "done"  # done | skipped | failed
    seconds: float = 0.0
    error: str | None = None
    stage_seconds: dict = field(default_factory=dict)


def _options_key(info: VideoInfo, opts: RunOptions, prompts_digest: str) -> str:
    return run_key(info.fingerprint, asdict(opts), prompts_digest)


def _prompts_digest(prompts: Path | None) -> str:
    h = hashlib.sha256()
    if prompts is None:
        return ""
    files = sorted(prompts.rglob("*.json")) if prompts.is_dir() else [prompts]
    for f in files:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:20]


def is_complete(video, prompts, workdir, opts: RunOptions) -> bool:
    """True when ``workdir`` holds a finished run of this video, prompts and options."""
    data = read_run_mark(workdir)
    if data is None or data.get("status") != "complete":
        return False
    try:
        info = probe(video)
        return (data.get("key") == _options_key(info, opts, _prompts_digest(Path(prompts) if prompts else None))
                and Path(data.get("output", "")).is_file())
    except (VidmaskError, OSError):
        return False


def read_run_mark(workdir) -> dict | None:
    """The run's state (``run.json``) of ``workdir`` as a dict, or None when it has none."""
    state = RunState.load(workdir)
    return state.data if state is not None else None


def _resolved(path, flag: str) -> Path:
    """``Path(path).resolve()``, a symlink loop or an unreadable link being one plain error naming ``flag``."""
    try:
        return Path(path).resolve()
    except (RuntimeError, OSError) as exc:
        raise VidmaskError(f"{flag} {path} cannot be followed ({exc}): a loop of symbolic links?") from None


# Names a run writes beside its redacted video (QA, audit, review), the longest first.
_OUTPUT_SUFFIXES = ("_redacted.mp4", "_overlay.mp4", "_review.json", "_contact.png", "_audit.json")


def check_output_names(run: RunFolder, video: Path) -> None:
    """Fail before any notebook when the names the run writes from the video's (``<stem>_redacted.mp4``,
    ``sensitive/qa/<stem>_overlay.mp4``...) are too long for the filesystem (a 240-byte name)."""
    from vidmask_nb.media.encode import check_output_name

    for folder in (run.root, run.qa_dir):
        for suffix in _OUTPUT_SUFFIXES:
            check_output_name(folder / f"{video.stem}{suffix}", "the output",
                              f"rename (or link) the video {video.name!r} to a shorter name")


def check_paths(video: Path, workdir: Path, output: Path) -> None:
    """Fail before any notebook runs: a missing video, an output onto the source, an unwritable folder."""
    if not video.is_file():
        raise VidmaskError(f"video not found: {video}")
    if output.resolve() == video.resolve():
        raise VidmaskError(f"the output {output} would overwrite the source video; give another --out folder")
    if workdir.exists() and not workdir.is_dir():
        raise VidmaskError(f"--out {workdir} is a file, not a folder; give a folder for the run")
    existing = workdir
    while not existing.exists():
        existing = existing.parent
    what = "the --out folder" if existing == workdir else f"{existing} (where --out {workdir} would be made)"
    try:  # a real write: also catches read-only mounts and ACLs that os.access misses
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise VidmaskError(f"cannot write to {what}: {exc.strerror or exc}; choose a folder you can write to") from None


def run_video(video, prompts, workdir, opts: RunOptions | None = None, checked: bool = False,
              before_tracking=None) -> RunResult:
    """Run the four notebooks on one video; raise ``VidmaskError`` with a one-line summary on failure.

    One driver of the run folder's state (``runfolder.state``), the one the notebooks record
    themselves in: it takes the folder's lock (a second run into it is refused), starts the run with
    its key, video and options (retiring an earlier run's outputs), and executes 01-04, each of which
    records its stage; 04 completes the run. Ctrl-C stops the kernel and leaves a resumable folder.

    ``before_tracking(video, workdir, opts)``, when given, runs after 02 and before 03 (``run --ray``
    tracks object groups on a cluster there; 03 then finds complete masks and only shows them).
    ``prompts`` may be None when ``opts.find`` is set (the detectors find what to hide); with
    ``opts.no_track`` notebook 03 (SAM 2) is skipped and the detector floor alone is rendered.
    """
    import papermill as pm

    opts = opts or RunOptions()
    if not checked:
        opts = opts.checked()
    if prompts is None and opts.find is None:
        raise VidmaskError("nothing to hide: give --prompts (a prompts.json or LabelMe folder) or --find faces")
    if not str(workdir).strip():  # an empty --out is an error, not the current directory
        check_run_folder(workdir)
    check_video_file(video)  # a symlink loop, a folder, an empty file: one line, before resolving it
    video, workdir = _resolved(video, "the video"), _resolved(workdir, "--out")
    prompts = _resolved(prompts, "--prompts") if prompts is not None else None
    run = RunFolder(workdir)
    output = run.redacted_video(video)
    check_paths(video, workdir, output)
    info = probe(video)  # a bad video fails here, before any notebook starts
    source = check_prompts(prompts, info, opts.drop_unusable_prompts, required=opts.find is None)
    if opts.no_track:  # no SAM 2: only drawn boxes become covers; an object with none is refused here
        from vidmask_nb.detect.find import check_untracked_prompts

        check_untracked_prompts(source.prompts)
    check_output_names(run, video)
    check_run_folder(workdir, "--out", inputs=(video, prompts))  # never a stranger's folder
    nb_dir = notebooks_dir()

    def say(line: str) -> None:
        print(f"[{video.name}] {line}", file=sys.stderr, flush=True)

    for line in source.lines():
        say(line)
    key = _options_key(info, opts, _prompts_digest(prompts))
    lock = RunLock(workdir, say)
    try:
        lock.acquire("run")
        with _interrupt_stops_the_kernel(workdir, lock, say):
            return _run_notebooks(video, prompts, workdir, opts, info, source, key, nb_dir, lock, say, before_tracking, pm)
    except OSError as exc:
        raise VidmaskError(f"cannot write in the run folder {workdir}: {exc.strerror or exc}") from None
    finally:
        lock.release()


def _run_notebooks(video, prompts, workdir, opts, info, source, key, nb_dir, lock, say, before_tracking, pm):
    run = RunFolder(workdir)
    output = run.redacted_video(video)
    run.create()
    for p in clean_partials(workdir):
        say(f"removed {p.relative_to(workdir)}, left by a run that was killed")
    state = RunState.open(workdir)
    state.start(video, info.fingerprint, asdict(opts), key, prompts=prompts, inputs=(prompts,) if prompts else (),
                say=say, output=str(output), prompt_check=source.to_json())
    run.reports_dir.mkdir(parents=True, exist_ok=True)
    # Only what is not a run setting: every notebook reads the rest from the run's state.
    params = {"01_extract": {"video": str(video)}, "03_propagate": {}, "04_render": {},
              "02_prompt": {"labelme_dir": str(prompts) if prompts and prompts.is_dir() else None,
                            "prompts_file": str(prompts) if prompts and not prompts.is_dir() else None}}
    if opts.find is not None:  # found objects and the floor are made afresh for this run
        (workdir / "floor.json").unlink(missing_ok=True)
        if prompts is None:
            run.prompts_json.unlink(missing_ok=True)
    result = RunResult(str(video), str(workdir))
    start = time.perf_counter()
    show_cells = sys.stderr.isatty() and not os.environ.get("TQDM_DISABLE")
    stages = [n for n in NOTEBOOKS if not (opts.no_track and n == "03_propagate")]  # no SAM 2 at all
    for n, name in enumerate(stages, start=1):
        report = run.reports_dir / f"{name}.ipynb"
        if name == "03_propagate":
            if before_tracking is not None:
                before_tracking(video, workdir, opts)
            _say_resume(say, video, workdir, opts)
        print(f"[{video.name} {n}/{len(stages)}] {name} -> {report}", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        try:
            with lock.held_for_children():  # the kernels are this run: they pass its lock
                execute_notebook(nb_dir / f"{name}.ipynb", report, {"workdir": str(workdir), **params[name]},
                                 progress_bar=show_cells)
        except pm.PapermillExecutionError as exc:
            line = f"{name} failed at cell {exc.exec_count}: {exc.ename}: {_first_line(exc.evalue)}"
            RunState.open(workdir).stage_failed(name, line)
            raise VidmaskError(f"{video.name}: {line} (report: {report})") from None
        except Exception as exc:  # kernel died, notebook unreadable...
            line = f"{name} could not run: {type(exc).__name__}: {_first_line(str(exc))}"
            RunState.open(workdir).stage_failed(name, line)
            raise VidmaskError(f"{video.name}: {line} (report: {report})") from None
        result.stage_seconds[name] = round(time.perf_counter() - t0, 2)
    state = RunState.open(workdir)
    if not output.is_file() or state.status != "complete":
        raise VidmaskError(f"{video.name}: the notebooks ran but the run is not complete "
                           f"({output.name} {'is there' if output.is_file() else 'is missing'}, status "
                           f"{state.status!r}; reports: {run.reports_dir})")
    result.output, result.seconds = str(output), round(time.perf_counter() - start, 2)
    audit = state.get("audit")
    if audit:
        say("audit of the output: " + ("nothing detectable" if audit["clean"]
                                       else f"LEAKS on frames {audit['leak_frames'][:20]}"))
    if state.get("uncovered_gaps"):
        say(f"{len(state.get('uncovered_gaps'))} gap(s) in the tracks are NOT covered (--no-cover-long-gaps); "
            "see run.json")
    state.data.update(stage_seconds=result.stage_seconds, seconds=result.seconds)
    state.save()
    return result


@contextlib.contextmanager
def _interrupt_stops_the_kernel(workdir: Path, lock: RunLock, say):
    """Ctrl-C (SIGINT) during a run: the notebook's kernel is killed at once (its finished chunks stay
    on disk), the run is marked ``interrupted`` and the lock released; the process exits 130 within
    seconds instead of waiting for the kernel. Only in the main thread (signals are delivered there)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        for pgid in list(_KERNEL_GROUPS):
            with contextlib.suppress(OSError):
                os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            state = RunState.open(workdir)
            running = [n for n, rec in state.get("stages", {}).items() if rec.get("status") == "running"]
            state.stage_failed(running[-1] if running else "run", "interrupted (Ctrl-C)", status="interrupted")
        lock.release()
        say("interrupted: the kernel is stopped; finished parts are kept and a rerun resumes")
        sys.stderr.flush()
        os._exit(130)

    old = signal.signal(signal.SIGINT, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


_KERNEL_GROUPS: set[int] = set()


def finish_run(workdir, output, say=print) -> bool:
    """Complete the run in ``workdir`` once 04 rendered ``output``: its sha256, the digests of the inputs it
    was made from, gaps, objects, the audit, the tracking record, then ``complete``. Returns False (and
    says why) when a stage before it is not done in this folder, or the prompts changed after 03 tracked
    them: then the run stays incomplete and ``share`` refuses it. The one completion of every driver."""
    from vidmask_nb.track.corrections import tracking_changes

    workdir = Path(workdir)
    state = RunState.load(workdir)
    if state is None or not state.get("video"):
        say(f"no run started in {workdir} (notebook 01 starts it): the render is not recorded as a complete run")
        return False
    settings = RunSettings.load(workdir)
    stages = state.get("stages", {})
    used = stages.get("04_render", {}).get("options") or asdict(settings.options)
    opts = RunOptions(**used)
    needed = ["01_extract", "02_prompt"] + ([] if opts.no_track else ["03_propagate"]) + ["04_render"]
    missing = [n for n in needed if stages.get(n, {}).get("status") != "done"]
    run = RunFolder(workdir)
    why = None
    if missing:
        why = f"{', '.join(missing)} did not finish in this run folder"
    elif not opts.no_track and run.prompts_json.is_file() and \
            stages["03_propagate"].get("inputs", {}).get("prompts.json") != sha256_file(run.prompts_json):
        why = "prompts.json changed after 03 tracked it: run 03 and then 04 again"
    if why:
        say(f"the run is NOT complete: {why}; `vidmask-nb share` refuses it until then")
        return False
    info = probe(settings.video)
    gaps = run_gaps(run, info, opts)
    uncovered = [g for g in gaps if not g.covered]
    changes = tracking_changes(workdir)  # what 03's tracking did: full, or which objects and frames it re-tracked
    state.complete(output, inputs=input_digests(workdir), audit=_output_audit(run, settings.video),
                   objects=_objects(run), uncovered_gaps=[g.to_json() for g in uncovered],
                   long_gaps=[g.to_json() for g in gaps if g.long], render_options=used,
                   tracking=changes.to_json() if changes else None, floor=_floor(run))
    return True


def execute_notebook(notebook, report, parameters: dict, progress_bar: bool = False) -> None:
    """papermill with the kernel's working directory ``notebooks/`` (as in JupyterLab), quietly.

    The kernel gets CurveZMQ keys from its manager (``transport_encryption='auto'``, for kernelspecs
    that declare support, as ipykernel's does), so its traffic is encrypted and ipykernel has no
    reason to warn that it "is running over TCP without encryption" on the console. The kernel
    process's own log (not the notebook's output) is kept to critical messages: at shutdown
    jupyter_client interrupts the kernel before asking it to stop, and a kernel still finishing a
    message logs "KeyboardInterrupt caught in kernel" to the console. Errors in cells still reach
    the report and stop the run. Whatever the kernel process itself writes to stderr (a C library's
    message at shutdown, for one) goes to ``<report>.kernel.log`` beside the report, not the console.
    """
    import papermill as pm
    from jupyter_client import AsyncKernelManager
    from traitlets.config import Config

    report = Path(report)
    report.parent.mkdir(parents=True, exist_ok=True)
    kernel_log = report.with_suffix(".kernel.log")

    class KernelWithLog(AsyncKernelManager):
        async def start_kernel(self, **kw):
            with open(kernel_log, "ab") as log:  # the kernel keeps its own copy of the descriptor
                started = await super().start_kernel(**dict(kw, stderr=log))
            pgid = getattr(self.provisioner, "pgid", None)
            if pgid:
                _KERNEL_GROUPS.add(pgid)  # Ctrl-C stops it (_interrupt_stops_the_kernel)
            return started

    config = Config({"KernelManager": {"transport_encryption": "auto"},
                     "NotebookClient": {"extra_arguments": ["--IPKernelApp.log_level=CRITICAL"]}})
    with atomic_output(report) as tmp:  # a full disk never leaves a truncated report under its final name
        try:
            pm.execute_notebook(str(notebook), str(tmp), parameters=parameters, kernel_name="python3",
                                cwd=str(Path(notebook).parent), progress_bar=progress_bar, log_output=False,
                                config=config, kernel_manager_class=KernelWithLog)
        except pm.PapermillExecutionError:
            if tmp.is_file():  # the failed notebook is the report of the failure: keep it, whole
                os.replace(tmp, report)
            raise
        finally:
            _KERNEL_GROUPS.clear()


def run_gaps(run: RunFolder, info: VideoInfo, opts: RunOptions) -> list:
    """The gaps of the finished masks, as the render planned them (``gaps.Gap``)."""
    from vidmask_nb.redact.effects import MaskMargins
    from vidmask_nb.redact.gaps import hold_frames_for
    from vidmask_nb.track.masks import MaskStore

    hold = opts.hold if opts.hold is not None else hold_frames_for(opts.hold_seconds, info.fps)
    return MaskMargins(hold_frames=hold, cover_long_gaps=opts.cover_long_gaps).gaps(MaskStore.load(run.masks_json))


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


def _say_resume(say, video: Path, workdir: Path, opts: RunOptions) -> None:
    """Say on the console where tracking starts (the notebook's own output goes to its report)."""
    from vidmask_nb.track.propagate import tracking_progress

    try:
        progress = tracking_progress(video, workdir, opts.model, opts.checkpoint, opts.weights, opts.device,
                                     opts.chunk_seconds, opts.image_size)
    except (VidmaskError, OSError):
        return
    if progress is None or progress[0] == 0:
        return
    done, total = progress
    if done == total:
        say(f"tracking: all {total} segments were already tracked (masks/); not tracking again")
    else:
        say(f"resuming after {done} of {total} segments (masks/tracker_state.pt)")


def _floor(run: RunFolder) -> dict | None:
    """What the detector floor covered (``find.floor_summary``: boxes per kind, what matched), or None."""
    from vidmask_nb.detect.find import floor_path, floor_summary

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


def check_prompts(prompts: Path | None, info: VideoInfo, drop_unusable: bool = False, required: bool = True):
    """Fail before any notebook runs when the prompts are missing, empty (when ``required``), for another
    video, or hold anything that cannot be used (unless ``drop_unusable``); returns the ``PromptSource``
    (an empty one when there are no prompts: the detectors find what to hide)."""
    from vidmask_nb.prompts.sources import PromptSource, load_prompt_source
    from vidmask_nb.prompts.records import PromptSet

    if prompts is None:
        return PromptSource("(none: --find)", PromptSet.for_video(info))
    return load_prompt_source(prompts, info, drop_unusable=drop_unusable, required=required)


def _first_line(text: str) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else ""


# -- sharing ---------------------------------------------------------------------------------

def share(workdir, to, with_masks: bool = False, accept_leaks: bool = False, into_non_empty: bool = False) -> list[Path]:
    """Copy what is safe to share from a complete, current run into ``to``; returns the files.

    The redacted video, ``masks.json`` with ``with_masks``, and ``summary.json`` (objects, options,
    dropped prompts, uncovered gaps, the audit, the video's sha256). Never anything from ``sensitive/``.
    Refuses unless the run's state marks a complete run whose video, prompts and options are still
    the ones on disk, whose output (and masks) are the files it recorded (same sha256), and whose audit
    found nothing (``accept_leaks``: share anyway, recorded in the summary). ``to`` must be new or empty
    unless ``into_non_empty``. The same checks whichever way the run was driven (notebooks or ``run``).
    """
    import shutil

    if not str(to).strip():
        raise VidmaskError("--to is empty: give the folder to copy into")
    workdir, to = Path(workdir).resolve(), Path(to).resolve()
    state = RunState.load(workdir)
    if state is None:
        raise VidmaskError(f"{workdir} holds no run.json: share a run folder whose run completed "
                           "(notebooks 01-04, or vidmask-nb run)")
    mark = state.data
    if state.status != "complete":
        raise VidmaskError(f"the run in {workdir} is not complete (status {state.status!r}); "
                           "run it to the end first")
    output = Path(mark.get("output") or "")
    if not output.is_file() or sha256_file(output) != mark.get("output_sha256"):
        raise VidmaskError(f"{output} is missing or is not the file this run wrote; run it again")
    video = Path(mark.get("video") or "")
    prompts = Path(mark["prompts"]) if mark.get("prompts") else None
    if not video.is_file() or (prompts is not None and not prompts.exists()):
        raise VidmaskError(f"cannot check that the run is current: its video {video} or prompts {prompts} "
                           "are gone; run again where they are")
    try:
        opts = RunOptions(**mark["options"])
    except (TypeError, KeyError) as exc:
        raise VidmaskError(f"{state.path} was written by another version of the kit ({exc}); run again") from None
    if (_options_key(probe(video), opts, _prompts_digest(prompts)) != mark.get("key")
            or input_digests(workdir) != mark.get("inputs")):
        raise VidmaskError(f"the video, prompts or masks changed since the run in {workdir} completed; "
                           "run it again before sharing")
    audit = mark.get("audit")
    if audit and not audit.get("clean"):
        if not accept_leaks:
            raise VidmaskError(f"the run's own audit found {'/'.join(audit.get('kinds', []))} still detectable on "
                               f"frames {audit.get('leak_frames', [])[:10]} of {output.name}: fix them (02, then "
                               "03 and 04), or share anyway with --accept-leaks (recorded in summary.json)")
    if to == workdir or to.is_relative_to(workdir):
        raise VidmaskError(f"--to {to} is inside the run folder; give a folder outside it")
    if to.is_file():
        raise VidmaskError(f"--to {to} is a file; give a folder")
    if to.is_dir() and any(to.iterdir()) and not into_non_empty:
        raise VidmaskError(f"--to {to} is not empty; give a new or empty folder, or --into-non-empty to "
                           "replace same-named files there")
    files = [output] + ([workdir / "masks.json"] if with_masks else [])
    try:
        to.mkdir(parents=True, exist_ok=True)
        out = []
        for f in files:
            with atomic_output(to / f.name) as tmp:
                shutil.copyfile(f, tmp)
            out.append(to / f.name)
        summary = {k: mark.get(k) for k in ("objects", "options", "prompt_check", "uncovered_gaps", "long_gaps",
                                            "output_sha256", "audit", "floor")}
        if mark.get("render_options"):
            summary["options"] = mark["render_options"]  # what 04 rendered with (a notebook may override)
        summary["video"] = output.name
        summary["leaks_accepted"] = bool(audit and not audit.get("clean") and accept_leaks)
        if with_masks:
            summary["masks_sha256"] = mark["inputs"].get("masks.json")
        out.append(write_json(to / "summary.json", summary))
    except OSError as exc:
        raise VidmaskError(f"cannot write to {to}: {exc.strerror or exc}") from None
    return out


# -- batches -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class BatchItem:
    video: Path
    prompts: Path
    out: Path
    options: RunOptions


def read_batch(manifest, defaults: RunOptions, out_root=None) -> list[BatchItem]:
    """Rows of a batch manifest: CSV (header ``video,prompts[,out][,option columns]``) or a YAML list.

    Paths are relative to the manifest's folder; ``out`` defaults to ``<out_root>/<video stem>``
    (``out_root`` defaults to ``runs/`` beside the manifest).
    """
    manifest = Path(manifest)
    if not manifest.is_file():
        raise VidmaskError(f"batch manifest not found: {manifest}")
    base = manifest.parent
    if manifest.suffix.lower() in (".yaml", ".yml"):
        import yaml

        rows = yaml.safe_load(manifest.read_text()) or []
        if isinstance(rows, dict):
            rows = rows.get("videos", [])
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise VidmaskError(f"{manifest}: expected a YAML list of {{video: ..., prompts: ...}} entries")
    else:
        with open(manifest, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or not {"video", "prompts"} <= {h.strip() for h in reader.fieldnames}:
                raise VidmaskError(f"{manifest}: the CSV header must start with video,prompts "
                                   f"(got {reader.fieldnames})")
            rows = [{k.strip(): (v or "").strip() for k, v in r.items() if k} for r in reader]
    out_root = Path(out_root) if out_root else base / "runs"
    items, seen = [], set()
    for n, row in enumerate(rows, start=2 if manifest.suffix.lower() == ".csv" else 1):
        row = dict(row)
        video, prompts, out = row.pop("video", None), row.pop("prompts", None), row.pop("out", None)
        if not video or not prompts:
            raise VidmaskError(f"{manifest}, entry {n}: needs both video and prompts")
        video_path = (base / str(video)).resolve()
        out_path = (base / str(out)).resolve() if out else (out_root / video_path.stem).resolve()
        if out_path in seen:
            raise VidmaskError(f"{manifest}, entry {n}: output folder {out_path} is used twice; set 'out'")
        seen.add(out_path)
        try:
            options = RunOptions.from_mapping(row, defaults)
        except VidmaskError as exc:
            raise VidmaskError(f"{manifest}, entry {n}: {exc}") from None
        items.append(BatchItem(video_path, (base / str(prompts)).resolve(), out_path, options))
    if not items:
        raise VidmaskError(f"{manifest} lists no videos")
    return items


def run_batch(items: list[BatchItem], summary_path=None) -> list[RunResult]:
    """Run each item, skipping complete ones and going on past failures; writes a summary CSV."""
    from tqdm.auto import tqdm

    results = [run_item(item) for item in tqdm(items, desc="batch", unit="video")]
    write_summary(results, summary_path)
    return results


def run_item(item: BatchItem) -> RunResult:
    """One batch row: skipped when complete, else run; a ``VidmaskError`` becomes a failed result."""
    t0 = time.perf_counter()
    try:
        opts = item.options.checked()
        if is_complete(item.video, item.prompts, item.out, opts):
            res = RunResult(str(item.video), str(item.out), str(RunFolder(item.out).redacted_video(item.video)),
                            status="skipped")
        else:
            res = run_video(item.video, item.prompts, item.out, opts, checked=True)
    except VidmaskError as exc:
        res = RunResult(str(item.video), str(item.out), status="failed", error=str(exc))
    res.seconds = round(time.perf_counter() - t0, 2)
    return res


def write_summary(results: list[RunResult], summary_path=None) -> None:
    """The batch summary CSV (one row per video, in manifest order); nothing when no path is given."""
    if summary_path:
        Path(summary_path).parent.mkdir(parents=True, exist_ok=True)
        from vidmask_nb.runfolder.folder import atomic_output

        with atomic_output(summary_path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=["video", "status", "seconds", "output", "error", "workdir"])
            writer.writeheader()
            for r in results:
                writer.writerow({k: getattr(r, k) for k in writer.fieldnames})


# -- the demo ----------------------------------------------------------------------------------

def demo(out="runs/demo", opts: RunOptions | None = None, seconds: float = 2.0) -> RunResult:
    """Generate the sample clip and its prompts, then run the whole pipeline into ``out``."""
    from fractions import Fraction

    from vidmask_nb.track import model
    from vidmask_nb.media.sample import make_sample_clip
    from vidmask_nb.prompts.sources import sample_prompts

    opts = opts or RunOptions()
    if opts.weights == "trained" and opts.checkpoint is None:
        try:
            model.find_checkpoint(opts.model)
        except VidmaskError:
            spec = model.model_spec(opts.model)
            print(f"Downloading the trained {spec.name} checkpoint ({spec.url}) ...")
            try:
                model.download_checkpoint(spec.name, model.repo_checkpoints())
            except VidmaskError as exc:
                raise VidmaskError(
                    f"no trained SAM 2.1 checkpoint is here and it could not be downloaded: {exc}\n"
                    f"Get it with: {model.download_command(spec.name)}\n"
                    "or rerun the demo with --weights random for a smoke run (the pipeline runs end to end; "
                    "an untrained model's masks are meaningless)") from None
    opts = opts.checked()
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    video = out / "sample.mp4"
    if not video.is_file():
        make_sample_clip(video, seconds=seconds, fps=Fraction(24000, 1001), size=(640, 360))
    info = probe(video)
    prompts_file = out / "sample_prompts.json"
    sample_prompts(info).save(prompts_file)
    return run_video(video, prompts_file, out, opts, checked=True)
