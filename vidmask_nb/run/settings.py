"""One place for a run's settings: the video and options in the run folder's state (``run.json``).

Notebook 01 (or ``vidmask-nb run``) fixes them at the run's start, through the state's one owner
(``runfolder.state.RunState.start``): the video and every ``run.options.RunOptions`` field (model,
checkpoint, weights, device, image size, chunking, render and find options). Notebooks 02-04 read
them from that record (never from a file another run may rewrite: a second run into the folder is
refused by its lock while the first holds it) and need only ``workdir``; a parameter they set (not None) overrides the saved value
for that notebook, and the notebook says so in one line. 01's chunk plan (``manifest.json``) is
written once, from these settings, and the tracker uses the same ``chunk_seconds``.

Relative paths resolve against the repository root (the clone whose notebooks are open: the folder
holding the kernel's ``notebooks/``, else the one the package sits in) and then the run folder, never silently against the
kernel's working directory (``notebooks/``); a missing file names every absolute path looked at.

Example (a notebook's first code cell)::

    s = run_settings(workdir, image_size=image_size)   # prints "image_size = 256 from this ..."
    s.video, s.image_size, s.options                   # absolute path, 256, the RunOptions
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from vidmask_nb.errors import VidmaskError
from vidmask_nb.run.options import RunOptions
from vidmask_nb.runfolder.state import RUN_FILE, RunLock, RunState, check_run_folder, run_key

SETTINGS_VERSION = 2


def repo_root() -> Path:
    """The root of the clone whose notebooks are open: a kernel runs in ``<clone>/notebooks/`` (JupyterLab
    and papermill both start it there), so with two clones sharing one environment a notebook's relative
    paths resolve in its own clone. Else the clone the package sits in; else the working directory."""
    cwd = Path.cwd()
    package = Path(__file__).resolve().parents[1]
    if cwd.resolve() == (package / "notebooks").resolve():  # the shipped notebooks (a clone's notebooks/ links here)
        return package.parent
    if cwd.name == "notebooks" and (cwd / "01_extract.ipynb").is_file():
        return cwd.parent.resolve()
    root = package.parent
    return root if (root / "notebooks").is_dir() else cwd


def resolve_path(path: str | os.PathLike, what: str, workdir: str | os.PathLike | None = None,
                 must_exist: bool = True) -> Path:
    """An absolute path for ``path``: as given when absolute, else under the repository root, else under
    ``workdir``. With ``must_exist`` a missing file is a ``VidmaskError`` naming each place looked at."""
    p = Path(path).expanduser()
    if p.is_absolute():
        candidates = [p]
    else:
        candidates = [repo_root() / p] + ([Path(workdir) / p] if workdir is not None else [])
    for c in candidates:
        if c.exists():
            return c.resolve()
    if must_exist:
        looked = " or ".join(str(c.resolve()) for c in candidates)
        raise VidmaskError(f"{what} not found: {looked}")
    return candidates[0].resolve()


@dataclass(frozen=True)
class RunSettings:
    """The run folder's settings: the source video (absolute) and the run's options (``RunOptions``).

    Every option reads as an attribute too: ``settings.image_size`` is ``settings.options.image_size``.
    """

    video: Path
    workdir: Path
    options: RunOptions

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(object.__getattribute__(self, "options"), name)

    @property
    def path(self) -> Path:
        return self.workdir / RUN_FILE

    def to_json(self) -> dict:
        return {"version": SETTINGS_VERSION, "video": str(self.video), "options": asdict(self.options)}

    def save(self, say=print) -> Path:
        """Start the run with these settings in the folder's state (``RunState.start``); returns ``run.json``.

        Unchanged settings keep the state as it is (a rerun resumes); other ones retire the earlier
        run's outputs first."""
        from vidmask_nb.media.video import probe

        state = RunState.open(self.workdir)
        options = asdict(self.options)
        if state.record.video != str(self.video) or state.record.options != options:
            fp = probe(self.video).fingerprint
            state.start(self.video, fp, options, run_key(fp, options), say=say)
        return state.path

    @classmethod
    def load(cls, workdir: str | os.PathLike) -> "RunSettings | None":
        """The settings the run in ``workdir`` started with, or None when it has none."""
        workdir = Path(workdir)
        state = RunState.load(workdir)
        if state is None or not state.record.video:
            return None
        known = {f.name for f in fields(RunOptions)}
        raw = state.record.options or {}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise VidmaskError(f"{state.path} was written by another version of the kit (unknown: {unknown}); "
                               "run notebook 01 (or vidmask-nb run) on this folder again")
        return cls(Path(state.record.video), workdir, RunOptions(**raw))


_LOCKS: dict[Path, RunLock] = {}


