"""Ground truth, side by side with deface: leak frames, leak runs, recall, over-redaction and seconds.

Clips are generated from the real footage in ../shared/media with exact per-frame truth
(``common.TruthScene``): real faces, cropped from frames of bedroom/01_dog/19_cyclist
where CenterFace finds them sharp (full size, score >= 0.8, Laplacian variance), moved over the
real frames of 02_hummingbird (no people) along known paths: walking across, growing and shrinking,
turning edge-on and back (squashed to 5 % of their width), occluded by a passing patch, leaving
the picture and coming back, fast with motion blur, small (12-28 px), at 23.976 and 59.94 fps; and
a line of rendered text for the `text` kind and a QR code (personal data in a URL) for `codes`.

Each clip is redacted by:
- the kit, `--no-track` (the floor alone; hold 1 s, dilate 4, fill: the CLI's defaults), with the
  fast face pass (``detect.fastpass``, the default: CenterFace quantised to 8 bits), the same pass on
  deface's float model (``kit fast fp32``: what the 8-bit model costs in leaks) and the exact pass
  (640 px every frame);
- deface 1.5.0 with its defaults (blur) and with `--replacewith solid`, both encoding with libx264
  the kit's crf, preset and x264 tuning (`--ffmpeg-config`), so both outputs carry the same encoder noise;
and each output is scored with ``common.LeakScorer`` (``benchmarks/RESULTS.md`` defines the figures).
The tracked mode (SAM 2) is not run: with random weights on this CPU it costs ~4 s a frame at
256 px and its masks cover most of the frame, so it shows nothing about leaks the floor under it
does not already show (``benchmarks/measure_find.py`` runs it on real clips).

Seconds are wall time in this one run; CPU seconds (this process for the kit, the child process for
deface) are printed beside them, and the load average at the start and end.

Over-redaction is also given frame by frame (mean, worst frame, worst second), and ``--real-kinds``
runs each kind on the shared clips, whose truth for it is empty (every change is over-redaction); the
made clip ``bedroom + pii, QR`` draws an e-mail, a phone number and a QR code onto bedroom's striped
wallpaper.

    PYTHONPATH=. python benchmarks/groundtruth.py --quick          # 1 s clips, 4 of them: a few minutes on 2 cores
    PYTHONPATH=. python benchmarks/groundtruth.py --seconds 2      # the README's table
    PYTHONPATH=. python benchmarks/groundtruth.py --seconds 2 --modes "kit fast,deface solid" \
        --real-kinds "codes,pii,text,faces,faces+pii+codes" --real-seconds 1   # precision on real footage
"""
from __future__ import annotations

import argparse
import json
import os
from fractions import Fraction
from pathlib import Path

import numpy as np

from common import (KIT_MODES, MEDIA, Actor, LeakScorer, Occluder, Sprite, TruthScene, changed_pixels, cut,
                    run_mode, write_truth_clip)

from vidmask_nb.media.video import VideoReader, probe

F24, F60 = Fraction(24000, 1001), Fraction(60000, 1001)
W, H = 1280, 720


