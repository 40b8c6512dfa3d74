"""The run folder's one state file (``run.json``) and its lock: the only writer of either.

Every driver of a run (notebooks 01-04 stepped by hand, ``vidmask-nb run``, the Python API, a Ray
task) records itself here, so a folder's state says the same whichever way it was driven. The state
is a typed record (``record.RunRecord``: the run's key, video and options fixed at its start, a
``StageRecord`` per stage with the sha256 of each output, what the completion recorded), written as
``run.json`` with ``"signature"``: the HMAC-SHA256 of the rest with ``run.key``.

- A run folder is a folder whose ``run.json`` is signed with the folder's own key (``run.key``: random
  bytes only the kit writes, made with the first ``run.json``): proof, not field names. Another tool's
  ``run.json``, one edited by hand, or a copy from another folder is not the kit's: ``load`` refuses it in
  one line, ``check_run_folder`` refuses its folder, ``retire_stale`` touches nothing in it. ``load``
  also checks each field's type (one line, never a traceback further on).
- ``check_run_folder`` refuses a non-empty folder that is not a run folder, an empty path, an input
  that is one of the files the run writes there (``WORKING_FILES``: never rewritten), and an input
  folder that holds the run folder.
- ``RunLock``: one run per folder at a time (``run.lock``: the holder's pid and its start time). A live
  holder refuses a second run with one line; the lock of a dead process (or of a pid reused since) is
  taken over atomically (under ``flock``), and said; a ``run.lock`` that is a folder or a FIFO is one
  line, never a hang. Processes a run starts (its notebook kernels) inherit its token
  (``VIDMASK_RUN_LOCK``) and pass, as does a process that holds or joined it. A notebook kernel
  stepped by hand takes the lock for itself and lets other notebook kernels of the folder share it.
- ``stage_done`` and ``complete`` record a file this process wrote and sealed (``folder.seal_output``:
  the render's output) by the digest of those very bytes, after proving the file is still that one.
- ``retire_stale`` moves the outputs of an earlier run with other inputs off their final names:
  only files the kit writes (``KIT_FILES`` and the recorded output), never anything else.

Nothing here knows a stage's content: stages hand in their names, outputs and records.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import time
import uuid
from pathlib import Path
from typing import Callable, Iterable, Iterator

from vidmask_nb.errors import VidmaskError
from vidmask_nb.runfolder.folder import (RunFolder, _pid_alive, partial_path, sealed_sha256, sha256_file,
                                         write_json)
from vidmask_nb.runfolder.record import RunRecord, StageRecord

RUN_FILE = "run.json"
LOCK_FILE = "run.lock"
LOCK_ENV = "VIDMASK_RUN_LOCK"
# Names the kit writes at a run folder's top level (the redacted video is recorded by name in "output").
KIT_FILES = ("run.json", "run.key", "run.lock", "settings.json", "manifest.json", "prompts.json", "masks", "masks.json",
             "masks.json.idx", "floor.json", "masks_png", "sensitive", "stale")
KEY_FILE = "run.key"  # the folder's own random key: run.json is signed with it (HMAC), so it is proof, not a guess
SIGNATURE = "signature"
# The files a run writes at the folder's top level: an input with one of these names there would be rewritten.
WORKING_FILES = ("run.json", "settings.json", "manifest.json", "prompts.json", "masks.json", "masks.json.idx",
                 "floor.json")


def run_key(fingerprint: str, options: dict, prompts_digest: str = "") -> str:
    """The run's key: the video's fingerprint, its options and the prompts file it was given."""
    blob = json.dumps({"video": fingerprint, "options": options, "prompts": prompts_digest}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def _read(path: Path) -> dict | None:
    """A JSON object from a plain file (never blocking on a FIFO or reading a device), else None."""
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(os.dup(fd), "rb") as f:
            data = json.loads(f.read().decode("utf-8"))
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)
    return data if isinstance(data, dict) else None


def _folder_key(root: Path, create: bool = False) -> bytes | None:
    """The run folder's key (``run.key``, random bytes only the kit writes), made when ``create`` and missing."""
    import stat

    path = root / KEY_FILE
    if create:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as f:
                f.write(os.urandom(32).hex())
                f.flush()
                os.fsync(f.fileno())
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        key = os.read(fd, 256).strip()
    finally:
        os.close(fd)
    return key if len(key) == 64 else None


