"""The prompt-frame preview (real SAM 2 code, random weights, small input) and notebook 02 under papermill.

Untrained weights: these tests check that the preview runs and draws, never what it segments.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vidmask_nb.errors import VidmaskError
from vidmask_nb.prompts.records import FramePrompt

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "02_prompt.ipynb"
MODEL_ARGS = dict(model="tiny", weights="random", image_size=128, device="cpu")


@pytest.fixture(scope="module")
def predictor():
    from vidmask_nb.track.model import load_predictor

    with pytest.warns(UserWarning, match="RANDOM WEIGHTS"):
        return load_predictor(**MODEL_ARGS)


@pytest.fixture
def prompts(sample_clip_info):
    from vidmask_nb.prompts.sources import sample_prompts

    ps = sample_prompts(sample_clip_info)  # the ball on frame 16, the block on frame 32
    extra = ps.add_object("patch")
    ps.prompts.append(FramePrompt(16, extra.id, points=((20.0, 20.0), (30.0, 25.0)), point_labels=(1, 0),
                                  pts=sample_clip_info.pts[16]))
    return ps.validate(sample_clip_info)


@pytest.mark.slow
def test_preview_prompt_frame_runs_each_object(predictor, sample_clip_info, prompts):
    from vidmask_nb.notebook.preview import preview_prompt_frame

    result = preview_prompt_frame(predictor, sample_clip_info, prompts, 16)
    assert sorted(result) == [1, 3]  # the objects prompted on frame 16
    for mask, score in result.values():
        assert mask.dtype == bool and mask.shape == (120, 160)
        assert 0.0 <= score <= 1.0
    with pytest.raises(VidmaskError, match="frame 5 has no prompts"):
        preview_prompt_frame(predictor, sample_clip_info, prompts, 5)


@pytest.mark.slow
def test_preview_grid_draws_every_prompt_frame(predictor, sample_clip_info, prompts):
    from matplotlib.figure import Figure

    from vidmask_nb.notebook.preview import preview_grid

    fig = preview_grid(predictor, sample_clip_info, prompts, cols=2)
    assert isinstance(fig, Figure)
    shown = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title().split(" · ")[0] for ax in shown] == ["frame 16", "frame 32"]
    assert "score ball" in shown[0].get_title() and "patch" in shown[0].get_title()
    assert shown[0].images[0].get_array().shape == (120, 160, 3)
    assert preview_grid(None, sample_clip_info, prompts).axes  # prompts only, no model
    empty = type(prompts)(prompts.video, prompts.objects, [])
    assert preview_grid(predictor, sample_clip_info, empty) is None


def test_prompts_are_drawn_where_they_are_at_any_size(sample_clip_info, prompts):
    from vidmask_nb.notebook.preview import draw_prompt_frame
    from vidmask_nb.media.video import VideoReader

    with VideoReader(sample_clip_info.path, size=(80, 60), info=sample_clip_info) as reader:
        rgb = reader[16]
    drawn = draw_prompt_frame(rgb, sample_clip_info, prompts, 16)
    x0, y0, x1, y1 = (round(v / 2) for v in prompts.merged()[(16, 1)].box)
    assert tuple(drawn[y0, (x0 + x1) // 2]) == prompts.object(1).color  # the box's top edge, at half size
    assert tuple(drawn[10, 10]) == (40, 220, 40)  # the positive point at (20, 20) source pixels
    untouched = np.ones(drawn.shape[:2], bool)
    untouched[max(0, y0 - 3):y1 + 4, max(0, x0 - 3):x1 + 4] = False
    untouched[:20, :25] = False
    assert (drawn[untouched] == rgb[untouched]).all()  # nothing else changed


@pytest.mark.slow
def test_editor_preview_in_the_widget(tmp_path, predictor, sample_clip_info, prompts):
    from vidmask_nb.notebook.editor import PromptEditor

    prompts.save(tmp_path / "run" / "prompts.json")
    editor = PromptEditor(sample_clip_info, tmp_path / "run", predictor=predictor)
    assert editor.frame == 16 and not editor.preview_button.disabled
    fig = editor.preview(show=True)
    assert fig.axes[0].images and "frame 16" in fig.axes[0].get_title()
    assert bytes(editor.preview_image.value).startswith(b"\x89PNG") and editor.status == "preview of frame 16 done"
    lazy = PromptEditor(sample_clip_info, tmp_path / "run", predictor=lambda: predictor)
    assert lazy.predictor() is predictor


def test_notebook_is_commit_ready():
    import nbformat

    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].metadata.get("tags") == ["parameters"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert nb.metadata.kernelspec.name == "python3"
    params = {}
    exec(code[0].source, params)
    # the model and the rest of the run's settings are 01's (the run's state); 02 imports, finds, draws, previews
    assert {"workdir", "labelme_dir", "prompts_file", "preview"} <= set(params)


@pytest.mark.slow
def test_notebook_02_runs_headless_with_labelme_import(tmp_path, sample_clip, sample_clip_info, prompts):
    """Under papermill nobody draws: the notebook imports, validates and previews what exists."""
    import papermill

    from vidmask_nb.prompts.labelme import export_labelme

    from clip_helpers import start_run

    export_labelme(prompts, tmp_path / "labelme")
    workdir = start_run(tmp_path / "run", sample_clip, **MODEL_ARGS)  # what 01 leaves
    out = tmp_path / "02_out.ipynb"
    papermill.execute_notebook(str(NOTEBOOK), str(out), cwd=str(tmp_path), progress_bar=False, kernel_name="python3",
                               parameters=dict(workdir=str(workdir), labelme_dir=str(tmp_path / "labelme")))
    saved = json.loads((workdir / "prompts.json").read_text())
    # each LabelMe shape is one prompt: the two points of 'patch' come back as two (merged for SAM 2)
    assert [(p["frame"], p["box"] is not None, len(p["points"])) for p in saved["prompts"]] == [
        (16, True, 0), (16, False, 1), (16, False, 1), (32, True, 0)]
    assert [o["label"] for o in saved["objects"]] == ["ball", "patch", "block"]  # in order of first frame
    nb = json.loads(out.read_text())
    outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o["output_type"] == "error"]
    text = "".join("".join(o.get("text", "")) for o in outputs if o["output_type"] == "stream")
    assert "LabelMe import from" in text and "2 file(s), 2 box(es), 2 point(s)" in text
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 1  # the preview grid
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)  # the editor
