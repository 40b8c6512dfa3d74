"""Masks as they cross from tracking (03) to rendering (04): COCO RLE at source resolution.

``masks.json`` (written by ``propagate``, read by ``render``, QA and the timeline)::

    {"version": 1,
     "video": {"width": W, "height": H, "frame_count": N, "fps": "30000/1001", "fingerprint": "..."},
     "key": "<what produced these masks>", "weights": "trained",
     "objects": [{"id": 1, "label": "person", "color": [255, 64, 64]}], "frames": [
    {"frame": 0, "pts": 0, "objects": [{"id": 1, "label": "person", "score": 0.93,
                                        "rle": {"size": [H, W], "counts": "..."}}]}
    ,{"frame": 1, ...}
    ]}

``weights`` is ``"trained"`` or ``"random"`` (an untrained model's masks: not a real redaction);
files written before it was a field say so in their key (``RANDOM-WEIGHTS``). The header reads
back typed: ``store.video`` (a ``prompts.VideoRef``), ``store.object_infos`` (``prompts.TrackedObject``),
``store.weights`` / ``store.is_random``; ``store.objects`` stays the header's raw object entries.

Every frame of the video has an entry, and every frame an entry for every object; an object that
is absent has an empty mask (and its score). The layout is part of the format: the header (every
key but ``frames``) on the first line, then ONE LINE PER FRAME (the frame's JSON object, led by a
comma after the first), then ``]}``. It is still one plain JSON document (``json.load`` reads it).

On disk beside it, ``masks.json.idx`` (an ``.npz``) makes it a random-access store:

- ``starts``/``ends``: byte range of each frame's JSON object in ``masks.json``;
- ``frames``/``pts``: each line's frame number and pts (checked again on every read);
- ``areas`` (int64, frames x objects) and ``scores`` (float32): every object's mask area in
  pixels and its score per frame, in header object order, so timelines and the review table
  never decode an RLE nor parse a frame line;
- ``meta``: the index version and the stamp of the ``masks.json`` it describes (size, mtime in
  ns, a SHA-1 of its header line and last 4 KiB).

``write_masks_json`` streams both: ``masks.json`` frame by frame, then the index, each landing
atomically (given the final path it writes ``masks.json`` under a temporary name itself; given
``atomic_output``'s temporary name it writes the index for the final name, which becomes valid
when the rename lands). ``MaskStore.load`` uses the index when its stamp matches, and otherwise
rebuilds it with one streaming scan (and saves it when the folder is writable): a stale index is
never used, and every frame read checks its frame number against the index.

Memory: a loaded store holds the header, the index arrays (32 + 12 x objects bytes per frame:
~7 MB for an hour at 30 fps with 3 objects) and one open file descriptor; a frame's masks are
read (``os.pread``: safe from any thread, no shared file position) only when asked for. Close it
with ``store.close()`` or ``with MaskStore.load(path) as store:`` (it also closes when collected).

Example::

    with MaskStore.load(run.masks_json) as store:
        fm = store[1200]                  # FrameMasks of frame 1200, read from disk
        areas, scores = store.areas()     # (frames x objects) arrays from the index
        for fm in store:                  # every frame in order, one at a time
            masks = fm.masks()            # {obj_id: HxW bool}
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import threading
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
from pycocotools import mask as mask_utils

from vidmask_nb.errors import VidmaskError
from vidmask_nb.prompts.records import TrackedObject, VideoRef

MASKS_VERSION = 1
INDEX_VERSION = 1
INDEX_SUFFIX = ".idx"
_TAIL_BYTES = 4096
_HEADER_END = re.compile(rb',?\s*"frames"\s*:\s*\[\s*$')


def encode_rle(mask: np.ndarray) -> dict:
    """A boolean HxW mask as COCO RLE with a JSON-ready (str) ``counts``."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")}


