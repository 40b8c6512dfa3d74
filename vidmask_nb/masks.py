"""Masks as they cross from tracking (03) to rendering (04): COCO RLE at source resolution.

``masks.json`` (written by ``propagate``, read by ``render``)::

    {"version": 1,
     "video": {"width": W, "height": H, "frame_count": N, "fps": "30000/1001", "fingerprint": "..."},
     "key": "<what produced these masks>",
     "objects": [{"id": 1, "label": "person", "color": [255, 64, 64]}],
     "frames": [{"frame": 0, "pts": 0,
                 "objects": [{"id": 1, "label": "person", "score": 0.93,
                              "rle": {"size": [H, W], "counts": "..."}}]}, ...]}

Every frame of the video has an entry, and every frame an entry for every object; an object that
is absent has an empty mask (and its score). ``MaskStore`` reads it and hands out boolean masks.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from pycocotools import mask as mask_utils

from vidmask_nb.errors import VidmaskError

MASKS_VERSION = 1


def encode_rle(mask: np.ndarray) -> dict:
    """A boolean HxW mask as COCO RLE with a JSON-ready (str) ``counts``."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")}


def decode_rle(rle: dict) -> np.ndarray:
    """COCO RLE (``counts`` as str or bytes) back to a boolean HxW mask."""
    counts = rle["counts"]
    if isinstance(counts, str):
        counts = counts.encode("ascii")
    return mask_utils.decode({"size": list(rle["size"]), "counts": counts}).astype(bool)


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


class MaskStore:
    """Read access to ``masks.json``: frame by frame, every object.

    Example::

        store = MaskStore.load(run.masks_json)
        for fm in store:                  # FrameMasks, in frame order
            masks = fm.masks()            # {obj_id: HxW bool}
    """

    def __init__(self, header: dict, frames: list[FrameMasks]):
        self.header = header
        self.frames = frames

    @property
    def objects(self) -> list[dict]:
        return self.header["objects"]

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the masks: the source video's size."""
        return self.header["video"]["width"], self.header["video"]["height"]

    def __len__(self) -> int:
        return len(self.frames)

    def __iter__(self) -> Iterator[FrameMasks]:
        return iter(self.frames)

    def __getitem__(self, index: int) -> FrameMasks:
        return self.frames[index]

    def check_video(self, info) -> None:
        """Raise if these masks were made for another video than ``info`` (a VideoInfo)."""
        v = self.header["video"]
        if v.get("fingerprint") and info.fingerprint and v["fingerprint"] != info.fingerprint:
            raise VidmaskError("masks.json was made for another video (fingerprint differs); "
                               "run the propagation (03) for this video again")
        if (v["width"], v["height"], v["frame_count"]) != (info.width, info.height, info.frame_count):
            raise VidmaskError(
                f"masks.json is for a {v['width']}x{v['height']} video of {v['frame_count']} frames, "
                f"this video is {info.width}x{info.height} with {info.frame_count}; run 03 again")

    @classmethod
    def load(cls, path: str | os.PathLike) -> "MaskStore":
        path = Path(path)
        if not path.is_file():
            raise VidmaskError(f"no masks at {path}: run the propagation (notebook 03 or "
                               "`vidmask-nb run`) first")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise VidmaskError(f"{path} is not valid JSON ({exc}); run the propagation again") from exc
        if data.get("version") != MASKS_VERSION:
            raise VidmaskError(f"{path} has masks version {data.get('version')}, this kit reads {MASKS_VERSION}")
        frames = [FrameMasks.from_json(f) for f in data.pop("frames")]
        return cls(data, frames)

    @classmethod
    def from_frames(cls, video: dict, objects: list[dict], frames: list[FrameMasks], key: str = "") -> "MaskStore":
        """Build a store in memory (tests, injected masks)."""
        return cls({"version": MASKS_VERSION, "video": video, "key": key, "objects": objects}, frames)

    def save(self, path: str | os.PathLike) -> Path:
        from vidmask_nb.runfolder import atomic_output

        path = Path(path)
        with atomic_output(path) as tmp:
            write_masks_json(tmp, self.header["video"], self.objects, iter(self.frames), key=self.header.get("key", ""))
        return path


def write_masks_json(path: str | os.PathLike, video: dict, objects: list[dict],
                     frames: Iterator[FrameMasks], key: str = "") -> None:
    """Stream ``masks.json`` frame by frame (callers wrap it in ``atomic_output``)."""
    header = {"version": MASKS_VERSION, "video": video, "key": key, "objects": objects}
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(header)[:-1] + ', "frames": [\n')
        for i, fm in enumerate(frames):
            f.write(("," if i else "") + json.dumps(fm.to_json()) + "\n")
        f.write("]}\n")
        f.flush()
        os.fsync(f.fileno())
