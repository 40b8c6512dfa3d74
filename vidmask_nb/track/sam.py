"""The boundary with SAM 2: frames in (decoded lazily from the source video), prompts in, masks out.

Shared by the runner (``propagate``) and the single-frame prompt preview.

- ``SamFrames`` looks like the ``[N,3,S,S]`` tensor SAM 2's ``init_state`` would build, but decodes
  each frame only when the model asks for it (no JPEG folder, no whole-video tensor); it can decode
  ahead in a background thread along a known order (``prefetch``).
- ``init_state`` makes a stock SAM 2 inference state over those lazy frames.
- ``add_prompt`` feeds one merged ``FramePrompt`` (box and/or points, source pixels) to SAM 2.
- ``masks_from_logits`` turns SAM 2's mask logits into boolean masks at source resolution.

Example (preview one frame)::

    predictor = load_predictor("tiny")
    state = init_state(predictor, info, indices=[120])        # a one-frame state over frame 120
    masks = add_prompt(predictor, state, prompt, frame_idx=0)  # {obj_id: HxW bool} on frame 120
"""
from __future__ import annotations

import contextlib
import threading
from typing import Sequence

import numpy as np

from vidmask_nb.errors import VidmaskError
from vidmask_nb.prompts.records import FramePrompt
from vidmask_nb.media.video import VideoInfo, VideoReader, probe

# SAM 2's input normalisation (sam2/utils/misc.py, load_video_frames).
IMG_MEAN = (0.485, 0.456, 0.406)
IMG_STD = (0.229, 0.224, 0.225)
MASK_THRESHOLD = 0.0  # SAM 2 mask logits above this are the object

_init_lock = threading.Lock()


class SamFrames:
    """A video's frames as SAM 2's input, ``frames[i]`` -> float32 ``[3,S,S]`` normalised tensor.

    ``indices`` restricts it to some source frames (``frames[k]`` is source frame ``indices[k]``);
    ``len(frames)`` is then ``len(indices)``. The arithmetic is the stock loader's (``rgb / 255.0`` in
    float64, cast to float32, minus mean, divided by std), so tensors equal what SAM 2 builds from
    the same RGB pixels. Only a small decode cache is held, however long the video.

    Example::

        frames = SamFrames(info, image_size=1024)
        frames.prefetch(range(0, len(frames)))   # decode ahead in this order (optional)
        x = frames[10]                            # torch.Size([3, 1024, 1024])
    """

    def __init__(self, video: str | VideoInfo, image_size: int, indices: Sequence[int] | None = None,
                 cache_frames: int = 8):
        self.info = video if isinstance(video, VideoInfo) else probe(video)
        self.image_size = int(image_size)
        self.indices = None if indices is None else [int(i) for i in indices]
        if self.indices is not None:
            if not self.indices:
                raise VidmaskError("no frames given: indices is empty")
            bad = [i for i in self.indices if not 0 <= i < self.info.frame_count]
            if bad:
                raise VidmaskError(f"frame {bad[0]} is outside the video (0..{self.info.frame_count - 1})")
        self._reader = VideoReader(self.info.path, size=self.image_size, info=self.info, cache_frames=cache_frames)
        self._lut = _normalisation_table()
        self._prefetcher: _Prefetcher | None = None

    def __len__(self) -> int:
        return len(self.indices) if self.indices is not None else self.info.frame_count

    def source_index(self, i: int) -> int:
        """The source video's frame index behind SAM 2's frame ``i``."""
        return self.indices[i] if self.indices is not None else int(i)

    def to_tensor(self, rgb: np.ndarray):
        """One SxS RGB uint8 frame -> normalised float32 ``[3,S,S]`` (the stock loader's arithmetic).

        Through a 256-entry table per channel holding exactly the stock loader's float32 result for
        each byte value (so equal by construction), and no torch op: the prefetch thread then never
        starts a second OpenMP team spinning against the model's threads.
        """
        import torch

        return torch.from_numpy(np.stack([np.take(self._lut[c], rgb[..., c]) for c in range(3)]))

    def __getitem__(self, i: int):
        if not -len(self) <= i < len(self):
            raise IndexError(f"frame {i} is outside 0..{len(self) - 1}")
        idx = self.source_index(i % len(self))
        if self._prefetcher is not None:
            tensor = self._prefetcher.take(idx)
            if tensor is not None:
                return tensor
        return self.to_tensor(self._reader[idx])

    def prefetch(self, order: Sequence[int], ahead: int = 8) -> None:
        """Decode SAM 2 frames ``order`` (in that order) ahead of use in a background thread.

        Frames asked for outside the order are decoded on the spot, so a wrong guess costs time,
        never correctness. A new call replaces the previous order.
        """
        self.stop_prefetch()
        order = [self.source_index(i) for i in order]
        if order:
            self._prefetcher = _Prefetcher(self, order, ahead)
            self._prefetcher.start()

    def stop_prefetch(self) -> None:
        if self._prefetcher is not None:
            self._prefetcher.stop()
            self._prefetcher = None

    def close(self) -> None:
        self.stop_prefetch()
        self._reader.close()