def _signature(key: bytes, data: dict) -> str:
    import hmac

    blob = json.dumps({k: v for k, v in data.items() if k != SIGNATURE}, sort_keys=True, separators=(",", ":"))
    return hmac.new(key, blob.encode(), hashlib.sha256).hexdigest()


def _signed(root: Path, data: dict | None) -> bool:
    """Is ``data`` (a ``run.json``) signed with ``root``'s own key: written by the kit, unchanged since?"""
    import hmac

    if data is None or not isinstance(data.get(SIGNATURE), str):
        return False
    key = _folder_key(root)
    return key is not None and hmac.compare_digest(data[SIGNATURE], _signature(key, data))


def is_run_folder(root: str | os.PathLike) -> bool:
    """True when ``root`` holds a ``run.json`` the kit wrote, by proof: signed with the folder's own key
    (``run.key``, which only the kit writes), never by its field names. Another tool's ``run.json``, one
    edited by hand, or one from a kit before the signature are not the kit's."""
    return _signed(Path(root), _read(Path(root) / RUN_FILE))


def check_run_folder(root: str | os.PathLike | None, what: str = "--out", inputs: Iterable = ()) -> Path:
    """``root`` as an absolute path, refusing an empty path and a non-empty folder that is not a run folder
    (by proof: ``is_run_folder``).

    ``inputs`` (the run's video or prompts file) may sit in the folder, but never as one of the files the run
    writes there (``WORKING_FILES``, the redacted video: an input is never rewritten), and an input folder
    never holds the run folder. ``what`` names the path for the caller (``--out`` on the CLI, ``workdir`` in
    a notebook).
    """
    if root is None or not str(root).strip():
        raise VidmaskError(f"{what} is empty: give the run folder (a new or empty folder, or an earlier run's)")
    root = Path(root).expanduser().resolve()
    for p in inputs:  # an input the run would write over: refused, never rewritten
        p = Path(p).expanduser().resolve() if p else None
        if p is not None and p.is_dir() and (p == root or p in root.parents):
            raise VidmaskError(f"{what} {root} is (or is inside) the input folder {p}: the run would write among "
                               f"its files; give a run folder outside it")
        if p is not None and p.parent == root and (p.name in WORKING_FILES or p.name.endswith("_redacted.mp4")):
            raise VidmaskError(f"{p} is the run folder's own {p.name}, which the run writes: an input is never "
                               f"rewritten; copy it outside the folder (e.g. cp {p} {root.parent / ('my-' + p.name)}) "
                               "and give that")
    if root.is_dir() and not is_run_folder(root):
        if (root / RUN_FILE).exists() or (root / RUN_FILE).is_symlink():
            raise VidmaskError(f"{what} {root} holds a {RUN_FILE} this kit did not sign (another tool's, one "
                               "edited by hand, or an older kit's): nothing in it is touched; give a new or "
                               "empty folder")
        strangers = _strangers(root, {Path(p).resolve() for p in inputs if p})
        if strangers:
            shown = ", ".join(strangers[:3]) + (f" and {len(strangers) - 3} more" if len(strangers) > 3 else "")
            raise VidmaskError(f"{what} {root} holds files that are not a run's ({shown}) and no {RUN_FILE}: "
                               "give a new or empty folder, or an earlier run's folder")
    return root


def _strangers(root: Path, keep: set[Path], most: int = 4) -> list[str]:
    """Files under ``root`` the kit did not write (up to ``most``): not the run's inputs, not a temporary
    ``.name.partial-PID`` file, not ``sensitive/README.txt`` or a kernel's log in ``sensitive/reports/``.
    Empty folders are not counted."""
    from vidmask_nb.runfolder.folder import _PARTIAL_RE, SENSITIVE_README

    found = []
    for dirpath, _dirs, files in os.walk(root):
        for name in sorted(files):
            path = Path(dirpath) / name
            resolved = path.resolve()
            if any(resolved == k or k in resolved.parents for k in keep) or _PARTIAL_RE.match(name):
                continue
            if path.parent == root / "sensitive" / "reports" and name.endswith(".kernel.log"):
                continue  # a kernel's log beside the report papermill is writing (pipeline.execute_notebook)
            if path == root / "sensitive" / "README.txt" and path.is_file() \
                    and path.read_text(errors="replace") == SENSITIVE_README:
                continue
            if path == root / KEY_FILE:
                continue  # the kit's key, made just before its first run.json
            found.append(str(path.relative_to(root)))
            if len(found) >= most:
                return found
    return found


