"""The curated public API: ``import vidmask_nb as vm`` (lazy: no torch, no widgets on import)."""
from __future__ import annotations

import subprocess
import sys


def test_import_loads_neither_torch_nor_widgets_and_names_resolve():
    code = """
import sys
import vidmask_nb as vm
heavy = [m for m in ("torch", "sam2", "ipywidgets", "ipycanvas", "cv2", "av") if m in sys.modules]
assert not heavy, heavy
assert vm.RunOptions().style == vm.RenderOptions().style
import types
import vidmask_nb.redact.render  # the stage module has its own name: vm.render stays the function
assert isinstance(vm.render, types.FunctionType) and isinstance(vm.propagate, types.FunctionType)
assert vm.render.__module__ == "vidmask_nb.redact.render" and vm.propagate.__module__ == "vidmask_nb.track.propagate"
assert vm.probe.__module__ == "vidmask_nb.media.video" and vm.MaskStore.__name__ == "MaskStore"
assert "torch" not in sys.modules and "ipywidgets" not in sys.modules
print(sorted(set(vm.__all__) - set(dir(vm))))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_every_api_name_resolves_and_stage_functions_run(sample_clip):
    import vidmask_nb as vm

    for name in vm.__all__:
        assert getattr(vm, name) is not None, name
    assert vm.PromptEditor.__module__ == "vidmask_nb.notebook.editor"
    assert vm.probe(sample_clip).frame_count == 48
    try:
        vm.render(sample_clip, None)  # the function runs (and says what is missing)
    except vm.VidmaskError as exc:
        assert "render needs a run folder" in str(exc)
    else:
        raise AssertionError("render without a run folder must fail")
