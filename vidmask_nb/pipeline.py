"""Headless runs: the four numbered notebooks executed by papermill, one video or a batch.

``run_video`` executes 01 -> 02 -> 03 -> 04 on one video, keeping each executed notebook in
``WORKDIR/reports/`` as the run's report, and writes ``WORKDIR/run.json`` last, as the mark of a
complete run (a batch skips videos whose mark matches the video and options). Options are
checked before any heavy work.

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
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from vidmask_nb.errors import VidmaskError
from vidmask_nb.runfolder import RunFolder, write_json
from vidmask_nb.video import VideoInfo, probe

NOTEBOOKS = ("01_extract", "02_prompt", "03_propagate", "04_render")
RUN_MARK = "run.json"


def notebooks_dir() -> Path:
    """The numbered notebooks: ``notebooks/`` beside the package (a clone installed with ``pip -e``)."""
    d = Path(os.environ.get("VIDMASK_NOTEBOOKS", Path(__file__).resolve().parents[1] / "notebooks"))
    missing = [n for n in NOTEBOOKS if not (d / f"{n}.ipynb").is_file()]
    if missing:
        raise VidmaskError(f"notebooks {', '.join(missing)} not found in {d}; run from a clone of vidmask-nb "
                           "installed with `pip install -e .`, or set VIDMASK_NOTEBOOKS")
    return d


@dataclass(frozen=True)
class RunOptions:
    """The settings of a headless run (the CLI flags of ``vidmask-nb run``)."""

    model: str = "tiny"
    checkpoint: str | None = None
    weights: str = "trained"
    image_size: int | None = None
    device: str | None = None
    style: str = "fill"
    dilate: int = 4
    feather: int = 0
    hold: int = 3
    chunk_seconds: float = 10.0
    crf: int | None = None
    lossless: bool = False
    full: bool = False  # after a prompt change, re-track every object over every frame (else only what changed)

    def checked(self) -> "RunOptions":
        """Check every option before heavy work; returns the options with the checkpoint resolved."""
        from vidmask_nb import effects, model

        spec = model.model_spec(self.model)
        if self.weights not in ("trained", "random"):
            raise VidmaskError(f"--weights must be 'trained' or 'random', not {self.weights!r}")
        effects.parse_style(self.style)
        for name in ("dilate", "feather", "hold"):
            if getattr(self, name) < 0:
                raise VidmaskError(f"--{name} must be 0 or more, not {getattr(self, name)}")
        if self.image_size is not None and (self.image_size < 64 or self.image_size % 32):
            raise VidmaskError(f"--image-size must be a multiple of 32 and at least 64, not {self.image_size}")
        if self.chunk_seconds <= 0:
            raise VidmaskError(f"--chunk-seconds must be positive, not {self.chunk_seconds}")
        if self.crf is not None and not 0 <= self.crf <= 51:
            raise VidmaskError(f"--crf must be 0..51 (lower is better), not {self.crf}")
        checkpoint = self.checkpoint
        if self.weights == "trained":
            checkpoint = str(model.find_checkpoint(spec.name, self.checkpoint).resolve())
        return replace(self, model=spec.name, checkpoint=checkpoint)

    def notebook_parameters(self) -> dict[str, dict]:
        """What each numbered notebook's ``parameters`` cell receives."""
        tracker = {"model": self.model, "checkpoint": self.checkpoint, "weights": self.weights,
                   "device": self.device, "image_size": self.image_size}
        render = {"style": self.style, "dilate": self.dilate, "feather": self.feather, "hold": self.hold,
                  "lossless": self.lossless}
        if self.crf is not None:
            render["crf"] = self.crf
        return {"01_extract": {"chunk_seconds": self.chunk_seconds},
                "02_prompt": dict(tracker),
                "03_propagate": dict(tracker, chunk_seconds=self.chunk_seconds, full=self.full),
                "04_render": render}

    @classmethod
    def from_mapping(cls, values: dict, base: "RunOptions | None" = None) -> "RunOptions":
        """Options from a batch row or CLI dict: names like the flags (``image-size`` or ``image_size``)."""
        base = base or cls()
        known = {f.name: f.type for f in fields(cls)}
        out = {}
        for key, raw in values.items():
            name = key.strip().replace("-", "_")
            if name not in known:
                raise VidmaskError(f"unknown option {key!r}; known: {', '.join(known)}")
            if raw is None or raw == "":
                continue
            default = getattr(base, name)
            out[name] = _coerce(name, raw, default, known[name])
        return replace(base, **out)


def _coerce(name: str, raw, default, annotation: str):
    if not isinstance(raw, str):
        return raw
    try:
        if "bool" in annotation:
            return raw.strip().lower() in ("1", "true", "yes", "on")
        if "int" in annotation:
            return int(raw)
        if "float" in annotation:
            return float(raw)
    except ValueError:
        raise VidmaskError(f"option {name}: {raw!r} is not a number") from None
    return raw


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