class RunState:
    """``run.json`` of one run folder: its typed ``record`` (``record.RunRecord``), read with ``load``,
    changed only through the methods here (each an atomic, signed write)."""

    def __init__(self, root: str | os.PathLike, record: RunRecord | None = None):
        self.root = Path(root)
        self.record = record if record is not None else RunRecord()

    @property
    def path(self) -> Path:
        return self.root / RUN_FILE

    @classmethod
    def load(cls, root: str | os.PathLike) -> "RunState | None":
        """The folder's state, or None when it has no ``run.json``. Raises ``VidmaskError`` (one line) when
        its ``run.json`` is not one the kit signed (another tool's, edited by hand) or a field is not one the
        kit writes (``RunRecord.from_json``): nothing is read from, or written over, a record the kit cannot
        vouch for."""
        root = Path(root)
        path = root / RUN_FILE
        data = _read(path)
        if data is None:
            if path.exists() or path.is_symlink():
                raise VidmaskError(f"{path} is not a run's state (not a JSON object in a plain file): this kit "
                                   "did not write it; use a new run folder")
            return None
        if not _signed(root, data):
            raise VidmaskError(f"{path} is not signed by this kit (another tool's, changed by hand, or written by "
                               "another version of the kit): its records cannot be trusted; run again into a new "
                               "folder")
        data.pop(SIGNATURE, None)
        return cls(root, RunRecord.from_json(data, str(path)))

    @classmethod
    def open(cls, root: str | os.PathLike) -> "RunState":
        return cls.load(root) or cls(root)

    @property
    def status(self) -> str:
        return self.record.status

    def update(self, **fields) -> "RunState":
        """Set fields of the record (checked as ``load`` checks them) and save."""
        data = {**self.record.to_json(), **fields}
        self.record = RunRecord.from_json(data, str(self.path))
        return self.save()

    def save(self) -> "RunState":
        """Write ``run.json`` signed with the folder's key (made on the first save)."""
        RunFolder(self.root).create()
        key = _folder_key(self.root, create=True)
        if key is None:
            raise VidmaskError(f"{self.root / KEY_FILE} is not the kit's key (not a plain file of 64 hex "
                               "digits): remove it, or use a new run folder")
        data = self.record.to_json()
        data[SIGNATURE] = _signature(key, data)
        write_json(self.path, data)
        return self

    # -- what the kit wrote ------------------------------------------------------------------------

    def note_files(self, *paths: str | os.PathLike) -> None:
        files = set(self.record.files)
        for p in paths:
            p = Path(p)
            with contextlib.suppress(ValueError):
                files.add(str(p.resolve().relative_to(self.root.resolve())))
        self.record.files = sorted(files)

    # -- the run's start ------------------------------------------------------------------------

    def start(self, video: str | os.PathLike, fingerprint: str, options: dict, key: str,
              prompts: str | os.PathLike | None = None, inputs: Iterable = (), say: Callable[[str], None] = print,
              **fields) -> bool:
        """Begin a run with this video and these options: the settings every later stage reads.

        Same key as the folder's last run: its records are kept (a rerun resumes; returns False). Other
        inputs: the earlier run's outputs leave their final names first (``retire_stale``) and the
        record starts afresh (returns True). ``inputs`` are never moved, and the prompts drawn in the
        folder (no ``prompts`` file given) stay when only the options changed.
        """
        r = self.record
        same = r.key == key and r.video == str(video)
        if not same:
            for line in self.retire_stale(keep=(video, *(p for p in (prompts, *inputs) if p)),
                                          keep_prompts=prompts is None and r.video == str(video)):
                say(f"inputs changed since the last run: {line}")
            self.record = RunRecord(created=_now())
        # only a completion writes inputs, output_sha256 and audit
        self.update(key=key, status="running", video=str(video), video_fingerprint=fingerprint, options=dict(options),
                    prompts=str(prompts) if prompts else None, inputs=None, output_sha256=None, audit=None, **fields)
        self.note_files(self.path)
        self.save()
        return not same

    def retire_stale(self, keep: Iterable = (), keep_prompts: bool = False) -> list[str]:
        """Move the earlier run's outputs off their final names; return one line per thing moved or removed.

        Only the kit's own files (``KIT_FILES`` and the recorded output) in a recognised run folder are
        touched: the redacted video, ``prompts.json`` (unless ``keep_prompts``: the same video's drawn
        prompts) and ``run.json`` go to ``stale/``, ``masks.json`` to ``masks/previous-masks.json`` (where
        a correction starts from it), ``floor.json`` is removed, the QA files and reports (source pixels)
        are removed. ``keep`` (the new run's inputs) are never moved.
        """
        run = RunFolder(self.root)
        if not is_run_folder(self.root):
            return []
        keep = {Path(p).resolve() for p in keep if p}
        said = []
        if run.masks_json.is_file() and run.masks_json.resolve() not in keep:
            run.masks_dir.mkdir(parents=True, exist_ok=True)
            os.replace(run.masks_json, run.previous_masks_json)
            idx = run.root / "masks.json.idx"
            if idx.is_file():
                os.replace(idx, run.masks_dir / "previous-masks.json.idx")
            said.append(f"moved masks.json to {run.previous_masks_json.relative_to(run.root)} (an incremental "
                        "correction starts from it)")
        outputs = {run.run_json, run.root / "masks_png", run.root / "floor.json", run.root / "settings.json"}
        if not keep_prompts:
            outputs.add(run.prompts_json)
        if self.record.output:
            outputs.add(Path(self.record.output))
        if self.record.video:
            outputs.add(run.redacted_video(self.record.video))
        outputs = sorted(p for p in outputs if p.exists() and p.parent.resolve() == self.root.resolve()
                         and p.resolve() not in keep)
        sensitive = [p for p in (run.qa_dir, run.reports_dir) if p.exists()]
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

    # -- stages -------------------------------------------------------------------------------

    def stage(self, name: str) -> StageRecord:
        """``name``'s record, stored (a new one when the stage never ran): change its fields, then ``save``."""
        return self.record.stages.setdefault(name, StageRecord())

    def stage_running(self, name: str, options: dict | None = None) -> None:
        self.record.stages[name] = StageRecord(status="running", started=_now(),
                                               options=dict(options) if options is not None else None)
        if self.status in ("complete", "failed", "interrupted", "new"):
            self.record.status = "running"
        self.record.inputs = self.record.output_sha256 = None
        self.save()

    def stage_done(self, name: str, outputs: Iterable = (), **fields) -> None:
        """Mark ``name`` done with the sha256 of each output (missing files are not recorded as outputs)
        and ``fields`` of its ``StageRecord``."""
        rec = self.stage(name)
        files = [Path(p) for p in outputs if p is not None and Path(p).is_file()]
        self.record.stages[name] = StageRecord.from_json(
            {**rec.to_json(), "status": "done", "finished": _now(), "error": None, **fields,
             "outputs": {_rel(p, self.root): sealed_sha256(p) for p in files}},  # a sealed file: its very bytes
            f"{self.path}: stage {name!r}")
        self.note_files(*files)
        self.save()

    def stage_failed(self, name: str, error: str, status: str = "failed") -> None:
        rec = self.stage(name)
        rec.status, rec.finished, rec.error = status, _now(), error
        self.record.status = status
        self.save()

    def running_stages(self) -> list[str]:
        return [n for n, rec in self.record.stages.items() if rec.status == "running"]

    def has_output(self, name: str) -> bool:
        return any(name in s.outputs for s in self.record.stages.values())

    def complete(self, output: str | os.PathLike, inputs: dict, output_sha256: str | None = None, **fields) -> None:
        """Mark the run complete: its output with its sha256, the digests of what it was made from.

        When this process rendered ``output`` (``render`` seals it), the sha256 recorded is that of the bytes
        it wrote, after proving the file at the path is still that very file (``folder.Seal``): never of a file
        another process put there since (then ``VidmaskError``). ``output_sha256``, when given, is the digest
        the audit read: a file other than the audited one is refused too."""
        output = Path(output)
        digest = sealed_sha256(output)
        if output_sha256 is not None and output_sha256 != digest:
            raise VidmaskError(f"{output} is not the file its audit read; run 04 again")
        self.note_files(output)
        self.update(status="complete", output=str(output), output_sha256=digest, inputs=dict(inputs),
                    completed=_now(), **fields)