def hold_lock(workdir: Path, kind: str, say=print) -> RunLock:
    """Take the run folder's lock for this process (kept until it exits); see ``state.RunLock``."""
    lock = _LOCKS.get(workdir)
    if lock is None or not lock.held:
        lock = RunLock(workdir, say).acquire(kind)
        if lock.held:
            import atexit

            atexit.register(lock.release)
        _LOCKS[workdir] = lock
    return lock


def run_settings(workdir: str | os.PathLike, video: str | os.PathLike | None = None, save: bool = False,
                 say=print, caller: str = "cli", lock: str | None = None, **overrides) -> RunSettings:
    """The run's settings for a notebook: the options in ``workdir``'s ``run.json`` with every override that is not None.

    - ``workdir``: the run folder (relative: under the repository root).
    - ``video`` and ``overrides`` (``RunOptions`` field names): the notebook's parameters; None means
      "from the run's settings". Each one that differs from the saved value is said in one line.
    - ``save``: write the merged settings back (notebook 01, which starts the run); the options are
      checked first. Without it, a folder with no ``run.json`` is an error unless ``video`` is
      given (then the options are the defaults plus the overrides, and it says so).
    - ``caller``: ``"notebook"`` names options as parameters in errors (``image_size``), ``"cli"`` as flags.
    - ``lock``: take the folder's lock (``"notebook"`` or ``"run"``) before anything is written.

    Nothing is written unless every check passes: the options, the video (probed), the folder.
    """
    if workdir is None or not str(workdir).strip():
        raise VidmaskError("workdir is empty: give the run folder" if caller == "notebook" else
                           "--out is empty: give the run folder")
    workdir = resolve_path(workdir, "run folder", must_exist=False)
    if workdir.exists() and not workdir.is_dir():
        raise VidmaskError(f"workdir {workdir} is a file, not a folder; give the run folder")
    saved = RunSettings.load(workdir)
    unknown = sorted(set(overrides) - {f.name for f in fields(RunOptions)})
    if unknown:
        raise VidmaskError(f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(f.name for f in fields(RunOptions))}")
    if video is not None:
        video_path = resolve_path(video, "video", workdir)
    elif saved is not None:
        video_path = saved.video
        if not video_path.is_file():
            raise VidmaskError(f"video not found: {video_path} (from {saved.path}); set `video` in notebook 01 "
                               "and run it again")
    else:
        raise VidmaskError(f"no run's settings in {workdir} (no {RUN_FILE}): run notebook 01 on this folder "
                           "first (it starts the run), or set `video` here")
    base = saved.options if saved is not None else RunOptions()
    given = {k: v for k, v in overrides.items() if v is not None}
    if given.get("checkpoint") is not None:
        given["checkpoint"] = str(resolve_path(given["checkpoint"], "checkpoint", workdir))
    for words in ("pii_words", "say_words"):  # a word list: a small UTF-8 text file, checked before anything runs
        if given.get(words) is not None:
            from vidmask_nb.errors import check_text_file

            given[words] = str(check_text_file(resolve_path(given[words], f"{words} file", workdir), words))
    options = replace(base, **given)
    if save:  # every check before anything is written or said to be saved
        from vidmask_nb.media.video import probe

        probe(video_path)  # a file that is not a video fails here first (before the model's checkpoint is looked for)
        options = options.checked(caller=caller)
        from vidmask_nb.media.audiotrack import check_editable
        from vidmask_nb.run.options import in_notebook_terms

        try:  # audio that `audio` cannot edit: said when the run starts, not in 04
            check_editable(video_path, options.audio_options.mode)
        except VidmaskError as exc:
            raise VidmaskError(in_notebook_terms(str(exc)) if caller == "notebook" else str(exc)) from None
        check_run_folder(workdir, "workdir" if caller == "notebook" else "--out", inputs=(video_path,))
    if lock is not None:
        hold_lock(workdir, lock, say)
    if saved is None and not save:
        say(f"no run's settings in {workdir} (notebook 01 starts the run): using the defaults and this "
            "notebook's parameters")
    elif saved is not None:
        where = "are saved as the run's settings" if save else "overrides the run's settings"
        if video_path != saved.video:
            say(f"video = {video_path} from this notebook's parameters {where} ({saved.video})")
        for name, value in given.items():
            if value != getattr(saved.options, name):
                say(f"{name} = {value!r} from this notebook's parameters {where} ({getattr(saved.options, name)!r})")
    settings = RunSettings(video_path, workdir, options)
    if save:
        settings.save(say=say)
    return settings


def options_key(info, opts: RunOptions, digest: str) -> str:
    """The run's key: the video's fingerprint, the options, and the prompts a headless run was given."""
    return run_key(info.fingerprint, asdict(opts), digest)


def prompts_digest(prompts: Path | None) -> str:
    """A digest of the prompts file (or every JSON file of a LabelMe folder) a headless run was given."""
    h = hashlib.sha256()
    if prompts is None:
        return ""
    files = sorted(prompts.rglob("*.json")) if prompts.is_dir() else [prompts]
    for f in files:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:20]