def decode_rle(rle: dict) -> np.ndarray:
    """COCO RLE (``counts`` as str or bytes) back to a boolean HxW mask (column-major, as pycocotools').

    Decoded with NumPy (``rle_counts``, then one ``np.repeat``): the same mask as
    ``pycocotools.mask.decode``, many times faster (the render decodes every mask).
    """
    counts = rle["counts"]
    if isinstance(counts, str):
        counts = counts.encode("ascii")
    h, w = (int(v) for v in rle["size"])
    runs = rle_counts(counts)
    if runs.sum() != h * w or (runs < 0).any():
        raise VidmaskError(f"a mask's RLE does not describe {w}x{h} pixels; masks.json is damaged")
    # Only the span from the first to the last set pixel is expanded; the rest stays zero (a
    # mask covers a few per cent of a frame, and the render decodes every mask of every frame).
    flat = np.zeros(h * w, np.uint8)
    last = runs.size - 1 if runs.size % 2 == 0 else runs.size - 2  # the last run of ones
    if last >= 1:
        lo = int(runs[0])
        flat[lo:lo + int(runs[1:last + 1].sum())] = np.repeat((np.arange(1, last + 1) % 2).astype(np.uint8),
                                                              runs[1:last + 1])
    return flat.reshape(w, h).T.view(bool)


def rle_counts(counts: bytes) -> np.ndarray:
    """The run lengths of a compressed COCO RLE string (pycocotools' ``rleFrString``, vectorised):
    5 bits a character, 0x20 continues a number, 0x10 on its last character makes it negative, and
    from the fourth on each number is a difference from the one two before."""
    c = np.frombuffer(counts, np.uint8).astype(np.int64) - 48
    if c.size == 0:
        return np.zeros(0, np.int64)
    ends = np.flatnonzero((c & 0x20) == 0)
    if ends.size == 0 or ends[-1] != c.size - 1:
        raise VidmaskError("a mask's RLE string is cut short; masks.json is damaged")
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts + 1
    x = np.add.reduceat((c & 0x1f) << (5 * (np.arange(c.size) - np.repeat(starts, lengths))), starts)
    negative = (c[ends] & 0x10) != 0
    x[negative] -= np.left_shift(1, 5 * lengths[negative])
    runs = x.copy()
    if x.size > 3:
        runs[3::2] = x[1] + np.cumsum(x[3::2])
    if x.size > 4:
        runs[4::2] = x[2] + np.cumsum(x[4::2])
    return runs


def rle_area(rle: dict) -> int:
    counts = rle["counts"]
    if isinstance(counts, str):
        counts = counts.encode("ascii")
    return int(mask_utils.area({"size": list(rle["size"]), "counts": counts}))


@dataclass(frozen=True)
class ObjectMask:
    """One object's mask on one frame."""

    obj_id: int
    label: str
    score: float
    rle: dict

    @property
    def area(self) -> int:
        return rle_area(self.rle)

    def mask(self) -> np.ndarray:
        return decode_rle(self.rle)

    def to_json(self) -> dict:
        return {"id": self.obj_id, "label": self.label, "score": round(float(self.score), 4), "rle": self.rle}

    @classmethod
    def from_json(cls, d: dict) -> "ObjectMask":
        return cls(int(d["id"]), str(d.get("label", "")), float(d.get("score", 0.0)), d["rle"])


@dataclass(frozen=True)
class FrameMasks:
    """All objects' masks on one frame."""

    frame: int
    pts: int
    objects: tuple[ObjectMask, ...]

    def to_json(self) -> dict:
        return {"frame": self.frame, "pts": self.pts, "objects": [o.to_json() for o in self.objects]}

    @classmethod
    def from_json(cls, d: dict) -> "FrameMasks":
        return cls(int(d["frame"]), int(d["pts"]), tuple(ObjectMask.from_json(o) for o in d["objects"]))

    def masks(self) -> dict[int, np.ndarray]:
        """{object id: boolean mask}."""
        return {o.obj_id: o.mask() for o in self.objects}


def index_path(path: str | os.PathLike) -> Path:
    """Where the random-access index of a ``masks.json`` lives: ``masks.json.idx`` beside it."""
    path = Path(path)
    return path.with_name(path.name + INDEX_SUFFIX)


