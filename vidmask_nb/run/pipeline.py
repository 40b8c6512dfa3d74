"""Headless runs: the four numbered notebooks executed by papermill, one video or a batch.

``run_video`` executes 01 -> 02 -> 03 -> 04 on one video, keeping each executed notebook in
``WORKDIR/sensitive/reports/`` as the run's report. Every option, path, device and prompt is
checked before notebook 01 starts. It fails closed:

- ``run.json`` is written FIRST with the run's key (video, prompts, options) and status
  ``running``, and marked ``complete`` last; a batch skips videos whose complete mark matches;
- outputs of an earlier run with other inputs leave their final names (moved to ``stale/``, QA
  and reports removed) before anything else, so a failed or killed run never leaves a
  final-named file that does not match ``run.json``;
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
from vidmask_nb.runfolder.folder import RunFolder, clean_partials, write_json
from vidmask_nb.run.settings import RunSettings
from vidmask_nb.media.video import VideoInfo, check_video_file, probe

NOTEBOOKS = ("01_extract", "02_prompt", "03_propagate", "04_render")
RUN_MARK = "run.json"


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
    blob = json.dumps({"video": info.fingerprint, "options": asdict(opts), "prompts": prompts_digest}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


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
    """``run.json`` of ``workdir``, or None when there is none (or it cannot be read)."""
    try:
        data = json.loads((Path(workdir) / RUN_MARK).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


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


def retire_stale_outputs(run: RunFolder, key: str, video: Path, inputs: tuple = ()) -> list[str]:
    """Move the outputs of an earlier run with other inputs away from their final names.

    Kept as they were when ``run.json`` carries ``key``. Otherwise the redacted video, ``prompts.json``
    and ``run.json`` go to ``stale/`` (replacing what was there), ``masks.json`` to
    ``masks/previous-masks.json`` (a correction re-tracks only what changed from it), and the earlier
    run's QA files and reports (source pixels) are removed; ``masks/`` stays (its files carry their own
    keys, so tracking still resumes). ``video`` and ``inputs`` (the prompts given) are never moved, even
    when they sit in the run folder under an output's name. Returns one line per thing moved or removed.
    """
    import shutil

    old = read_run_mark(run.root)
    if old is not None and old.get("key") == key:
        return []
    from vidmask_nb.track.masks import index_path

    said = []
    if run.masks_json.is_file() and run.masks_json.resolve() not in {Path(p).resolve() for p in inputs}:
        # Off its final name, but kept beside the tracker's files: a correction starts from it.
        run.masks_dir.mkdir(parents=True, exist_ok=True)
        os.replace(run.masks_json, run.previous_masks_json)
        if index_path(run.masks_json).is_file():
            os.replace(index_path(run.masks_json), index_path(run.previous_masks_json))
        said.append(f"moved masks.json to {run.previous_masks_json.relative_to(run.root)} (an incremental "
                    "correction starts from it)")
    outputs = {run.redacted_video(video), run.prompts_json, run.run_json, run.root / "masks_png"}
    if old is not None and old.get("output"):
        outputs.add(Path(old["output"]))
    keep = {Path(p).resolve() for p in (video, *inputs)}
    outputs = sorted(p for p in outputs if p.exists() and p.parent == run.root and p.resolve() not in keep)
    sensitive = [p for p in (run.qa_dir, run.reports_dir) if p.exists()]
    if not outputs and not sensitive:
        return said
    if outputs:
        shutil.rmtree(run.stale_dir, ignore_errors=True)
        run.stale_dir.mkdir()
        (run.stale_dir / "README.txt").write_text(
            "NOT CURRENT: outputs of an earlier run of this folder with other inputs (video, prompts or\n"
            "options), moved here when a run with new inputs started. Do not publish them as current.\n",
            encoding="utf-8")
        for p in outputs:
            os.replace(p, run.stale_dir / p.name)
            said.append(f"moved {p.name} to {run.stale_dir.name}/")
    for p in sensitive:
        shutil.rmtree(p, ignore_errors=True)
        said.append(f"removed {p.relative_to(run.root)}/")
    return said


def run_video(video, prompts, workdir, opts: RunOptions | None = None, checked: bool = False,
              before_tracking=None) -> RunResult:
    """Run the four notebooks on one video; raise ``VidmaskError`` with a one-line summary on failure.

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
    nb_dir = notebooks_dir()

    def say(line: str) -> None:
        print(f"[{video.name}] {line}", file=sys.stderr, flush=True)

    for line in source.lines():
        say(line)
    key = _options_key(info, opts, _prompts_digest(prompts))
    try:
        run.create()
        for p in clean_partials(workdir):
            say(f"removed {p.relative_to(workdir)}, left by a run that was killed")
        for line in retire_stale_outputs(run, key, video, inputs=(prompts,) if prompts else ()):
            say(f"inputs changed since the last run: {line}")
        run.reports_dir.mkdir(parents=True, exist_ok=True)
        mark = {"key": key, "status": "running", "video": str(video), "prompts": str(prompts) if prompts else None,
                "output": str(output), "options": asdict(opts), "prompt_check": source.to_json()}
        write_json(run.run_json, mark)
        RunSettings(video, workdir, opts).save()  # the notebooks read their settings from here
    except OSError as exc:
        raise VidmaskError(f"cannot write in the run folder {workdir}: {exc.strerror or exc}") from None
    # Only what is not a run setting: every notebook reads the rest from settings.json.
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
            execute_notebook(nb_dir / f"{name}.ipynb", report, {"workdir": str(workdir), **params[name]},
                             progress_bar=show_cells)
        except pm.PapermillExecutionError as exc:
            raise VidmaskError(f"{video.name}: {name} failed at cell {exc.exec_count}: {exc.ename}: "
                               f"{_first_line(exc.evalue)} (report: {report})") from None
        except Exception as exc:  # kernel died, notebook unreadable...
            raise VidmaskError(f"{video.name}: {name} could not run: {type(exc).__name__}: "
                               f"{_first_line(str(exc))} (report: {report})") from None
        result.stage_seconds[name] = round(time.perf_counter() - t0, 2)
    if not output.is_file():
        raise VidmaskError(f"{video.name}: the notebooks ran but {output} is missing (reports: {run.reports_dir})")
    result.output, result.seconds = str(output), round(time.perf_counter() - start, 2)
    gaps = run_gaps(run, info, opts)
    uncovered = [g for g in gaps if not g.covered]
    if uncovered:
        say(f"{len(uncovered)} gap(s) in the tracks are NOT covered (--no-cover-long-gaps); see run.json")
    audit = _output_audit(run, video, say)
    from vidmask_nb.track.corrections import tracking_changes

    changes = tracking_changes(workdir)  # what 03's tracking did: full, or which objects and frames it re-tracked
    write_json(run.run_json, dict(mark, status="complete", audit=audit, stage_seconds=result.stage_seconds,
                                  seconds=result.seconds, output_sha256=_sha256(output),
                                  objects=_objects(run), uncovered_gaps=[g.to_json() for g in uncovered],
                                  long_gaps=[g.to_json() for g in gaps if g.long],
                                  tracking=changes.to_json() if changes else None, floor=_floor(run)))
    return result


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
                return await super().start_kernel(**dict(kw, stderr=log))

    config = Config({"KernelManager": {"transport_encryption": "auto"},
                     "NotebookClient": {"extra_arguments": ["--IPKernelApp.log_level=CRITICAL"]}})
    pm.execute_notebook(str(notebook), str(report), parameters=parameters, kernel_name="python3",
                        cwd=str(Path(notebook).parent), progress_bar=progress_bar, log_output=False, config=config,
                        kernel_manager_class=KernelWithLog)


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


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


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


