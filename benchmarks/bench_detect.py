"""Detector cost per frame against SAM 2's per-frame tracking cost at the same input size (prints figures).

Faces (CenterFace) and text (PP-OCRv4 detection) on the frames of a generated clip, with the
network input's long side equal to SAM 2's ``--image-size`` S, then SAM 2.1 tiny (random weights:
speed only) tracking the clip's prompts at S x S, per frame, in the same run; plus each
detector at its automatic input size on a real 720p clip when ../shared/media is there.

Usage::

    .venv/bin/python benchmarks/bench_detect.py                       # 20 frames, 640x360, S=512
    .venv/bin/python benchmarks/bench_detect.py --frames 30 --image-size 1024
"""
from __future__ import annotations

import argparse
import tempfile
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def per_frame(detector, frames) -> float:
    detector.detect(frames[0])  # warm-up (onnxruntime's first run allocates)
    t0 = time.perf_counter()
    for rgb in frames:
        detector.detect(rgb)
    return (time.perf_counter() - t0) / len(frames)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=20, help="frames of the generated clip (default 20)")
    ap.add_argument("--size", default="640x360", help="generated clip size WxH (default 640x360)")
    ap.add_argument("--image-size", type=int, default=512, help="SAM 2 input size S (default 512)")
    ap.add_argument("--device", default="cpu", help="SAM 2 device (default cpu; detectors run on the CPU)")
    a = ap.parse_args()

    import av

    from vidmask_nb.detect.detectors import get_detector
    from vidmask_nb.track.propagate import TrackOptions, propagate
    from vidmask_nb.runfolder.folder import RunFolder
    from vidmask_nb.media.sample import make_sample_clip
    from vidmask_nb.prompts.sources import sample_prompts
    from vidmask_nb.media.video import VideoReader, probe

    w, h = (int(v) for v in a.size.split("x"))
    tmp = Path(tempfile.mkdtemp(prefix="bench_detect_"))
    clip = make_sample_clip(tmp / "clip.mp4", seconds=a.frames / 24, fps=Fraction(24), size=(w, h), audio=False)
    info = probe(clip)
    with VideoReader(clip, info=info) as r:
        frames = [f.rgb for f in r]
    scale = a.image_size / max(w, h)
    rows = []
    for kind in ("face", "text"):
        rows.append((f"{kind} detector, input long side {a.image_size}", per_frame(get_detector(kind, scale=scale), frames)))
    sample_prompts(info).save(RunFolder(tmp).prompts_json)
    t0 = time.perf_counter()
    propagate(clip, tmp, TrackOptions(weights="random", image_size=a.image_size, device=a.device), progress=False)
    sam = (time.perf_counter() - t0) / info.frame_count
    rows.append((f"SAM 2.1 tiny tracking at {a.image_size}x{a.image_size} ({a.device}, whole run)", sam))
    print(f"{info.frame_count} frames of a {w}x{h} clip")
    print("| what | s/frame | frames/s | SAM 2 time / this |")
    print("|---|---|---|---|")
    for name, s in rows:
        print(f"| {name} | {s:.3f} | {1 / s:.2f} | {sam / s:.1f} |")
    media = ROOT.parent / "shared" / "media" / "01_dog.mp4"
    if media.is_file():
        with av.open(str(media)) as c:
            real = [f.to_ndarray(format="rgb24") for _, f in zip(range(10), c.decode(video=0))]
        for kind, sc in (("face", None), ("face", 1.0), ("text", None)):
            label = "auto" if sc is None else f"scale {sc}"
            print(f"| {kind} detector on 01_dog 1280x720, {label} | {per_frame(get_detector(kind, scale=sc), real):.3f} | | |")


if __name__ == "__main__":
    main()
