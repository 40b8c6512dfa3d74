"""Headless runs: ``Run``'s stages in this process, one video or a batch; the notebooks as reports.

``run_video`` runs 01 -> 02 -> 03 -> 04 on one video in this process (``stages.Run``), then executes
the four notebooks with papermill as the run's report (``WORKDIR/sensitive/reports/``): they call
the same ``Run`` methods, find each stage done and current, and only show it. Every option, path,
device and prompt is checked before anything is written. It fails closed:

- the folder's lock is taken first (a second run into it is refused); the run's state is written
  with its key (video, prompts, options) and status ``running``, and the render's stage completes it
  last (``finish_run``); a batch skips videos whose complete mark matches;
- outputs of an earlier run with other inputs leave their final names (moved to ``stale/``, QA
  and reports removed) before anything else, so a failed or killed run never leaves a
  final-named file that does not match ``run.json``; a non-empty folder that is not a run folder
  is refused, so nothing the kit did not write is moved;
- stray ``.name.partial-PID.ext`` files of killed runs are removed, and a resumed tracking
  run says so on the console;
- unusable prompts stop the run unless ``drop_unusable_prompts`` (then listed in ``run.json``),
  and every gap in a track left uncovered is listed there too;
- a run whose own audit finds something is complete but flagged: ``RunResult.flags`` says what,
  the CLI exits 1 and ``share`` refuses it unless told to accept it.

Example::

    opts = RunOptions(weights="random", image_size=256, style="blur")
    result = run_video("clip.mp4", "prompts.json", "runs/clip", opts)
    result.output   # runs/clip/clip_redacted.mp4
"""
from __future__ import annotations

import csv
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from vidmask_nb.errors import VidmaskError
from vidmask_nb.run.options import RunOptions
from vidmask_nb.runfolder.folder import RunFolder, atomic_output, clean_partials
from vidmask_nb.runfolder.state import RunLock, RunState, check_run_folder
from vidmask_nb.run.share import audit_flags, share  # noqa: F401  (share: the run's last step, here for callers)
from vidmask_nb.run.settings import RunSettings, options_key, prompts_digest
from vidmask_nb.media.audiotrack import check_editable
from vidmask_nb.media.video import VideoInfo, check_video_file, probe
from vidmask_nb.run.notebooks import NOTEBOOKS, notebooks_dir

@dataclass
class RunResult:
    video: str
    workdir: str
    output: str | None = None
    status: str = "done"  # done | skipped | failed
    seconds: float = 0.0
    error: str | None = None
    stage_seconds: dict = field(default_factory=dict)
    flags: list = field(default_factory=list)  # what the run's own audits still found, one line each


