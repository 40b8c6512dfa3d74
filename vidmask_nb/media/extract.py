"""Stage 01: probe a video, plan its chunks, and (optionally) extract JPEG folders for LabelMe.

``prepare(video, workdir)`` writes the run folder's ``manifest.json`` (the probe with every
frame's pts, and the chunk plan). Nothing downstream needs JPEGs: tracking and rendering read the
source video. ``extract_jpegs`` exists for people who want to draw boxes in LabelMe; it writes one
folder per chunk (``chunk_0000_f000000-000479/00000.jpg`` ...) that SAM 2 and LabelMe read, and a
``manifest.json`` mapping folders back to whole-video frame indices.

Example::

    manifest = prepare("clip.mp4", "runs/clip", chunk_seconds=20)
    extract_jpegs("clip.mp4", RunFolder("runs/clip").frames_dir, manifest.plan)  # sensitive/frames
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import cv2
from tqdm.auto import tqdm

from vidmask_nb.media.chunks import DEFAULT_CHUNK_SECONDS, ChunkPlan, plan_chunks
from vidmask_nb.errors import VidmaskError
from vidmask_nb.runfolder.folder import RunFolder, atomic_output, read_json, write_json
from vidmask_nb.media.video import VideoInfo, VideoReader, fraction_str, probe

MANIFEST_VERSION = 1


@dataclass(frozen=True)
class Manifest:
    """The run folder's ``manifest.json``: the probe and the chunk plan."""

    info: VideoInfo
    plan: ChunkPlan

    def to_json(self) -> dict:
        return {"version": MANIFEST_VERSION, "video": self.info.to_dict(with_pts=True),
                "chunk_plan": self.plan.to_json()}

    @classmethod
    def load(cls, workdir: str | os.PathLike) -> "Manifest":
        from fractions import Fraction

        from vidmask_nb.media.video import StreamInfo

        d = read_json(RunFolder(workdir).manifest_json, "manifest")
        v = dict(d["video"])
        v["fps"], v["time_base"] = Fraction(v["fps"]), Fraction(v["time_base"])
        v["pts"], v["keyframes"] = tuple(v["pts"]), tuple(v["keyframes"])
        v["streams"] = tuple(StreamInfo(**s) for s in v["streams"])
        return cls(VideoInfo(**v), ChunkPlan.from_json(d["chunk_plan"]))


def prepare(video: str | os.PathLike, workdir: str | os.PathLike, chunk_seconds: float | None = DEFAULT_CHUNK_SECONDS,
            chunk_frames: int | None = None, overlap: int = 0) -> Manifest:
    """Probe ``video`` and write ``manifest.json`` into ``workdir``; returns the manifest."""
    info = probe(video)
    plan = plan_chunks(info.frame_count, info.fps, seconds=None if chunk_frames else chunk_seconds,
                       frames=chunk_frames, overlap=overlap)
    manifest = Manifest(info, plan)
    write_json(RunFolder(workdir).create().manifest_json, manifest.to_json())
    return manifest


def extract_jpegs(video: str | os.PathLike, out_dir: str | os.PathLike, plan: ChunkPlan | None = None,
                  quality: int = 95, info: VideoInfo | None = None) -> Path:
    """Write one JPEG folder per chunk (frames numbered from 00000 in each) and ``manifest.json``.

    A folder is written under a temporary name and renamed when complete, so a killed extraction
    is redone for that chunk only; complete folders are kept.
    """
    info = info or probe(video)
    plan = plan or plan_chunks(info.frame_count, info.fps)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    reader = VideoReader(video, info=info)
    with tqdm(total=info.frame_count, desc="extract", unit="frame") as bar:
        for chunk in plan.chunks:
            final = out_dir / chunk.name
            if final.is_dir() and len(list(final.glob("*.jpg"))) == chunk.read_stop - chunk.read_start:
                bar.update(chunk.frames)
                continue
            with atomic_output(final) as tmp:
                tmp.mkdir()
                for frame in reader.frames(chunk.read_start, chunk.read_stop):
                    name = tmp / f"{frame.index - chunk.read_start:05d}.jpg"
                    ok = cv2.imwrite(str(name), cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR),
                                     [cv2.IMWRITE_JPEG_QUALITY, quality])
                    if not ok:
                        raise VidmaskError(f"could not write {name}; is the disk full?")
                    if chunk.start <= frame.index < chunk.stop:
                        bar.update(1)
                if final.exists():
                    shutil.rmtree(final)
    reader.close()
    write_json(out_dir / "manifest.json", {
        "version": MANIFEST_VERSION, "source": Path(video).name, "width": info.width, "height": info.height,
        "fps": fraction_str(info.fps), "time_base": fraction_str(info.time_base),
        "fingerprint": info.fingerprint, "pts": list(info.pts),
        "chunks": [{"name": c.name, "start": c.start, "stop": c.stop, "first_file_frame": c.read_start}
                   for c in plan.chunks]})
    return out_dir
