"""One pipeline in the package (issue 27): the notebooks and the CLI are two faces of ``vm.Run``.

- the notebooks are thin: outside the parameters cell they name only the public API, and branch nowhere;
- SAM 2 is built once a process and the source probed once, in one tracked ``run --find faces``;
- the same run driven through the notebooks and through the CLI gives byte-identical masks and video;
- a wheel, installed non-editable into a fresh environment, runs everything from an unrelated folder.
"""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import vidmask_nb as vm
from vidmask_nb.cli import main
from vidmask_nb.run.pipeline import NOTEBOOKS, execute_notebook, notebooks_dir

ROOT = Path(__file__).resolve().parents[1]
FAST = ["--weights", "random", "--image-size", "128", "--device", "cpu", "--chunk-seconds", "0.5"]
BRANCHING = (ast.If, ast.IfExp, ast.For, ast.While, ast.Try, ast.With, ast.ListComp, ast.DictComp, ast.SetComp,
             ast.GeneratorExp, ast.BoolOp, ast.Lambda, ast.FunctionDef, ast.ClassDef, ast.Match)


def _cells(name: str) -> tuple[str, list[str]]:
    nb = json.loads((notebooks_dir() / f"{name}.ipynb").read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    params = ["".join(c["source"]) for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    return params[0], ["".join(c["source"]) for c in code if "parameters" not in c.get("metadata", {}).get("tags", [])]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_cells_call_only_the_public_api_and_hold_no_logic(name):
    params, cells = _cells(name)
    known = {t.id for node in ast.walk(ast.parse(params)) if isinstance(node, ast.Assign) for t in node.targets}
    public = set(vm.__all__)
    for source in cells:
        tree = ast.parse(source)
        for node in ast.walk(tree):
            assert not isinstance(node, BRANCHING), f"{name}: logic in a cell ({type(node).__name__}): {source!r}"
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                assert isinstance(node, ast.Import) and [(a.name, a.asname) for a in node.names] == [
                    ("vidmask_nb", "vm")], f"{name}: imports only `import vidmask_nb as vm`: {source!r}"
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "vm":
                assert node.attr in public, f"{name}: vm.{node.attr} is not public API"
        for node in ast.walk(tree):  # names: vm, a parameter, or one an earlier cell made
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                known.add(node.id)
        loads = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        assert loads <= known | {"vm"}, f"{name}: {loads - known - {'vm'}} come from nowhere"


def test_one_tracked_run_builds_sam2_once_and_probes_the_source_once(tmp_path, sample_clip, monkeypatch):
    """The preview (02) and the tracker (03) share one model; every stage, the audit and the review
    share one probe. Counted on the kit's own build and probe functions, each called through."""
    from vidmask_nb.media import video
    from vidmask_nb.prompts.sources import sample_prompts
    from vidmask_nb.track import model

    calls = {"probe": [], "build": 0}
    real_probe, real_build = video._probe_file, model._build_model

    def probe_file(path):
        calls["probe"].append(Path(path).resolve())
        return real_probe(path)

    def build(*args, **kw):
        calls["build"] += 1
        return real_build(*args, **kw)

    monkeypatch.setattr(video, "_probe_file", probe_file)
    monkeypatch.setattr(model, "_build_model", build)
    sample_prompts(vm.probe(sample_clip)).save(tmp_path / "prompts.json")
    model._BUILT.clear()
    video._PROBED.clear()  # this process has not seen the clip: the run's own probes are counted
    calls["probe"].clear()
    rc = main(["run", str(sample_clip), "--prompts", str(tmp_path / "prompts.json"), "--find", "faces",
               "--out", str(tmp_path / "run"), "--no-reports", *FAST])
    assert rc == 0
    assert calls["build"] == 1
    assert calls["probe"].count(sample_clip.resolve()) == 1, calls["probe"]


@pytest.mark.slow
def test_notebooks_and_cli_give_the_same_bytes(tmp_path, sample_clip):
    """The same tracked run, once through the CLI and once stepping 01-04 under papermill."""
    from vidmask_nb.prompts.sources import sample_prompts

    prompts = tmp_path / "prompts.json"
    sample_prompts(vm.probe(sample_clip)).save(prompts)
    cli = tmp_path / "cli"
    assert main(["run", str(sample_clip), "--prompts", str(prompts), "--out", str(cli), "--no-reports",
                 "--style", "blur", *FAST]) == 0
    nb, reports = tmp_path / "nb", tmp_path / "reports"
    settings = {"weights": "random", "image_size": 128, "device": "cpu", "chunk_seconds": 0.5, "style": "blur"}
    execute_notebook(notebooks_dir() / "01_extract.ipynb", reports / "01.ipynb",
                     {"workdir": str(nb), "video": str(sample_clip), "thumbnails": 1, **settings})
    execute_notebook(notebooks_dir() / "02_prompt.ipynb", reports / "02.ipynb",
                     {"workdir": str(nb), "prompts_file": str(prompts), "preview": False})
    execute_notebook(notebooks_dir() / "03_propagate.ipynb", reports / "03.ipynb", {"workdir": str(nb), "overlay_count": 1})
    execute_notebook(notebooks_dir() / "04_render.ipynb", reports / "04.ipynb",
                     {"workdir": str(nb), "overlay_preview": False, "contact_frames": 2})
    assert (nb / "masks.json").read_bytes() == (cli / "masks.json").read_bytes()
    assert (nb / "sample_redacted.mp4").read_bytes() == (cli / "sample_redacted.mp4").read_bytes()
    assert json.loads((nb / "run.json").read_text())["status"] == "complete"


@pytest.mark.slow
def test_a_wheel_runs_everything_from_an_unrelated_folder(tmp_path, sample_clip):
    """Built, installed non-editable into a fresh environment (the dependencies reused from this one, the
    kit itself fresh), run from a folder that is not the clone: find-only, tracked, and the notebooks."""
    import sysconfig

    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(dist),
                    str(ROOT)], check=True, capture_output=True)
    [wheel] = dist.glob("vidmask_nb-*.whl")
    assert {f"vidmask_nb/notebooks/{n}.ipynb" for n in NOTEBOOKS} <= set(zipfile.ZipFile(wheel).namelist())
    env_dir = tmp_path / "fresh"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    py = env_dir / "bin" / "python"
    fresh_site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                     check=True, capture_output=True, text=True).stdout.strip())
    # the dependencies: this environment's site-packages on the path (a plain path entry: its .pth files,
    # among them the editable install of the clone, are not read)
    (fresh_site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", "--no-index",
                    str(wheel)], check=True, capture_output=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIDMASK_NOTEBOOKS")}
    env["PATH"] = f"{env_dir / 'bin'}:{env['PATH']}"

    def kit(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(env_dir / "bin" / "vidmask-nb"), *args], cwd=elsewhere, env=env,
                              capture_output=True, text=True, timeout=900)

    where = subprocess.run([str(py), "-c", "import vidmask_nb; print(vidmask_nb.__file__)"], cwd=elsewhere, env=env,
                           capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(fresh_site)), where
    done = kit("run", str(sample_clip), "--find", "faces", "--no-track", "--out", "find")
    assert done.returncode == 0, done.stderr
    assert (elsewhere / "find" / "sample_redacted.mp4").is_file()
    assert {p.name for p in (elsewhere / "find" / "sensitive" / "reports").glob("*.ipynb")} == {
        f"{n}.ipynb" for n in NOTEBOOKS if n != "03_propagate"}  # no tracking, no timeline
    from vidmask_nb.prompts.sources import sample_prompts

    sample_prompts(vm.probe(sample_clip)).save(elsewhere / "prompts.json")
    done = kit("run", str(sample_clip), "--prompts", "prompts.json", "--out", "tracked", "--no-reports", *FAST)
    assert done.returncode == 0, done.stderr
    assert json.loads((elsewhere / "tracked" / "run.json").read_text())["status"] == "complete"
    done = kit("notebooks", "mine")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (elsewhere / "mine").iterdir()) == [f"{n}.ipynb" for n in NOTEBOOKS]
