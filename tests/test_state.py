"""One run state owned by the run folder (issues 18 and 21): the notebooks are the run, one run per
folder at a time, share only what passed, Ctrl-C leaves a resumable folder.

Each test first says the harm it reproduces, then asserts it cannot happen. The two full runs use
random SAM 2 weights at 128 px on a generated half-second clip.
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import papermill
import pytest

from vidmask_nb.cli import main
from vidmask_nb.errors import VidmaskError
from vidmask_nb.media.sample import SampleScene, make_sample_clip
from vidmask_nb.media.video import probe
from vidmask_nb.prompts.sources import sample_prompts
from common import inject_masks
from vidmask_nb.redact.render import render
from vidmask_nb.run.pipeline import execute_notebook, share
from vidmask_nb.runfolder.folder import RunFolder
from vidmask_nb.runfolder.record import RunRecord, StageRecord
from vidmask_nb.runfolder.state import LOCK_FILE, RunLock, RunState, sha256_file

ROOT = Path(__file__).resolve().parents[1]
NB = ROOT / "notebooks"
FAST = ["--weights", "random", "--image-size", "128", "--device", "cpu", "--chunk-seconds", "0.25"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, Path]:
    """A 0.5 s 96x64 clip (12 frames at 24 fps, no audio) and its two-object prompts."""
    d = tmp_path_factory.mktemp("tiny")
    clip = make_sample_clip(d / "clip.mp4", seconds=0.5, fps=Fraction(24), size=(96, 64), audio=False)
    sample_prompts(probe(clip)).save(d / "prompts.json")
    return clip, d / "prompts.json"


def stages(workdir: Path) -> dict:
    return {n: rec.status for n, rec in RunState.load(workdir).record.stages.items()}


@pytest.mark.slow
def test_the_notebooks_alone_are_a_run_that_share_checks(tmp_path, tiny, capsys):
    """Issue 18 item 1. The harm: after stepping through 01 -> 04, `vidmask-nb share` exited 2 (`holds no
    run.json`), since only the headless pipeline wrote the run's state; and issue 18 item 2: a failed 01
    (a non-video) still saved the run's settings. Then every refusal of share on that folder."""
    clip, prompts = tiny
    run, reports = tmp_path / "run", tmp_path / "reports"
    not_a_video = tmp_path / "notes.mp4"
    not_a_video.write_text("a text file")
    with pytest.raises(papermill.PapermillExecutionError) as err:
        execute_notebook(NB / "01_extract.ipynb", reports / "01_bad.ipynb", {"workdir": str(run), "video": str(not_a_video)})
    assert err.value.ename == "VidmaskError"
    assert not run.exists(), "a failed 01 leaves no settings and nothing else in the run folder"

    params = {"weights": "random", "image_size": 128, "device": "cpu", "chunk_seconds": 0.25}
    execute_notebook(NB / "01_extract.ipynb", reports / "01.ipynb",
                     {"workdir": str(run), "video": str(clip), "thumbnails": 1, **params})
    execute_notebook(NB / "02_prompt.ipynb", reports / "02.ipynb",
                     {"workdir": str(run), "prompts_file": str(prompts), "preview": False})
    execute_notebook(NB / "03_propagate.ipynb", reports / "03.ipynb", {"workdir": str(run), "overlay_count": 1})
    execute_notebook(NB / "04_render.ipynb", reports / "04.ipynb", {"workdir": str(run), "overlay_preview": False})
    state = RunState.load(run)
    assert state.status == "complete" and stages(run) == dict.fromkeys(
        ("01_extract", "02_prompt", "03_propagate", "04_render"), "done")
    assert "the run is complete; share it with: vidmask-nb share" in (reports / "04.ipynb").read_text()
    assert not (run / LOCK_FILE).exists(), "each kernel lets the folder's lock go when it ends"
    output = run / "clip_redacted.mp4"

    to = tmp_path / "to publish"
    assert main(["share", str(run), "--to", str(to)]) == 0
    assert sha256_file(to / "clip_redacted.mp4") == state.record.output_sha256 == sha256_file(output)
    assert json.loads((to / "summary.json").read_text())["leaks_accepted"] is False

    def refused(words: str, *flags: str, dest: Path | None = None) -> None:
        rc = main(["share", str(run), "--to", str(dest or tmp_path / "again"), *flags])
        err = capsys.readouterr().err
        assert rc == 2 and words in err and err.count("\n") == 1, err

    refused("is not empty", dest=to)  # --to already holds files: refused unless asked
    assert main(["share", str(run), "--to", str(to), "--into-non-empty"]) == 0
    good = output.read_bytes()
    output.write_bytes(good + b"\0")  # the video modified after the run
    refused("is not the file this run wrote")
    output.write_bytes(good)
    drawn = (run / "prompts.json").read_text()
    (run / "prompts.json").write_text(drawn.replace('"label": "ball"', '"label": "bal"'))  # the inputs changed
    refused("changed since the run")
    (run / "prompts.json").write_text(drawn)
    masks = (run / "masks.json").read_bytes()
    (run / "masks.json").write_bytes(masks.replace(b'"ball"', b'"ba1l"'))  # another masks.json
    refused("changed since the run", "--with-masks")
    (run / "masks.json").write_bytes(masks)

    # The run's own audit found leaks (issue 21 item 5): share refuses unless the person says so.
    state = RunState.load(run)
    state.update(audit=dict(state.record.audit, clean=False, leak_frames=[3, 4]))
    refused("--accept-leaks")
    assert main(["share", str(run), "--to", str(tmp_path / "anyway"), "--accept-leaks", "--with-masks"]) == 0
    summary = json.loads((tmp_path / "anyway" / "summary.json").read_text())
    assert summary["leaks_accepted"] is True and summary["audit"]["leak_frames"] == [3, 4]
    assert summary["masks_sha256"] == sha256_file(tmp_path / "anyway" / "masks.json")


