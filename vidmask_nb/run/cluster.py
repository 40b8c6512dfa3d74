"""Beyond one machine: batches and crowded videos on a Ray cluster (``--ray [ADDRESS]``).

- ``run_batch_on_ray``: every batch row is a Ray task running ``pipeline.run_item`` (the local
  batch's own code: options checked, skipped when complete, failures become a row), with one GPU
  per task when the cluster has GPUs, else CPUs. A task whose worker dies is retried
  (``max_retries``; a ``VidmaskError`` is a result, never retried) and, with the same run folder
  and options, resumes from the tracker's last checkpoint.
- ``run_video_on_ray``: one video whose objects are split into groups, each tracked by its own task
  (``propagate.track(objects=..., pass_start=...)``, same segment plan as a run of all objects, so
  the same masks); the driver then merges them by frame into ``masks.json`` and runs notebooks
  03 (finds the masks complete) and 04 (renders once).
- Storage: videos, prompts and run folders must be on a filesystem every node mounts at the same
  path. A task that cannot see one fails with one line naming the path and the node.

Ray is optional (``pip install 'vidmask-nb[ray]'``). Example::

    started = connect(None)            # RAY_ADDRESS if set, else a local cluster
    results = run_batch_on_ray(read_batch("batch.csv", RunOptions()), "runs/batch_summary.csv")
"""
from __future__ import annotations

import contextlib
import os
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from vidmask_nb.errors import VidmaskError
from vidmask_nb.run.pipeline import BatchItem, RunOptions, RunResult, run_item, run_video, write_summary

MAX_SOCKET_DIR = 60  # Ray's socket paths (<temp dir>/ray/session_<date>_<pid>/sockets/...) must stay under ~107 bytes


@dataclass(frozen=True)
class RayOptions:
    """How tasks are placed: ``address`` (None: RAY_ADDRESS, else a local cluster), resources per
    task (None: 1 GPU when the cluster has GPUs, else 1 CPU), retries after a worker dies."""

    address: str | None = None
    gpus: float | None = None
    cpus: float | None = None
    max_retries: int = 3
    groups: int | None = None  # run --ray: object groups (None: one per GPU, else per CPU, at most one per object)


def require_ray():
    try:
        import ray
    except ImportError:
        raise VidmaskError("--ray needs Ray, which is not installed: pip install 'vidmask-nb[ray]' "
                           "(or pip install 'ray>=2.40') on every node") from None
    return ray


def connect(address: str | None = None, num_cpus: int | None = None) -> bool:
    """Join the cluster at ``address`` (or RAY_ADDRESS), else start a local one; True if started here."""
    ray = require_ray()
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or None
    try:
        if address:
            ray.init(address=address, include_dashboard=False, log_to_driver=True)
            return False
        tmp = os.environ.get("RAY_TMPDIR") or tempfile.gettempdir()
        if len(tmp) > MAX_SOCKET_DIR:
            raise VidmaskError(f"RAY_TMPDIR {tmp} is too long for Ray's socket paths; set RAY_TMPDIR to a short "
                               "folder such as /tmp/ray-$USER")
        ray.init(num_cpus=num_cpus, include_dashboard=False, _temp_dir=str(Path(tmp) / "ray"))
        return True
    except ConnectionError as exc:
        raise VidmaskError(f"cannot reach the Ray cluster at {address}: {_first_line(exc)} "
                           "(start it with `ray start --head`, or leave out the address for a local one)") from None


@contextlib.contextmanager
def connected(address: str | None = None):
    """``connect`` for the length of a block; a local cluster started here is stopped after it."""
    started = connect(address)
    try:
        yield
    finally:
        if started:
            require_ray().shutdown()


def task_options(opts: RayOptions) -> dict:
    """``.options(...)`` for every task: resources, and retries only when the worker is lost."""
    ray = require_ray()
    gpus = opts.gpus
    if gpus is None:
        gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
    cpus = opts.cpus if opts.cpus is not None else 1
    # retry_exceptions=False: a task that raises is not retried (a VidmaskError is an answer, and
    # the kit's tasks return failures as results); max_retries covers a worker or node that died.
    return {"num_gpus": gpus, "num_cpus": cpus, "max_retries": opts.max_retries, "retry_exceptions": False}


def node_name() -> str:
    """This node as a person finds it: ``hostname (node 1a2b3c4d5e6f)``."""
    try:
        import ray

        node = ray.get_runtime_context().get_node_id()[:12]
    except Exception:
        node = "?"
    return f"{socket.gethostname()} (node {node})"


def require_visible(*paths) -> None:
    """Fail with one line when this node cannot see a path the task needs."""
    for p in paths:
        if not Path(p).exists():
            raise VidmaskError(f"{p} is not visible on Ray node {node_name()}: put videos, prompts and run folders "
                               "on a filesystem every node mounts at the same path")


# -- batches -------------------------------------------------------------------------------------

def _batch_task(item: BatchItem) -> RunResult:
    print(f"[ray] {item.video.name} on {node_name()}", file=sys.stderr, flush=True)
    try:
        require_visible(item.video, item.prompts, item.out)
    except VidmaskError as exc:
        return RunResult(str(item.video), str(item.out), status="failed", error=str(exc))
    return run_item(item)


