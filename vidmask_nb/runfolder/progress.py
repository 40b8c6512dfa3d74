"""Progress inside a stage, relayed from a notebook's kernel to the console of ``vidmask-nb run``.

The stages report progress with ``tqdm`` (frames done, rate, ETA). Run headless, a stage's kernel draws its
bars into the executed notebook, so the console saw only the stage lines. ``relay`` (the console's side)
names a small file in ``VIDMASK_PROGRESS`` for the kernels it starts; in a kernel, importing ``runfolder``
with that set hooks ``tqdm`` (``install``) so that every bar also writes its state there (at most twice a
second, atomically); ``relay``'s thread draws the latest one on the console::

    with progress.relay(run.root, enabled=sys.stderr.isatty()):
        execute_notebook(...)          # the console shows "render clip.mp4: 120/300 frame, 41.2 frame/s, ETA 0:04"
"""
from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Iterator, TextIO

PROGRESS_ENV = "VIDMASK_PROGRESS"
PROGRESS_FILE = "progress.json"  # in sensitive/reports/ (a bar's description names the video file)
EVERY = 0.5  # seconds between two records of a bar, and between two looks of the console


def _write(path: Path, bar) -> None:
    fmt = bar.format_dict
    record = {"desc": str(fmt.get("prefix") or ""), "n": int(fmt.get("n") or 0), "total": fmt.get("total"),
              "unit": str(fmt.get("unit") or "it"), "elapsed": float(fmt.get("elapsed") or 0.0),
              "time": time.time(), "closed": bool(getattr(bar, "_vidmask_closed", False))}
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    with contextlib.suppress(OSError):
        tmp.write_text(json.dumps(record), encoding="utf-8")
        os.replace(tmp, path)


def install(path: str | os.PathLike) -> None:
    """Make every ``tqdm`` bar of this process also write its state to ``path`` (once per process)."""
    from tqdm import std

    if getattr(std.tqdm, "_vidmask_progress", None):
        return
    path = Path(path)
    refresh, close = std.tqdm.refresh, std.tqdm.close

    def refreshed(self, *args, **kwargs):
        out = refresh(self, *args, **kwargs)
        now = time.monotonic()
        if now - getattr(self, "_vidmask_last", 0.0) >= EVERY:
            self._vidmask_last = now
            _write(path, self)
        return out

    def closed(self, *args, **kwargs):
        if not getattr(self, "_vidmask_closed", False) and hasattr(self, "format_dict") \
                and not getattr(self, "disable", True):
            self._vidmask_closed = True
            _write(path, self)
        return close(self, *args, **kwargs)

    std.tqdm.refresh, std.tqdm.close = refreshed, closed
    std.tqdm._vidmask_progress = str(path)


def install_from_env() -> None:
    """``install`` when this process was started by ``relay`` (a kernel of ``vidmask-nb run``)."""
    path = os.environ.get(PROGRESS_ENV)
    if path:
        with contextlib.suppress(Exception):  # progress is never a reason to fail a stage
            install(path)


def line(record: dict) -> str:
    """``render clip.mp4: 120/300 frame, 41.2 frame/s, ETA 0:04`` for one bar's record."""
    n, total, unit, elapsed = record["n"], record.get("total"), record["unit"], record["elapsed"]
    rate = n / elapsed if elapsed > 0 else 0.0
    text = f"{record['desc'] or 'working'}: {n}" + (f"/{total}" if total else "") + f" {unit}"
    if rate > 0:
        text += f", {rate:.1f} {unit}/s"
        if total and n < total:
            left = int((total - n) / rate)
            text += f", ETA {left // 3600}:{left // 60 % 60:02d}:{left % 60:02d}" if left >= 3600 \
                else f", ETA {left // 60}:{left % 60:02d}"
    return text + (", done" if record.get("closed") else "")


@contextlib.contextmanager
def relay(root: str | os.PathLike, enabled: bool = True, stream: TextIO | None = None) -> Iterator[None]:
    """While the block runs, processes started from it report their bars (``install_from_env``) and the
    latest is drawn on ``stream`` (stderr) in one line, rewritten in place. ``enabled=False`` (stderr not a
    terminal) does nothing: a log gets the stage lines only."""
    if not enabled:
        yield
        return
    stream = stream or sys.stderr
    path = Path(root) / "sensitive" / "reports" / PROGRESS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    stop = threading.Event()
    shown = {"width": 0}

    def draw() -> None:
        last = None
        while not stop.wait(EVERY):
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if record == last:
                continue
            last = record
            text = line(record)
            stream.write("\r" + text.ljust(shown["width"]))
            stream.flush()
            shown["width"] = len(text)

    old = os.environ.get(PROGRESS_ENV)
    os.environ[PROGRESS_ENV] = str(path)
    thread = threading.Thread(target=draw, name="vidmask-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        if shown["width"]:
            stream.write("\n")
            stream.flush()
        if old is None:
            os.environ.pop(PROGRESS_ENV, None)
        else:
            os.environ[PROGRESS_ENV] = old
        path.unlink(missing_ok=True)