@dataclass(frozen=True)
class MaskIndex:
    """Where each frame's line is in ``masks.json``, and each object's area and score per frame."""

    starts: np.ndarray  # int64 (N,): byte offset of frame k's JSON object
    ends: np.ndarray  # int64 (N,): byte offset just past it
    frames: np.ndarray  # int64 (N,): its "frame"
    pts: np.ndarray  # int64 (N,): its "pts"
    areas: np.ndarray  # int64 (N, K): pixels of each header object (0 if absent)
    scores: np.ndarray  # float32 (N, K): score of each header object (0 if absent)
    object_ids: tuple[int, ...]
    stamp: dict  # size, mtime_ns, digest of the masks.json it describes

    def __len__(self) -> int:
        return len(self.starts)

    def save(self, path: Path) -> None:
        """Write atomically (the index is a cache: a failure to write it is not an error for the caller)."""
        from vidmask_nb.runfolder.folder import atomic_output

        meta = json.dumps({"version": INDEX_VERSION, "stamp": self.stamp}).encode()
        with atomic_output(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, starts=self.starts, ends=self.ends, frames=self.frames, pts=self.pts,
                         areas=self.areas, scores=self.scores, object_ids=np.asarray(self.object_ids, np.int64),
                         meta=np.frombuffer(meta, np.uint8))
                f.flush()
                os.fsync(f.fileno())

    @classmethod
    def read(cls, path: Path) -> "MaskIndex | None":
        """The index at ``path``, or None if it is missing, unreadable or of another version."""
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(bytes(z["meta"]).decode())
                if meta.get("version") != INDEX_VERSION:
                    return None
                return cls(*(_frozen(z[k]) for k in ("starts", "ends", "frames", "pts", "areas", "scores")),
                           tuple(int(i) for i in z["object_ids"]), meta["stamp"])
        except Exception:  # missing, half-written by another tool, damaged: rebuild it
            return None


class _IndexBuilder:
    """Collects a ``MaskIndex`` frame by frame (while writing or scanning)."""

    def __init__(self, object_ids: list[int]):
        self.column = {obj_id: k for k, obj_id in enumerate(object_ids)}
        self.object_ids = tuple(object_ids)
        # flat typed arrays: an hour of frames costs a few MB while writing or scanning
        self.starts, self.ends, self.frames, self.pts = array("q"), array("q"), array("q"), array("q")
        self.areas, self.scores = array("q"), array("f")

    def add(self, start: int, end: int, frame: int, pts: int, objects: Iterable[tuple[int, int, float]]) -> None:
        areas = [0] * len(self.column)
        scores = [0.0] * len(self.column)
        for obj_id, area, score in objects:
            k = self.column.get(obj_id)
            if k is not None:
                areas[k], scores[k] = area, score
        self.starts.append(start)
        self.ends.append(end)
        self.frames.append(frame)
        self.pts.append(pts)
        self.areas.extend(areas)
        self.scores.extend(scores)

    def build(self, stamp: dict) -> MaskIndex:
        n, k = len(self.starts), len(self.column)
        return MaskIndex(_frozen(np.array(self.starts, np.int64)), _frozen(np.array(self.ends, np.int64)),
                         _frozen(np.array(self.frames, np.int64)), _frozen(np.array(self.pts, np.int64)),
                         _frozen(np.array(self.areas, np.int64).reshape(n, k)),
                         _frozen(np.array(self.scores, np.float32).reshape(n, k)), self.object_ids, stamp)


def _frozen(a: np.ndarray) -> np.ndarray:
    """Index arrays are shared with every caller of ``areas()``: read-only, so none can change them."""
    a.flags.writeable = False
    return a


_SEEK_LOCK = threading.Lock()


def _pread(fd: int, size: int, offset: int) -> bytes:
    """Read ``size`` bytes at ``offset`` without moving a shared file position (any thread)."""
    if hasattr(os, "pread"):
        return os.pread(fd, size, offset)
    with _SEEK_LOCK:  # Windows has no pread: seek and read under a lock
        os.lseek(fd, offset, os.SEEK_SET)
        return os.read(fd, size)


def _stamp(fd: int, header_line: bytes) -> dict:
    """What identifies one version of a masks.json: size, mtime and a digest of its head and tail."""
    st = os.fstat(fd)
    tail = _pread(fd, min(_TAIL_BYTES, st.st_size), max(0, st.st_size - _TAIL_BYTES))
    digest = hashlib.sha1(header_line + b"\0" + tail).hexdigest()
    return {"size": int(st.st_size), "mtime_ns": int(st.st_mtime_ns), "digest": digest}