def is_complete(video, prompts, workdir, opts: RunOptions) -> bool:
    """True when ``workdir`` holds a finished run of this video, prompts and options."""
    state = RunState.load(workdir)
    if state is None or state.status != "complete":
        return False
    try:
        info = probe(video)
        return (state.record.key == options_key(info, opts, prompts_digest(Path(prompts) if prompts else None))
                and Path(state.record.output or "").is_file())
    except (VidmaskError, OSError):
        return False


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
              before_tracking=None, reports: bool = True) -> RunResult:
    """Run every stage on one video in this process; raise ``VidmaskError`` with a one-line summary on failure.

    One driver of the run folder's state (``runfolder.state``), the one the notebooks record
    themselves in: it takes the folder's lock (a second run into it is refused), starts the run with
    its key, video and options (retiring an earlier run's outputs), and runs ``stages.Run``'s stages,
    each of which records itself; the render's stage completes the run. With ``reports`` the four
    notebooks are then executed (papermill) as the run's report: they show what the stages made.
    Ctrl-C leaves a resumable folder, marked interrupted.

    ``before_tracking(video, workdir, opts)``, when given, runs after 02 and before 03 (``run --ray``
    tracks object groups on a cluster there; 03 then finds complete masks).
    ``prompts`` may be None when ``opts.find`` is set (the detectors find what to hide); with
    ``opts.no_track`` SAM 2 is never loaded and the detector floor alone is rendered.
    """
    import warnings

    from vidmask_nb.run.stages import Run, say_on_stderr
    from vidmask_nb.track.model import RandomWeightsWarning

    opts = opts or RunOptions()
    if prompts is None and opts.find is None:
        raise VidmaskError("nothing to hide: give --prompts (a prompts.json or LabelMe folder) or --find faces")
    if not str(workdir).strip():  # an empty --out is an error, not the current directory
        check_run_folder(workdir)
    check_video_file(video)  # a symlink loop, a folder, an empty file: one line, before resolving it
    probe(video)  # a file that is not a video says so before anything about the model (its checkpoint)
    if not checked:
        opts = opts.checked()
    video, workdir = _resolved(video, "the video"), _resolved(workdir, "--out")
    prompts = _resolved(prompts, "--prompts") if prompts is not None else None
    folder = RunFolder(workdir)
    output = folder.redacted_video(video)
    check_paths(video, workdir, output)
    info = probe(video)  # a bad video fails here, before anything is written
    check_editable(video, opts.audio_options.mode)  # audio --audio cannot edit: said now, not after the floor
    source = check_prompts(prompts, info, opts.drop_unusable_prompts, required=opts.find is None)
    if opts.no_track:  # no SAM 2: only drawn boxes become covers; an object with none is refused here
        from vidmask_nb.detect.untracked import check_untracked_prompts

        check_untracked_prompts(source.prompts)
    check_output_names(folder, video)
    check_run_folder(workdir, "--out", inputs=(video, prompts))  # never a stranger's folder
    nb_dir = notebooks_dir() if reports else None
    say = say_on_stderr(video.name)
    for line in source.lines():
        say(line)
    key = options_key(info, opts, prompts_digest(prompts))
    lock = RunLock(workdir, say)
    result = RunResult(str(video), str(workdir))
    kernel = None
    start = time.perf_counter()
    try:
        lock.acquire("run")
        folder.create()
        for p in clean_partials(workdir):
            say(f"removed {p.relative_to(workdir)}, left by a run that was killed")
        state = RunState.open(workdir)
        state.start(video, info.fingerprint, asdict(opts), key, prompts=prompts, inputs=(prompts,) if prompts else (),
                    say=say, output=str(output), prompt_check=source.to_json())
        run = Run._made(RunSettings(video, workdir, opts), say, "cli")
        if reports:  # the report's kernel boots and imports the kit while the stages run, not after them
            with lock.held_for_children():  # the report kernel is this run: it passes its lock
                kernel = start_report_kernel(workdir, nb_dir)
        if opts.find is not None:  # the floor is made afresh for this run; drawn prompts stay
            (workdir / "floor.json").unlink(missing_ok=True)
        def hook(r) -> None:  # between 02 and 03: where tracking starts, then the cluster's groups (--ray)
            _say_resume(say, video, workdir, opts)
            if before_tracking is not None:
                before_tracking(r.video, r.workdir, r.options)

        try:
            with warnings.catch_warnings():  # the random-weights banner is printed; its warning twin is not
                warnings.simplefilter("ignore", RandomWeightsWarning)
                run.run_all(prompts, before_tracking=hook, timings=result.stage_seconds)
        except KeyboardInterrupt:
            running = RunState.open(workdir).running_stages()
            RunState.open(workdir).stage_failed(running[-1] if running else "run", "interrupted (Ctrl-C)",
                                                status="interrupted")
            raise
        if reports:
            t0 = time.perf_counter()
            write_reports(workdir, nb_dir, say, kernel=kernel)
            result.stage_seconds["reports"] = round(time.perf_counter() - t0, 2)
    except OSError as exc:
        raise VidmaskError(f"cannot write in the run folder {workdir}: {exc.strerror or exc}") from None
    finally:
        _shut_down(kernel)
        lock.release()
    state = RunState.open(workdir)
    if not output.is_file() or state.status != "complete":
        raise VidmaskError(f"{video.name}: the run is not complete ({output.name} "
                           f"{'is there' if output.is_file() else 'is missing'}, status {state.status!r}; "
                           f"see {state.path})")
    result.output, result.seconds = str(output), round(time.perf_counter() - start, 2)
    result.flags = audit_flags(state.record)
    for line in result.flags:
        say(f"FLAGGED: {line}")
    if not result.flags:
        say("audit of the output: nothing detectable")
    if state.record.uncovered_gaps:
        say(f"{len(state.record.uncovered_gaps)} gap(s) in the tracks are NOT covered (--no-cover-long-gaps); "
            "see run.json")
    state.update(stage_seconds=result.stage_seconds, seconds=result.seconds)
    return result


