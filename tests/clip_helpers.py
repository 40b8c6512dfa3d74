"""Writing test clips from RGB frames (H.264, crf 12, one frame per ``1/fps``)."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Iterable

import av
import numpy as np


def write_clip(path: Path, frames: Iterable[np.ndarray], fps=Fraction(10)) -> Path:
    """Encode ``frames`` (HxWx3 uint8, any iterable: a generator streams) to ``path``; the size is the first frame's."""
    with av.open(str(path), "w") as out:
        vs = None
        for i, rgb in enumerate(frames):
            if vs is None:
                vs = out.add_stream("libx264", rate=fps)
                vs.height, vs.width = rgb.shape[:2]
                vs.pix_fmt, vs.options = "yuv420p", {"crf": "12", "preset": "veryfast"}
            f = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            f.pts, f.time_base = i, 1 / fps
            for p in vs.encode(f):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)
    return Path(path)


def start_run(workdir: Path, video: Path, **options) -> Path:
    """What notebook 01 leaves in ``workdir``: the run's settings naming ``video`` (absolute) and ``options``
    (``RunOptions`` fields), so notebooks 02-04 run with only ``workdir``."""
    from vidmask_nb.run.options import RunOptions
    from vidmask_nb.run.settings import RunSettings

    RunSettings(Path(video).resolve(), Path(workdir), RunOptions(**options)).save(say=lambda line: None)
    return Path(workdir)
