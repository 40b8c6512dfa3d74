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
import vidmask_nb.render  # binds the module to vm.render: it is still the render function to call
assert callable(vm.render) and callable(vm.propagate) and vm.render.plan_render is vm.plan_render
assert vm.probe.__module__ == "vidmask_nb.video" and vm.MaskStore.__name__ == "MaskStore"
assert "torch" not in sys.modules and "ipywidgets" not in sys.modules
print(sorted(set(vm.__all__) - set(dir(vm))))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_every_api_name_resolves_and_stage_modules_call_their_function(sample_clip):
    import vidmask_nb as vm

    for name in vm.__all__:
        assert getattr(vm, name) is not None, name
    assert vm.PromptEditor.__module__ == "vidmask_nb.editor"
    assert vm.probe(sample_clip).frame_count == 48
    try:
        vm.render(sample_clip, None)  # the module called: the function runs (and says what is missing)
    except vm.VidmaskError as exc:
        assert "render needs a run folder" in str(exc)
    else:
        raise AssertionError("render without a run folder must fail")