def write_reports(workdir, nb_dir=None, say=print, kernel=None) -> list[Path]:
    """Execute the four notebooks on the finished run in ``workdir`` (papermill) as its report, into
    ``sensitive/reports/``: they show what the stages made (nothing is done again). ``kernel``: the
    caller's ``start_report_kernel``, which the caller shuts down (None: one started here and stopped after)."""
    import papermill as pm

    nb_dir = nb_dir or notebooks_dir()
    folder = RunFolder(workdir)
    folder.reports_dir.mkdir(parents=True, exist_ok=True)

    show_cells = sys.stderr.isatty() and not os.environ.get("TQDM_DISABLE")
    out = []
    settings = RunSettings.load(workdir)
    # One kernel for the whole report: each notebook's parameters cell and first calls set everything it
    # uses (tests run each notebook in a kernel of its own), and a kernel's start costs more than a
    # notebook's cells on a short clip.
    own = kernel is None
    kernel = start_report_kernel(workdir, nb_dir) if own else kernel
    try:
        for name in NOTEBOOKS:
            if name == "03_propagate" and settings is not None and settings.options.no_track:
                continue  # nothing was tracked: no timeline to show
            report = folder.reports_dir / f"{name}.ipynb"
            try:
                params = {"workdir": str(workdir), **({"video": None} if name == "01_extract" else {})}  # the run's own
                execute_notebook(nb_dir / f"{name}.ipynb", report, params, progress_bar=show_cells, kernel=kernel)
            except pm.PapermillExecutionError as exc:
                raise VidmaskError(f"the report {name} failed at cell {exc.exec_count}: {exc.ename}: "
                                   f"{_first_line(exc.evalue)} (report: {report})") from None
            except Exception as exc:  # kernel died, notebook unreadable...
                raise VidmaskError(f"the report {name} could not run: {type(exc).__name__}: "
                                   f"{_first_line(str(exc))} (report: {report})") from None
            out.append(report)
    finally:
        if own:
            _shut_down(kernel)
    say(f"reports (SENSITIVE, they show the source): {folder.reports_dir}")
    return out


# What the report's notebooks import, imported as its kernel starts (their cells then find it loaded);
# the names are removed again, so the notebooks run in the namespace a person's kernel gives them.
_WARM_IMPORTS = "import vidmask_nb.notebook.views, vidmask_nb.review.qa, matplotlib.pyplot; del vidmask_nb, matplotlib"


def start_report_kernel(workdir, nb_dir=None):
    """The report's kernel manager (``_kernel_manager``), its kernel started now in the notebooks' folder
    with the arguments papermill gives one, importing what the notebooks use (``_WARM_IMPORTS``): its
    process boots while the stages run. ``write_reports`` runs the notebooks on it."""
    from jupyter_core.utils import run_sync

    folder = RunFolder(workdir)
    folder.reports_dir.mkdir(parents=True, exist_ok=True)
    kernel = _kernel_manager(folder.reports_dir / "reports.kernel.log")
    args = [*_REPORT_CONFIG["NotebookClient"]["extra_arguments"], "--HistoryManager.hist_file=:memory:",
            f"--IPKernelApp.exec_lines={_WARM_IMPORTS}"]
    run_sync(kernel.start_kernel)(cwd=str(nb_dir or notebooks_dir()), extra_arguments=args)
    return kernel


