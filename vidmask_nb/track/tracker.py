"""The one SAM 2 tracking pass, shared by a full run (``propagate``) and a correction (``corrections``).

``tracked_frames`` drives stock ``propagate_in_video`` over one pass and drops, after every frame,
the outputs SAM 2 will never read again (``Pruner``), so host memory stays flat and the masks stay
bit-identical to the stock predictor's. ``tracking_context`` is the numeric context every pass runs in.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

from vidmask_nb.track.model import inference_context


class Pruner:
    """Drops tracked outputs that SAM 2 will never read again, keeping results bit-identical.

    Tracking frame t reads every conditioning (prompted) frame, the spatial memory of the
    ``num_maskmem - 1`` previous frames and the object pointers of the
    ``max_obj_ptrs_in_encoder - 1`` previous frames (mirrored when tracking backward). So once the
    next frame is known, a non-conditioning output further than ``window`` frames from it, and
    further than ``window`` from every frame where a later pass starts (the backward pass starts
    at the earliest prompt and reads the forward outputs just after it), is dead. Per-frame
    tracking flags go with their outputs: they matter only to prompts added after tracking,
    which the runner never does.

    Example::

        pruner = Pruner(predictor, pass_starts=[first_prompt])
        pruner.prune(state, next_frame=f + 1)    # after SAM 2 yields frame f going forward
    """

    def __init__(self, predictor, pass_starts: list[int]):
        stride = max(1, int(getattr(predictor, "memory_temporal_stride_for_eval", 1)))
        pointers = predictor.max_obj_ptrs_in_encoder - 1 if predictor.use_obj_ptrs_in_encoder else 0
        self.window = max(pointers, predictor.num_maskmem * stride)
        self.protected = sorted(set(pass_starts))

    def keep(self, t: int, next_frame: int) -> bool:
        w = self.window
        return abs(t - next_frame) <= w or any(abs(t - q) <= w for q in self.protected)

    def prune(self, state: dict, next_frame: int) -> None:
        for per_obj in (state["output_dict_per_obj"], state["frames_tracked_per_obj"]):
            for obj_store in per_obj.values():
                stores = [obj_store["non_cond_frame_outputs"]] if "non_cond_frame_outputs" in obj_store else [obj_store]
                for store in stores:
                    for t in [t for t in store if not self.keep(t, next_frame)]:
                        del store[t]


@contextlib.contextmanager
def quiet_stock_progress():
    """Stock ``propagate_in_video`` draws a bar per call; ours counts the whole run instead."""
    import sam2.sam2_video_predictor as svp

    original = svp.tqdm
    svp.tqdm = lambda iterable, **_: iterable
    try:
        yield
    finally:
        svp.tqdm = original


@contextlib.contextmanager
def tracking_context(predictor):
    """No stock progress bars, the device's autocast, no autograd: the context of every pass."""
    import torch

    with quiet_stock_progress(), inference_context(predictor.device), torch.inference_mode():
        yield


def tracked_frames(predictor, state: dict, pruner: Pruner, start: int, order: list[int], reverse: bool,
                   bar=None) -> Iterator[tuple[int, list, object]]:
    """One pass from ``start`` over the frames ``order`` (in the order SAM 2 visits them).

    Yields SAM 2's ``(frame, obj_ids, video_res_masks)``; once the caller has taken a frame, the
    outputs no later frame reads are pruned and ``bar`` counts it. Leaving the loop early ends the pass.
    """
    calls = predictor.propagate_in_video(state, start_frame_idx=start, max_frame_num_to_track=len(order) - 1,
                                         reverse=reverse)
    try:
        for pos, (frame, obj_ids, video_res_masks) in enumerate(calls):
            yield frame, obj_ids, video_res_masks
            next_frame = order[pos + 1] if pos + 1 < len(order) else frame + (-1 if reverse else 1)
            pruner.prune(state, next_frame)
            if bar is not None:
                bar.update(1)
    finally:
        calls.close()
