"""Progress inside a stage on the CLI (issue 30, item 6): frames done, rate and ETA on a terminal, nothing
when stderr is a pipe. A real pseudo-terminal, a real render."""
from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import time
import termios
from fractions import Fraction
from pathlib import Path

from vidmask_nb.media.sample import SampleScene, make_sample_clip
from vidmask_nb.media.video import probe
from vidmask_nb.redact.render import inject_masks

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


KERNEL = r"""
import time
import vidmask_nb.runfolder  # what every stage imports: with VIDMASK_PROGRESS set, its bars are relayed
from tqdm.auto import tqdm
for _ in tqdm(range(40), desc="render clip.mp4", unit="frame", mininterval=0.05):
    time.sleep(0.05)
"""


def test_a_stage_in_another_process_shows_its_frames_on_the_console(tmp_path):
    """`vidmask-nb run` executes each stage in a notebook kernel: its bars reach the console through
    ``runfolder.progress.relay`` (a real child process, as a kernel is)."""
    import io

    from vidmask_nb.runfolder import progress

    shown = io.StringIO()
    env = {k: v for k, v in os.environ.items() if k != "TQDM_DISABLE"}
    with progress.relay(tmp_path, stream=shown):
        subprocess.run([sys.executable, "-c", KERNEL], env=dict(env, PYTHONPATH=str(ROOT),
                                                                **{progress.PROGRESS_ENV: os.environ[progress.PROGRESS_ENV]}),
                       check=True, capture_output=True, timeout=120)
        time.sleep(2 * progress.EVERY)
    text = shown.getvalue()
    assert "render clip.mp4: " in text and "/40 frame, " in text and "frame/s" in text and "ETA" in text, text
    assert text.rstrip().endswith("40/40 frame, " + text.rstrip().rsplit("40/40 frame, ", 1)[1]), text
    assert "done" in text.splitlines()[-1] and text.endswith("\n")
    with progress.relay(tmp_path, enabled=False):
        assert progress.PROGRESS_ENV not in os.environ