def decode(path, n=None, step=1):
    import av

    with av.open(str(path)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if n is not None and i >= n * step:
                return
            if i % step == 0:
                yield f.to_ndarray(format="rgb24")


def face_sprites(work: Path, want: int = 6) -> list[Sprite]:
    """Sharp real faces: CenterFace at full size, score >= 0.8, the sharpest boxes of >= 44 px."""
    import cv2

    cache = work / "faces.npz"
    if cache.is_file():
        z = np.load(cache, allow_pickle=True)
        return [Sprite(img, tuple(t)) for img, t in zip(z["images"], z["truths"])]
    from vidmask_nb.detect.detectors import get_detector

    det = get_detector("face", scale=1.0, threshold=0.8)
    cands = []
    for name in ("bedroom", "01_dog", "19_cyclist"):
        for k, rgb in enumerate(decode(MEDIA / f"{name}.mp4", n=6, step=20)):
            h, w = rgb.shape[:2]
            d = det.detect(rgb)
            for (x0, y0, x1, y1), s in zip(d.boxes, d.scores):
                bw, bh = x1 - x0, y1 - y0
                if bh < 44:
                    continue
                # the crop: the face box and 25 % of its size around it (hair, ears, background)
                cx0, cy0 = int(max(0, x0 - 0.25 * bw)), int(max(0, y0 - 0.25 * bh))
                cx1, cy1 = int(min(w, x1 + 0.25 * bw)), int(min(h, y1 + 0.25 * bh))
                crop = rgb[cy0:cy1, cx0:cx1].copy()
                face = cv2.cvtColor(rgb[int(y0):int(y1), int(x0):int(x1)], cv2.COLOR_RGB2GRAY)
                sharp = float(cv2.Laplacian(face, cv2.CV_64F).var())
                truth = ((x0 - cx0) / (cx1 - cx0), (y0 - cy0) / (cy1 - cy0),
                         (x1 - cx0) / (cx1 - cx0), (y1 - cy0) / (cy1 - cy0))
                cands.append((sharp, f"{name}:{k}", crop, truth))
    cands.sort(key=lambda c: -c[0])
    seen, picked = set(), []
    for sharp, where, crop, truth in cands:  # at most two faces from one clip frame
        if sum(1 for p in picked if p[1] == where) >= 2:
            continue
        picked.append((sharp, where, crop, truth))
        seen.add(where)
        if len(picked) == want:
            break
    if not picked:
        raise SystemExit("no sharp face found in ../shared/media")
    np.savez(cache, images=np.array([p[2] for p in picked], dtype=object),
             truths=np.array([p[3] for p in picked]), allow_pickle=True)
    print("faces:", ", ".join(f"{p[1]} {p[2].shape[1]}x{p[2].shape[0]} sharpness {p[0]:.0f}" for p in picked))
    return [Sprite(p[2], tuple(p[3])) for p in picked]


def text_sprite(text: str = "alice.cooper@example.com  +1 617 555 0199") -> Sprite:
    import cv2

    font, scale, thick = cv2.FONT_HERSHEY_DUPLEX, 1.2, 2
    (tw, th), base = cv2.getTextSize(text, font, scale, thick)
    pad = 10
    img = np.full((th + base + 2 * pad, tw + 2 * pad, 3), 245, np.uint8)
    # dark blue, not black: a black fill over black glyphs would change nothing the scorer can see
    cv2.putText(img, text, (pad, pad + th), font, scale, (30, 40, 150), thick, cv2.LINE_AA)
    hh, ww = img.shape[:2]
    return Sprite(img, (pad / ww, (pad - 2) / hh, (pad + tw) / ww, (pad + th + base) / hh))


def code_sprite(text: str = "https://example.com/u/alice.cooper?phone=16175550199") -> Sprite:
    """A QR code that decodes to personal data, on a white card with a quiet zone of 4 modules."""
    import cv2

    code = cv2.QRCodeEncoder.create().encode(text)  # 2 white modules around the code
    module = 6
    img = cv2.resize(code, None, fx=module, fy=module, interpolation=cv2.INTER_NEAREST)
    pad = 2 * module
    img = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=255)
    # dark blue modules, not black: a black fill over black modules would change nothing the scorer can see
    img = np.where(img[..., None] > 127, np.uint8(245), np.array([30, 40, 150], np.uint8))
    hh, ww = img.shape[:2]
    quiet = pad + 2 * module  # the modules start after the quiet zone
    return Sprite(img, (quiet / ww, quiet / hh, (ww - quiet) / ww, (hh - quiet) / hh))


def fh(sprite: Sprite, face_px: float) -> float:
    """The sprite height that makes its face (truth box) ``face_px`` high."""
    return face_px / (sprite.truth[3] - sprite.truth[1])


