"""Frames through threads: ``prefetch`` reads ahead of its consumer, ``FrameSink`` writes behind it.

Decoding, covering and encoding each release the GIL for most of their work, so a stage in its own
thread overlaps the others: the render decodes, covers and encodes at once; the detector passes decode
while the network runs. Queues are bounded (a few frames), so memory stays flat whatever the length;
an error in a thread is raised in the consumer, and a ``stop`` event ends every thread of a pass.
"""
from __future__ import annotations

import queue
import threading
from typing import Callable, Iterable, Iterator, TypeVar

from vidmask_nb.errors import VidmaskError

T = TypeVar("T")
DEPTH = 4  # frames in flight between two stages: enough to overlap, small enough to stay flat


class _Failed:
    def __init__(self, exc: BaseException):
        self.exc = exc


_END = object()


def _put(q: queue.Queue, item, *stops: threading.Event) -> bool:
    """Put into a bounded queue unless one of ``stops`` is set first; True when it went in."""
    while not any(s.is_set() for s in stops):
        try:
            q.put(item, timeout=0.05)
            return True
        except queue.Full:
            continue
    return False


def prefetch(items: Iterable[T], depth: int, stop: threading.Event) -> Iterator[T]:
    """Iterate ``items`` in a thread, at most ``depth`` ahead of the consumer.

    An error in the thread is raised in the consumer; ``stop`` (or closing this generator) ends
    the thread, and closing joins it.
    """
    q: queue.Queue = queue.Queue(maxsize=depth)
    halt = threading.Event()  # this consumer is gone (``stop`` is the whole render's)

    def work() -> None:
        try:
            for item in items:
                if not _put(q, item, stop, halt):
                    return
            _put(q, _END, stop, halt)
        except BaseException as exc:  # handed to the consumer, raised there
            _put(q, _Failed(exc), stop, halt)

    thread = threading.Thread(target=work, name="vidmask-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            try:
                item = q.get(timeout=0.05)
            except queue.Empty:
                if not thread.is_alive() and q.empty():
                    raise VidmaskError("a frame stage stopped without a word") from None
                continue
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.exc
            yield item
    finally:
        halt.set()
        thread.join()


class FrameSink:
    """Feeds ``write(frame, pts)`` from a thread through a queue of ``depth`` frames (RGB or ``YuvFrame``).

    ``put`` raises the writer's error as soon as it is known; leaving the ``with`` block waits for
    the queue to drain (and raises a pending error). ``enabled=False`` writes in the caller's thread.
    """

    def __init__(self, write: Callable[[object, int], None], depth: int, stop: threading.Event,
                 enabled: bool = True):
        self._write, self._stop, self._enabled = write, stop, enabled
        self._q: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="vidmask-encode", daemon=True)

    def _work(self) -> None:
        while True:
            try:
                item = self._q.get(timeout=0.05)
            except queue.Empty:
                if self._stop.is_set():
                    return
                continue
            if item is _END or self._stop.is_set():
                return
            try:
                self._write(*item)
            except BaseException as exc:
                self._error = exc
                self._stop.set()
                return

    def put(self, frame, pts: int) -> None:
        if not self._enabled:
            self._write(frame, pts)
            return
        if self._error is not None or not _put(self._q, (frame, pts), self._stop):
            self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error
        raise VidmaskError("the pass was stopped")

    def __enter__(self) -> "FrameSink":
        if self._enabled:
            self._thread.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if not self._enabled:
            return
        if exc_type is None:
            _put(self._q, _END, self._stop)
        else:
            self._stop.set()
        self._thread.join()
        if self._error is not None and self._error is not exc:
            raise self._error  # the encoder's error is the cause when the other stages stopped for it
