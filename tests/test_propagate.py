"""The chunked SAM 2 runner: exact against stock SAM 2, resumable after SIGKILL, clear errors.

SAM 2 runs for real with random weights at a 128 px input (nothing asserts what an untrained
model segments: only that our masks equal stock SAM 2's, bit for bit).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from vidmask_nb.errors import VidmaskError
from vidmask_nb.media.extract import prepare
from vidmask_nb.track.masks import MaskStore
from vidmask_nb.track.model import load_predictor, model_identity
from vidmask_nb.prompts.records import PromptSet
from vidmask_nb.track.propagate import (TRACKER_STATE_FILE, Pruner, TrackOptions, _read_segment, masks_key,
                                        plan_segments, propagate)
from vidmask_nb.runfolder.folder import RunFolder
from vidmask_nb.track.sam import SamFrames, _lazy_loader, add_prompt, init_state, object_scores
from vidmask_nb.media.sample import make_sample_clip
from vidmask_nb.prompts.sources import sample_prompts
from vidmask_nb.media.video import VideoReader, probe
from track_helpers import tracking_command

ROOT = Path(__file__).resolve().parents[1]
IMAGE_SIZE = 128
MODEL = TrackOptions(weights="random", image_size=IMAGE_SIZE, device="cpu")


@pytest.fixture(scope="module")
def predictor():
    with pytest.warns(UserWarning, match="RANDOM WEIGHTS"):
        return load_predictor("tiny", weights="random", image_size=IMAGE_SIZE, device="cpu")


def _run_folder(path: Path, info) -> Path:
    RunFolder(path).create()
    sample_prompts(info).save(RunFolder(path).prompts_json)
    return path


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, sample_clip, sample_clip_info, predictor) -> Path:
    """A complete run on the sample clip (48 frames; prompts on frames 16 and 32), chunks of 8 frames."""
    work = _run_folder(tmp_path_factory.mktemp("uninterrupted"), sample_clip_info)
    propagate(sample_clip, work, MODEL, chunk_frames=8, predictor=predictor, progress=False)
    return work


def run_stock(predictor, clip, info) -> dict[int, dict[int, np.ndarray]]:
    """Stock SAM 2 on the same frames: the whole video as one tensor, no pruning, one call per
    direction (forward from the earliest prompt, then backward from it), as its README does."""
    frames = SamFrames(info, IMAGE_SIZE)
    images = torch.stack([frames[i] for i in range(len(frames))])  # what load_video_frames would build
    with _lazy_loader(images, info.height, info.width):
        state = predictor.init_state(video_path=str(clip), offload_video_to_cpu=True)
    for (frame, obj_id), p in sample_prompts(info).merged().items():
        predictor.add_new_points_or_box(state, frame_idx=frame, obj_id=obj_id, box=np.array(p.box, np.float32))
    out: dict[int, dict[int, np.ndarray]] = {}
    for reverse in (False, True):
        for frame, obj_ids, logits in predictor.propagate_in_video(state, reverse=reverse):
            out.setdefault(frame, {i: (logits[k, 0] > 0).numpy() for k, i in enumerate(obj_ids)})
    assert sorted(out) == list(range(info.frame_count))
    return out


@pytest.fixture(scope="module")
def stock_masks(sample_clip, sample_clip_info, predictor) -> dict[int, dict[int, np.ndarray]]:
    return run_stock(predictor, sample_clip, sample_clip_info)


# -- plan and pruning (no model) -------------------------------------------------------------------

def test_segments_cover_every_frame_once():
    segs = plan_segments(100, [(0, 40), (40, 80), (80, 100)], first_prompt=50)
    assert [(s.reverse, s.start, s.stop, s.run_from) for s in segs] == [
        (False, 50, 80, 50), (False, 80, 100, 80), (True, 40, 50, 50), (True, 0, 40, 39)]
    assert segs[2].frames_to_run == list(range(50, 39, -1))  # the backward pass starts at the prompt
    for first in (0, 1, 7, 39, 40, 99):
        for bounds in ([(0, 100)], [(i, min(100, i + 8)) for i in range(0, 100, 8)],
                       [(i, i + 1) for i in range(100)]):
            segs = plan_segments(100, bounds, first)
            owned = sorted(f for s in segs for f in range(s.start, s.stop))
            assert owned == list(range(100)), (first, bounds[:2])
            assert all(s.run_from > 0 for s in segs if s.reverse)  # stock SAM 2 runs nothing back from 0
            assert [s.order for s in segs] == list(range(len(segs)))
    assert all(not s.reverse for s in plan_segments(30, [(0, 10), (10, 30)], 0))


def test_lone_first_frame_folds_into_the_segment_above():
    segs = plan_segments(10, [(i, i + 1) for i in range(10)], first_prompt=5)
    back = [(s.start, s.stop, s.run_from) for s in segs if s.reverse]
    assert back == [(4, 5, 5), (3, 4, 3), (2, 3, 2), (0, 2, 1)]


def test_pruner_keeps_exactly_what_sam2_can_read_again(predictor):
    pruner = Pruner(predictor, pass_starts=[16])  # the backward pass starts at the earliest prompt
    assert pruner.window == 15  # object pointers of the 15 previous frames (SAM 2.1 configs)
    outputs = {t: {} for t in range(1000)}
    state = {"output_dict_per_obj": {0: {"cond_frame_outputs": {16: {}}, "non_cond_frame_outputs": outputs}},
             "frames_tracked_per_obj": {0: {t: {"reverse": False} for t in range(1000)}}}
    pruner.prune(state, next_frame=900)
    kept = set(range(1, 32)) | set(range(885, 916))
    assert set(outputs) == kept & set(range(1000))
    assert set(state["frames_tracked_per_obj"][0]) == set(outputs)
    assert 16 in state["output_dict_per_obj"][0]["cond_frame_outputs"]


# -- lazy frames -----------------------------------------------------------------------------------

def test_lazy_frames_equal_the_stock_loader_arithmetic(sample_clip, sample_clip_info):
    info = sample_clip_info
    mean = torch.tensor((0.485, 0.456, 0.406))[:, None, None]
    std = torch.tensor((0.229, 0.224, 0.225))[:, None, None]
    frames = SamFrames(info, IMAGE_SIZE)
    assert len(frames) == info.frame_count
    with VideoReader(sample_clip, size=IMAGE_SIZE, info=info) as reader:
        for frame in reader:
            images = torch.zeros(1, 3, IMAGE_SIZE, IMAGE_SIZE)  # sam2.utils.misc.load_video_frames_from_jpg_images
            images[0] = torch.from_numpy(frame.rgb / 255.0).permute(2, 0, 1)
            images -= mean
            images /= std
            assert torch.equal(frames[frame.index], images[0]), frame.index
    subset = SamFrames(info, IMAGE_SIZE, indices=[30, 5])
    assert len(subset) == 2 and torch.equal(subset[1], frames[5])
    with pytest.raises(VidmaskError, match="outside the video"):
        SamFrames(info, IMAGE_SIZE, indices=[info.frame_count])


def test_prefetch_gives_the_same_tensors_in_any_order(sample_clip_info):
    info = sample_clip_info
    plain = SamFrames(info, IMAGE_SIZE)
    ahead = SamFrames(info, IMAGE_SIZE)
    order = list(range(30, 9, -1))  # backward, like the reverse pass
    ahead.prefetch(order, ahead=4)
    for i in order:
        if i % 7 == 0:
            continue  # a frame SAM 2 does not ask for (prompted for every object)
        assert torch.equal(ahead[i], plain[i])
    assert torch.equal(ahead[40], plain[40])  # outside the plan: decoded on the spot
    ahead.close()
    plain.close()


@pytest.mark.media
def test_lazy_frames_backward_on_a_real_clip(shared_media):
    """01_dog.mp4 (289 frames, GOPs of many frames): the backward pass's order, prefetched, gives
    the frames a plain forward decode gives."""
    clip = shared_media / "01_dog.mp4"
    info = probe(clip)
    with VideoReader(clip, size=64, info=info) as reader:
        forward = {fr.index: fr.rgb for fr in reader}
    frames = SamFrames(info, 64)
    frames.prefetch(range(info.frame_count - 1, -1, -1))
    for i in range(info.frame_count - 1, -1, -1):
        assert torch.equal(frames[i], frames.to_tensor(forward[i])), i
    frames.close()


@pytest.mark.slow
def test_one_frame_preview_state(sample_clip_info, predictor):
    info = sample_clip_info
    prompts = sample_prompts(info)
    (frame, obj_id), prompt = next(iter(prompts.merged().items()))
    state = init_state(predictor, info, indices=[frame])
    assert state["num_frames"] == 1 and (state["video_height"], state["video_width"]) == (info.height, info.width)
    masks = add_prompt(predictor, state, prompt, frame_idx=0)
    assert list(masks) == [obj_id] and masks[obj_id].shape == (info.height, info.width)
    assert masks[obj_id].dtype == bool
    assert 0.0 <= object_scores(state, 0)[obj_id] <= 1.0
    with pytest.raises(VidmaskError, match="outside this state's 1 frames"):
        add_prompt(predictor, state, prompt, frame_idx=1)


# -- exactness -------------------------------------------------------------------------------------

def _assert_equal_to_stock(store: MaskStore, stock: dict, first_prompt: int) -> None:
    checked = {"forward": 0, "backward": 0}
    for fm in store:
        masks = fm.masks()
        assert sorted(masks) == sorted(stock[fm.frame])
        for obj_id, mask in masks.items():
            assert np.array_equal(mask, stock[fm.frame][obj_id]), f"frame {fm.frame}, object {obj_id}"
            checked["forward" if fm.frame >= first_prompt else "backward"] += 1
    assert checked["forward"] and checked["backward"]


@pytest.mark.slow
def test_masks_equal_stock_sam2_bit_for_bit(uninterrupted, stock_masks, sample_clip_info):
    store = MaskStore.load(RunFolder(uninterrupted).masks_json)
    info = sample_clip_info
    assert len(store) == info.frame_count
    assert [fm.pts for fm in store] == list(info.pts)
    assert all(len(fm.objects) == 2 for fm in store)  # every object on every frame
    assert all(0.0 <= o.score <= 1.0 for fm in store for o in fm.objects)
    assert "RANDOM-WEIGHTS" in store.header["key"]
    _assert_equal_to_stock(store, stock_masks, first_prompt=16)
    # Per-chunk mask files, all carrying the key; the tracker state is gone once complete.
    masks_dir = RunFolder(uninterrupted).masks_dir
    seg_files = sorted(masks_dir.glob("seg_*.json"))
    assert len(seg_files) == 6 and not (masks_dir / TRACKER_STATE_FILE).exists()
    assert all(json.loads(p.read_text())["key"] == store.header["key"] for p in seg_files)


@pytest.mark.slow
def test_one_frame_chunks_equal_stock_too(tmp_path, sample_clip, sample_clip_info, predictor, stock_masks):
    """Chunk boundaries everywhere (one frame each, the backward lone frame 0 included)."""
    work = _run_folder(tmp_path / "run", sample_clip_info)
    store = propagate(sample_clip, work, MODEL, chunk_frames=1, predictor=predictor, progress=False)
    _assert_equal_to_stock(store, stock_masks, first_prompt=16)


@pytest.mark.slow
def test_pruning_does_its_work_and_changes_nothing(tmp_path, sample_clip, sample_clip_info, predictor, monkeypatch):
    """With a narrower pointer window (a SAM 2 config value) most outputs are dropped on this
    48-frame clip, in both directions; the masks still equal stock SAM 2's, which keeps them all."""
    monkeypatch.setattr(predictor, "max_obj_ptrs_in_encoder", 4)  # window 7 (spatial memory: 7 frames)
    held: list[int] = []
    prune = Pruner.prune

    def observed(self, state, next_frame):
        prune(self, state, next_frame)
        held.append(max(len(o["non_cond_frame_outputs"]) for o in state["output_dict_per_obj"].values()))

    monkeypatch.setattr(Pruner, "prune", observed)
    work = _run_folder(tmp_path / "run", sample_clip_info)
    store = propagate(sample_clip, work, MODEL, chunk_frames=8, predictor=predictor, progress=False)
    window = 7
    assert len(held) == 48 + 1  # every frame, the earliest prompt twice
    assert max(held) <= 4 * window + 1 < sample_clip_info.frame_count - 2  # stock ends up holding 46-47
    _assert_equal_to_stock(store, run_stock(predictor, sample_clip, sample_clip_info), first_prompt=16)


