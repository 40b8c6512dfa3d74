"""Does the detector floor hide the faces of the real clips? (issue 9's figures for the README)

For each clip with people in ../shared/media (first N frames): redact with `--find faces --no-track`
(the floor alone) and with find + SAM 2 tracking (random weights, 256 px: the floor carries the
coverage), then count, INDEPENDENTLY of the run's own detections (CenterFace at full resolution,
threshold 0.3, instead of the run's 640 px / 0.4), the frames where the source shows a face and
those where the output still shows one at the same place (IoU >= 0.3 with a source face).

    PYTHONPATH=. python benchmarks/measure_find.py --frames 90 --tracked-frames 60
"""
from __future__ import annotations

import argparse
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vidmask_nb import find, render  # noqa: E402
from vidmask_nb.detect import get_detector, iou_matrix  # noqa: E402
from vidmask_nb.video import probe  # noqa: E402

MEDIA = ROOT.parent / "shared" / "media"


def cut(src: Path, dst: Path, n: int) -> Path:
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vs = inp.streams.video[0]
        os_ = out.add_stream("libx264", rate=vs.average_rate)
        os_.width, os_.height, os_.pix_fmt = vs.codec_context.width, vs.codec_context.height, "yuv420p"
        os_.options = {"crf": "12", "preset": "veryfast"}
        for i, f in zip(range(n), inp.decode(vs)):
            g = av.VideoFrame.from_ndarray(f.to_ndarray(format="rgb24"), format="rgb24")
            g.pts, g.time_base = i, Fraction(1) / vs.average_rate
            for p in os_.encode(g):
                out.mux(p)
        for p in os_.encode():
            out.mux(p)
    return dst


def frames(path):
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            yield f.to_ndarray(format="rgb24")


def independent_check(src: Path, out: Path) -> dict:
    judge = get_detector("face", scale=1.0, threshold=0.3)
    face_frames = leak_frames = 0
    changed = []
    for a, b in zip(frames(src), frames(out)):
        da, db = judge.detect(a), judge.detect(b)
        face_frames += bool(len(da))
        if len(da) and len(db) and (iou_matrix(da.boxes, db.boxes) >= 0.3).any():
            leak_frames += 1
        changed.append(float((np.abs(a.astype(np.int16) - b).max(axis=2) > 30).mean()))
    return {"face_frames": face_frames, "still_showing": leak_frames,
            "changed_mean": float(np.mean(changed)), "changed_max": float(np.max(changed))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=90, help="frames of each clip for --no-track (default 90)")
    ap.add_argument("--tracked-frames", type=int, default=60, help="frames for the tracked run (default 60; 0 skips)")
    ap.add_argument("--clips", default="bedroom,01_dog,19_cyclist")
    ap.add_argument("--work", default="/tmp/vidmask_measure_find")
    a = ap.parse_args()
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    print("| clip | variant | frames | source frames with a face | output frames still showing one | pixels changed (mean / max frame) | s |")
    print("|---|---|---|---|---|---|---|")
    for name in a.clips.split(","):
        for variant, n in (("--no-track", a.frames), ("tracked 256 px random", a.tracked_frames)):
            if n <= 0:
                continue
            w = work / f"{name}_{n}_{'nt' if variant == '--no-track' else 'tr'}"
            w.mkdir(exist_ok=True)
            clip = cut(MEDIA / f"{name}.mp4", w / f"{name}_{n}.mp4", n)
            info = probe(clip)
            t0 = time.perf_counter()
            track = variant != "--no-track"
            find.find_and_floor(clip, w, "faces", info=info, track=track)
            if track:
                from vidmask_nb.propagate import propagate

                propagate(clip, w, weights="random", image_size=256, device="cpu")
            else:
                find.write_untracked_masks(clip, w, info)
            out = render.render(clip, w, floor=find.floor_path(w), progress=False)
            secs = time.perf_counter() - t0
            r = independent_check(clip, out)
            print(f"| {name} | {variant} | {n} | {r['face_frames']} | {r['still_showing']} | "
                  f"{r['changed_mean']:.1%} / {r['changed_max']:.1%} | {secs:.0f} |", flush=True)


if __name__ == "__main__":
    main()