def _parse_header(line: bytes, path: Path) -> dict:
    if not line.strip():
        raise VidmaskError(f"{path} is empty; run the propagation (03) again")
    m = _HEADER_END.search(line)
    if m is None:
        try:  # a complete single-line document: say what is wrong with it
            data = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            data = None
        if isinstance(data, dict) and data.get("version") not in (None, MASKS_VERSION):
            raise VidmaskError(f"{path} has masks version {data.get('version')}, this kit reads {MASKS_VERSION}")
        raise VidmaskError(f"{path} is not a vidmask-nb masks file (its first line must hold the header "
                           "and end with '\"frames\": ['; one frame per line follows): run the propagation again "
                           "or write it with vidmask_nb.track.masks.write_masks_json")
    try:
        header = json.loads(line[:m.start()] + b"}")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise VidmaskError(f"{path} has a header that is not valid JSON ({exc}); run the propagation again") from None
    if not isinstance(header, dict) or header.get("version") != MASKS_VERSION:
        version = header.get("version") if isinstance(header, dict) else None
        raise VidmaskError(f"{path} has masks version {version}, this kit reads {MASKS_VERSION}")
    for name in ("video", "objects"):
        if name not in header:
            raise VidmaskError(f"{path} has no {name!r} in its header; run the propagation again")
    return header


def _read_header(fd: int, path: Path) -> bytes:
    """The first line of the file (bounded: a header is a few KB, objects included)."""
    with io.FileIO(os.dup(fd), "rb") as raw, io.BufferedReader(raw) as f:
        f.seek(0)
        return f.readline(64 << 20)


def _frame_entries(obj: dict) -> Iterator[tuple[int, int, float]]:
    for o in obj["objects"]:
        yield int(o["id"]), rle_area(o["rle"]), float(o.get("score", 0.0))


def _scan(fd: int, path: Path, header_line: bytes, header: dict) -> MaskIndex:
    """Build the index with one streaming pass over the file (one line in memory at a time)."""
    builder = _IndexBuilder([int(o["id"]) for o in header["objects"]])
    pos = len(header_line)
    closed = False
    with io.FileIO(os.dup(fd), "rb") as raw, io.BufferedReader(raw, 1 << 20) as f:
        f.seek(pos)
        for number, line in enumerate(f, start=2):
            body = line.strip()
            if closed:
                if body:
                    raise VidmaskError(f"{path} has text after its closing ']}}' (line {number}); "
                                       "run the propagation again")
                pos += len(line)
                continue
            if body in (b"]}", b"] }"):
                closed = True
                pos += len(line)
                continue
            if not body:
                pos += len(line)
                continue
            lead = len(line) - len(line.lstrip(b", \t\r\n"))
            text = line[lead:].rstrip()
            try:
                obj = json.loads(text)
                entries = list(_frame_entries(obj))
                frame, pts = int(obj["frame"]), int(obj["pts"])
            except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as exc:
                if not line.endswith(b"\n"):
                    raise VidmaskError(f"{path} is truncated (it ends inside frame line {number}, after "
                                       f"{len(builder.starts)} complete frames); run the propagation again") from None
                raise VidmaskError(f"{path}: line {number} is not a frame's JSON ({type(exc).__name__}); "
                                   "run the propagation again") from None
            builder.add(pos + lead, pos + lead + len(text), frame, pts, entries)
            pos += len(line)
    if not closed:
        raise VidmaskError(f"{path} is truncated (no closing ']}}' after {len(builder.starts)} frames); "
                           "run the propagation again")
    return builder.build(_stamp(fd, header_line))


