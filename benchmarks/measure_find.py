"""Does the detector floor hide the faces of the real clips? (issue 9's figures for the README)

For each clip with people in ../shared/media (its first N frames, re-encoded at crf 12): redact
with `--find faces --no-track` (the floor alone) and with find + SAM 2 tracking (random weights,
256 px: the floor carries the coverage), with the CLI's defaults (hold 1 s, dilate 4, fill), then
count INDEPENDENTLY of the run's own detections the frames where the source shows a face and those
where the output still shows one at the same place (IoU >= 0.3 with a source face).

The judge is CenterFace at an input size the floor never uses (``JUDGE_SCALE`` 0.75: 960 px long
side on 720p, 720 px on 540p; the floor sees 640 px, ``detect.AUTO_LONG_SIDE``) with its own
threshold (``JUDGE_THRESHOLD`` 0.3 against the floor's 0.25, ``floor.FLOOR_THRESHOLD``), and it
judges the source's faces itself: a face it sees is not merely the floor's own detection seen
again (at 960 px it finds faces on 37 of the first 60 frames of 19_cyclist). Each leak frame is listed with the judge's box and score, the
floor's boxes on that frame, and how much of the judge's box the floor covered.

Runs are cached in --work (cut clips, the judge's source detections, SAM 2's masks), so a second
run re-renders and re-judges only.

    PYTHONPATH=. python benchmarks/measure_find.py --frames 60 --tracked-frames 30
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from vidmask_nb.detect import find, floor, floorfile, hold, untracked; from vidmask_nb.redact import render  # noqa: E402
from vidmask_nb.detect.detectors import Detections, boxes_mask, get_detector, iou_matrix  # noqa: E402
from vidmask_nb.detect.options import FindOptions  # noqa: E402
from vidmask_nb.media.video import probe  # noqa: E402

from common import cut  # noqa: E402,F401  (judge_mtcnn and this file cut the same way)

MEDIA = ROOT.parent / "shared" / "media"
JUDGE_SCALE = 0.75  # 960 px on 720p: between the floor's 640 px and 1280 px inputs
JUDGE_THRESHOLD = 0.3
SAME_PLACE_IOU = 0.3


def frames(path):
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            yield f.to_ndarray(format="rgb24")


def judge_source(src: Path) -> list[Detections]:
    """The judge's detections on every frame of the source (cached beside it)."""
    cache = src.with_suffix(".judge.json")
    if cache.is_file():
        return [Detections.from_json(d) for d in json.loads(cache.read_text())]
    judge = get_detector("face", scale=JUDGE_SCALE, threshold=JUDGE_THRESHOLD)
    out = [judge.detect(rgb) for rgb in frames(src)]
    cache.write_text(json.dumps([d.to_json() for d in out]))
    return out


def independent_check(src: Path, out: Path, floor: Path) -> dict:
    judge = get_detector("face", scale=JUDGE_SCALE, threshold=JUDGE_THRESHOLD)
    source_dets = judge_source(src)
    floor_dets = dict(floorfile.floor_boxes(floor))
    face_frames, leaks, changed = 0, [], []
    for i, (a, b, da) in enumerate(zip(frames(src), frames(out), source_dets)):
        face_frames += bool(len(da))
        db = judge.detect(b) if len(da) else Detections.empty()
        if len(da) and len(db):
            iou = iou_matrix(da.boxes, db.boxes)
            for j in np.flatnonzero((iou >= SAME_PLACE_IOU).any(axis=0)):
                box = db.boxes[j]
                h, w = a.shape[:2]
                area = boxes_mask(box, h, w)
                fl = floor_dets.get(i, Detections.empty())
                cover = hold.floor_cover(fl, h, w)
                leaks.append({"frame": i, "judge box": [round(float(v)) for v in box],
                              "judge score out/src": (round(float(db.scores[j]), 2),
                                                      round(float(da.scores[iou[:, j].argmax()]), 2)),
                              "floor boxes": [(d["box"], d["score"]) for d in fl.to_json()],
                              "floor covers": f"{(area & cover).sum() / max(area.sum(), 1):.0%}"})
        changed.append(float((np.abs(a.astype(np.int16) - b).max(axis=2) > 30).mean()))
    return {"face_frames": face_frames, "leak_frames": len({x["frame"] for x in leaks}), "leaks": leaks,
            "changed_mean": float(np.mean(changed)), "changed_max": float(np.max(changed))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=60, help="frames of each clip for --no-track (default 60)")
    ap.add_argument("--tracked-frames", type=int, default=30, help="frames for the tracked run (default 30; 0 skips)")
    ap.add_argument("--clips", default="bedroom,01_dog,19_cyclist", help="default bedroom,01_dog,19_cyclist")
    ap.add_argument("--work", default="/tmp/vidmask_measure_find", help="cache folder (default /tmp/vidmask_measure_find)")
    a = ap.parse_args()
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    rows, details = [], []
    for name in a.clips.split(","):
        for variant, n in (("--no-track", a.frames), ("tracked 256 px random", a.tracked_frames)):
            if n <= 0:
                continue
            track = variant != "--no-track"
            w = work / f"{name}_{n}_{'tr' if track else 'nt'}"
            w.mkdir(exist_ok=True)
            clip = cut(MEDIA / f"{name}.mp4", work / f"{name}_{n}.mp4", n)
            info = probe(clip)
            t0 = time.perf_counter()
            if track and (w / "masks.json").is_file():  # SAM 2's masks are kept: the floor only
                floor.compute_floor(clip, w, "faces", info=info)
            else:
                find.find_and_floor(clip, w, FindOptions(find="faces", no_track=not track), info=info)
            t_floor = time.perf_counter() - t0
            if track:
                from vidmask_nb.track.propagate import TrackOptions, propagate

                propagate(clip, w, TrackOptions(weights="random", image_size=256, device="cpu"), progress=False)
            else:
                untracked.write_untracked_masks(clip, w, info)
            t_track = time.perf_counter() - t0 - t_floor
            out = render.render(clip, w, floor=floorfile.floor_path(w), progress=False)  # the default hold
            secs = time.perf_counter() - t0
            r = independent_check(clip, out, floorfile.floor_path(w))
            rows.append(f"| {name} | {variant} | {n} | {r['face_frames']} | {r['leak_frames']} | "
                        f"{r['changed_mean']:.1%} / {r['changed_max']:.1%} | {secs:.0f} "
                        f"(floor {t_floor:.0f}{f', SAM 2 {t_track:.0f}' if track else ''}) |")
            print(rows[-1], flush=True)
            details += [f"{name} {variant}: {x}" for x in r["leaks"]]
    print("\n| clip | variant | frames | source frames with a face | output frames still showing one "
          "| pixels changed (mean / worst frame) | s |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print("\n".join(["", "leak frames:"] + details) if details else "\nno leak frames")


if __name__ == "__main__":
    main()
