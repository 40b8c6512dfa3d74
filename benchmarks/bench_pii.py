"""What reading text and codes costs per 720p frame on this machine (prints a table and the load).

Frames: ``tests/pii_material.py``'s clip (an e-mail, a phone number, a name, plain words, a QR code
and an EAN-13 on ``../shared/media/01_dog.mp4`` frames when present, else a generated background),
made at 640x360 and scaled to 1280x720 (text 44 px high, QR modules 8-10 px, bars 4-6 px). Per
frame: PP-OCRv4 detection alone (``text``), detection + recognition of every line + the matchers
(``pii``), the code reader (QR and barcodes on the frame and its Otsu threshold, ``code``), and
CenterFace (``face``) for scale; each after one warm-up frame, in one run. The load average is
printed beside the figures (other jobs on the CPUs slow every row alike).

Usage::

    .venv/bin/python benchmarks/bench_pii.py              # 8 frames
    .venv/bin/python benchmarks/bench_pii.py --frames 20 --media /data/clips
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def per_frame(fn, frames) -> float:
    fn(frames[0])  # warm-up (onnxruntime's first run allocates)
    t0 = time.perf_counter()
    for rgb in frames:
        fn(rgb)
    return (time.perf_counter() - t0) / len(frames)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=8, help="frames timed (default 8)")
    ap.add_argument("--media", default=str(ROOT.parent / "shared" / "media"),
                    help="folder holding 01_dog.mp4 for the background (default ../shared/media)")
    a = ap.parse_args()

    import cv2

    import pii_material
    from pii_material import NAME, make_clip

    pii_material.SHARED_MEDIA = Path(a.media)
    from vidmask_nb.detect.detectors import get_detector
    from vidmask_nb.detect.pii import fold
    from vidmask_nb.media.video import VideoReader

    tmp = Path(tempfile.mkdtemp(prefix="bench_pii_"))
    clip = make_clip(tmp / "clip.mp4", n=a.frames)
    with VideoReader(clip.path) as r:
        frames = [cv2.resize(f.rgb, (1280, 720), interpolation=cv2.INTER_CUBIC) for f in r]
    load = os.getloadavg()[0]
    pii = get_detector("pii", words=(fold(NAME),))
    lines, _ = pii.read(frames[-1])
    codes = get_detector("code", threshold=0.3).detect(frames[-1])
    rows = [("text: PP-OCRv4 detection (960 px long side)", per_frame(get_detector("text").detect, frames)),
            ("pii: detection + recognition of every line + matchers", per_frame(pii.detect, frames)),
            ("code: QR + barcodes, frame and Otsu threshold", per_frame(get_detector("code").detect, frames)),
            ("face: CenterFace (640 px long side)", per_frame(get_detector("face").detect, frames))]
    background = "01_dog" if (Path(a.media) / "01_dog.mp4").is_file() else "generated"
    print(f"{len(frames)} frames at 1280x720 ({background} background); load average {load:.1f} on "
          f"{os.cpu_count()} CPUs; last frame: {len(lines)} text lines, {int(sum(bool(w) for w in lines.what))} "
          f"personal ({', '.join(w for w in lines.what if w)}), codes {', '.join(codes.what)}")
    print("| what | s/frame | frames/s |")
    print("|---|---|---|")
    for name, s in rows:
        print(f"| {name} | {s:.3f} | {1 / s:.2f} |")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