class MaskStore:
    """Read access to ``masks.json``: frame by frame or at random, every object, O(1) frames in memory.

    Example::

        store = MaskStore.load(run.masks_json)
        for fm in store:                  # FrameMasks, in frame order
            masks = fm.masks()            # {obj_id: HxW bool}
        store[10].masks()                 # one frame, read from disk
        store.close()
    """

    def __init__(self, header: dict, frames: list[FrameMasks] | None = None, *,
                 path: Path | None = None, fd: int | None = None, index: MaskIndex | None = None):
        self.header = header
        self.path = path
        self._frames = frames  # in-memory stores only (tests, injected masks)
        self._fd = fd
        self._index = index
        self._lock = threading.Lock()

    # -- what it holds ---------------------------------------------------------------------

    @property
    def objects(self) -> list[dict]:
        """The header's object entries as written (dicts); ``object_infos`` are the typed records."""
        return self.header["objects"]

    @property
    def object_infos(self) -> tuple[TrackedObject, ...]:
        """The tracked objects (id, label, colour), in header order (the columns of ``areas()``)."""
        return tuple(TrackedObject.from_json(o) for o in self.header["objects"])

    @property
    def video(self) -> VideoRef:
        """The video these masks were made for; ``store.video.check(info)`` is ``check_video``."""
        return VideoRef.from_json(self.header["video"])

    @property
    def weights(self) -> str:
        """``"trained"`` or ``"random"``: the model's weights (files from before the field: from the key)."""
        weights = self.header.get("weights")
        if weights in ("trained", "random"):
            return weights
        return "random" if "RANDOM-WEIGHTS" in str(self.header.get("key", "")) else "trained"

    @property
    def is_random(self) -> bool:
        """Masks of an untrained model (tests, demos): shapes, not a real redaction."""
        return self.weights == "random"

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the masks: the source video's size."""
        return self.header["video"]["width"], self.header["video"]["height"]

    @property
    def frames(self) -> "MaskStore":
        """The frames as a sequence (``len``, ``[i]``, iteration): the store itself, never a list
        (kept for code written when the store held a list)."""
        return self

    @property
    def in_memory(self) -> bool:
        return self._frames is not None

    def __len__(self) -> int:
        return len(self._frames) if self._frames is not None else len(self._index)

    def __iter__(self) -> Iterator[FrameMasks]:
        if self._frames is not None:
            return iter(self._frames)
        return (self[k] for k in range(len(self)))

    def __getitem__(self, index: int) -> FrameMasks:
        if self._frames is not None:
            return self._frames[index]
        n = len(self._index)
        if isinstance(index, slice):
            return [self[k] for k in range(*index.indices(n))]  # type: ignore[return-value]
        k = int(index)
        if k < 0:
            k += n
        if not 0 <= k < n:
            raise IndexError(f"frame {index} is outside the masks (0..{n - 1})")
        start, end = int(self._index.starts[k]), int(self._index.ends[k])
        data = _pread(self._handle(), end - start, start)
        try:
            fm = FrameMasks.from_json(json.loads(data))
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError):
            fm = None
        if fm is None or fm.frame != int(self._index.frames[k]):
            raise VidmaskError(f"{self.path} changed while it was being read (entry {k}); load it again")
        return fm

    def areas(self) -> tuple[np.ndarray, np.ndarray]:
        """(areas, scores): (frames x objects) arrays, columns in ``objects`` order, no RLE decoded.

        Areas are pixels (int64, 0 where absent), scores float32. From the index on disk; an
        in-memory store computes them.
        """
        if self._index is not None:
            return self._index.areas, self._index.scores
        builder = _IndexBuilder([int(o["id"]) for o in self.objects])
        for fm in self._frames:
            builder.add(0, 0, fm.frame, fm.pts, ((o.obj_id, o.area, o.score) for o in fm.objects))
        built = builder.build({})
        return built.areas, built.scores

    def check_video(self, info) -> None:
        """Raise if these masks were made for another video than ``info`` (a VideoInfo)."""
        self.video.check(info, "masks.json was", "run the propagation (03) for this video again")

    # -- the file ----------------------------------------------------------------------------

    def _handle(self) -> int:
        fd = self._fd
        if fd is None:
            raise VidmaskError(f"the masks store of {self.path} is closed; load it again")
        return fd

    def close(self) -> None:
        """Close the file (reading a frame afterwards is an error; the header and areas stay)."""
        with self._lock:
            fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __enter__(self) -> "MaskStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __reduce__(self):
        """Pickles (to another process: Ray, multiprocessing) as its path, reopened there."""
        if self._frames is not None:
            return (MaskStore, (self.header, self._frames))
        return (MaskStore.load, (self.path,))

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    @classmethod
    def load(cls, path: str | os.PathLike) -> "MaskStore":
        """Open ``masks.json`` for streaming and random access (its index is read, or rebuilt)."""
        path = Path(path)
        if not path.is_file():
            raise VidmaskError(f"no masks at {path}: run the propagation (notebook 03 or "
                               "`vidmask-nb run`) first")
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
        except OSError as exc:
            raise VidmaskError(f"cannot read {path}: {exc.strerror}") from None
        try:
            header_line = _read_header(fd, path)
            header = _parse_header(header_line, path)
            index = MaskIndex.read(index_path(path))
            ids = tuple(int(o["id"]) for o in header["objects"])
            if index is None or index.stamp != _stamp(fd, header_line) or index.object_ids != ids:
                index = _scan(fd, path, header_line, header)
                try:
                    index.save(index_path(path))
                except (OSError, VidmaskError):  # a read-only folder: keep the index in memory
                    pass
        except BaseException:
            os.close(fd)
            raise
        return cls(header, path=path, fd=fd, index=index)

    @classmethod
    def from_frames(cls, video: VideoRef | dict, objects: Iterable[TrackedObject | dict], frames: list[FrameMasks],
                    key: str = "", weights: str | None = None) -> "MaskStore":
        """Build a store in memory (tests, injected masks)."""
        return cls(_header(video, objects, key, weights), list(frames))

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``masks.json`` and its index atomically (streaming, frame by frame)."""
        path = Path(path)
        write_masks_json(path, self.header["video"], self.objects, iter(self), key=self.header.get("key", ""),
                         weights=self.header.get("weights"))
        return path


def _header(video: VideoRef | dict, objects: Iterable[TrackedObject | dict], key: str, weights: str | None) -> dict:
    """The header of a masks file; ``weights`` ("trained" | "random") is written when known."""
    if weights not in (None, "trained", "random"):
        raise ValueError(f"weights must be 'trained' or 'random', not {weights!r}")
    header = {"version": MASKS_VERSION, "video": video.to_json() if isinstance(video, VideoRef) else video,
              "key": key, "objects": [o.to_json() if isinstance(o, TrackedObject) else o for o in objects]}
    if weights is not None:
        header["weights"] = weights
    return header


def _final_name(path: Path) -> Path | None:
    """The final name when ``path`` is ``runfolder.atomic_output``'s temporary name for it."""
    m = re.fullmatch(r"\.(.+)\.partial-(\d+)(\.[^.]*)?", path.name)
    if m is None:
        return None
    final = path.with_name(m[1] + (m[3] or ""))
    return final if f".{final.stem}.partial-{m[2]}{final.suffix}" == path.name else None