def scenes(faces: list[Sprite], seconds: float, occluder: np.ndarray) -> dict[str, tuple[TruthScene, str]]:
    """name -> (scene, the kit's --find kinds)."""
    f = faces + faces  # enough faces for every clip, whatever was found
    T = seconds
    n24, n60 = max(2, round(T * F24)), max(2, round(T * F60))
    out = {
        "walk 23.976": (TruthScene((W, H), F24, n24, [
            Actor("a", f[0], [(0, 150, 380, 110, 1), (T, 1130, 330, 110, 1)]),
            Actor("b", f[1], [(0, 1100, 200, 70, 1), (T, 300, 560, 80, 1)])]), "faces"),
        "grow/shrink 59.94": (TruthScene((W, H), F60, n60, [
            Actor("a", f[2], [(0, 640, 360, 24, 1), (T / 2, 640, 360, 300, 1), (T, 640, 360, 24, 1)])]), "faces"),
        "turn away 23.976": (TruthScene((W, H), F24, n24, [
            Actor("a", f[3], [(0, 500, 360, 120, 1), (T / 4, 520, 360, 120, 0.05), (T / 2, 540, 360, 120, 1),
                              (3 * T / 4, 560, 360, 120, 0.05), (T, 580, 360, 120, 1)])]), "faces"),
        "occluded 59.94": (TruthScene((W, H), F60, n60, [
            Actor("a", f[4], [(0, 600, 360, 120, 1), (T, 680, 360, 120, 1)])],
            occluders=[Occluder(occluder, [(0, 380, 200, 480, 520), (T, 900, 200, 1000, 520)])]), "faces"),
        "leave and return 23.976": (TruthScene((W, H), F24, n24, [
            Actor("a", f[5], [(0, 900, 360, 100, 1), (T / 2, 1400, 360, 100, 1), (T, 900, 360, 100, 1)])]), "faces"),
        "fast + motion blur 59.94": (TruthScene((W, H), F60, n60, [
            Actor("a", f[0], [(0, 80, 300, 100, 1), (T / 2, 1200, 420, 100, 1), (T, 80, 300, 100, 1)])],
            blur_samples=5), "faces"),
        "small 12-28 px 23.976": (TruthScene((W, H), F24, n24, [
            Actor("12px", f[1], [(0, 200, 200, fh(f[1], 12), 1), (T, 260, 220, fh(f[1], 12), 1)]),
            Actor("16px", f[2], [(0, 500, 500, fh(f[2], 16), 1), (T, 540, 470, fh(f[2], 16), 1)]),
            Actor("20px", f[3], [(0, 900, 250, fh(f[3], 20), 1), (T, 860, 290, fh(f[3], 20), 1)]),
            Actor("28px", f[4], [(0, 1100, 600, fh(f[4], 28), 1), (T, 1040, 600, fh(f[4], 28), 1)])]), "faces"),
        "text 23.976": (TruthScene((W, H), F24, n24, [
            Actor("text", text_sprite(), [(0, 600, 200, 44, 1), (T, 680, 520, 44, 1)])]), "text"),
        "code (QR) 23.976": (TruthScene((W, H), F24, n24, [
            Actor("qr", code_sprite(), [(0, 420, 360, 200, 1), (T, 560, 330, 200, 1)])]), "codes"),
        "bedroom + pii, QR 30": (bedroom_scene(T), "pii,codes"),
    }
    return out


def backgrounds(n: int = 48) -> list[np.ndarray]:
    return list(decode(MEDIA / "02_hummingbird.mp4", n=n))


