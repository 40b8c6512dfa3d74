"""Figures for the prompting stage (issue 3): LabelMe import, the published names' off-by-one,
the editor's latency, and the prompt-frame preview. Prints a table; not a test.

    python benchmarks/bench_prompt.py [--video ../shared/media/01_dog.mp4] [--sizes 256,1024]

Without ``--video`` it uses ../shared/media/01_dog.mp4, or a generated clip when that is absent.
The preview uses random weights (compute is real, masks are not).
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from vidmask_nb.prompts.labelme import SEED_CHUNK_RE, _replay_seed_names, import_labelme
from vidmask_nb.prompts.records import FramePrompt
from vidmask_nb.media.video import probe


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def published_names_off(fps: Fraction, frames: int, seconds: float) -> tuple[int, int]:
    """(folders whose name's first frame is wrong, folders) for the published extractor."""
    from common import published_folders

    folders = published_folders(frames, float(fps), folder_duration=seconds)
    wrong = sum(int(SEED_CHUNK_RE.match(name).group(2)) != saved[0] for name, saved in folders.items())
    return wrong, len(folders)


def bench_labelme(info, tmp: Path) -> None:
    """Import an hour-long published layout (20 s folders, 3 LabelMe files each) for a synthetic video."""
    from common import published_folders, rect, write_labelme

    fps = Fraction(30000, 1001)
    n = int(3600 * fps)
    long_info = replace(info, path="hour.mp4", fps=fps, frame_count=n, pts=tuple(range(0, n * 1001, 1001)),
                        fingerprint="")
    root = tmp / "hour_frames_29fps"
    folders = published_folders(n, float(fps), folder_duration=20)
    for name, saved in folders.items():
        for k in (0, len(saved) // 2, len(saved) - 1):
            write_labelme(root / name / f"{k:05d}.json", [rect("person", 10, 10, 200, 300),
                                                         rect("plate", 500, 400, 600, 440)],
                          size=(info.width, info.height))
    t = time.perf_counter()
    prompts, report = import_labelme(root, long_info)
    took = time.perf_counter() - t
    t = time.perf_counter()
    _replay_seed_names([(int(m.group(2)), int(m.group(3))) for m in map(SEED_CHUNK_RE.match, folders)], n, fps)
    replay = time.perf_counter() - t
    print(f"LabelMe import, 1 h published layout: {len(folders)} folders, {report.files} files, "
          f"{report.boxes} boxes in {took:.2f} s ({report.files / took:.0f} files/s); name replay {ms(replay)}")
    for f, s in ((Fraction(30000, 1001), 20), (Fraction(24000, 1001), 20), (Fraction(2997, 50), 20),
                 (Fraction(30), 20), (Fraction(30000, 1001), 1), (Fraction(24000, 1001), 1.1)):
        wrong, total = published_names_off(f, int(600 * f), s)
        print(f"  published names, {float(f):.3f} fps, {s} s folders, 10 min: {wrong}/{total} folder names "
              f"start one frame early (corrected on import)")


def bench_editor(video: Path, tmp: Path) -> None:
    from vidmask_nb.notebook.editor import PromptEditor

    t = time.perf_counter()
    ed = PromptEditor(video, tmp / "run", max_display=960)
    build = time.perf_counter() - t
    n = ed.info.frame_count
    steps = []
    for _ in range(min(30, n - 1)):
        t = time.perf_counter()
        ed.step_frame(1)
        steps.append(time.perf_counter() - t)
    jumps = []
    rng = random.Random(0)
    for _ in range(10):
        t = time.perf_counter()
        ed.set_frame(rng.randrange(n))
        jumps.append(time.perf_counter() - t)
    edits = []
    for i in range(50):
        if i % 10 == 0:
            ed.set_frame(i % n)
        t = time.perf_counter()
        ed.on_mouse_down(100 + i, 100)
        ed.on_mouse_move(150 + i, 160)
        ed.on_mouse_up(200 + i, 220)
        edits.append(time.perf_counter() - t)
    size = ed.path.stat().st_size
    print(f"editor on {video.name} ({ed.info.width}x{ed.info.height}, canvas {ed.canvas_size[0]}x{ed.canvas_size[1]}): "
          f"open {build:.2f} s; next frame median {ms(statistics.median(steps))}; random jump median "
          f"{ms(statistics.median(jumps))}; drag-to-saved-box median {ms(statistics.median(edits))} "
          f"(prompts.json {size / 1024:.1f} KiB, {len(ed.prompts.prompts)} prompts)")
    ed.close()


def bench_preview(video: Path, sizes: list[int]) -> None:
    from vidmask_nb.track.model import load_predictor
    from vidmask_nb.notebook.preview import preview_prompt_frame
    from vidmask_nb.prompts.records import PromptSet

    info = probe(video)
    prompts = PromptSet.for_video(info)
    obj = prompts.add_object("thing")
    frame = info.frame_count // 2
    prompts.prompts.append(FramePrompt(frame, obj.id, box=(info.width * 0.3, info.height * 0.3, info.width * 0.6,
                                                            info.height * 0.7), pts=info.pts[frame]))
    for size in sizes:
        t = time.perf_counter()
        predictor = load_predictor("tiny", weights="random", image_size=size, device="cpu")
        load = time.perf_counter() - t
        runs = []
        for _ in range(2):
            t = time.perf_counter()
            preview_prompt_frame(predictor, info, prompts, frame)
            runs.append(time.perf_counter() - t)
        print(f"preview, tiny, random weights, CPU, input {size}px: model build {load:.1f} s; one prompt frame "
              f"{min(runs):.2f} s (first {runs[0]:.2f} s)")
        del predictor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--video", type=Path, default=ROOT.parent / "shared" / "media" / "01_dog.mp4")
    parser.add_argument("--sizes", default="256,1024", help="SAM 2 input sizes for the preview timing")
    args = parser.parse_args()
    import warnings

    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        video = args.video
        if not video.is_file():
            from vidmask_nb.media.sample import make_sample_clip

            video = make_sample_clip(tmp / "sample.mp4", seconds=4, size=(640, 360))
        info = probe(video)
        print(json.dumps({"video": video.name, "size": f"{info.width}x{info.height}", "frames": info.frame_count,
                          "fps": str(info.fps)}))
        bench_labelme(info, tmp)
        bench_editor(video, tmp)
        bench_preview(video, [int(s) for s in args.sizes.split(",") if s])


if __name__ == "__main__":
    main()
