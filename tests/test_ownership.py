"""One writer of a run's outputs, and the run folder belongs to the kit by proof (issue 30, harms 8-12).
Each test reproduces the harm first: real processes, real files, generated clips of a few frames."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from vidmask_nb.cli import main
from vidmask_nb.errors import VidmaskError
from vidmask_nb.detect.floorfile import FLOOR_VERSION
from vidmask_nb.media.sample import SampleScene, make_sample_clip
from vidmask_nb.media.video import VideoReader, probe
from vidmask_nb.prompts.sources import sample_prompts
from common import inject_masks
from vidmask_nb.redact.render import render
from vidmask_nb.run.pipeline import share
from vidmask_nb.runfolder.folder import RunFolder
from vidmask_nb.runfolder.state import RunState, check_run_folder, sha256_file

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A 6-frame 96x64 clip (no audio) and its info."""
    clip = make_sample_clip(tmp_path_factory.mktemp("tiny") / "clip.mp4", seconds=0.25, fps=Fraction(24),
                            size=(96, 64), audio=False)
    return clip, probe(clip)


def _cli(capsys, *argv) -> tuple[int, str]:
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    return rc, err


def _run_folder(root: Path, clip: Path, info) -> RunFolder:
    """A run folder as 01-03 leave it: a signed state, masks.json of the ball."""
    run = RunFolder(root).create()
    scene = SampleScene((info.width, info.height), info.fps)
    inject_masks(info, {1: "ball"}, lambda i, k: scene.object_mask(i, k)).save(run.masks_json)
    state = RunState.open(run.root)
    state.start(clip, info.fingerprint, {}, "key", say=lambda s: None)
    return run