def input_digests(root: str | os.PathLike) -> dict:
    """sha256 of the run folder's own inputs to the render (prompts, floor, masks), those present."""
    root = Path(root)
    return {n: sha256_file(root / n) for n in ("prompts.json", "floor.json", "masks.json") if (root / n).is_file()}


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path.resolve())


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


# -- the lock ----------------------------------------------------------------------------------

# Tokens of the locks this process holds or joined (a notebook kernel sharing another kernel's lock):
# anything this process then does in the folder (a render into it) is part of the same run.
_JOINED: set[str] = set()


def process_start(pid: int) -> str | None:
    """When process ``pid`` started, as the kernel says (boot id and clock ticks since boot), or None where
    there is no /proc: with the pid it names one process, so a pid reused by a later process is not taken
    for the lock's holder."""
    try:
        with open(f"/proc/{int(pid)}/stat", "rb") as f:
            stat = f.read().decode("ascii", "replace")
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
            boot = f.read().strip()
    except (OSError, ValueError):
        return None
    # field 22 (starttime) counts after the command name, which may hold spaces and brackets
    fields = stat.rpartition(")")[2].split()
    return f"{boot}:{fields[19]}" if len(fields) > 19 else None


def _holder_alive(owner: dict) -> bool:
    """Is the process a lock names still running? Another host's holder is taken as alive (nothing here
    can show otherwise); a pid that is not a whole number shows no holder; a live pid whose start time
    differs from the one recorded is a later process that reused the number."""
    pid = owner.get("pid")
    if owner.get("host") != socket.gethostname():
        return True
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    if not _pid_alive(pid):
        return False
    started = owner.get("pid_start")
    return started is None or process_start(pid) in (None, started)