def test_the_record_is_typed_and_refuses_what_the_kit_does_not_write():
    """run.json is read into typed records, each field checked once (issue 27): a round trip is exact; an unknown
    field or one of another type, at the top or in a stage, is one line naming it."""
    record = RunRecord(status="running", video="/v.mp4", options={"style": "fill"}, seconds=2,
                       stages={"01_extract": StageRecord(status="done", outputs={"manifest.json": "ab"})})
    assert RunRecord.from_json(record.to_json(), "run.json") == record
    assert record.stage("04_render") == StageRecord() and "04_render" not in record.stages
    for data, field in (({"status": "running", "note": 1}, "'note' is not one"), ({"seconds": True}, "'seconds' is bool"),
                        ({"stages": {"02_prompt": {"outputs": {"floor.json": 3}}}}, "'outputs' is dict"),
                        ({"files": ["a", 2]}, "'files' is list")):
        with pytest.raises(VidmaskError, match=field):
            RunRecord.from_json(data, "run.json")


def test_a_stale_lock_is_taken_over_and_a_live_one_refuses(tmp_path):
    """Issue 21 item 2. The harm: two runs into one folder mixed their options and videos. A live
    holder refuses a second run with one line; the lock of a killed run is taken over, and said."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        folder = RunFolder(tmp_path / "run").create()
        lock_file = folder.root / LOCK_FILE
        for pid, kind in ((dead.pid, "run"), (live.pid, "run")):
            lock_file.write_text(json.dumps({"pid": pid, "host": os.uname().nodename, "token": "t", "kind": kind,
                                             "started": "earlier"}))
            said = []
            if pid == live.pid:
                with pytest.raises(VidmaskError, match=f"another run is writing into .*process {pid}"):
                    RunLock(folder.root, said.append).acquire("run")
                with pytest.raises(VidmaskError, match="another run"):  # a notebook never joins a headless run
                    RunLock(folder.root, said.append).acquire("notebook")
                assert json.loads(lock_file.read_text())["pid"] == pid
            else:
                with RunLock(folder.root, said.append):
                    assert json.loads(lock_file.read_text())["pid"] == os.getpid()
                assert said == [f"took over the lock of process {pid} (a run started earlier), which is gone"]
                assert not lock_file.exists(), "released at the end"
    finally:
        live.kill()
        live.wait()


def test_a_missing_floor_fails_the_render_never_renders_uncovered(tmp_path, tiny, capsys):
    """Issue 21 item 5. The harm: notebook 04 of a `--no-track` run whose floor.json was gone wrote an
    unredacted video under the final name (30 of 30 frames still showing faces), no error."""
    clip, _ = tiny
    info = probe(clip)
    run = RunFolder(tmp_path / "run").create()
    scene = SampleScene((info.width, info.height), info.fps)
    inject_masks(info, {1: "ball"}, lambda i, k: scene.object_mask(i, k)).save(run.masks_json)
    floor = run.root / "floor.json"
    floor.write_text("{}")
    RunState.open(run.root).stage_done("02_prompt", [run.masks_json, floor])  # what 02's find records
    floor.unlink()
    with pytest.raises(VidmaskError, match="floor.json is missing, but this run's detectors wrote it"):
        render(clip, run.root, progress=False)
    rc = main(["render", str(clip), "--masks", str(run.masks_json), "--out", str(tmp_path / "out.mp4")])
    assert rc == 2 and "floor.json is missing" in capsys.readouterr().err
    assert not (run.root / "clip_redacted.mp4").exists() and not (tmp_path / "out.mp4").exists()


@pytest.mark.slow
def test_one_run_per_folder_and_ctrl_c_leaves_it_resumable(tmp_path, tiny, capsys):
    """Issue 21 items 2 and 8. The harms: a second run started into the same --out changed the first's
    options or video (run A, --style fill, published B's weak blur while its records said fill); and
    Ctrl-C to the CLI was ignored for 90 s while the kernel kept working."""
    clip, prompts = tiny
    other = tmp_path / "other.mp4"
    shutil.copy(clip, other)
    out = tmp_path / "run folder"  # a space: the printed share hint is quoted
    cmd = [sys.executable, "-m", "vidmask_nb.cli", "run", str(clip), "--prompts", str(prompts), "--out", str(out),
           *FAST, "--style", "fill"]
    a = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        for line in a.stderr:
            if "03_propagate" in line:
                break
        for video, style in ((clip, "blur"), (other, "fill")):  # B, while A holds the folder
            rc = main(["run", str(video), "--prompts", str(prompts), "--out", str(out), *FAST, "--style", style])
            err = capsys.readouterr().err
            assert rc == 2 and "another run is writing into" in err and err.count("\n") == 1, err
        state = RunState.load(out)
        assert state.record.options["style"] == "fill" and state.record.video == str(clip.resolve())
        deadline = time.time() + 120
        while not list((out / "masks").glob("seg_*.json")) and time.time() < deadline:
            time.sleep(0.2)  # one segment tracked: a rerun has something to resume from
        t0 = time.time()
        a.send_signal(signal.SIGINT)
        rc = a.wait(timeout=30)
        stopped = time.time() - t0
    finally:
        if a.poll() is None:
            a.kill()
            a.wait()
    assert stopped < 10, f"Ctrl-C took {stopped:.1f} s"
    assert rc == 130 and "a rerun resumes" in a.stderr.read()
    assert RunState.load(out).status == "interrupted" and not (out / LOCK_FILE).exists()
    with pytest.raises(VidmaskError, match="not complete"):
        share(out, tmp_path / "to")

    rc = main(cmd[3:])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    assert "resuming after" in cap.err or "already tracked" in cap.err, cap.err
    assert f"vidmask-nb share {shlex.quote(str(out))} --to DIR" in cap.out
    state = RunState.load(out)
    assert state.status == "complete" and set(stages(out).values()) == {"done"} and len(stages(out)) == 4
    assert share(out, tmp_path / "to")[0].name == "clip_redacted.mp4"
