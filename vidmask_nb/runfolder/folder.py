"""One folder per video carries everything between the stages, and every file lands atomically.

Layout (``RunFolder(root)``)::

    manifest.json          01: probe and chunk plan
    prompts.json           02: objects and prompts
    masks/                 03: per-chunk masks and tracker checkpoints
    masks.json             03: every frame and object
    <stem>_redacted.mp4    04: the redacted video
    run.json               the run's state (``state.RunState``): key, video, options, stages, digests, audit
    run.key                the folder's own random key: run.json is signed with it (the folder is the kit's)
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
import hashlib
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


def cache_dir() -> Path:
    """The kit's cache for what it makes once from installed models (``VIDMASK_CACHE``, else
    ``~/.cache/vidmask-nb``): never anything of a video."""
    return Path(os.environ.get("VIDMASK_CACHE") or Path.home() / ".cache" / "vidmask-nb")


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


# -- digests, and the seal of a file this process wrote ----------------------------------------

def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _identity(st: os.stat_result) -> tuple:
    # ctime changes on every write and rename and cannot be set back by a process: with the inode it
    # names one unchanged file
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


@dataclass(frozen=True)
class Seal:
    """A file as this process wrote it: its sha256 and its identity (device, inode, size, times).

    ``check()`` proves the file at ``path`` is still that very file, unchanged (the same identity and
    digest): whatever read the path in between (an audit) read these bytes."""

    path: Path
    sha256: str
    identity: tuple

    def check(self) -> str:
        """The sealed sha256; raises ``VidmaskError`` (one line) when the file was replaced or changed since."""
        try:
            now = _identity(os.stat(self.path))
        except OSError:
            now = None
        if now != self.identity or sha256_file(self.path) != self.sha256:
            raise VidmaskError(f"{self.path} was replaced or changed after this process wrote it (another "
                               "process wrote there): what was audited is not what is there now; nothing is "
                               "recorded. Render again (one writer at a time)")
        return self.sha256


_SEALS: dict[Path, Seal] = {}


def seal_output(path: str | os.PathLike) -> Seal:
    """Seal a file this process has just written (``render`` seals its output): the digest of its bytes
    now and its identity, kept for this process so that ``sealed_sha256`` records exactly these bytes."""
    path = Path(path).resolve()
    before = _identity(os.stat(path))
    digest = sha256_file(path)
    if _identity(os.stat(path)) != before:
        raise VidmaskError(f"{path} changed while it was being sealed: another process writes there; "
                           "render again (one writer at a time)")
    seal = _SEALS[path] = Seal(path, digest, before)
    return seal


def sealed_sha256(path: str | os.PathLike) -> str:
    """The sha256 to record for ``path``: when this process sealed it, the sealed digest, after proving the
    file is still that one (else ``VidmaskError``); otherwise the digest of the bytes there now."""
    seal = _SEALS.get(Path(path).resolve())
    return seal.check() if seal is not None else sha256_file(path)
