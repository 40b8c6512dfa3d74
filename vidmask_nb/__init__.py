"""vidmask-nb: hide chosen objects through a whole video with SAM 2, from Jupyter notebooks.

The pipeline is the architecture, one module a stage, data flowing one way:

    video (probe, read, chunk plan, encode) -> prompts -> propagate -> render (-> audit)

Each stage reads what the previous one wrote into a run folder (see ``runfolder``).

The curated API, imported on first use (``import vidmask_nb`` loads neither torch nor widgets)::

    import vidmask_nb as vm

    info = vm.probe("clip.mp4")
    prompts = vm.PromptSet.load("runs/clip/prompts.json", info)
    vm.propagate("clip.mp4", "runs/clip", weights="random", image_size=256)
    out = vm.render("clip.mp4", "runs/clip", style="blur")
    report = vm.audit_video(out, "faces")
    result = vm.run_video("clip.mp4", "prompts.json", "runs/clip", vm.RunOptions(style="blur"))
"""
from __future__ import annotations

import importlib
import types

from vidmask_nb.errors import VidmaskError

__version__ = "0.1.0"

# name -> module it lives in. ``propagate`` and ``render`` are both a stage module and its main
# function: the module is callable (``_StageModule``), so ``vm.render(...)`` works whether or not
# ``vidmask_nb.render`` was imported before (which binds the module to the package's name).
_API = {
    "probe": "video", "VideoInfo": "video", "VideoReader": "video",
    "PromptSet": "prompts", "TrackedObject": "prompts", "VideoRef": "prompts",
    "prepare": "extract",
    "import_labelme": "labelme",
    "load_predictor": "model",
    "TrackOptions": "propagate",
    "MaskStore": "masks",
    "RenderOptions": "render", "plan_render": "render",
    "FindOptions": "find", "find_and_floor": "find",
    "audit_video": "audit",
    "review_frames": "qa",
    "RunOptions": "pipeline", "run_video": "pipeline", "run_batch": "pipeline", "share": "pipeline",
    "PromptEditor": "editor", "open_editor": "editor", "review_fixer": "editor",
    "EditState": "editstate",
    "make_sample_clip": "sample",
}
_STAGES = ("propagate", "render")

__all__ = ["VidmaskError", "__version__", *_STAGES, *_API]


class _StageModule(types.ModuleType):
    """A stage module that is also its main function: ``vidmask_nb.render(...)`` calls ``render.render``."""

    def __call__(self, *args, **kwargs):
        return getattr(self, self.__name__.rpartition(".")[2])(*args, **kwargs)


def __getattr__(name: str):
    if name in _STAGES:
        return importlib.import_module(f"vidmask_nb.{name}")  # the module marks itself callable
    if name in _API:
        value = getattr(importlib.import_module(f"vidmask_nb.{_API[name]}"), name)
        globals()[name] = value  # looked up once
        return value
    raise AttributeError(f"module 'vidmask_nb' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