def _files(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# -- harm 8: one writer, and the digest of the very bytes audited ----------------------------------

HOLD = r"""
import sys, time
from vidmask_nb.runfolder.state import RunLock
RunLock(sys.argv[1], lambda s: None).acquire("notebook")  # as notebook 04's kernel holds it
print("held", flush=True)
sys.stdin.read()
"""


def test_a_render_race_cannot_publish_uncovered_pixels(tmp_path, tiny, capsys):
    """Harm 8. The harm: a plain `render --style pixelate:2` started while 04 ran wrote over the run's own
    `<stem>_redacted.mp4`; 04 had audited the file it rendered, then recorded the sha256 of whatever sat at the
    path, and `share` published the weak render with a clean audit on record."""
    clip, info = tiny
    run = _run_folder(tmp_path / "run", clip, info)
    out = render(clip, run.root, progress=False)  # 04's render, in this process
    good = sha256_file(out)
    kernel = subprocess.Popen([sys.executable, "-c", HOLD, str(run.root)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        assert kernel.stdout.readline().strip() == "held"
        rc, err = _cli(capsys, "render", clip, "--masks", run.masks_json, "--out", out, "--style", "pixelate:2")
        assert rc == 2 and "another run is writing into" in err and len(err.splitlines()) == 1, err
        assert sha256_file(out) == good, "the run's output is untouched"
    finally:
        kernel.stdin.close()
        kernel.wait(timeout=30)

    # Another process replaces the output after this process rendered (and audited) it: nothing is recorded.
    stranger = tmp_path / "uncovered.mp4"
    shutil.copy(clip, stranger)
    os.replace(stranger, out)
    state = RunState.load(run.root)
    with pytest.raises(VidmaskError, match="replaced or changed after this process wrote it"):
        state.stage_done("04_render", [out])
    with pytest.raises(VidmaskError, match="replaced or changed after this process wrote it"):
        state.complete(out, inputs={})
    assert RunState.load(run.root).status != "complete"
    with pytest.raises(VidmaskError, match="not complete"):
        share(run.root, tmp_path / "to")

    # Rendered again, untouched: the digest recorded is that of the bytes written.
    out = render(clip, run.root, progress=False)
    state = RunState.load(run.root)
    state.complete(out, inputs={})
    assert RunState.load(run.root).record.output_sha256 == sha256_file(out)
    assert not (run.root / "run.lock").exists(), "the render let its lock go"


# -- harm 9: a masks file that says it holds a detector floor -------------------------------------

def test_masks_that_hold_a_detector_floor_render_with_it_or_refuse(tmp_path, tiny, capsys):
    """Harm 9. The harm: `render --masks` given the masks.json of a `--find faces --no-track` run, from
    outside its folder, covered no face (30/30 frames, exit 0), though floor.json sat beside it and the
    masks' header said "detector floor"."""
    clip, info = tiny
    elsewhere = tmp_path / "copied"
    elsewhere.mkdir()
    masks = elsewhere / "masks.json"
    inject_masks(info, {}, lambda i, k: None, key="no-track: detector floor only").save(masks)
    box = [20, 10, 60, 50]
    rc, err = _cli(capsys, "render", clip, "--masks", masks, "--out", tmp_path / "a.mp4")
    assert rc == 2 and "says it holds a detector floor" in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "a.mp4").exists()
    header = {"version": FLOOR_VERSION, "kinds": ["face"], "every": 1, "margin": 0.0,
              "frame_count": info.frame_count, "fingerprint": info.fingerprint}
    lines = [json.dumps(header)] + [json.dumps({"frame": i, "detections": [{"kind": "face", "box": box, "score": 0.9}]})
                                    for i in range(info.frame_count)]
    (elsewhere / "floor.json").write_text("\n".join(lines) + "\n")
    rc, err = _cli(capsys, "render", clip, "--masks", masks, "--out", tmp_path / "a.mp4")
    assert rc == 0, err
    with VideoReader(tmp_path / "a.mp4") as r:
        for frame in r:
            assert frame.rgb[box[1]:box[3], box[0]:box[2]].max() < 24, "the floor's box is filled on every frame"


# -- harm 10: another tool's run.json ---------------------------------------------------------

def test_a_folder_with_another_tools_run_json_keeps_every_file(tmp_path, tiny, capsys):
    """Harm 10. The harm: a folder holding another tool's run.json (with "key" and "status") was taken for an
    earlier run: its stale/important.txt, sensitive/qa/notes.txt and sensitive/reports/r.txt were deleted."""
    clip, info = tiny
    theirs = tmp_path / "their project"
    for name, text in (("run.json", json.dumps({"key": "abc", "status": "complete", "video": str(clip)})),
                       ("stale/important.txt", "keep"), ("sensitive/qa/notes.txt", "keep"),
                       ("sensitive/reports/r.txt", "keep"), ("prompts.json", "{}")):
        (theirs / name).parent.mkdir(parents=True, exist_ok=True)
        (theirs / name).write_text(text)
    before = _files(theirs)
    rc, err = _cli(capsys, "run", clip, "--find", "faces", "--no-track", "--out", theirs)
    assert rc == 2 and "did not sign" in err and len(err.splitlines()) == 1, err
    rc, err = _cli(capsys, "render", clip, "--masks", tmp_path / "none.json", "--out", theirs / "clip_redacted.mp4")
    assert rc == 2
    assert RunState(theirs, json.loads((theirs / "run.json").read_text())).retire_stale() == []
    with pytest.raises(VidmaskError, match="not signed by this kit"):
        RunState.open(theirs).start(clip, info.fingerprint, {}, "other", say=lambda s: None)
    assert _files(theirs) == before, "every file kept, nothing added"
    # The kit's own folder is recognised by its signature; a copy of its run.json elsewhere is not.
    run = _run_folder(tmp_path / "mine", clip, info)
    assert check_run_folder(run.root) == run.root
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(run.run_json, copy / "run.json")
    with pytest.raises(VidmaskError, match="did not sign"):
        check_run_folder(copy)


# -- harms 11 and 12: drawn prompts survive, a given prompts file is never rewritten ----------------

def test_drawn_prompts_survive_a_rerun_and_a_given_prompts_file_is_never_rewritten(tmp_path, tiny, capsys):
    """Harms 11 and 12. The harms: a rerun with only an option changed deleted the prompts.json drawn in the
    folder; `--prompts OUT/prompts.json` was rewritten in place, the user's extra field dropped."""
    clip, info = tiny
    run = _run_folder(tmp_path / "run", clip, info)
    drawn = sample_prompts(info).to_json()
    drawn["note"] = "the user's own field"
    run.prompts_json.write_text(json.dumps(drawn))
    before = run.prompts_json.read_bytes()
    said = []
    RunState.load(run.root).start(clip, info.fingerprint, {"style": "blur"}, "other options", say=said.append)
    assert run.prompts_json.read_bytes() == before, said
    rc, err = _cli(capsys, "run", clip, "--prompts", run.prompts_json, "--out", run.root, "--weights", "random")
    assert rc == 2 and "an input is never rewritten" in err and len(err.splitlines()) == 1, err
    assert run.prompts_json.read_bytes() == before


# -- harm 17: a fingerprint that catches an edit --------------------------------------------------

def test_the_fingerprint_catches_an_edit_in_the_middle(tmp_path):
    """Harm 17. The harm: changing 200 kB in the middle of an 11.8 MB source kept the same fingerprint
    (first, middle and last MiB only), and `share` accepted the run."""
    from vidmask_nb.media.video import fingerprint

    path = tmp_path / "source.bin"
    data = bytearray(np.random.default_rng(0).integers(0, 256, 11_800_000, dtype=np.uint8).tobytes())
    path.write_bytes(data)
    before = fingerprint(path)
    data[3_000_000:3_200_000] = bytes(200_000)  # 200 kB between the sampled MiBs of the old fingerprint
    path.write_bytes(data)
    assert fingerprint(path) != before
