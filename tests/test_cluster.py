"""Ray: batches and one crowded video on a real local Ray cluster started by these tests.

SAM 2 runs for real with random weights at a 128 px input; nothing asserts what it segments, only
that masks made on the cluster (in groups, after a killed worker) equal, byte for byte, the masks
of the same tracking on this process without Ray. Torch's CPU kernels add up in an order that
depends on the thread count, so the references run with one thread, as a one-CPU Ray task does
(Ray sets OMP_NUM_THREADS to the task's CPUs).
"""
from __future__ import annotations

import contextlib
import csv
import json
import shutil
import signal
import tempfile
import threading
import time
from fractions import Fraction
from pathlib import Path

import psutil
import pytest
import torch

ray = pytest.importorskip("ray")

from vidmask_nb.cli import main  # noqa: E402
from vidmask_nb.run.cluster import RayOptions, run_batch_on_ray, track_on_ray  # noqa: E402
from vidmask_nb.run.pipeline import BatchItem, RunOptions  # noqa: E402
from vidmask_nb.prompts.records import FramePrompt  # noqa: E402
from vidmask_nb.track.propagate import TRACKER_STATE_FILE, TrackOptions, group_dir, propagate  # noqa: E402
from vidmask_nb.runfolder.folder import RunFolder  # noqa: E402
from vidmask_nb.media.sample import make_sample_clip  # noqa: E402
from vidmask_nb.prompts.sources import sample_prompts  # noqa: E402
from vidmask_nb.media.video import probe  # noqa: E402

pytestmark = pytest.mark.slow
TRACK = dict(weights="random", image_size=128, device="cpu", chunk_seconds=0.25)
FAST_OPTS = dict(weights="random", image_size=128, device="cpu")
FAST = ["--weights", "random", "--image-size", "128", "--device", "cpu", "--chunk-seconds", "0.5"]


@pytest.fixture(scope="module")
def cluster():
    """A two-CPU local cluster started by this module."""
    short = Path(tempfile.mkdtemp(prefix="vmr", dir="/tmp"))  # Ray's socket paths must stay short
    try:
        for attempt in (1, 2, 3):  # Ray gives a raylet 30 s to register: a loaded machine can miss that
            try:
                ray.init(num_cpus=2, include_dashboard=False, _temp_dir=str(short / "ray"))
                break
            except Exception:
                ray.shutdown()
                if attempt == 3:
                    raise
        yield short
    finally:
        ray.shutdown()
        shutil.rmtree(short, ignore_errors=True)


def kill_worker_after_first_checkpoint(checkpoint: Path, task_name: str, timeout: float = 300.0) -> threading.Thread:
    """Watch for the tracker's first checkpoint, then SIGKILL the Ray worker running ``task_name``
    (Ray titles a busy worker ``ray::<task>``): a real worker lost mid-task, no hook in the product."""
    killed = threading.Event()

    def watch():
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not checkpoint.exists():
            time.sleep(0.02)
        for proc in psutil.process_iter(["cmdline"]):
            if any(part.startswith(f"ray::{task_name}") for part in proc.info["cmdline"] or []):
                proc.send_signal(signal.SIGKILL)
                killed.set()

    thread = threading.Thread(target=watch, daemon=True)
    thread.killed = killed
    thread.start()
    return thread


@pytest.fixture(scope="module")
def crowded(tmp_path_factory):
    """24 frames, three objects prompted on frames 8, 16 and 12, and a run of all of them on this process."""
    root = tmp_path_factory.mktemp("crowded")
    clip = make_sample_clip(root / "crowded.mp4", seconds=1.0, fps=Fraction(24), size=(160, 120), audio=False)
    info = probe(clip)
    prompts = sample_prompts(info, frames=(8, 16))
    third = prompts.add_object("sign")
    prompts.prompts.append(FramePrompt(frame=12, obj_id=third.id, box=(100, 10, 150, 50), pts=info.pts[12]))
    prompts.validate(info).save(root / "prompts.json")
    reference = _folder(root / "reference", root / "prompts.json")
    with one_thread():
        propagate(clip, reference, TrackOptions(**TRACK), progress=False)
    return clip, root / "prompts.json", RunFolder(reference).masks_json.read_bytes()