def _normalisation_table() -> np.ndarray:
    """``[3,256]`` float32: ``(float32(v / 255.0) - mean[c]) / std[c]`` in float32, as stock SAM 2 computes it."""
    table = np.repeat((np.arange(256) / 255.0).astype(np.float32)[None, :], 3, axis=0)
    table -= np.asarray(IMG_MEAN, dtype=np.float32)[:, None]
    table /= np.asarray(IMG_STD, dtype=np.float32)[:, None]
    return table


class _Prefetcher(threading.Thread):
    """Decodes planned frames up to ``ahead`` positions past the last one taken; its own decoder."""

    def __init__(self, frames: SamFrames, order: list[int], ahead: int):
        super().__init__(daemon=True, name="vidmask-prefetch")
        self.frames = frames
        self.order = order
        self.pos: dict[int, int] = {}
        for k, idx in enumerate(order):
            self.pos.setdefault(idx, k)
        self.ahead = max(1, ahead)
        self.ready: dict[int, object] = {}
        self.taken = -1  # position of the last frame handed out
        self.cv = threading.Condition()
        self.stopped = False
        self.error: BaseException | None = None
        self.done = False
        # Stepping backwards re-decodes one block per cache_frames frames: keep blocks big.
        self.reader = VideoReader(frames.info.path, size=frames.image_size, info=frames.info, cache_frames=32)

    def run(self) -> None:
        try:
            for k, idx in enumerate(self.order):
                with self.cv:
                    self.cv.wait_for(lambda: self.stopped or k <= self.taken + self.ahead)
                    if self.stopped:
                        return
                tensor = self.frames.to_tensor(self.reader[idx])
                with self.cv:
                    self.ready[idx] = tensor
                    self.cv.notify_all()
        except BaseException as exc:  # handed to the consumer, which raises it
            with self.cv:
                self.error = exc
                self.cv.notify_all()
        finally:
            self.reader.close()
            with self.cv:
                self.done = True
                self.cv.notify_all()

    def take(self, idx: int):
        """The tensor for source frame ``idx`` if it is planned ahead; None to decode it on the spot."""
        k = self.pos.get(idx)
        if k is None or k <= self.taken:
            return None
        with self.cv:
            for stale in [i for i in self.ready if self.pos[i] < k]:  # planned but never asked for
                del self.ready[stale]
            self.taken = max(self.taken, k - 1)  # let the decoder reach k
            self.cv.notify_all()
            self.cv.wait_for(lambda: idx in self.ready or self.error is not None or self.done or self.stopped)
            if self.error is not None:
                raise self.error
            tensor = self.ready.pop(idx, None)
            self.taken = k
            self.cv.notify_all()
            return tensor

    def stop(self) -> None:
        with self.cv:
            self.stopped = True
            self.ready.clear()
            self.cv.notify_all()
        self.join(timeout=10)


@contextlib.contextmanager
def _lazy_loader(frames: SamFrames, height: int, width: int):
    """Make stock ``init_state`` take our lazy frames instead of loading the whole video.

    ``init_state`` gets its frames from ``load_video_frames`` (imported into the predictor's
    module); everything else it builds is kept as SAM 2 makes it, so the state stays stock.
    """
    import sam2.sam2_video_predictor as svp

    original = svp.load_video_frames
    svp.load_video_frames = lambda **_: (frames, height, width)
    try:
        yield
    finally:
        svp.load_video_frames = original


