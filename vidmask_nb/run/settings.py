"""One place for a run's settings: ``settings.json`` in the run folder.

Notebook 01 (or ``vidmask-nb run``) writes it: the video and every ``run.options.RunOptions`` field
(model, checkpoint, weights, device, image size, chunking, render and find options). Notebooks
02-04 read it and need only ``workdir``; a parameter they set (not None) overrides the saved value
for that notebook, and the notebook says so in one line. 01's chunk plan (``manifest.json``) is
written once, from these settings, and the tracker uses the same ``chunk_seconds``.

Relative paths resolve against the repository root (the folder holding ``notebooks/``, where a
headless run and JupyterLab both start) and then the run folder, never silently against the
kernel's working directory (``notebooks/``); a missing file names every absolute path looked at.

Example (a notebook's first code cell)::

    s = run_settings(workdir, image_size=image_size)   # prints "image_size = 256 from this ..."
    s.video, s.image_size, s.options                   # absolute path, 256, the RunOptions
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from vidmask_nb.errors import VidmaskError
from vidmask_nb.run.options import RunOptions
from vidmask_nb.runfolder.folder import read_json, write_json

SETTINGS_FILE = "settings.json"
SETTINGS_VERSION = 1


def repo_root() -> Path:
    """The clone's root (the folder with ``notebooks/`` beside the package); the working directory otherwise."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "notebooks").is_dir() else Path.cwd()


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
        return self.workdir / SETTINGS_FILE

    def to_json(self) -> dict:
        return {"version": SETTINGS_VERSION, "video": str(self.video), "options": asdict(self.options)}

    def save(self) -> Path:
        """Write ``settings.json`` atomically into the run folder."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        return write_json(self.path, self.to_json())

    @classmethod
    def load(cls, workdir: str | os.PathLike) -> "RunSettings | None":
        """The settings saved in ``workdir``, or None when it has none."""
        workdir = Path(workdir)
        path = workdir / SETTINGS_FILE
        if not path.is_file():
            return None
        data = read_json(path, "settings")
        known = {f.name for f in fields(RunOptions)}
        raw = data.get("options", {}) if isinstance(data, dict) else {}
        unknown = sorted(set(raw) - known)
        if unknown or not isinstance(data, dict) or not data.get("video"):
            raise VidmaskError(f"{path} was written by another version of the kit (unknown: {unknown or 'video'}); "
                               "run notebook 01 (or vidmask-nb run) on this folder again")
        return cls(Path(data["video"]), workdir, RunOptions(**raw))


def run_settings(workdir: str | os.PathLike, video: str | os.PathLike | None = None, save: bool = False,
                 say=print, **overrides) -> RunSettings:
    """The run's settings for a notebook: ``workdir``'s ``settings.json`` with every override that is not None.

    - ``workdir``: the run folder (relative: under the repository root).
    - ``video`` and ``overrides`` (``RunOptions`` field names): the notebook's parameters; None means
      "from the run's settings". Each one that differs from the saved value is said in one line.
    - ``save``: write the merged settings back (notebook 01, which starts the run); the options are
      checked first. Without it, a folder with no ``settings.json`` is an error unless ``video`` is
      given (then the options are the defaults plus the overrides, and it says so).
    """
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
        raise VidmaskError(f"no {SETTINGS_FILE} in {workdir}: run notebook 01 on this folder first "
                           "(it writes the run's settings), or set `video` here")
    base = saved.options if saved is not None else RunOptions()
    given = {k: v for k, v in overrides.items() if v is not None}
    if given.get("checkpoint") is not None:
        given["checkpoint"] = str(resolve_path(given["checkpoint"], "checkpoint", workdir))
    if given.get("pii_words") is not None:
        given["pii_words"] = str(resolve_path(given["pii_words"], "pii_words file", workdir))
    if saved is None and not save:
        say(f"no {SETTINGS_FILE} in {workdir} (notebook 01 writes it): using the defaults and this notebook's parameters")
    elif saved is not None:
        where = "are saved as the run's settings" if save else "overrides the run's settings"
        if video_path != saved.video:
            say(f"video = {video_path} from this notebook's parameters {where} ({saved.video})")
        for name, value in given.items():
            if value != getattr(saved.options, name):
                say(f"{name} = {value!r} from this notebook's parameters {where} ({getattr(saved.options, name)!r})")
    options = replace(base, **given)
    settings = RunSettings(video_path, workdir, options)
    if save:
        settings = replace(settings, options=options.checked())
        settings.save()
    return settings
