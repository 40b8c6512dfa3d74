"""The run folder's lock (issue 30, harms 13-15): atomic takeover, and a hostile run.lock is one line, never a
traceback or a hang. Real processes and real files."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vidmask_nb.errors import VidmaskError
from vidmask_nb.runfolder.folder import RunFolder
from vidmask_nb.runfolder.state import LOCK_FILE, RunLock, process_start

ROOT = Path(__file__).resolve().parents[1]

# A taker: each round waits for "go T", tries the lock at time T, says "won" or "lost", holds what it won
# until "next", then lets it go.
TAKER = r"""
import sys, time
from vidmask_nb.errors import VidmaskError
from vidmask_nb.runfolder.state import RunLock
root = sys.argv[1]
for line in sys.stdin:
    if not line.startswith("go"):
        break
    at = float(line.split()[1])
    lock = RunLock(root, lambda s: None)
    while time.time() < at:
        pass
    try:
        lock.acquire("run")
        print("won", flush=True)
    except VidmaskError:
        print("lost", flush=True)
    sys.stdin.readline()  # "next"
    lock.release()
    print("ok", flush=True)
"""

def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid

def _stale(lock_file: Path, pid: int, n: int) -> None:
    lock_file.write_text(json.dumps({"pid": pid, "host": os.uname().nodename, "token": f"stale-{n}",
                                     "kind": "run", "started": "earlier"}))

def test_four_racing_takers_of_a_stale_lock_never_hold_it_together(tmp_path):
    """Harm 13. The harm: with 4 processes taking over one stale lock, 2 held it together in 2 of 35
    rounds (each read the dead holder, removed the lock, and the later one removed the earlier's)."""
    folder = RunFolder(tmp_path / "run").create()
    lock_file = folder.root / LOCK_FILE
    dead = _dead_pid()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    takers = [subprocess.Popen([sys.executable, "-c", TAKER, str(folder.root)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True, env=env) for _ in range(4)]
    try:
        together = []
        for n in range(100):
            _stale(lock_file, dead, n)
            at = time.time() + 0.05
            for t in takers:
                t.stdin.write(f"go {at}\n")
                t.stdin.flush()
            said = [t.stdout.readline().strip() for t in takers]
            assert set(said) <= {"won", "lost"}, said
            if said.count("won") != 1:
                together.append((n, said))
            for t in takers:
                t.stdin.write("next\n")
                t.stdin.flush()
            assert [t.stdout.readline().strip() for t in takers] == ["ok"] * 4
            assert not lock_file.exists(), "the one holder let it go"
        assert together == [], f"rounds without exactly one holder: {together[:5]}"
    finally:
        for t in takers:
            t.stdin.close()
            t.wait(timeout=30)

def _refused(folder: Path, words: str) -> str:
    with pytest.raises(VidmaskError) as err:
        RunLock(folder, lambda s: None).acquire("run")
    line = str(err.value)
    assert words in line and "\n" not in line, line
    return line

def test_a_hostile_lock_is_one_line_or_taken_over_never_a_traceback_or_a_hang(tmp_path):
    """Harms 14-16. The harms: a run.lock whose pid was "abc" or null was a traceback; a FIFO as run.lock hung
    without a word; a folder as run.lock was "removed", then failed; a stale lock whose pid a later process
    reused was refused forever."""
    folder = RunFolder(tmp_path / "run").create().root
    lock_file = folder / LOCK_FILE
    for pid in ("abc", None, -5, 1.5, True):
        lock_file.write_text(json.dumps({"pid": pid, "host": os.uname().nodename, "token": "x", "kind": "run",
                                         "started": "earlier"}))
        said = []
        with RunLock(folder, said.append):
            assert json.loads(lock_file.read_text())["pid"] == os.getpid()
        assert len(said) == 1 and "took over the lock" in said[0], said
    lock_file.write_text("not json")
    said = []
    with RunLock(folder, said.append):
        pass
    assert said == [f"removed the unreadable lock {lock_file} (it names no process)"]

    lock_file.mkdir()
    (lock_file / "keep.txt").write_text("someone's")
    _refused(folder, "is a folder, not the kit's lock")
    assert (lock_file / "keep.txt").read_text() == "someone's", "nothing of it removed"
    (lock_file / "keep.txt").unlink()
    lock_file.rmdir()

    os.mkfifo(lock_file)
    t0 = time.time()
    _refused(folder, "not a plain file")
    assert time.time() - t0 < 5
    assert RunLock(folder).holder_or_none() is None
    lock_file.unlink()

    # A live process that reused the pid of the lock's holder: its start time differs, so it is not the holder.
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        record = {"pid": live.pid, "host": os.uname().nodename, "token": "y", "kind": "run", "started": "earlier"}
        lock_file.write_text(json.dumps(dict(record, pid_start=process_start(live.pid))))
        _refused(folder, f"process {live.pid}")  # the very process: refused
        if process_start(live.pid) is None:
            pytest.skip("no /proc here: a reused pid cannot be told from its first process")
        lock_file.write_text(json.dumps(dict(record, pid_start="another boot:12345")))
        said = []
        with RunLock(folder, said.append):
            pass
        assert "took over the lock" in said[0]
    finally:
        live.kill()
        live.wait()