def _prompts_digest(prompts: Path) -> str:
    h = hashlib.sha256()
    files = sorted(prompts.rglob("*.json")) if prompts.is_dir() else [prompts]
    for f in files:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:20]


def is_complete(video, prompts, workdir, opts: RunOptions) -> bool:
    """True when ``workdir`` holds a finished run of this video, prompts and options."""
    mark = Path(workdir) / RUN_MARK
    if not mark.is_file():
        return False
    try:
        data = json.loads(mark.read_text())
        info = probe(video)
        return (data.get("key") == _options_key(info, opts, _prompts_digest(Path(prompts)))
                and Path(data.get("output", "")).is_file())
    except (VidmaskError, json.JSONDecodeError, OSError):
        return False


def run_video(video, prompts, workdir, opts: RunOptions | None = None, checked: bool = False,
              before_tracking=None) -> RunResult:
    """Run the four notebooks on one video; raise ``VidmaskError`` with a one-line summary on failure.

    ``before_tracking(video, workdir, opts)``, when given, runs after 02 and before 03 (``run --ray``
    tracks object groups on a cluster there; 03 then finds complete masks and only shows them).
    """
    import papermill as pm

    opts = opts or RunOptions()
    video, prompts, workdir = Path(video).resolve(), Path(prompts).resolve(), Path(workdir).resolve()
    if not checked:
        opts = opts.checked()
    info = probe(video)  # a bad video fails here, before any notebook starts
    check_prompts(prompts, info)
    nb_dir = notebooks_dir()
    run = RunFolder(workdir).create()
    run.reports_dir.mkdir(exist_ok=True)
    (workdir / RUN_MARK).unlink(missing_ok=True)
    params = opts.notebook_parameters()
    params["02_prompt"].update({"labelme_dir": str(prompts) if prompts.is_dir() else None,
                                "prompts_file": None if prompts.is_dir() else str(prompts)})
    output = run.redacted_video(video)
    result = RunResult(str(video), str(workdir))
    start = time.perf_counter()
    show_cells = sys.stderr.isatty() and not os.environ.get("TQDM_DISABLE")
    for n, name in enumerate(NOTEBOOKS, start=1):
        report = run.reports_dir / f"{name}.ipynb"
        if name == "03_propagate" and before_tracking is not None:
            before_tracking(video, workdir, opts)
        print(f"[{video.name} {n}/{len(NOTEBOOKS)}] {name} -> {report}", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        try:
            pm.execute_notebook(str(nb_dir / f"{name}.ipynb"), str(report),
                                parameters={"video": str(video), "workdir": str(workdir), **params[name]},
                                kernel_name="python3", cwd=str(nb_dir), progress_bar=show_cells, log_output=False)
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
    from vidmask_nb.corrections import tracking_changes

    changes = tracking_changes(workdir)  # what 03's tracking did: full, or which objects and frames it re-tracked
    write_json(workdir / RUN_MARK, {"key": _options_key(info, opts, _prompts_digest(prompts)),
                                    "video": str(video), "prompts": str(prompts), "output": str(output),
                                    "options": asdict(opts), "stage_seconds": result.stage_seconds,
                                    "seconds": result.seconds, "tracking": changes.to_json() if changes else None})
    return result


def check_prompts(prompts: Path, info: VideoInfo) -> None:
    """Fail before any notebook runs when the prompts are missing, empty or for another video."""
    from vidmask_nb.labelme import import_labelme
    from vidmask_nb.prompts import PromptSet

    if not prompts.exists():
        raise VidmaskError(f"prompts not found: {prompts} (give a prompts.json or a LabelMe folder)")
    if prompts.is_dir():
        prompt_set, _ = import_labelme(prompts, info)
        prompt_set.validate(info).require_prompts()
    else:
        PromptSet.load(prompts, info).require_prompts()


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
        from vidmask_nb.runfolder import atomic_output

        with atomic_output(summary_path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=["video", "status", "seconds", "output", "error", "workdir"])
            writer.writeheader()
            for r in results:
                writer.writerow({k: getattr(r, k) for k in writer.fieldnames})


# -- the demo ----------------------------------------------------------------------------------

def demo(out="runs/demo", opts: RunOptions | None = None, seconds: float = 2.0) -> RunResult:
    """Generate the sample clip and its prompts, then run the whole pipeline into ``out``."""
    from fractions import Fraction

    from vidmask_nb import model
    from vidmask_nb.sample import make_sample_clip, sample_prompts

    opts = opts or RunOptions()
    if opts.weights == "trained" and opts.checkpoint is None:
        try:
            model.find_checkpoint(opts.model)
        except VidmaskError:
            spec = model.model_spec(opts.model)
            print(f"Downloading the trained {spec.name} checkpoint ({spec.url}) ...")
            try:
                model.download_checkpoint(spec.name, model.checkpoint_dirs()[-1])
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
