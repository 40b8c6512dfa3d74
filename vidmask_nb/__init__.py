"""vidmask-nb: hide chosen objects through a whole video with SAM 2, from Jupyter notebooks.

The pipeline is the architecture: one package a stage, data flowing one way, each stage importing
only the stages before it (``tests/test_layout.py`` checks it)::

    runfolder   the run folder: its paths, atomic writes, its one state file and lock (every stage records here)
    media       probe, read, chunk plan, encode; sample clips           (01)
    prompts     prompt records, LabelMe in/out, prompt sources          (02)
    track       SAM 2 loading, frames for SAM 2, the tracker, corrections, the masks store   (03)
    detect      face/text detectors, find objects, the fail-closed floor
    redact      effects, gap cover, the render stage                    (04)
    review      QA pictures, timelines, overlays, the audit
    run         run options and settings, the headless pipeline, batches, Ray, sharing
    notebook    what the notebooks call: setup, the prompt editor and its state, previews
    cli         the ``vidmask-nb`` command

The curated API, imported on first use (``import vidmask_nb`` loads neither torch nor widgets). The
pipeline is one object, ``Run``, whose stages are methods; the notebooks and the CLI both drive it::

    import vidmask_nb as vm

    run = vm.Run.create("clip.mp4", "runs/clip", vm.RunOptions(find="faces", no_track=True))
    run.extract(); run.find(); run.prompts_done(); run.track()
    out = run.render(); audit = run.audit(); run.review(); run.finish()

    info = vm.probe("clip.mp4")
    prompts = vm.PromptSet.load("runs/clip/prompts.json", info)
    vm.propagate("clip.mp4", "runs/clip", vm.TrackOptions(weights="random", image_size=256))
    out = vm.render("clip.mp4", "runs/clip", vm.RenderOptions(style="blur"))
    report = vm.audit_video(out, "faces")
    result = vm.run_video("clip.mp4", "prompts.json", "runs/clip", vm.RunOptions(style="blur"))
"""
from __future__ import annotations

import importlib

from vidmask_nb.errors import VidmaskError

__version__ = "0.1.0"

# name -> module it lives in, looked up on first use.
_API = {
    "probe": "media.video", "VideoInfo": "media.video", "VideoReader": "media.video",
    "prepare": "media.extract", "make_sample_clip": "media.sample",
    "PromptSet": "prompts.records", "TrackedObject": "prompts.records", "VideoRef": "prompts.records",
    "import_labelme": "prompts.labelme",
    "load_predictor": "track.model",
    "TrackOptions": "track.propagate", "propagate": "track.propagate",
    "MaskStore": "track.masks",
    "FindOptions": "detect.options", "find_and_floor": "detect.find",
    "SayWords": "detect.speech", "spot_words": "detect.speech",
    "AudioOptions": "redact.audio", "plan_audio": "redact.audio", "audit_speech": "review.audit",
    "RenderOptions": "redact.render", "plan_render": "redact.render", "render": "redact.render",
    "audit_video": "review.audit",
    "review_frames": "review.qa",
    "RunOptions": "run.options", "run_video": "run.pipeline", "run_batch": "run.pipeline", "share": "run.share",
    "Run": "run.stages", "Audit": "run.stages", "copy_notebooks": "run.notebooks",
    "show_table": "notebook.views", "show_probe": "notebook.views", "show_thumbnails": "notebook.views",
    "show_chunks": "notebook.views", "show_found": "notebook.views", "editor": "notebook.views",
    "show_preview": "notebook.views", "show_tracking": "notebook.views", "show_plan": "notebook.views",
    "show_output": "notebook.views", "show_audit": "notebook.views", "show_review": "notebook.views",
    "show_contact_sheets": "notebook.views", "show_overlay": "notebook.views",
    "export_palette_pngs": "notebook.views",
    "PromptEditor": "notebook.editor", "open_editor": "notebook.editor", "review_fixer": "notebook.editor",
    "EditState": "notebook.editstate",
}

__all__ = ["VidmaskError", "__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        value = getattr(importlib.import_module(f"vidmask_nb.{_API[name]}"), name)
        globals()[name] = value  # looked up once
        return value
    raise AttributeError(f"module 'vidmask_nb' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
