"""Incremental tracking (issue 10): after the prompts change, only what changed is re-tracked.

A 100-frame 160x120 clip; object A (the ball) prompted on frames 5 and 35, B (the block) on
frame 5; one complete run (SAM 2 for real, random weights, 128 px) shared by the tests, each of
which edits a copy of its run folder. Nothing asserts what the untrained model segments: only
which mask bytes change and what the run says it did.
"""
from __future__ import annotations

import json
import os
import signal
import shutil
import subprocess
import time
from fractions import Fraction
from pathlib import Path

import pytest

from vidmask_nb.track.corrections import TrackingChanges, plan_passes, tracking_changes
from vidmask_nb.track.masks import MaskStore
from vidmask_nb.track.model import load_predictor
from vidmask_nb.prompts.records import FramePrompt, PromptSet
from vidmask_nb.track.propagate import INCREMENTAL, TrackOptions, track
from vidmask_nb.runfolder.folder import RunFolder
from vidmask_nb.media.sample import SampleScene, make_sample_clip
from vidmask_nb.media.video import probe
from track_helpers import tracking_command

ROOT = Path(__file__).resolve().parents[1]
IMAGE_SIZE = 128
MODEL = TrackOptions(weights="random", image_size=IMAGE_SIZE, device="cpu")
ARGS = dict(chunk_frames=25, progress=False)


def _clip(tmp_path_factory, frames: int) -> Path:
    return make_sample_clip(tmp_path_factory.mktemp("clip") / f"clip{frames}.mp4", seconds=frames / 25,
                            fps=Fraction(25), size=(160, 120), audio=False)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return _clip(tmp_path_factory, 100)


@pytest.fixture(scope="module")
def info(clip):
    return probe(clip)


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory) -> Path:
    """32 frames: the tests whose point does not need 100."""
    return _clip(tmp_path_factory, 32)


@pytest.fixture(scope="module")
def predictor():
    with pytest.warns(UserWarning, match="RANDOM WEIGHTS"):
        return load_predictor("tiny", weights="random", image_size=IMAGE_SIZE, device="cpu")


def box(info, frame: int, obj_id: int) -> FramePrompt:
    scene = SampleScene((info.width, info.height), info.fps)
    return FramePrompt(frame=frame, obj_id=obj_id, box=scene.object_box(frame, obj_id), pts=info.pts[frame])


def base_prompts(info, a_frames=(5, 35)) -> PromptSet:
    """A (the ball) prompted on ``a_frames``, B (the block) on frame 5."""
    prompts = PromptSet.for_video(info)
    prompts.add_object("A", (230, 40, 40))
    prompts.add_object("B", (40, 90, 230))
    prompts.prompts += [box(info, f, 1) for f in a_frames] + [box(info, 5, 2)]
    return prompts.validate(info)


def _full_run(work: Path, clip: Path, prompts: PromptSet, predictor) -> Path:
    RunFolder(work).create()
    prompts.save(RunFolder(work).prompts_json)
    result = track(clip, work, MODEL, predictor=predictor, **ARGS)
    assert result.changes.mode == "full" and result.changes.model_loaded
    return work


@pytest.fixture(scope="module")
def base_run(tmp_path_factory, clip, info, predictor) -> Path:
    """A complete full run on the 100-frame clip: A on frames 5 and 35, B on frame 5."""
    return _full_run(tmp_path_factory.mktemp("base") / "run", clip, base_prompts(info), predictor)


@pytest.fixture(scope="module")
def short_run(tmp_path_factory, short_clip, predictor) -> Path:
    """A complete full run on the 32-frame clip: A on frames 5 and 20, B on frame 5."""
    return _full_run(tmp_path_factory.mktemp("short") / "run", short_clip,
                     base_prompts(probe(short_clip), (5, 20)), predictor)


def copy_run(base: Path, dest: Path) -> RunFolder:
    shutil.copytree(base, dest)
    return RunFolder(dest)


def per_object(path: Path) -> dict[int, list[str]]:
    """{object id: [that object's mask JSON (RLE and score) on each frame]}: the bytes compared."""
    out: dict[int, list[str]] = {}
    for fm in MaskStore.load(path):
        for o in fm.objects:
            out.setdefault(o.obj_id, []).append(json.dumps({"rle": o.rle, "score": o.to_json()["score"]}))
    return out