def _output_audit(run: RunFolder, video: Path, say) -> dict | None:
    """Stage 04's audit of the output (``qa/<stem>_audit.json``), summed up for run.json and the console."""
    audit_file = run.qa_dir / f"{video.stem}_audit.json"
    if not audit_file.is_file():
        return None
    full = json.loads(audit_file.read_text())
    audit = {k: full[k] for k in ("kinds", "every", "frames_checked", "clean", "leak_frames", "kept_frames")}
    audit["matched"] = full.get("matched", {})  # leaks by what matched ("email": 3), never the text
    say("audit of the output: " + ("nothing detectable" if audit["clean"]
                                   else f"LEAKS on frames {audit['leak_frames'][:20]}"))
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

def share(workdir, to, with_masks: bool = False) -> list[Path]:
    """Copy what is safe to share from a complete, current run into ``to``; returns the files.

    The redacted video, ``masks.json`` with ``with_masks``, and ``summary.json`` (objects, options,
    dropped prompts, uncovered gaps, the video's sha256). Never anything from ``sensitive/``.
    Refuses unless ``run.json`` marks a complete run whose video, prompts and options are still
    the ones on disk and whose output is the file it names (same sha256).
    """
    import shutil

    workdir, to = Path(workdir).resolve(), Path(to).resolve()
    mark = read_run_mark(workdir)
    if mark is None:
        raise VidmaskError(f"{workdir} holds no run.json: share a folder a `vidmask-nb run` finished")
    if mark.get("status") != "complete":
        raise VidmaskError(f"the run in {workdir} is not complete (status {mark.get('status')!r}); "
                           "run it to the end first")
    output = Path(mark["output"])
    video = Path(mark["video"])
    prompts = Path(mark["prompts"]) if mark.get("prompts") else None
    if not output.is_file() or _sha256(output) != mark.get("output_sha256"):
        raise VidmaskError(f"{output} is missing or is not the file this run wrote; run it again")
    if not video.is_file() or (prompts is not None and not prompts.exists()):
        raise VidmaskError(f"cannot check that the run is current: its video {video} or prompts {prompts} "
                           "are gone; run again where they are")
    try:
        opts = RunOptions(**mark["options"])
    except TypeError as exc:
        raise VidmaskError(f"{workdir / RUN_MARK} was written by another version of the kit ({exc}); run again") from None
    if _options_key(probe(video), opts, _prompts_digest(prompts)) != mark.get("key"):
        raise VidmaskError(f"the video or prompts changed since the run in {workdir}; run it again before sharing")
    if to == workdir or to.is_relative_to(workdir):
        raise VidmaskError(f"--to {to} is inside the run folder; give a folder outside it")
    files = [output] + ([workdir / "masks.json"] if with_masks else [])
    try:
        to.mkdir(parents=True, exist_ok=True)
        out = []
        for f in files:
            shutil.copyfile(f, to / f.name)
            out.append(to / f.name)
        summary = {k: mark.get(k) for k in ("objects", "options", "prompt_check", "uncovered_gaps", "long_gaps",
                                            "output_sha256", "floor")}
        summary["video"] = output.name
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