def score(src: Path, out: Path, scene: TruthScene | None) -> dict:
    """The scorer's figures, and over-redaction frame by frame: the share of each frame's pixels outside
    every true region that the output changed (``score.changed_pixels``), its mean over the frames,
    the worst frame and the worst second (the mean over each run of one second's frames). ``scene``
    None: real footage whose truth for the kinds run is empty, where every change is over-redaction."""

    sc = LeakScorer()
    info_s, info_o = probe(src), probe(out)
    if info_o.frame_count != info_s.frame_count:
        return {"error": f"{info_o.frame_count} frames out of {info_s.frame_count}"}
    per_frame = []
    with VideoReader(src, info=info_s) as a, VideoReader(out, info=info_o) as b:
        for fa, fb in zip(a, b):
            truth = scene.truth(fa.index) if scene is not None else {}
            h, w = fa.rgb.shape[:2]
            out_rgb = fb.rgb[:h, :w]  # deface's encoder pads 540 to 544 rows: the picture is the top left
            sc.add(fa.rgb, out_rgb, truth)
            outside = ~np.logical_or.reduce(list(truth.values())) if truth else np.ones(fa.rgb.shape[:2], bool)
            per_frame.append(float((changed_pixels(fa.rgb, out_rgb) & outside).sum()) / max(int(outside.sum()), 1))
    return {**sc.result().to_json(), **frame_shares(per_frame, info_s.fps)}


def frame_shares(per_frame: list[float], fps) -> dict:
    """Mean, worst frame (and which), worst second of a clip's per-frame over-redaction."""
    x = np.asarray(per_frame, float)
    n = max(1, min(len(x), round(float(fps))))
    seconds = np.convolve(x, np.ones(n) / n, mode="valid") if len(x) else x
    return {"over_mean": float(x.mean()) if len(x) else 0.0, "over_worst": float(x.max()) if len(x) else 0.0,
            "worst_frame": int(x.argmax()) if len(x) else -1,
            "over_worst_second": float(seconds.max()) if len(seconds) else 0.0}


# Made truth on real footage with stripes (bedroom's wallpaper): personal text and a QR code drawn in,
# where the run put them (the code at (774,64)-(905,195)); the kit finds pii and codes.
def bedroom_scene(seconds: float) -> TruthScene:
    fps = Fraction(30)
    n = max(2, round(seconds * fps))
    return TruthScene((960, 540), fps, n, [
        Actor("text", text_sprite(), [(0, 330, 470, 34, 1), (seconds, 360, 460, 34, 1)]),
        Actor("qr", code_sprite(), [(0, 840, 130, 150, 1), (seconds, 820, 140, 150, 1)])])


def bedroom_backgrounds(n: int) -> list[np.ndarray]:
    return list(decode(MEDIA / "bedroom.mp4", n=n))


NO_PEOPLE = ("02_hummingbird",)  # shared clips with no face in them


def real_footage(a, work: Path, modes: list[str], results: list[dict] | None = None) -> list[str]:
    """Rows of over-redaction on the shared clips for kinds whose truth there is empty (each row's
    figures also appended to ``results``)."""

    rows = []
    names = a.real_clips.split(",") if a.real_clips else sorted(p.stem for p in MEDIA.glob("*.mp4"))
    kinds = [k.strip() for k in a.real_kinds.split(",") if k.strip()]
    for name in names:
        src = MEDIA / f"{name}.mp4"
        n = max(2, round(a.real_seconds * float(probe(src).fps)))
        cw = work / "real_empty" / name
        cw.mkdir(parents=True, exist_ok=True)
        clip = cut(src, cw / f"{name}_{n}.mp4", n)
        deface = [m for m in modes if m.startswith("deface")]
        for kind in kinds:
            if kind == "faces" and name not in NO_PEOPLE:
                continue
            for mode in ["kit fast"] + (deface if kind == kinds[0] else []):
                out, t = run_mode(clip, cw / kind.replace("+", "_"), kind.replace("+", ","), mode)
                s = score(clip, out, None)
                if results is not None:
                    results.append({"clip": name, "kinds": kind.replace("+", ","), "mode": mode, "frames": n,
                                    "real": True, **t, **s})
                label = kind if mode.startswith("kit") else "faces (deface)"
                rows.append(f"| {name} | {label} | {mode} | {n} | {s['over_mean']:.2%} | {s['over_worst']:.2%} "
                            f"(frame {s['worst_frame']}) | {s['over_worst_second']:.2%} | {t['s']:.1f} |")
                print(rows[-1], flush=True)
    return rows


