"""How each benchmark mode redacts a clip (the kit's passes, deface's two), and the clip cut they share:
one place for ``groundtruth.py``, ``judge_mtcnn.py`` and ``measure_find.py`` (no import cycle between them)."""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vidmask_nb.detect import floor, floorfile, untracked  # noqa: E402
from vidmask_nb.media.encode import DEFAULT_CRF, DEFAULT_PRESET, X264_TUNING  # noqa: E402
from vidmask_nb.media.video import probe  # noqa: E402

MEDIA = Path(os.environ.get("VIDMASK_SHARED_MEDIA", ROOT.parent / "shared" / "media"))
DEFACE = Path(sys.executable).parent / "deface"
# deface encodes as the kit does (its crf, x264 preset and tuning), so both carry the same encoder noise
DEFACE_FFMPEG = json.dumps({"codec": "libx264", "quality": None, "output_params": [
    "-crf", str(DEFAULT_CRF), "-preset", DEFAULT_PRESET, "-x264-params", X264_TUNING.get(DEFAULT_PRESET, "")]})

def cut(src: Path, dst: Path, n: int) -> Path:
    """The first ``n`` frames of ``src``, re-encoded at crf 12 (cached at ``dst``)."""
    if dst.is_file():
        return dst
    tmp = dst.with_suffix(".part.mp4")
    with av.open(str(src)) as inp, av.open(str(tmp), "w") as out:
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
    tmp.rename(dst)
    return dst


KIT_MODES = {"kit fast": {"fine_model": "int8"}, "kit fast fp32": {"fine_model": "fp32"}, "kit exact": {"exact": True}}


def run_kit(clip: Path, work: Path, kinds: str, mode: str) -> tuple[Path, dict]:
    from vidmask_nb.redact import render
    from vidmask_nb.redact.gaps import DEFAULT_HOLD_SECONDS, hold_frames_for
    from vidmask_nb.runfolder.folder import RunFolder

    w = work / mode.replace(" ", "_")
    if w.exists():
        import shutil

        shutil.rmtree(w)
    w.mkdir(parents=True)
    info = probe(clip)
    t0, c0 = time.perf_counter(), time.process_time()
    RunFolder(w).create()
    floor.compute_floor(clip, w, kinds, info=info, **KIT_MODES[mode])  # find_and_floor's, not tracking
    t_floor, c_floor = time.perf_counter() - t0, time.process_time() - c0
    untracked.write_untracked_masks(clip, w, info)
    out = render.render(clip, w, floor=floorfile.floor_path(w), progress=False,
                        hold=hold_frames_for(DEFAULT_HOLD_SECONDS, info.fps))
    return out, {"s": time.perf_counter() - t0, "cpu": time.process_time() - c0, "floor_s": t_floor,
                 "floor_cpu": c_floor}


def run_mode(clip: Path, work: Path, kinds: str, mode: str) -> tuple[Path, dict]:
    """The output of one mode (a key of KIT_MODES, or deface blur / deface solid) and its seconds."""
    if mode in KIT_MODES:
        return run_kit(clip, work, kinds, mode)
    if mode not in ("deface blur", "deface solid"):
        raise SystemExit(f"unknown mode {mode!r}: one of {', '.join(KIT_MODES)}, deface blur, deface solid")
    return run_deface(clip, work, solid=mode == "deface solid")


def run_deface(clip: Path, work: Path, solid: bool) -> tuple[Path, dict]:
    out = work / f"deface_{'solid' if solid else 'blur'}.mp4"
    out.unlink(missing_ok=True)
    cmd = [str(DEFACE), str(clip), "-o", str(out), "--ffmpeg-config", DEFACE_FFMPEG]
    if solid:
        cmd += ["--replacewith", "solid"]
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return out, {"s": time.perf_counter() - t0, "cpu": (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)}
