"""One place for a run's settings (in its state, run.json), paths resolved from the repository root, and the
notebooks executed the way JupyterLab runs them (kernel cwd notebooks/, only ``workdir`` given)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from vidmask_nb.errors import VidmaskError
from vidmask_nb.run.pipeline import RunOptions
from vidmask_nb.run.settings import RunSettings, repo_root, resolve_path, run_settings
from vidmask_nb.runfolder.state import RUN_FILE

ROOT = Path(__file__).resolve().parents[1]


def test_repo_root_is_the_clone_not_the_kernels_cwd(monkeypatch):
    monkeypatch.chdir(ROOT / "notebooks")  # where papermill and JupyterLab start kernels
    assert repo_root() == ROOT
    assert resolve_path("notebooks/01_extract.ipynb", "notebook") == (ROOT / "notebooks" / "01_extract.ipynb").resolve()


def test_relative_paths_resolve_in_the_clone_whose_notebooks_are_open(tmp_path, monkeypatch):
    """Issue 18 item 9. The harm: with two clones sharing one environment, a notebook's relative paths
    resolved against the clone the package was installed from, not the one whose notebooks are open."""
    other = tmp_path / "other clone"
    (other / "notebooks").mkdir(parents=True)
    shutil.copy(ROOT / "notebooks" / "01_extract.ipynb", other / "notebooks")
    monkeypatch.chdir(other / "notebooks")  # a kernel of the other clone's notebook
    assert repo_root() == other.resolve() != ROOT
    assert resolve_path("runs/demo", "run folder", must_exist=False) == other.resolve() / "runs" / "demo"


def test_a_missing_file_names_every_absolute_path_looked_at(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT / "notebooks")
    with pytest.raises(VidmaskError) as err:
        resolve_path("runs/nowhere/clip.mp4", "video", tmp_path)
    msg = str(err.value)
    assert msg.startswith("video not found: ")
    assert str(ROOT / "runs/nowhere/clip.mp4") in msg and str(tmp_path / "runs/nowhere/clip.mp4") in msg


def test_first_notebook_saves_later_ones_read_and_a_parameter_overrides(tmp_path, sample_clip):
    said = []
    s = run_settings(tmp_path / "run", sample_clip, save=True, say=said.append, weights="random", image_size=512,
                     chunk_seconds=0.5)
    assert said == [] and s.video == sample_clip.resolve() and s.image_size == 512
    saved = json.loads((tmp_path / "run" / RUN_FILE).read_text())  # the run's state holds them
    assert RUN_FILE == "run.json" and saved["status"] == "running"
    assert saved["video"] == str(sample_clip.resolve()) and saved["options"]["chunk_seconds"] == 0.5

    later = run_settings(tmp_path / "run", say=said.append)  # only workdir
    assert later.video == s.video and later.options == s.options and said == []

    here = run_settings(tmp_path / "run", say=said.append, image_size=256, weights=None)
    assert here.image_size == 256 and here.weights == "random"
    assert said == ["image_size = 256 from this notebook's parameters overrides the run's settings (512)"]
    assert RunSettings.load(tmp_path / "run").image_size == 512  # an override is this notebook's only


def test_video_relative_to_the_run_folder_and_bad_settings(tmp_path, sample_clip):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(sample_clip, run / "clip.mp4")
    s = run_settings(run, "clip.mp4", save=True, say=lambda line: None, weights="random")
    assert s.video == (run / "clip.mp4").resolve()
    with pytest.raises(VidmaskError, match=f"no run's settings in {tmp_path / 'other'} .no run.json.: run notebook 01"):
        run_settings(tmp_path / "other")
    with pytest.raises(VidmaskError, match="unknown setting"):
        run_settings(run, image_sise=256)
    with pytest.raises(VidmaskError, match="--image-size must be a multiple of 32"):
        run_settings(run, save=True, image_size=100)
    (run / RUN_FILE).write_text(json.dumps({"kind": "vidmask-nb run folder", "video": str(s.video),
                                                 "options": {"gpu": 1}}))
    with pytest.raises(VidmaskError, match="another version of the kit"):
        run_settings(run)


@pytest.mark.slow
def test_notebooks_need_only_workdir_from_notebooks_cwd(tmp_path, sample_clip):
    """After 01 (its defaults only changed by workdir and video), 04 runs with nothing but ``workdir``,
    kernel cwd notebooks/ as in JupyterLab; a VidmaskError in a notebook is its one line."""
    import papermill

    from vidmask_nb.run.pipeline import execute_notebook
    from common import inject_masks
    from vidmask_nb.runfolder.folder import RunFolder
    from vidmask_nb.media.sample import SampleScene
    from vidmask_nb.media.video import probe

    run = tmp_path / "run"
    shutil.copy(sample_clip, tmp_path / "clip.mp4")
    reports = RunFolder(run).reports_dir
    execute_notebook(ROOT / "notebooks" / "01_extract.ipynb", reports / "01.ipynb",
                     {"workdir": str(run), "video": str(tmp_path / "clip.mp4"), "weights": "random",
                      "thumbnails": 2})
    assert json.loads((run / RUN_FILE).read_text())["options"]["weights"] == "random"
    assert (run / "manifest.json").is_file()

    # 03 on a folder without prompts: the error is its one line, no traceback through the package
    with pytest.raises(papermill.PapermillExecutionError) as err:
        execute_notebook(ROOT / "notebooks" / "03_propagate.ipynb", reports / "03.ipynb", {"workdir": str(run)})
    assert err.value.ename == "VidmaskError" and "prompts" in err.value.evalue
    cells = json.loads((reports / "03.ipynb").read_text())["cells"]
    tracebacks = [o["traceback"] for c in cells for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert len(tracebacks) == 1 and len(tracebacks[0]) == 1 and "site-packages" not in tracebacks[0][0]

    info = probe(tmp_path / "clip.mp4")
    scene = SampleScene((info.width, info.height), info.fps)
    inject_masks(info, {1: "ball", 2: "block"}, lambda i, k: scene.object_mask(i, k)).save(RunFolder(run).masks_json)
    execute_notebook(ROOT / "notebooks" / "04_render.ipynb", reports / "04.ipynb", {"workdir": str(run)})
    assert (run / "clip_redacted.mp4").is_file()
    text = (reports / "04.ipynb").read_text()
    assert "overrides the run's settings" not in text and "redacted video:" in text


def test_parameters_cells_parse_cleanly_and_default_to_the_runs_settings(caplog):
    """papermill reads every parameter (no 'Unable to parse line'); only 01 names a video, and every
    run setting a later notebook has defaults to None (from run.json)."""
    import papermill

    from vidmask_nb.run.pipeline import NOTEBOOKS

    with caplog.at_level("WARNING", logger="papermill"):
        params = {n: papermill.inspect_notebook(str(ROOT / "notebooks" / f"{n}.ipynb")) for n in NOTEBOOKS}
    assert not [r for r in caplog.records if r.name.startswith("papermill")], caplog.text
    options = set(RunOptions.__dataclass_fields__)
    for name, p in params.items():
        assert p["workdir"]["default"] == '"runs/demo"', name
        later = {k: v["default"] for k, v in p.items() if k in options or (k == "video" and name != "01_extract")}
        assert set(later.values()) <= {"None"}, (name, later)  # the run's settings are 01's; later ones only override
    assert params["01_extract"]["video"]["default"] == '"runs/demo/sample.mp4"'


def test_errors_name_the_notebook_parameter_and_a_failed_01_saves_nothing(tmp_path, sample_clip):
    """Issue 18 item 2. The harm: 01 with a non-video as ``video`` failed with a clear line but wrote the
    folder's settings naming that file; the next attempt said ``image_size = 250 ... are saved as the
    run's settings (256)`` and then failed with ``--image-size must be a multiple of 32``: nothing had
    been saved, and the message named a CLI flag, not the notebook's parameter."""
    said = []
    run = tmp_path / "run"
    not_a_video = tmp_path / "notes.mp4"
    not_a_video.write_text("not a video")
    with pytest.raises(VidmaskError):
        run_settings(run, not_a_video, save=True, caller="notebook", say=said.append, weights="random")
    assert not run.exists(), "a failed 01 leaves nothing in the run folder"
    run_settings(run, sample_clip, save=True, caller="notebook", say=said.append, weights="random", image_size=256)
    said.clear()
    with pytest.raises(VidmaskError) as err:
        run_settings(run, sample_clip, save=True, caller="notebook", say=said.append, image_size=250)
    assert str(err.value).startswith("image_size must be a multiple of 32") and "--" not in str(err.value)
    assert said == [], "nothing is said to be saved when the check fails"
    assert RunSettings.load(run).image_size == 256
    with pytest.raises(VidmaskError, match="^--image-size must be"):  # the CLI's reader gets the flag
        RunOptions(image_size=250, weights="random").checked()