@pytest.mark.slow
def test_done_run_is_returned_without_loading_the_model(uninterrupted, sample_clip, monkeypatch):
    import vidmask_nb.track.propagate as prop

    def no_model(*a, **k):
        raise AssertionError("the model was loaded although masks.json is complete")

    monkeypatch.setattr(prop, "load_predictor", no_model)
    before = RunFolder(uninterrupted).masks_json.read_bytes()
    store = propagate(sample_clip, uninterrupted, MODEL, chunk_frames=8, progress=False)
    assert len(store) == 48 and RunFolder(uninterrupted).masks_json.read_bytes() == before


# -- resume after SIGKILL --------------------------------------------------------------------------

def _runner_cmd(video, work) -> list[str]:
    return tracking_command(video, work, MODEL, chunk_frames=8, progress=False)


@pytest.mark.slow
def test_killed_run_resumes_to_identical_masks(tmp_path, sample_clip, sample_clip_info, uninterrupted):
    work = _run_folder(tmp_path / "run", sample_clip_info)
    run = RunFolder(work)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(_runner_cmd(sample_clip, work), cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    # Kill as soon as a chunk is complete (its masks and the tracker checkpoint): mid-way.
    while not (list(run.masks_dir.glob("seg_*.json")) and (run.masks_dir / TRACKER_STATE_FILE).exists()):
        assert proc.poll() is None, proc.stdout.read().decode()
        assert time.monotonic() < deadline, "the runner wrote no chunk in time"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not run.masks_json.exists()

    saved = torch.load(run.masks_dir / TRACKER_STATE_FILE, weights_only=True)
    assert 1 <= saved["done"] < 6
    resumed = subprocess.run(_runner_cmd(sample_clip, work), cwd=ROOT, env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resuming:" in resumed.stdout
    assert run.masks_json.read_bytes() == RunFolder(uninterrupted).masks_json.read_bytes()
    assert not list(run.masks_dir.glob("*.partial-*"))


# -- keys and stale results ------------------------------------------------------------------------

def test_key_names_everything_that_changes_masks(sample_clip_info, predictor):
    info = sample_clip_info
    ident = model_identity(predictor)
    prompts = sample_prompts(info)
    key = masks_key(ident, prompts, info)
    assert key.startswith("sam2.1-tiny/RANDOM-WEIGHTS/128px/cpu/")
    moved = PromptSet(prompts.video, prompts.objects,
                      [replace(prompts.prompts[0], box=tuple(v + 1 for v in prompts.prompts[0].box))] + prompts.prompts[1:])
    assert masks_key(ident, moved, info) != key
    assert masks_key(replace(ident, weights_id="random-seed1"), prompts, info) != key
    assert masks_key(replace(ident, image_size=256), prompts, info) != key
    assert masks_key(ident, sample_prompts(info), info) == key


@pytest.mark.slow
def test_changed_prompts_never_reuse_old_masks(tmp_path, predictor):
    clip = make_sample_clip(tmp_path / "short.mp4", seconds=0.5, fps=Fraction(24), size=(96, 64), audio=False)
    info = probe(clip)
    work = _run_folder(tmp_path / "run", info)
    run = RunFolder(work)
    first = propagate(clip, work, MODEL, chunk_frames=4, predictor=predictor, progress=False)
    old_key = first.header["key"]
    prompts = PromptSet.load(run.prompts_json, info)
    p = prompts.prompts[0]
    prompts.prompts[0] = replace(p, box=(p.box[0], p.box[1], p.box[2] - 2, p.box[3] - 2))
    prompts.save(run.prompts_json)
    # full=True: a full run never reuses a segment made for other prompts (an incremental correction,
    # the default, is tested in test_corrections.py)
    second = propagate(clip, work, MODEL, chunk_frames=4, predictor=predictor, full=True, progress=False)
    assert second.header["key"] != old_key
    for seg in run.masks_dir.glob("seg_*.json"):
        assert _read_segment(seg, second.header["key"]) is not None, seg.name


# -- bad input -------------------------------------------------------------------------------------

def test_no_prompts_fails_before_the_model_loads(tmp_path, sample_clip, sample_clip_info):
    work = tmp_path / "run"
    missing_ckpt = TrackOptions(weights="trained", checkpoint=tmp_path / "missing.pt")  # loading would fail differently
    with pytest.raises(VidmaskError, match="no prompts at .*notebook 02"):
        propagate(sample_clip, work, missing_ckpt)
    empty = PromptSet.for_video(sample_clip_info)
    empty.add_object("face")
    empty.save(RunFolder(work).prompts_json)
    with pytest.raises(VidmaskError, match="holds no prompts"):
        propagate(sample_clip, work, missing_ckpt)
    one = sample_prompts(sample_clip_info)
    one.add_object("plate")
    one.save(RunFolder(work).prompts_json)
    with pytest.raises(VidmaskError, match=r"object 3 \(plate\) has no prompt"):
        propagate(sample_clip, work, missing_ckpt)
    sample_prompts(sample_clip_info).save(RunFolder(work).prompts_json)
    with pytest.raises(VidmaskError, match="checkpoint not found.*download_ckpts.sh tiny"):
        propagate(sample_clip, work, missing_ckpt)
    assert not RunFolder(work).masks_dir.exists() or not list(RunFolder(work).masks_dir.iterdir())


def test_prompts_for_another_video_are_refused(tmp_path, sample_clip_info):
    other = make_sample_clip(tmp_path / "other.mp4", seconds=0.5, fps=Fraction(24), size=(96, 64), audio=False)
    work = _run_folder(tmp_path / "run", sample_clip_info)
    with pytest.raises(VidmaskError, match="made for .*another video|made for a 160x120 video"):
        propagate(other, work, MODEL, progress=False)


def test_command_line_reports_errors_plainly(tmp_path, sample_clip):
    res = subprocess.run([sys.executable, "-m", "vidmask_nb.cli", "track", str(sample_clip), "--prompts",
                          str(tmp_path / "prompts.json"), "--out", str(tmp_path / "run"), "--weights", "random"],
                         cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert res.returncode == 2
    assert res.stderr.strip().startswith("vidmask-nb: error: prompts not found") and "Traceback" not in res.stderr


# -- notebook --------------------------------------------------------------------------------------

@pytest.mark.slow
def test_notebook_runs_under_papermill(tmp_path):
    import nbformat
    import papermill as pm

    clip = make_sample_clip(tmp_path / "clip.mp4", seconds=1.0, fps=Fraction(24000, 1001), size=(160, 120))
    info = probe(clip)
    from clip_helpers import start_run

    work = _run_folder(start_run(tmp_path / "run", clip, weights="random", device="cpu", image_size=IMAGE_SIZE,
                                 chunk_seconds=0.5), info)  # what 01 and 02 leave
    prepare(clip, work, chunk_seconds=0.5)  # 01's chunk plan: 03 tracks with it
    out = tmp_path / "03_out.ipynb"
    pm.execute_notebook(str(ROOT / "notebooks" / "03_propagate.ipynb"), str(out), kernel_name="python3",
                        cwd=str(tmp_path), progress_bar=False, parameters=dict(workdir=str(work), overlay_count=4))
    nb = nbformat.read(out, as_version=4)
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "RANDOM WEIGHTS" in text
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if "image/png" in o.get("data", {})]
    assert len(images) >= 2  # the timeline and the overlays
    store = MaskStore.load(RunFolder(work).masks_json)
    assert len(store) == info.frame_count and len(store.objects) == 2


def test_notebook_is_committed_clean():
    import nbformat

    nb = nbformat.read(ROOT / "notebooks" / "03_propagate.ipynb", as_version=4)
    nbformat.validate(nb)
    assert nb.cells[1].metadata.get("tags") == ["parameters"]
    params = nb.cells[1].source
    for name in ("workdir", "vos_optimized", "overlay_count"):  # the model is the run's setting (01)
        assert f"\n{name} = " in "\n" + params, name
    assert "\nchunk_seconds = " not in "\n" + params  # one chunk plan: 01's, read from the run's settings
    for c in nb.cells:
        if c.cell_type == "code":
            assert c.outputs == [] and c.execution_count is None