# -- planning (no model) ---------------------------------------------------------------------------

def test_passes_run_from_the_changed_frame_to_the_neighbouring_prompts():
    a, b, c = {"box": [1]}, {"box": [2]}, {"box": [3]}
    added = plan_passes(1, {5: a, 35: b}, {5: a, 15: c, 35: b}, 100)
    assert [(s.start, s.reverse, s.limit) for s in added] == [(15, False, 34), (15, True, 6)]
    moved = plan_passes(1, {5: a, 35: b}, {5: a, 35: c}, 100)  # to the video's end forward
    assert [(s.start, s.reverse, s.limit) for s in moved] == [(35, False, 99), (35, True, 6)]
    deleted = plan_passes(1, {5: a, 20: c, 35: b}, {5: a, 35: b}, 100)  # no prompt left at 20
    assert [(s.start, s.reverse, s.limit) for s in deleted] == [(20, False, 34), (20, True, 6)]
    first = plan_passes(1, {5: a}, {0: c, 5: a}, 100)  # frame 0: nothing backward
    assert [(s.start, s.reverse, s.limit) for s in first] == [(0, False, 4)]
    assert plan_passes(1, {5: a}, {5: a}, 100) == []


# -- with SAM 2 ------------------------------------------------------------------------------------

@pytest.mark.slow
def test_added_box_retracks_only_that_span(tmp_path, base_run, clip, info, predictor):
    run = copy_run(base_run, tmp_path / "run")
    before = per_object(run.masks_json)
    prompts = PromptSet.load(run.prompts_json, info)
    prompts.prompts.append(box(info, 15, 1))
    prompts.save(run.prompts_json)

    result = track(clip, run.root, MODEL, predictor=predictor, **ARGS)
    after = per_object(run.masks_json)
    assert after[2] == before[2]  # B: byte-identical on every frame
    changed = [f for f in range(100) if after[1][f] != before[1][f]]
    assert all(5 <= f <= 34 for f in changed)
    assert after[1][:5] == before[1][:5] and after[1][35:] == before[1][35:]
    changes = result.changes
    assert changes.mode == "incremental" and changes.model_loaded
    a, b = changes.objects
    assert (a.action, b.action) == ("retracked", "unchanged")
    assert a.spans and all(5 <= lo <= hi <= 34 for lo, hi in a.spans)
    assert set(changed) <= {f for lo, hi in a.spans for f in range(lo, hi + 1)}
    assert "re-tracked `A` over frames" in changes.summary() and "1 object(s) unchanged" in changes.summary()
    assert result.key.startswith(result.key.split(INCREMENTAL)[0]) and INCREMENTAL in result.key
    assert tracking_changes(run.root) == changes  # the record beside masks.json, for run.json and the QA
    assert not list(run.masks_dir.glob("fix_*")) and len(list(run.masks_dir.glob("tracked-*.json"))) == 1
    # Nothing left to do: the same call returns at once; --full re-tracks everything.
    again = track(clip, run.root, MODEL, predictor=predictor, **ARGS)
    assert again.key == result.key and again.changes == changes


@pytest.mark.slow
def test_removing_or_renaming_objects_tracks_nothing(tmp_path, short_run, short_clip):
    clip, info = short_clip, probe(short_clip)
    run = copy_run(short_run, tmp_path / "run")
    before = per_object(run.masks_json)
    prompts = PromptSet.load(run.prompts_json, info)
    prompts.objects[0] = type(prompts.objects[0])(1, "person", (1, 2, 3))  # renamed, recoloured
    prompts.save(run.prompts_json)
    renamed = track(clip, run.root, MODEL, **ARGS)  # no predictor given: it would have to load one
    assert not renamed.changes.model_loaded
    assert [(o.obj_id, o.action, o.spans) for o in renamed.changes.objects] == [(1, "relabelled", ()),
                                                                              (2, "unchanged", ())]
    store = MaskStore.load(run.masks_json)
    assert store.objects[0] == {"id": 1, "label": "person", "color": [1, 2, 3]}
    assert {o.label for fm in store for o in fm.objects if o.obj_id == 1} == {"person"}
    assert per_object(run.masks_json) == before

    prompts.objects = prompts.objects[1:]
    prompts.prompts = [p for p in prompts.prompts if p.obj_id == 2]
    prompts.save(run.prompts_json)
    removed = track(clip, run.root, MODEL, **ARGS)
    assert not removed.changes.model_loaded
    assert [(o.obj_id, o.action) for o in removed.changes.objects] == [(2, "unchanged"), (1, "removed")]
    assert per_object(run.masks_json) == {2: before[2]}
    assert "nothing re-tracked (SAM 2 not loaded)" in removed.changes.summary()