def side_by_side(results: list[dict], modes: list[str]) -> list[str]:
    """One row a kind and material (made clips with truth; shared clips whose truth is empty), each
    mode's leak frames (all clips) and over-redaction (the worst clip's mean, the worst frame of all)
    side by side. deface hides faces only: on a kind's clips it runs what it runs (faces), so its
    columns show what a faces-only peer leaves (leaks) and covers there."""
    groups: dict[tuple[str, str], dict[str, list[dict]]] = {}
    for r in results:
        if "error" in r:
            continue
        material = "shared clips (truth empty)" if r.get("real") else "made clips"
        if r.get("real") and r["mode"].startswith("deface"):
            for kind in {x["kinds"] for x in results if x.get("real") and x["clip"] == r["clip"]}:
                groups.setdefault((kind, material), {}).setdefault(r["mode"], []).append(r)
            continue
        groups.setdefault((r["kinds"], material), {}).setdefault(r["mode"], []).append(r)
    head = "| kind | material | clips | " + " | ".join(f"{m}: leak frames | {m}: mean (worst clip) | {m}: worst frame"
                                                        for m in modes) + " |"
    rows = [head, "|" + "---|" * (3 + 3 * len(modes))]
    for (kind, material), by_mode in groups.items():
        n = max(len(v) for v in by_mode.values())
        cells = []
        for m in modes:
            rs = by_mode.get(m, [])
            if not rs:
                cells += ["", "", ""]
                continue
            worst = max(rs, key=lambda r: r["over_mean"])
            frame = max(rs, key=lambda r: r["over_worst"])
            leaks = "n/a (no truth)" if material.startswith("shared") else str(sum(r["leak_frames"] for r in rs))
            cells += [leaks, f"{worst['over_mean']:.2%} ({worst['clip']})",
                      f"{frame['over_worst']:.2%} ({frame['clip']}, frame {frame['worst_frame']})"]
        rows.append(f"| {kind} | {material} | {n} | " + " | ".join(cells) + " |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=2.0, help="length of each generated clip (default 2)")
    ap.add_argument("--quick", action="store_true",
                    help="1 s clips, the four 23.976 fps face clips only (a few minutes on 2 cores)")
    ap.add_argument("--clips", default=None, help="only the clips whose names contain one of these (comma-separated)")
    ap.add_argument("--modes", default="kit fast,kit fast fp32,kit exact,deface blur,deface solid",
                    help="comma-separated (default: these five; kit fast is the 8-bit fast pass, the default; "
                         "'kit run' adds the kit's whole CLI run, its audit and report included)")
    ap.add_argument("--work", default="/tmp/vidmask_groundtruth")
    ap.add_argument("--json", default=None, help="write every figure here too")
    ap.add_argument("--real", type=int, default=0, metavar="FRAMES",
                    help="also judge the first FRAMES frames of every shared clip with MTCNN, same modes, in this "
                         "run (benchmarks/judge_mtcnn.py; default 0: not)")
    ap.add_argument("--real-kinds", default="", metavar="KINDS",
                    help="also run each of these kinds (e.g. codes,pii,text,faces,faces+pii+codes) on the first "
                         "--real-seconds of every shared clip, whose truth for them is empty: every change is "
                         "over-redaction (faces only on 02_hummingbird, which has no people; faces+pii+codes "
                         "everywhere: the issue's run, the faces it covers counted too)")
    ap.add_argument("--real-seconds", type=float, default=1.0)
    ap.add_argument("--real-clips", default=None, help="only these shared clips (comma-separated stems)")
    a = ap.parse_args()
    seconds = 1.0 if a.quick else a.seconds
    if a.quick and not a.clips:
        a.clips = "walk,turn,leave,small"
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    load0 = os.getloadavg()
    faces = face_sprites(work)
    bgs = backgrounds()
    occ = next(decode(MEDIA / "07_snowboarder.mp4", n=1))[200:520, 300:700]
    modes = [m.strip() for m in a.modes.split(",")]
    rows, results, totals = [], [], {m: [0, 0.0, 0.0, 0, 0] for m in modes}  # frames, s, cpu, leak frames, worst
    for name, (scene, kinds) in scenes(faces, seconds, occ).items():
        if a.clips and not any(c.strip() in name for c in a.clips.split(",")):
            continue
        cw = work / name.replace(" ", "_").replace("/", "-")
        cw.mkdir(exist_ok=True)
        clip = cw / "clip.mp4"
        write_truth_clip(clip, scene, bedroom_backgrounds(scene.frame_count) if name.startswith("bedroom") else bgs)
        for mode in modes:
            out, t = run_mode(clip, cw, kinds, mode)
            s = score(clip, out, scene)
            results.append({"clip": name, "kinds": kinds, "mode": mode, "frames": scene.frame_count, **t, **s})
            tot = totals[mode]
            tot[0] += scene.frame_count
            tot[1] += t["floor_s"] if "floor_s" in t else t["s"]
            tot[2] += t["floor_cpu"] if "floor_cpu" in t else t["cpu"]
            if "error" in s:
                rows.append(f"| {name} | {mode} | {scene.frame_count} | {s['error']} |")
            else:
                tot[3] += s["leak_frames"]
                tot[4] = max(tot[4], s["leak_frames"])
                floor = f" (floor {t['floor_s']:.1f})" if "floor_s" in t else ""
                rows.append(f"| {name} | {mode} | {scene.frame_count} | {s['leak_frames']} | {s['leak_runs']} | "
                            f"{s['recall']:.3f} | {s['over_redaction']:.2%} | {s['over_worst']:.2%} (frame "
                            f"{s['worst_frame']}) | {s['over_worst_second']:.2%} | {t['s']:.1f}{floor} | {t['cpu']:.1f} |")
            print(rows[-1], f"leaks at {s.get('leaks')}" if s.get("leaks") else "", flush=True)
    empty_rows = real_footage(a, work, modes, results) if a.real_kinds else []
    real_rows = []
    if a.real:
        from judge_mtcnn import judge_clips

        real_rows = judge_clips(sorted(p.stem for p in MEDIA.glob("*.mp4")), a.real, modes, work / "real")
    load1 = os.getloadavg()
    print("\n| clip | mode | frames | leak frames | leak runs | recall | over-redaction | worst frame | worst second "
          "| s | CPU s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    # the kit's floor pass (KIT_MODES) and its whole run (`kit run`) beside deface's whole run, on the same clips
    solid = totals.get("deface solid")
    print("\n| mode | frames | leak frames (all clips) | worst clip | frames/s (wall) | x deface solid's frame rate "
          "| CPU s a frame |")
    print("|---|---|---|---|---|---|---|")
    for m, (n, s, c, lk, worst) in totals.items():
        what = "floor pass" if m in KIT_MODES else "whole CLI run"
        ratio = f"{solid[1] / max(s, 1e-9) * n / max(solid[0], 1):.2f}" if solid and solid[1] else "-"
        print(f"| {m} | {n} | {lk} | {worst} | {n / max(s, 1e-9):.2f} ({what}) | {ratio} | {c / max(n, 1):.3f} |")
    if empty_rows:
        print("\nReal footage, truth empty for the kind run: every change is over-redaction "
              "(deface runs faces whatever the kind: its row is the same for every kind)")
        print("| clip | kind | mode | frames | changed, mean | worst frame | worst second | s |")
        print("|---|---|---|---|---|---|---|---|")
        print("\n".join(empty_rows))
    if real_rows:
        from judge_mtcnn import print_table

        print("\nThe real clips, judged by MTCNN (no truth: frames where a face it finds in the source is still found):")
        print_table(real_rows, modes)
    print("\nEvery kind side by side: leak frames and over-redaction (the share of a frame's pixels changed "
          "outside the true regions)")
    print("\n".join(side_by_side(results, modes)))
    print(f"\nload average at start {load0[0]:.1f}, at end {load1[0]:.1f} (1 min), {os.cpu_count()} cores")
    if a.json:
        Path(a.json).write_text(json.dumps({"results": results, "load": [load0, load1]}, indent=1))


if __name__ == "__main__":
    main()
