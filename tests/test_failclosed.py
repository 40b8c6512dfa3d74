"""Fail closed (issue 14, points 1-7): no marked object dropped silently, no stale output under a final
name, source pixels only under sensitive/, gaps covered in seconds, every check before notebook 01,
resumes and cleanups said on the console.

Most tests stop before any heavy work or build masks by hand (``inject_masks``); the two full runs
(random SAM 2 weights at 128 px) are in ``test_a_run_fails_closed_end_to_end``.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from vidmask_nb.cli import main
from vidmask_nb.errors import VidmaskError
from vidmask_nb.redact.gaps import Gap, fill_gaps, find_gaps, hold_frames_for, mark_review, presence_of, store_masks
from vidmask_nb.run.pipeline import BatchItem, RunOptions, run_batch, share
from vidmask_nb.run.stages import run_gaps
from vidmask_nb.runfolder.record import RunRecord
from vidmask_nb.runfolder.state import RunState, _folder_key, _signature, check_run_folder, sha256_file
from vidmask_nb.prompts.sources import load_prompt_source
from vidmask_nb.prompts.records import FramePrompt, PromptSet
from common import inject_masks
from vidmask_nb.redact.render import RenderOptions, mask_stream, render
from vidmask_nb.runfolder.folder import RunFolder, clean_partials, partial_path
from vidmask_nb.media.sample import SampleScene, make_sample_clip
from vidmask_nb.prompts.sources import sample_prompts
from vidmask_nb.media.video import VideoReader, probe

ROOT = Path(__file__).resolve().parents[1]
FAST = ["--weights", "random", "--image-size", "128", "--device", "cpu", "--chunk-seconds", "0.5"]


def labelme_file(path: Path, shapes: list[dict], w: int = 160, h: int = 120) -> Path:
    path.write_text(json.dumps({"version": "5.5.0", "shapes": shapes, "imagePath": path.with_suffix(".jpg").name,
                                "imageData": None, "imageWidth": w, "imageHeight": h}))
    return path


def rect(label, x0, y0, x1, y1):
    return {"label": label, "points": [[x0, y0], [x1, y1]], "shape_type": "rectangle", "group_id": None, "flags": {}}


def polygon(label):
    return {"label": label, "points": [[10, 10], [40, 10], [30, 40]], "shape_type": "polygon", "group_id": None,
            "flags": {}}


@pytest.fixture()
def labelme_dir(tmp_path):
    """One usable person box, a polygon, a file past the last frame (48 frames), a box half outside."""
    d = tmp_path / "labelme"
    d.mkdir()
    labelme_file(d / "00005.json", [rect("person", 20, 20, 60, 80), polygon("cyclist")])
    labelme_file(d / "00200.json", [rect("dog", 10, 10, 50, 50)])
    labelme_file(d / "00010.json", [rect("bag", 140, 90, 200, 150)])
    return d


# -- 1. prompts ---------------------------------------------------------------------------------

def test_unusable_labelme_shapes_stop_the_run_before_any_work(tmp_path, sample_clip, labelme_dir, capsys):
    out = tmp_path / "run"
    rc = main(["run", str(sample_clip), "--prompts", str(labelme_dir), "--out", str(out), *FAST])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "2 prompt(s) or shape(s)" in err and "nothing was run" in err, err
    assert "00005.json: 'cyclist': polygon" in err and "00200.json" in err and "past the end" in err, err
    assert "--drop-unusable-prompts" in err
    assert not out.exists(), "nothing is written before the prompts are usable"


def test_dropping_lists_each_one_and_clips_a_box_half_outside(sample_clip_info, labelme_dir):
    src = load_prompt_source(labelme_dir, sample_clip_info, drop_unusable=True)
    assert [(u.file, u.label) for u in src.unusable] == [("00005.json", "cyclist"), ("00200.json", "")]
    labels = {o.id: o.label for o in src.prompts.objects}
    boxes = {labels[p.obj_id]: p.box for p in src.prompts.prompts}
    assert boxes == {"person": (20, 20, 60, 80), "bag": (140, 90, 160, 120)}, "the visible part is kept, clipped"
    text = "\n".join(src.lines())
    assert "DROPPED" in text and "cyclist" in text and "clipped" in text and "00010.json" in text
    assert src.to_json()["dropped"][0] == {"file": "00005.json", "label": "cyclist",
                                           "why": "polygon: a polygon is not used as a prompt; draw a rectangle "
                                                  "around the object"}


def test_prompts_json_lists_every_bad_prompt(tmp_path, sample_clip_info):
    info = sample_clip_info
    ps = PromptSet.for_video(info)
    a = ps.add_object("a")
    ps.prompts += [FramePrompt(3, a.id, box=(10, 10, 40, 40)),
                   FramePrompt(4, a.id, box=(-20, 100, 30, 140)),  # partly outside: clipped
                   FramePrompt(5, a.id, box=(170, 10, 200, 40)),  # wholly outside
                   FramePrompt(99, a.id, box=(10, 10, 40, 40)),  # past the end
                   FramePrompt(6, 7, box=(10, 10, 40, 40))]  # unknown object
    path = tmp_path / "prompts.json"
    path.write_text(json.dumps(ps.to_json()))
    with pytest.raises(VidmaskError) as exc:
        load_prompt_source(path, info)
    msg = str(exc.value)
    assert msg.count("\n  - ") == 3 and "frame 5" in msg and "frame 99" in msg and "object id 7" in msg, msg
    src = load_prompt_source(path, info, drop_unusable=True)
    assert sorted(p.frame for p in src.prompts.prompts) == [3, 4]
    assert [p.box for p in src.prompts.prompts if p.frame == 4] == [(0.0, 100.0, 30.0, 120.0)]
    assert len(src.clipped) == 1 and len(src.unusable) == 3


def test_batch_fails_the_row_with_unusable_prompts_and_goes_on(tmp_path, sample_clip, labelme_dir):
    item = BatchItem(sample_clip, labelme_dir, tmp_path / "run", RunOptions(weights="random", image_size=128))
    [res] = run_batch([item])
    assert res.status == "failed" and "cyclist" in res.error and "--drop-unusable-prompts" in res.error
    assert not (tmp_path / "run").exists()


# -- 2 and 7. stale outputs, partial files --------------------------------------------------------

def fake_finished_run(root: Path, key: str) -> RunFolder:
    run = RunFolder(root).create()
    for p in (root / "clip_redacted.mp4", run.masks_json, run.prompts_json):
        p.write_text("old")
    run.qa_dir.mkdir(parents=True, exist_ok=True)
    (run.qa_dir / "clip_overlay.mp4").write_text("old")
    RunState(root, RunRecord(key=key, status="complete", video=str(root.parent / "clip.mp4"),
                             output=str(root / "clip_redacted.mp4"))).save()
    return run


def retire(run: RunFolder, key: str, video: Path, inputs=(), prompts="given.json") -> list[str]:
    """What a headless run with ``key`` starting in ``run`` says it moved (``RunState.start``), its lines."""
    said = []
    RunState.open(run.root).start(video, "fp", {}, key, prompts=prompts, inputs=inputs, say=said.append)
    return [line.removeprefix("inputs changed since the last run: ") for line in said]


def test_outputs_of_other_inputs_leave_their_final_names(tmp_path):
    run = fake_finished_run(tmp_path / "run", "old-key")
    video = tmp_path / "clip.mp4"
    assert retire(run, "old-key", video) == [], "same inputs: outputs are current, kept"
    assert (run.root / "clip_redacted.mp4").is_file() and run.masks_json.is_file()
    fake_finished_run(tmp_path / "run", "old-key")
    said = retire(run, "new-key", video)
    for name in ("clip_redacted.mp4", "prompts.json", "run.json"):
        assert (run.stale_dir / name).read_text() != ""
        assert f"moved {name} to stale/" in said
    assert not (run.root / "clip_redacted.mp4").exists() and not run.prompts_json.exists()
    # masks.json leaves its final name too, but stays where an incremental correction starts from it
    assert not run.masks_json.exists() and run.previous_masks_json.read_text() == "old"
    assert any(line.startswith("moved masks.json to masks/previous-masks.json") for line in said)
    assert not run.qa_dir.exists() and "removed sensitive/qa/" in said
    assert "NOT CURRENT" in (run.stale_dir / "README.txt").read_text()
    # Stepped through the notebooks (no prompts file given), other options keep the prompts drawn in 02.
    run.prompts_json.write_text("drawn in notebook 02")
    assert "moved prompts.json to stale/" not in retire(run, "other-options", video, prompts=None)
    assert run.prompts_json.read_text() == "drawn in notebook 02"
    # The prompts given to a run are its input, even under the run folder's prompts.json.
    (run.root / "masks.json").write_text("unknown")
    run.prompts_json.write_text("drawn in notebook 02")
    said = retire(run, "newer-key", video, inputs=(run.prompts_json,))
    assert said[0].startswith("moved masks.json to masks/previous-masks.json"), said
    assert run.prompts_json.read_text() == "drawn in notebook 02"


def test_a_folder_that_is_not_a_run_folder_is_refused_and_its_files_survive(tmp_path, sample_clip, capsys):
    """Issue 21 item 3. The harm: `--out` naming a folder that was never a run folder (or `--out ""`,
    silently the current directory) deleted its `stale/`, `sensitive/qa/`, `sensitive/reports/` and
    replaced `floor.json`, saying "inputs changed since the last run" when there was none."""
    mine = tmp_path / "my project"
    for name in ("stale/notes.txt", "sensitive/qa/figure.png", "sensitive/reports/draft.ipynb", "floor.json"):
        (mine / name).parent.mkdir(parents=True, exist_ok=True)
        (mine / name).write_text(f"mine: {name}")
    prompts = tmp_path / "prompts.json"
    sample_prompts(probe(sample_clip)).save(prompts)
    for out in (str(mine), ""):
        rc = main(["run", str(sample_clip), "--prompts", str(prompts), "--out", out, *FAST])
        err = capsys.readouterr().err
        assert rc == 2 and err.count("\n") == 1, err
        assert ("is empty" if out == "" else "not a run's") in err, err
    for name in ("stale/notes.txt", "sensitive/qa/figure.png", "sensitive/reports/draft.ipynb", "floor.json"):
        assert (mine / name).read_text() == f"mine: {name}", "the user's files survive"
    assert sorted(p.name for p in mine.iterdir()) == ["floor.json", "sensitive", "stale"]
    empty = tmp_path / "empty but for folders"
    (empty / "sensitive" / "reports").mkdir(parents=True)  # where a report is written before 01 runs
    assert check_run_folder(empty) == empty
    assert RunState(mine).retire_stale() == [], "nothing the kit did not write is moved"
    assert check_run_folder(tmp_path / "new") == tmp_path / "new"  # a new folder is fine


def test_partial_files_of_dead_processes_are_removed(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stray = tmp_path / f".clip_redacted.partial-{dead.pid}.mp4"
    nested = tmp_path / "masks" / f".seg_0001.partial-{dead.pid}.json"
    live = partial_path(tmp_path / "clip_redacted.mp4")  # this process: a writer at work
    nested.parent.mkdir()
    for p in (stray, nested, live):
        p.write_text("x")
    assert sorted(clean_partials(tmp_path)) == sorted([stray, nested])
    assert live.exists() and not stray.exists() and not nested.exists()


# -- 3. sensitive and shareable apart ------------------------------------------------------------

def test_source_pixels_live_under_sensitive(tmp_path):
    run = RunFolder(tmp_path / "run").create()
    for d in (run.qa_dir, run.reports_dir, run.frames_dir):
        assert d.parent == run.sensitive_dir == run.root / "sensitive"
    assert "UNREDACTED" in (run.sensitive_dir / "README.txt").read_text()


def test_share_refuses_what_is_not_a_complete_current_run(tmp_path):
    with pytest.raises(VidmaskError, match="no run.json"):
        share(tmp_path, tmp_path / "out")
    run = fake_finished_run(tmp_path / "run", "k")
    state = RunState.load(run.root)
    state.update(status="running")
    with pytest.raises(VidmaskError, match="not complete"):
        share(run.root, tmp_path / "out")
    state.update(status="complete", output=str(run.root / "clip_redacted.mp4"), output_sha256="0" * 64,
                 video="", prompts="")
    with pytest.raises(VidmaskError, match="not the file this run wrote"):
        share(run.root, tmp_path / "out")
    # A hand edit of the record (the audit dropped, a field of another type) is refused in one line.
    for edit in ({"audit": None, "output_sha256": sha256_file(run.root / "clip_redacted.mp4")}, {"status": 3}):
        run.run_json.write_text(json.dumps(dict(json.loads(run.run_json.read_text()), **edit)))
        with pytest.raises(VidmaskError, match="not signed by this kit"):
            share(run.root, tmp_path / "out")
    # a record signed with the folder's key whose field has another type (another version of the kit's; the
    # kit's own RunState.update refuses to write one)
    bad = dict(state.record.to_json(), stages=[])
    bad["signature"] = _signature(_folder_key(run.root), bad)
    run.run_json.write_text(json.dumps(bad))
    with pytest.raises(VidmaskError, match="field 'stages' is list"):
        share(run.root, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# -- 4. gaps ------------------------------------------------------------------------------------

def test_hold_is_the_same_time_at_any_frame_rate():
    assert hold_frames_for(1.0, Fraction(24000, 1001)) == 24
    assert hold_frames_for(1.0, Fraction(60)) == 60
    assert hold_frames_for(0.1, Fraction(60)) == 6 and hold_frames_for(0, Fraction(30)) == 0
    assert RunOptions().hold_seconds == 1.0 and RunOptions().cover_long_gaps


def test_gap_plan_covers_long_gaps_unless_opted_out():
    presence = {1: [1, 0, 1, 0, 0, 0, 0, 1, 0, 0], 2: [0, 0, 1, 1, 0, 0, 0, 0, 0, 0]}
    presence = {k: np.array(v, bool) for k, v in presence.items()}
    assert find_gaps(presence, hold_frames=2) == [Gap(1, 1, 1, True, False), Gap(1, 3, 6, True, True)]
    assert find_gaps(presence, 2, cover_long_gaps=False)[1] == Gap(1, 3, 6, covered=False, long=True)


def test_covering_a_long_gap_reads_no_frame_ahead(sample_clip_info):
    """Flat memory: the frame after a 30-frame gap is fetched by random access, not buffered."""
    info = sample_clip_info
    scene = SampleScene((info.width, info.height), info.fps)
    gap = range(10, 40)
    store = inject_masks(info, {1: "ball"}, lambda i, k: None if i in gap else scene.object_mask(i, k))
    read = []

    def stream():
        for item in mask_stream(store, info):
            read.append(item[0])
            yield item

    gaps = find_gaps(presence_of(store), hold_frames=hold_frames_for(1.0, info.fps) // 2)
    assert gaps == [Gap(1, 10, 39, True, True)]
    union = scene.object_mask(9, 1) | scene.object_mask(40, 1)
    for index, masks in fill_gaps(stream(), gaps, store_masks(store)):
        assert read[-1] == index, "nothing is read ahead of the frame being rendered"
        if index in gap:
            assert np.array_equal(masks[1], union)


def test_render_covers_a_long_gap_by_default_and_lists_it_when_opted_out(tmp_path, sample_clip, sample_clip_info):
    info = sample_clip_info
    scene = SampleScene((info.width, info.height), info.fps)
    gap = range(8, 40)  # 1.3 s: longer than the 1 s hold
    store = inject_masks(info, {1: "ball"}, lambda i, k: None if i in gap else scene.object_mask(i, k))
    run = RunFolder(tmp_path)
    store.save(run.masks_json)
    out = render(sample_clip, tmp_path,
                 RenderOptions(style="fill:#00ff00", dilate=0, hold=hold_frames_for(1.0, info.fps), lossless=True),
                 progress=False)
    union = scene.object_mask(7, 1) | scene.object_mask(40, 1)
    with VideoReader(out) as reader:
        for frame in reader.frames(20, 21):
            assert (frame.rgb[union] == (0, 255, 0)).all(), "the long gap is covered by default"
    sample_prompts(info).save(run.prompts_json)
    opts = RunOptions(hold_seconds=1.0, cover_long_gaps=False)
    [g] = run_gaps(run, info, opts)
    assert (g.first, g.last, g.covered) == (8, 39, False)
    from vidmask_nb.review import qa

    table = mark_review(qa.review_frames(store, hold=24), [g])
    assert any("NOT covered (--no-cover-long-gaps)" in r.detail for r in table.rows), table.rows


# -- 5. checks before notebook 01 ----------------------------------------------------------------

def test_device_and_paths_are_checked_before_notebook_01(tmp_path, sample_clip, capsys):
    import torch

    prompts = tmp_path / "prompts.json"
    sample_prompts(probe(sample_clip)).save(prompts)
    cases = [(["--out", str(tmp_path / "run"), "--device", "cuda"], "no CUDA GPU")] if not torch.cuda.is_available() else []
    (tmp_path / "afile").write_text("x")
    link_dir = tmp_path / "links"
    link_dir.mkdir()
    (link_dir / "sample_redacted.mp4").symlink_to(sample_clip)
    cases += [(["--out", str(tmp_path / "afile")], "is a file"),
              (["--out", "/proc/vidmask/run"], "cannot write to /proc"),
              (["--out", str(link_dir)], "would overwrite the source")]
    for flags, words in cases:
        rc = main(["run", str(sample_clip), "--prompts", str(prompts), *flags, "--weights", "random"])
        err = capsys.readouterr().err
        assert rc == 2 and words in err and err.count("\n") == 1, (flags, err)
    rc = main(["run", str(tmp_path / "missing.mp4"), "--prompts", str(prompts), "--out", str(tmp_path / "r"),
               "--weights", "random"])
    assert rc == 2 and "video not found" in capsys.readouterr().err
    assert not (tmp_path / "run").exists() and not (link_dir / "sensitive").exists()


def test_a_read_only_out_folder_is_one_line_exit_2(tmp_path):
    base = Path(tempfile.mkdtemp(prefix="vidmask-ro-"))
    try:
        os.chmod(base, 0o755)
        clip = make_sample_clip(base / "clip.mp4", seconds=0.5, fps=Fraction(24), size=(64, 48), audio=False)
        sample_prompts(probe(clip)).save(base / "prompts.json")
        ro = base / "ro"
        ro.mkdir()
        os.chmod(ro, 0o555)
        os.chmod(clip, 0o644)
        os.chmod(base / "prompts.json", 0o644)
        cmd = [sys.executable, "-m", "vidmask_nb.cli", "run", str(clip), "--prompts", str(base / "prompts.json"),
               "--out", str(ro), "--weights", "random"]
        if os.geteuid() == 0:  # root writes anywhere: run as nobody, as a person would meet it
            if not shutil.which("setpriv"):
                pytest.skip("running as root without setpriv")
            cmd = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", *cmd]
        env = dict(os.environ, PYTHONPATH=str(ROOT), HOME=str(base), MPLCONFIGDIR=str(base))
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=base, timeout=120)
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
        assert "cannot write to the --out folder" in proc.stderr
    finally:
        os.chmod(base / "ro", 0o755)
        shutil.rmtree(base, ignore_errors=True)


# -- 6. resumes said on the console --------------------------------------------------------------

def test_tracking_progress_reads_the_checkpoint_without_the_model(tmp_path, sample_clip, sample_clip_info):
    import torch

    from vidmask_nb.media import extract
    from vidmask_nb.track.propagate import (TRACKER_STATE_FILE, TrackOptions, expected_identity, masks_key,
                                            plan_chunks, plan_segments, tracking_progress)

    info = sample_clip_info
    run = RunFolder(tmp_path).create()
    extract.prepare(sample_clip, tmp_path, chunk_seconds=0.5)
    prompts = sample_prompts(info)
    prompts.save(run.prompts_json)
    options = TrackOptions(model="tiny", weights="random", device="cpu", chunk_seconds=0.5, image_size=128)
    assert tracking_progress(sample_clip, tmp_path, options)[0] == 0
    key = masks_key(expected_identity(options), prompts, info)
    plan = plan_chunks(info.frame_count, info.fps, seconds=0.5)
    segs = plan_segments(info.frame_count, [(c.start, c.stop) for c in plan.chunks],
                         min(f for f, _ in prompts.merged()))
    run.masks_dir.mkdir()
    for s in segs[:3]:
        (run.masks_dir / f"{s.name}.json").write_text(json.dumps({"key": key}))
    torch.save({"key": key, "segments": [s.name for s in segs], "done": 3, "state": {"t": torch.zeros(4)}},
               run.masks_dir / TRACKER_STATE_FILE)
    assert tracking_progress(sample_clip, tmp_path, options) == (3, len(segs))


# -- the whole run, twice (random weights, 128 px) -----------------------------------------------

@pytest.mark.slow
def test_a_run_fails_closed_end_to_end(tmp_path, sample_clip, labelme_dir, capsys):
    out = tmp_path / "run"
    rc = main(["run", str(sample_clip), "--prompts", str(labelme_dir), "--out", str(out), *FAST,
               "--drop-unusable-prompts"])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "DROPPED" in err and "cyclist" in err and "clipped" in err
    mark = RunState.load(out).record
    assert mark.status == "complete" and mark.prompt_check["dropped"][0]["label"] == "cyclist"
    assert mark.uncovered_gaps is not None and mark.long_gaps is not None
    run = RunFolder(out)
    assert (run.reports_dir / "04_render.ipynb").is_file() and not (out / "reports").exists()
    assert (run.qa_dir / "sample_overlay.mp4").is_file() and not (out / "qa").exists()
    nb02 = (run.reports_dir / "02_prompt.ipynb").read_text()
    assert "color:#b00000" in nb02 and "cyclist" in nb02, "notebook 02 shows the dropped shapes in red"
    shared = tmp_path / "share"
    assert main(["share", str(out), "--to", str(shared), "--with-masks"]) == 0
    assert sorted(p.name for p in shared.iterdir()) == ["masks.json", "sample_redacted.mp4", "summary.json"]
    assert json.loads((shared / "summary.json").read_text())["prompt_check"]["dropped"]

    # A rerun with another style, killed at once: the old outputs leave their names before anything runs.
    old_video = (out / "sample_redacted.mp4").read_bytes()
    cmd = [sys.executable, "-m", "vidmask_nb.cli", "run", str(sample_clip), "--prompts", str(labelme_dir),
           "--out", str(out), *FAST, "--drop-unusable-prompts", "--style", "blur"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                            start_new_session=True)
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if "01_extract" in line:
            os.killpg(proc.pid, signal.SIGKILL)
            break
    proc.wait()
    assert any("inputs changed since the last run: moved sample_redacted.mp4 to stale/" in x for x in lines), lines
    assert not (out / "sample_redacted.mp4").exists() and not (out / "masks.json").exists()
    assert (out / "stale" / "sample_redacted.mp4").read_bytes() == old_video
    assert RunState.load(out).record.status == "running"
    with pytest.raises(VidmaskError, match="not complete"):
        share(out, tmp_path / "share2")
    stray = out / ".sample_redacted.partial-999999999.mp4"  # what a killed render leaves
    stray.write_bytes(b"partial")

    rc = main(cmd[3:])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "removed .sample_redacted.partial-999999999.mp4, left by a run that was killed" in err
    assert "segments were already tracked" in err, err
    assert not stray.exists() and RunState.load(out).record.options["style"] == "blur"
    assert (out / "sample_redacted.mp4").read_bytes() != old_video