def _gather(refs: list, what: list[str], desc: str) -> list:
    """Results of ``refs`` in order, with a bar over completed tasks; a task lost for good becomes
    a ``VidmaskError`` instance in its place."""
    ray = require_ray()
    from tqdm.auto import tqdm

    pending = list(refs)
    with tqdm(total=len(refs), desc=desc, unit="task") as bar:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            bar.update(len(done))
    out = []
    for ref, name in zip(refs, what):
        try:
            out.append(ray.get(ref))
        except ray.exceptions.RayTaskError as exc:  # the task raised: its own message, no retry
            cause = getattr(exc, "cause", None) or exc
            out.append(VidmaskError(str(cause) if isinstance(cause, VidmaskError) else
                                    f"{name}: {type(cause).__name__}: {_first_line(cause)}"))
        except ray.exceptions.RayError as exc:  # worker or node lost more often than max_retries
            out.append(VidmaskError(f"{name}: the Ray task was lost ({type(exc).__name__}: "
                                    f"{_first_line(exc)}) after its retries"))
    return out


def run_batch_on_ray(items: list[BatchItem], summary_path=None, ray_opts: RayOptions | None = None) -> list[RunResult]:
    """``pipeline.run_batch`` with every row a Ray task; same results, summary and skip rules."""
    ray = require_ray()
    ray_opts = ray_opts or RayOptions()
    for item in items:  # made here so a task can tell a folder it cannot see from one not made yet
        item.out.mkdir(parents=True, exist_ok=True)
    remote = ray.remote(_batch_task).options(**task_options(ray_opts))
    refs = [remote.remote(item) for item in items]
    results = []
    for item, res in zip(items, _gather(refs, [str(i.video) for i in items], "batch (ray)")):
        if isinstance(res, VidmaskError):
            res = RunResult(str(item.video), str(item.out), status="failed", error=str(res))
        results.append(res)
    write_summary(results, summary_path)
    return results


# -- one crowded video -----------------------------------------------------------------------------

def _group_task(video: str, workdir: str, opts: RunOptions, objects: tuple[int, ...], pass_start: int | None):
    from vidmask_nb.track.propagate import track

    require_visible(video, Path(workdir) / "prompts.json")
    t0 = time.perf_counter()
    result = track(video, workdir, opts.track_options, objects=objects, pass_start=pass_start, progress=False)
    return result, node_name(), round(time.perf_counter() - t0, 2)


def track_on_ray(video, workdir, opts: RunOptions, ray_opts: RayOptions | None = None):
    """Track the run folder's objects in groups on the cluster, then merge ``masks.json``.

    Returns ``(MaskStore, [(TrackResult, node, seconds), ...])``. Each group starts its passes at
    the earliest prompted frame of all objects, so the merged masks equal a run of all objects.
    """
    ray = require_ray()
    from vidmask_nb.track.propagate import load_prompts, merge_groups, object_groups
    from vidmask_nb.runfolder.folder import RunFolder
    from vidmask_nb.media.video import probe

    ray_opts = ray_opts or RayOptions()
    video, workdir = str(Path(video).resolve()), str(Path(workdir).resolve())
    prompts = load_prompts(RunFolder(workdir), probe(video))
    pass_start = min(p.frame for p in prompts.prompts)
    task_opts = task_options(ray_opts)
    n = ray_opts.groups
    if n is None:
        res = ray.cluster_resources()
        n = int(res.get("GPU", 0) // task_opts["num_gpus"]) if task_opts["num_gpus"] else \
            int(res.get("CPU", 1) // max(task_opts["num_cpus"], 1))
    groups = object_groups([o.id for o in prompts.objects], max(1, n))
    remote = ray.remote(_group_task).options(**task_opts)
    refs = [remote.remote(video, workdir, opts, g, pass_start) for g in groups]
    outcomes = _gather(refs, [f"objects {list(g)}" for g in groups], f"tracking {len(groups)} group(s) (ray)")
    for g, out in zip(groups, outcomes):
        if isinstance(out, Exception):
            raise out
    keys = {out[0].key.split("+objects:")[0] for out in outcomes}
    devices = {out[0].device for out in outcomes}
    if len(devices) > 1:
        raise VidmaskError(f"the groups were tracked on different devices ({sorted(devices)}), whose masks differ; "
                           "give --device")
    store = merge_groups(video, workdir, groups, key=keys.pop() if len(keys) == 1 else None)
    return store, outcomes


def run_video_on_ray(video, prompts, workdir, opts: RunOptions | None = None,
                     ray_opts: RayOptions | None = None, reports: bool = True) -> RunResult:
    """``pipeline.run_video`` with the tracking (03) split across the cluster by object groups.

    01 and 02 run here; the groups are tracked on the cluster and merged into ``masks.json``; 03
    then finds those masks complete (same key) and shows them; 04 renders once, here. The device is
    fixed before the tasks start (``--device``, else ``cuda`` when the cluster has GPUs, else
    ``cpu``) so the masks' key is the one 03 computes here: a CUDA cluster needs a CUDA driver node.
    """
    ray = require_ray()
    opts = (opts or RunOptions()).checked()
    ray_opts = ray_opts or RayOptions()
    if opts.device is None:
        has_gpu = (ray_opts.gpus if ray_opts.gpus is not None else ray.cluster_resources().get("GPU", 0)) > 0
        opts = replace(opts, device="cuda" if has_gpu else "cpu")

    def track_groups(video, workdir, opts):
        store, outcomes = track_on_ray(video, workdir, opts, ray_opts)
        for result, node, seconds in outcomes:
            resumed = f", resumed after {result.resumed_segments} segment(s)" if result.resumed_segments else ""
            print(f"[ray] objects {list(result.objects)} tracked on {node} in {seconds} s{resumed}",
                  file=sys.stderr, flush=True)

    return run_video(video, prompts, workdir, opts, checked=True, before_tracking=track_groups, reports=reports)


def _first_line(exc) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