def _open_lock(path: Path) -> int | None:
    """A read-only descriptor of the lock file (never following a link, never blocking on a FIFO), or
    None when there is none. Raises ``VidmaskError`` (one line) when ``run.lock`` is not a plain file:
    a folder, a FIFO or a device is nothing the kit wrote, and is left for the person to remove."""
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        fd = None
    except OSError as exc:
        raise VidmaskError(f"cannot read the lock {path}: {exc.strerror or exc}; remove it if no run is "
                           "writing into the folder") from None
    if fd is not None:
        mode = os.fstat(fd).st_mode
        if stat.S_ISREG(mode):
            return fd
        os.close(fd)
    what = "a folder" if path.is_dir() else "not a plain file (a FIFO, a device or a link)"
    raise VidmaskError(f"the lock {path} is {what}, not the kit's lock: remove it if no run is writing into "
                       f"{path.parent}, then run again")


def _read_lock(fd: int) -> dict | None:
    """The lock's record, or None when it is not one (garbage, a pid that is not a number...)."""
    try:
        data = json.loads(os.pread(fd, 1 << 16, 0).decode("utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class RunLock:
    """One run per folder at a time: ``run.lock`` holds the owner's pid (and its start time), host and token.

    ``acquire(kind)``: ``"run"`` (a headless run: exclusive) or ``"notebook"`` (a kernel stepped by
    hand: shares the lock with other notebook kernels of the folder, never with a headless run).
    A process started by the owner (``VIDMASK_RUN_LOCK`` = the owner's token) passes, and so does a
    process that already holds or joined it. The lock of a dead process (or one whose pid a later
    process reuses, or that names no process at all) is taken over, and said. Raises ``VidmaskError``
    (one line) while a live owner holds it, and when ``run.lock`` is not a plain file.

    Taking the lock is atomic: a new lock is linked into place whole (``os.link`` fails when another
    process made it first), and a takeover removes the stale lock only while holding ``flock`` on that
    very file and after checking the name still points at it, so of several processes taking over
    the same stale lock exactly one removes it, and every other one then meets the new holder.
    """

    def __init__(self, root: str | os.PathLike, say: Callable[[str], None] = print):
        self.root = Path(root)
        self.path = self.root / LOCK_FILE
        self.say = say
        self.token: str | None = None
        self.held = False

    def holder(self) -> dict | None:
        fd = _open_lock(self.path)
        if fd is None:
            return None
        try:
            return _read_lock(fd)
        finally:
            os.close(fd)

    def acquire(self, kind: str = "run") -> "RunLock":
        for _ in range(20):
            if self._create(kind):
                return self
            fd = _open_lock(self.path)
            if fd is None:
                continue  # released this instant: try to make it again
            try:
                if self._judge(fd, kind):
                    return self
            finally:
                os.close(fd)  # also lets the flock go
        raise VidmaskError(f"could not take the lock {self.path}: other processes keep taking it; try again")

    def _create(self, kind: str) -> bool:
        """Link a complete new lock into place; False when one is there already."""
        token = uuid.uuid4().hex
        try:
            self.root.mkdir(parents=True, exist_ok=True)  # nothing else: a lock adds no file but itself
        except OSError as exc:
            raise VidmaskError(f"cannot create the run folder {self.root}: {exc.strerror}") from exc
        tmp = partial_path(self.path)
        tmp.write_text(json.dumps({"pid": os.getpid(), "pid_start": process_start(os.getpid()),
                                   "host": socket.gethostname(), "token": token, "kind": kind,
                                   "started": _now()}), encoding="utf-8")
        try:
            os.link(tmp, self.path)  # atomic: fails when another process made it first
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)
        self.token, self.held = token, True
        _JOINED.add(token)
        return True

    def _judge(self, fd: int, kind: str) -> bool:
        """Meet the lock open at ``fd``: True when this process may go on under it; raise while a live
        owner refuses; remove it when stale (False: try to make a new one)."""
        import fcntl

        owner = _read_lock(fd)
        if owner is not None:
            token = owner.get("token")
            if isinstance(token, str) and (token == os.environ.get(LOCK_ENV) or token in _JOINED):
                self.token = token
                return True  # our own run (its kernels), or this process again
            alive = _holder_alive(owner)
            if alive and kind == "notebook" and owner.get("kind") == "notebook":
                self.token = token if isinstance(token, str) else None
                if self.token:
                    _JOINED.add(self.token)
                return True  # another notebook of the same folder: the same person's run
            if alive:
                who = "a notebook kernel" if owner.get("kind") == "notebook" else "process"
                raise VidmaskError(
                    f"another run is writing into {self.root} ({who} {owner.get('pid')} on {owner.get('host')}, "
                    f"since {owner.get('started')}); wait for it to end (or shut that kernel down), "
                    "or use another run folder")
        fcntl.flock(fd, fcntl.LOCK_EX)  # one taker at a time; released when fd is closed
        try:
            now = os.stat(self.path, follow_symlinks=False)
        except FileNotFoundError:
            return False  # another taker removed it first
        mine = os.fstat(fd)
        if (now.st_dev, now.st_ino) != (mine.st_dev, mine.st_ino):
            return False  # another taker replaced it first: meet the new one
        os.unlink(self.path)
        if owner is None:
            self.say(f"removed the unreadable lock {self.path} (it names no process)")
        else:
            self.say(f"took over the lock of process {owner.get('pid')} (a {owner.get('kind', 'run')} started "
                     f"{owner.get('started')}), which is gone")
        return False

    def release(self) -> None:
        if self.held:
            owner = self.holder_or_none()
            if owner is not None and owner.get("token") == self.token:
                self.path.unlink(missing_ok=True)
            _JOINED.discard(self.token)
            self.held = False

    def holder_or_none(self) -> dict | None:
        with contextlib.suppress(VidmaskError):
            return self.holder()
        return None

    @contextlib.contextmanager
    def held_for_children(self) -> Iterator[None]:
        """While held, processes started from here (notebook kernels) carry the token and pass the lock."""
        old = os.environ.get(LOCK_ENV)
        os.environ[LOCK_ENV] = self.token or ""
        try:
            yield
        finally:
            if old is None:
                os.environ.pop(LOCK_ENV, None)
            else:
                os.environ[LOCK_ENV] = old

    def __enter__(self) -> "RunLock":
        return self.acquire() if not self.held else self

    def __exit__(self, *exc) -> None:
        self.release()