def _write_stream(path: Path, header: dict, frames: Iterator[FrameMasks]) -> MaskIndex:
    """Stream masks.json to ``path``, one frame per line, and return the index of what was written."""
    header_line = (json.dumps(header)[:-1] + ', "frames": [\n').encode("utf-8")
    builder = _IndexBuilder([int(o["id"]) for o in header["objects"]])
    with open(path, "w+b") as f:  # readable too: the stamp reads the tail back
        f.write(header_line)
        pos = len(header_line)
        for i, fm in enumerate(frames):
            lead = b"," if i else b""
            body = json.dumps(fm.to_json()).encode("utf-8")
            f.write(lead + body + b"\n")
            builder.add(pos + len(lead), pos + len(lead) + len(body), fm.frame, fm.pts,
                        ((o.obj_id, o.area, o.score) for o in fm.objects))
            pos += len(lead) + len(body) + 1
        f.write(b"]}\n")
        f.flush()
        os.fsync(f.fileno())
        return builder.build(_stamp(f.fileno(), header_line))


def write_masks_json(path: str | os.PathLike, video: VideoRef | dict, objects: Iterable[TrackedObject | dict],
                     frames: Iterator[FrameMasks], key: str = "", weights: str | None = None) -> None:
    """Stream ``masks.json`` frame by frame, and its index ``masks.json.idx`` beside it.

    ``weights``: ``"trained"`` or ``"random"``, the model the masks came from (omitted: not known).

    Given the final path, it writes under a temporary name and renames when complete. Inside
    ``with atomic_output(final) as tmp: write_masks_json(tmp, ...)`` it writes ``tmp`` and the
    index of ``final``, which is valid once the rename lands (until then its stamp does not match).
    """
    from vidmask_nb.runfolder.folder import atomic_output

    path = Path(path)
    header = _header(video, objects, key, weights)
    final = _final_name(path)
    if final is not None:
        _write_stream(path, header, frames).save(index_path(final))
        return
    with atomic_output(path) as tmp:
        index = _write_stream(tmp, header, frames)
        index.save(index_path(path))