@contextlib.contextmanager
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _folder(path: Path, prompts: Path) -> Path:
    RunFolder(path).create()
    shutil.copyfile(prompts, RunFolder(path).prompts_json)
    return path


def test_three_objects_in_two_groups_equal_one_run(cluster, crowded, tmp_path):
    clip, prompts, reference = crowded
    work = _folder(tmp_path / "run", prompts)
    store, outcomes = track_on_ray(clip, work, RunOptions(**TRACK), RayOptions(groups=2))
    assert [r.objects for r, _, _ in outcomes] == [(1, 2), (3,)]
    assert {r.pass_start for r, _, _ in outcomes} == {8}  # object 3 is first prompted at 12
    assert RunFolder(work).masks_json.read_bytes() == reference
    assert len(store) == 24 and [o["id"] for o in store.objects] == [1, 2, 3]


def test_killed_worker_is_retried_and_resumes(cluster, crowded, tmp_path):
    clip, prompts, reference = crowded
    work = _folder(tmp_path / "run", prompts)
    # the task's worker is killed right after its first checkpoint
    watcher = kill_worker_after_first_checkpoint(group_dir(work, (1, 2, 3)) / TRACKER_STATE_FILE, "_group_task")
    _, outcomes = track_on_ray(clip, work, RunOptions(**TRACK), RayOptions(groups=1, max_retries=2))
    watcher.join(5)
    assert watcher.killed.is_set(), "the worker never reached a checkpoint"
    (result, node, _), = outcomes
    assert 1 <= result.resumed_segments < result.segments  # the retry continued from the checkpoint
    assert RunFolder(work).masks_json.read_bytes() == reference


def test_batch_on_ray_matches_local_tracking(cluster, tmp_path, capsys):
    rows = []
    for name, fps in (("a", Fraction(24)), ("b", Fraction(30000, 1001))):
        clip = make_sample_clip(tmp_path / f"{name}.mp4", seconds=0.6, fps=fps, size=(160, 120), audio=name == "a")
        sample_prompts(probe(clip)).save(tmp_path / f"{name}.json")
        rows.append({"video": f"{name}.mp4", "prompts": f"{name}.json"})
    (tmp_path / "broken.mp4").write_bytes(b"not a video at all")
    rows.append({"video": "broken.mp4", "prompts": "a.json"})
    with open(tmp_path / "batch.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["video", "prompts"])
        w.writeheader()
        w.writerows(rows)
    rc = main(["batch", str(tmp_path / "batch.csv"), *FAST, "--ray"])
    captured = capsys.readouterr()
    assert rc == 1, captured.err
    failures = [line for line in captured.err.splitlines() if line.startswith("FAILED")]
    assert len(failures) == 1 and "broken.mp4" in failures[0] and "not a video" in failures[0]
    summary = list(csv.DictReader(open(tmp_path / "runs" / "batch_summary.csv")))
    assert [r["status"] for r in summary] == ["done", "done", "failed"]
    for name in ("a", "b"):
        run = RunFolder(tmp_path / "runs" / name)
        assert run.redacted_video(f"{name}.mp4").is_file()
        local = _folder(tmp_path / f"local_{name}", tmp_path / f"{name}.json")
        with one_thread():
            propagate(tmp_path / f"{name}.mp4", local, TrackOptions(**dict(TRACK, chunk_seconds=0.5)), progress=False)
        assert run.masks_json.read_bytes() == RunFolder(local).masks_json.read_bytes()
        assert json.loads((run.root / "run.json").read_text())["output"].endswith(f"{name}_redacted.mp4")


def test_a_path_a_node_cannot_see_names_the_path_and_node(cluster, tmp_path):
    missing = tmp_path / "elsewhere" / "clip.mp4"
    item = BatchItem(missing, tmp_path / "prompts.json", tmp_path / "runs" / "clip", RunOptions(**FAST_OPTS))
    (result,) = run_batch_on_ray([item])
    assert result.status == "failed"
    assert str(missing) in result.error and "not visible on Ray node" in result.error and "(node " in result.error
    assert "\n" not in result.error
