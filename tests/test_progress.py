"""Progress inside a stage on the CLI (issue 30, item 6): frames done, rate and ETA on a terminal, nothing
when stderr is a pipe. A real pseudo-terminal, a real render."""
from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from fractions import Fraction
from pathlib import Path

from vidmask_nb.media.sample import SampleScene, make_sample_clip
from vidmask_nb.media.video import probe
from common import inject_masks

ROOT = Path(__file__).resolve().parents[1]


def _read_all(fd: int) -> str:
    out = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    return out.decode("utf-8", "replace")


def test_render_prints_frame_progress_on_a_terminal_and_nothing_on_a_pipe(tmp_path):
    """The harm: a 396 s run printed only its stage lines, nothing inside a stage."""
    clip = make_sample_clip(tmp_path / "clip.mp4", seconds=1, fps=Fraction(24), size=(96, 64), audio=False)
    info = probe(clip)
    scene = SampleScene((info.width, info.height), info.fps)
    inject_masks(info, {1: "ball"}, lambda i, k: scene.object_mask(i, k)).save(tmp_path / "masks.json")
    env = {k: v for k, v in os.environ.items() if k != "TQDM_DISABLE"}
    env["PYTHONPATH"] = str(ROOT)
    cmd = [sys.executable, "-m", "vidmask_nb.cli", "render", str(clip), "--masks", str(tmp_path / "masks.json")]

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a terminal 100 columns wide
    p = subprocess.Popen(cmd + ["--out", str(tmp_path / "a.mp4")], stdin=slave, stdout=slave, stderr=slave,
                         env=env, close_fds=True)
    os.close(slave)
    shown = _read_all(master)
    os.close(master)
    assert p.wait(timeout=120) == 0, shown
    assert f"{info.frame_count}/{info.frame_count}" in shown and "frame/s" in shown, shown  # done, rate
    assert "<00:00" in shown, "an ETA"

    piped = subprocess.run(cmd + ["--out", str(tmp_path / "b.mp4")], capture_output=True, text=True, env=env,
                           timeout=120)
    assert piped.returncode == 0, piped.stderr
    assert "frame/s" not in piped.stderr + piped.stdout and "redacted video:" in piped.stdout


def test_run_prints_frame_progress_inside_its_stages_on_a_terminal(tmp_path):
    """`vidmask-nb run` runs its stages in one process: the find pass and the render show frames, rate and
    ETA on a terminal, between the stage lines."""
    clip = make_sample_clip(tmp_path / "clip.mp4", seconds=1, fps=Fraction(24), size=(96, 64), audio=False)
    env = {k: v for k, v in os.environ.items() if k != "TQDM_DISABLE"}
    env["PYTHONPATH"] = str(ROOT)
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    p = subprocess.Popen([sys.executable, "-m", "vidmask_nb.cli", "run", str(clip), "--find", "faces", "--no-track",
                          "--no-reports", "--out", str(tmp_path / "run")], stdin=slave, stdout=slave, stderr=slave,
                         env=env, close_fds=True)
    os.close(slave)
    shown = _read_all(master)
    os.close(master)
    assert p.wait(timeout=300) == 0, shown
    frames = probe(clip).frame_count
    assert "2/3 02_prompt" in shown and "render clip.mp4" in shown, shown
    assert f"{frames}/{frames}" in shown and "frame/s" in shown, shown