@pytest.mark.slow
def test_object_added_later_is_tracked_both_ways_alone(tmp_path, short_run, short_clip, predictor):
    clip, info = short_clip, probe(short_clip)
    run = copy_run(short_run, tmp_path / "run")
    before = per_object(run.masks_json)
    prompts = PromptSet.load(run.prompts_json, info)
    prompts.add_object("C")
    scene = SampleScene((info.width, info.height), info.fps)
    prompts.prompts.append(FramePrompt(frame=24, obj_id=3, box=scene.object_box(24, 2), pts=info.pts[24]))
    prompts.save(run.prompts_json)

    result = track(clip, run.root, MODEL, predictor=predictor, **ARGS)
    after = per_object(run.masks_json)
    assert after[1] == before[1] and after[2] == before[2]
    assert len(after[3]) == 32  # every frame, before its prompt on frame 24 too
    c = result.changes.objects[2]
    assert (c.obj_id, c.action, c.spans) == (3, "added", ((0, 31),))
    # Tracked from the full run's pass start (frame 5): frames 5-23 come from the forward pass,
    # frames 0-4 from the backward one.
    assert not list(run.masks_dir.glob("objects_*"))


@pytest.mark.slow
def test_killed_correction_resumes_and_masks_json_is_never_half_new(tmp_path, short_run, short_clip, predictor):
    clip, info = short_clip, probe(short_clip)
    edited = base_prompts(info, (5, 20))
    edited.prompts.append(box(info, 12, 1))
    edited.prompts[1] = box(info, 24, 1)  # and A's prompt on 20 moved to 24: four passes
    twin = copy_run(short_run, tmp_path / "twin")
    edited.save(twin.prompts_json)
    uninterrupted = track(clip, twin.root, MODEL, predictor=predictor, **ARGS)
    assert len([o for o in uninterrupted.changes.objects if o.action == "retracked"]) == 1

    run = copy_run(short_run, tmp_path / "run")
    edited.save(run.prompts_json)
    old_bytes = run.masks_json.read_bytes()
    cmd = tracking_command(clip, run.root, MODEL, **ARGS)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # SIGKILL the real process as soon as its first correction pass is on disk under its final name
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 300
    while proc.poll() is None and not list(run.masks_dir.glob("fix_*.jsonl")) and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.kill()
    out, _ = proc.communicate()
    assert proc.returncode == -signal.SIGKILL, out
    assert run.masks_json.read_bytes() == old_bytes  # the old masks, whole
    assert len(list(run.masks_dir.glob("fix_*.jsonl"))) == 1  # one pass done, on disk

    resumed = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resuming: 1 of" in resumed.stdout and "re-tracked `A`" in resumed.stdout
    assert run.masks_json.read_bytes() == twin.masks_json.read_bytes()


@pytest.mark.slow
def test_full_run_after_a_correction_tracks_everything(tmp_path, short_run, short_clip, predictor):
    clip, info = short_clip, probe(short_clip)
    run = copy_run(short_run, tmp_path / "run")
    prompts = PromptSet.load(run.prompts_json, info)
    prompts.prompts.append(box(info, 28, 2))
    prompts.save(run.prompts_json)
    corrected = track(clip, run.root, MODEL, predictor=predictor, agree_frames=2, **ARGS)
    assert corrected.changes.mode == "incremental"
    full = track(clip, run.root, MODEL, predictor=predictor, full=True, **ARGS)
    assert full.changes.mode == "full" and INCREMENTAL not in full.key
    assert isinstance(tracking_changes(run.root), TrackingChanges) and tracking_changes(run.root).mode == "full"
