"""Video I/O throughput at 720p: decode (+ resize to SAM 2's square input), encode, and the
published workflow's JPEG extraction for comparison (speed and disk).

    .venv/bin/python benchmarks/bench_video.py [VIDEO]

VIDEO defaults to ../shared/media/01_dog.mp4, or a generated 720p clip when that is absent.
"""
from __future__ import annotations

import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import cv2

from vidmask_nb.media.encode import VideoWriter
from vidmask_nb.media.sample import make_sample_clip
from vidmask_nb.media.video import VideoReader, probe


def timed(label: str, n: int, fn) -> float:
    t0 = time.perf_counter()
    fn()
    dt = time.perf_counter() - t0
    print(f"{label:<46} {n / dt:8.1f} frames/s   ({dt:.2f} s for {n} frames)")
    return dt


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="vidmask_bench_"))
    default = Path(__file__).resolve().parents[2] / "shared" / "media" / "01_dog.mp4"
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    if not src.is_file():
        src = make_sample_clip(tmp / "clip720.mp4", seconds=10, fps=Fraction(30000, 1001), size=(1280, 720))
    info = probe(src)
    n = info.frame_count
    print(f"source: {src.name}  {info.width}x{info.height}  {info.fps} fps  {n} frames  "
          f"{src.stat().st_size / 1e6:.2f} MB")

    timed("probe (demux only)", n, lambda: probe(src))
    timed("decode to RGB, source size", n, lambda: sum(1 for _ in VideoReader(src, info=info)))
    for s in (512, 1024):
        timed(f"decode + resize to {s}x{s} (SAM 2 input)", n, lambda s=s: sum(1 for _ in VideoReader(src, size=s, info=info)))
    frames = [f for f in VideoReader(src, info=info)]

    def encode(lossless: bool, out: Path):
        with VideoWriter(out, info, lossless=lossless) as w:
            for f in frames:
                w.write(f.rgb, f.pts)

    for lossless, name in ((False, "encode H.264 crf 10 medium (+audio copy)"), (True, "encode lossless RGB (libx264rgb)")):
        out = tmp / f"out_{lossless}.mp4"
        timed(name, n, lambda: encode(lossless, out))
        print(f"{'':<46} output {out.stat().st_size / 1e6:.2f} MB ({out.stat().st_size / src.stat().st_size:.1f}x source)")

    jpeg_dir = tmp / "jpegs"
    jpeg_dir.mkdir()

    def jpeg_extract():  # what the published workflow did: cv2 decode, imwrite every frame
        cap = cv2.VideoCapture(str(src))
        i = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            cv2.imwrite(str(jpeg_dir / f"{i:05d}.jpg"), frame)
            i += 1
        cap.release()

    timed("baseline: JPEG extraction (cv2, quality 95)", n, jpeg_extract)
    size = sum(p.stat().st_size for p in jpeg_dir.iterdir())
    print(f"{'':<46} JPEG folder {size / 1e6:.1f} MB ({size / src.stat().st_size:.0f}x source); "
          "the kit needs no extraction")


if __name__ == "__main__":
    main()