def _shut_down(kernel) -> None:
    """Stop a report kernel (``start_report_kernel``) if it still runs."""
    from jupyter_core.utils import run_sync

    if kernel is not None and kernel.has_kernel:
        run_sync(kernel.shutdown_kernel)(now=False)


_REPORT_CONFIG = {"KernelManager": {"transport_encryption": "auto"},
                  "NotebookClient": {"extra_arguments": ["--IPKernelApp.log_level=CRITICAL"],
                                     # a report keeps what cells print and draw, not the widgets' state:
                                     # the player's video bytes, the editor's frames
                                     "store_widget_state": False}}


def _kernel_manager(kernel_log: Path):
    """A kernel manager (``_kernel_class``) for several notebooks: its kernel starts with the first one."""
    from traitlets.config import Config

    return _kernel_class(kernel_log)(kernel_name="python3", config=Config(_REPORT_CONFIG))


def _kernel_class(kernel_log: Path):
    """Kernel managers whose kernel writes what it prints to stderr (a C library's message at shutdown,
    for one) into ``kernel_log``, not the console."""
    from jupyter_client import AsyncKernelManager

    class KernelWithLog(AsyncKernelManager):
        async def start_kernel(self, **kw):
            kernel_log.parent.mkdir(parents=True, exist_ok=True)
            with open(kernel_log, "ab") as log:  # the kernel keeps its own copy of the descriptor
                started = await super().start_kernel(**dict(kw, stderr=log))
            return started

    return KernelWithLog


def execute_notebook(notebook, report, parameters: dict, progress_bar: bool = False, kernel=None) -> None:
    """papermill with the kernel's working directory ``notebooks/`` (as in JupyterLab), quietly.

    ``kernel``: a kernel manager (``_kernel_manager``) whose kernel runs this notebook and is kept for the
    next; None: a kernel of its own, shut down after, with its log at ``<report>.kernel.log``.
    The kernel gets CurveZMQ keys from its manager (``transport_encryption='auto'``, for kernelspecs
    that declare support, as ipykernel's does), so its traffic is encrypted and ipykernel has no
    reason to warn that it "is running over TCP without encryption" on the console. The kernel
    process's own log (not the notebook's output) is kept to critical messages: at shutdown
    jupyter_client interrupts the kernel before asking it to stop, and a kernel still finishing a
    message logs "KeyboardInterrupt caught in kernel" to the console. Errors in cells still reach
    the report and stop the run.
    """
    import papermill as pm
    from traitlets.config import Config

    report = Path(report)
    report.parent.mkdir(parents=True, exist_ok=True)
    if kernel is None:
        shared = {"kernel_manager_class": _kernel_class(report.with_suffix(".kernel.log"))}
    else:
        shared = {"km": kernel}
    with atomic_output(report) as tmp:  # a full disk never leaves a truncated report under its final name
        try:
            pm.execute_notebook(str(notebook), str(tmp), parameters=parameters, kernel_name="python3",
                                cwd=str(Path(notebook).parent), progress_bar=progress_bar, log_output=False,
                                config=Config(_REPORT_CONFIG), **shared)
        except pm.PapermillExecutionError:
            if tmp.is_file():  # the failed notebook is the report of the failure: keep it, whole
                os.replace(tmp, report)
            raise


def _say_resume(say, video: Path, workdir: Path, opts: RunOptions) -> None:
    """Say on the console where tracking starts (the notebook's own output goes to its report)."""
    from vidmask_nb.track.propagate import tracking_progress

    try:
        progress = tracking_progress(video, workdir, opts.track_options)
    except (VidmaskError, OSError):
        return
    if progress is None or progress[0] == 0:
        return
    done, total = progress
    if done == total:
        say(f"tracking: all {total} segments were already tracked (masks/); not tracking again")
    else:
        say(f"resuming after {done} of {total} segments (masks/tracker_state.pt)")


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
