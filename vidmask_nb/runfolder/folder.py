"""One folder per video carries everything between the stages, and every file lands atomically.

Layout (``RunFolder(root)``)::

    manifest.json          01: probe and chunk plan
    prompts.json           02: objects and prompts
    masks/                 03: per-chunk masks and tracker checkpoints
    masks.json             03: every frame and object
    <stem>_redacted.mp4    04: the redacted video
    run.json               the run's state (``state.RunState``): key, video, options, stages, digests, audit
    run.lock               while a run writes here (``state.RunLock``)
    sensitive/             everything that shows SOURCE PIXELS (never share it; README.txt says so):
      qa/                  04: overlay video, contact sheets, QA pictures
      reports/             executed notebooks (headless runs; they embed source frames)
      frames/              01: JPEG folders for LabelMe (optional)
    stale/                 outputs of an earlier run whose inputs differ (moved aside, never current)

``vidmask-nb share`` copies only what is safe to share (the redacted video, masks if asked).

Writers never leave a half-written file under a final name: they write ``name.partial-<pid>``
beside it and ``os.replace`` it when complete, so a killed run leaves either the old file or none.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from vidmask_nb.errors import VidmaskError


@dataclass(frozen=True)
class RunFolder:
    root: Path

    def __init__(self, root: str | os.PathLike):
        object.__setattr__(self, "root", Path(root))

    @property
    def manifest_json(self) -> Path:
        return self.root / "manifest.json"

    @property
    def prompts_json(self) -> Path:
        return self.root / "prompts.json"

    @property
    def masks_dir(self) -> Path:
        return self.root / "masks"

    @property
    def masks_json(self) -> Path:
        return self.root / "masks.json"

    @property
    def sensitive_dir(self) -> Path:
        """Where everything showing source pixels lives; ``mark_sensitive`` writes its README."""
        return self.root / "sensitive"

    @property
    def qa_dir(self) -> Path:
        return self.sensitive_dir / "qa"

    @property
    def reports_dir(self) -> Path:
        return self.sensitive_dir / "reports"

    @property
    def frames_dir(self) -> Path:
        """01's JPEG folders for LabelMe."""
        return self.sensitive_dir / "frames"

    @property
    def previous_masks_json(self) -> Path:
        """Where a run with changed inputs puts the old ``masks.json``: off its final name, kept so that
        ``propagate`` can correct it incrementally (``corrections``) instead of tracking everything again."""
        return self.masks_dir / "previous-masks.json"

    @property
    def stale_dir(self) -> Path:
        return self.root / "stale"

    @property
    def run_json(self) -> Path:
        return self.root / "run.json"

    def mark_sensitive(self) -> Path:
        """Create ``sensitive/`` with a README.txt saying what it holds; returns the folder."""
        readme = self.sensitive_dir / "README.txt"
        if not readme.is_file():
            self.sensitive_dir.mkdir(parents=True, exist_ok=True)
            readme.write_text(SENSITIVE_README, encoding="utf-8")
        return self.sensitive_dir

    def redacted_video(self, video: str | os.PathLike) -> Path:
        return self.root / f"{Path(video).stem}_redacted.mp4"

    def create(self) -> "RunFolder":
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self.mark_sensitive()
        except OSError as exc:
            raise VidmaskError(f"cannot create the run folder {self.root}: {exc.strerror}") from exc
        return self


SENSITIVE_README = """SENSITIVE: this folder shows the UNREDACTED source video.

qa/       the overlay video (the source under a tint), contact sheets and review pictures
reports/  the executed notebooks, which embed source frames
frames/   JPEG frames extracted for LabelMe

Do not share or publish anything in this folder. To get what is safe to share, run
    vidmask-nb share <run folder> --to <folder> [--with-masks]
"""


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


_PARTIAL_RE = re.compile(r"^\..+\.partial-(\d+)(\.[^.]*)?$")


def clean_partials(root: str | os.PathLike) -> list[Path]:
    """Remove the ``.name.partial-PID.ext`` files of killed runs under ``root``; return them.

    Only files whose PID is not a live process are removed, so a run writing beside this one
    keeps its temporary files.
    """
    removed = []
    root = Path(root)
    if not root.is_dir():
        return removed
    for path in root.rglob(".*.partial-*"):
        m = _PARTIAL_RE.match(path.name)
        if m and path.is_file() and not _pid_alive(int(m.group(1))):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def partial_path(path: str | os.PathLike) -> Path:
    """The temporary name a file is written under before it is complete.

    The suffix is kept last so encoders that pick a format from the name still work.
    """
    path = Path(path)
    return path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    On any error (a full disk included) the temporary file is removed and the error re-raised,
    so the final name holds either the previous complete file or nothing.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_path(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if isinstance(exc, OSError) and exc.errno == 28:  # ENOSPC
            raise VidmaskError(f"the disk is full while writing {path}; free some space and run again "
                               "(finished parts are kept, the run resumes)") from exc
        raise


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write JSON atomically (temporary file, fsync, rename)."""
    path = Path(path)
    with atomic_output(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
    return path


def read_json(path: str | os.PathLike, what: str) -> Any:
    """Read a JSON file the kit wrote; ``what`` names it in the error ('prompts', 'manifest'...)."""
    path = Path(path)
    if not path.is_file():
        raise VidmaskError(f"{what} file not found: {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise VidmaskError(f"{what} file {path} is not valid JSON ({exc}); remove it and write it again") from exc