def init_state(predictor, info: VideoInfo, indices: Sequence[int] | None = None,
               offload_state_to_cpu: bool = False, frames: SamFrames | None = None) -> dict:
    """A SAM 2 inference state over ``info``'s video, frames decoded lazily at the model's input size.

    - ``indices``: only these source frames (SAM 2's frame ``k`` is source frame ``indices[k]``);
      e.g. ``indices=[f]`` for a one-frame preview of frame ``f``. ``None``: the whole video, where
      SAM 2's frame index is the source frame index.
    - ``offload_state_to_cpu``: keep tracking memory on the host (stock option; slower on GPU).
    - ``frames``: a ``SamFrames`` to use (the runner passes one to prefetch with).

    Returns the stock state dict (``state["images"]`` is the ``SamFrames``). Like stock
    ``init_state``, it encodes the state's frame 0 at once.

    Example::

        state = init_state(predictor, probe("clip.mp4"))
    """
    from vidmask_nb.track.model import inference_context

    if frames is None:
        frames = SamFrames(info, predictor.image_size, indices)
    elif frames.image_size != predictor.image_size:
        raise VidmaskError(f"frames are {frames.image_size}px but the model takes {predictor.image_size}px")
    with _init_lock, _lazy_loader(frames, info.height, info.width), inference_context(predictor.device):
        return predictor.init_state(video_path=info.path, offload_video_to_cpu=True,
                                    offload_state_to_cpu=offload_state_to_cpu)


def add_prompt(predictor, state: dict, prompt: FramePrompt, frame_idx: int) -> dict[int, np.ndarray]:
    """Give SAM 2 one merged prompt (box and/or points, in source pixels) on the state's frame ``frame_idx``.

    ``frame_idx`` is the state's index (the source index for a whole-video state; ``k`` for
    ``indices[k]``). One call per frame and object: it replaces earlier prompts of that object on
    that frame (``PromptSet.merged()`` gives one per frame and object). Returns the masks SAM 2 now
    predicts on that frame, ``{obj_id: HxW bool}`` at source resolution, for every object in the state.

    Example::

        for (frame, obj_id), p in prompts.merged().items():
            masks = add_prompt(predictor, state, p, frame_idx=frame)
    """
    from vidmask_nb.track.model import inference_context

    if prompt.box is None and not prompt.points:
        raise VidmaskError(f"{prompt.describe()} has neither a box nor points")
    if not 0 <= frame_idx < state["num_frames"]:
        raise VidmaskError(f"frame {frame_idx} is outside this state's {state['num_frames']} frames")
    points = np.asarray(prompt.points, dtype=np.float32).reshape(-1, 2) if prompt.points else None
    labels = np.asarray(prompt.point_labels, dtype=np.int32) if prompt.points else None
    box = np.asarray(prompt.box, dtype=np.float32) if prompt.box is not None else None
    with inference_context(predictor.device):
        _, obj_ids, video_res_masks = predictor.add_new_points_or_box(
            state, frame_idx=frame_idx, obj_id=int(prompt.obj_id), points=points, labels=labels,
            box=box, clear_old_points=True, normalize_coords=True)
    return masks_from_logits(obj_ids, video_res_masks)


def masks_from_logits(obj_ids: Sequence[int], video_res_masks) -> dict[int, np.ndarray]:
    """SAM 2's ``[objects,1,H,W]`` logits at video resolution -> ``{obj_id: HxW bool}`` (logit > 0)."""
    binary = (video_res_masks[:, 0] > MASK_THRESHOLD).cpu().numpy()
    return {int(obj_id): binary[i] for i, obj_id in enumerate(obj_ids)}


def object_scores(state: dict, frame_idx: int) -> dict[int, float]:
    """Each object's presence score on a frame SAM 2 has just produced: sigmoid of its object-score logit.

    Looks in the newest outputs first (prompts not yet propagated), then the tracked outputs; an
    object with no output on that frame scores 0.
    """
    import torch

    scores = {}
    for obj_idx, obj_id in state["obj_idx_to_id"].items():
        out = None
        for store in (state["temp_output_dict_per_obj"][obj_idx], state["output_dict_per_obj"][obj_idx]):
            out = store["cond_frame_outputs"].get(frame_idx) or store["non_cond_frame_outputs"].get(frame_idx)
            if out is not None:
                break
        scores[int(obj_id)] = 0.0 if out is None else float(torch.sigmoid(out["object_score_logits"].float()).flatten()[0])
    return scores
