"""One folder per video carries everything between the stages, and every file lands atomically.

Layout (``RunFolder(root)``)::

    manifest.json          01: probe and chunk plan
    prompts.json           02: objects and prompts
    masks/                 03: per-chunk masks and tracker checkpoints
    masks.json             03: every frame and object
    <stem>_redacted.mp4    04: the redacted video
    qa/                    04: preview video and QA pictures
    reports/               executed notebooks (headless runs)

Writers never leave a half-written file under a final name: they write ``name.partial-<pid>``
beside it and ``os.replace`` it when complete, so a killed run leaves either the old file or none.
"""
from __future__ import annotations

import contextlib
import json
import os
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
    def qa_dir(self) -> Path:
        return self.root / "qa"

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    def redacted_video(self, video: str | os.PathLike) -> Path:
        return self.root / f"{Path(video).stem}_redacted.mp4"

    def create(self) -> "RunFolder":
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise VidmaskError(f"cannot create the run folder {self.root}: {exc.strerror}") from exc
        return self


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
