"""No source pixels in the clone's tracked files (issue 30 item 2): the notebooks are committed without outputs,
and JupyterLab, as the kit installs it, saves the clone's notebooks without outputs."""
from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "vidmask_nb" / "notebooks"


def _outputs(nb: dict) -> list:
    return [c for c in nb["cells"] if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))]


def test_no_tracked_notebook_holds_an_output():
    listed = subprocess.run(["git", "ls-files", "*.ipynb"], cwd=ROOT, capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    tracked = [ROOT / p for p in listed.stdout.split()]
    assert len(tracked) >= 4
    held = {str(p.relative_to(ROOT)): len(_outputs(json.loads(p.read_text()))) for p in tracked}
    assert not any(held.values()), held


def test_jupyterlab_saves_the_clones_notebooks_without_outputs(tmp_path):
    """The contents manager JupyterLab uses, configured from the jupyter config the kit installs, saving a
    notebook with a picture in its output: in the clone's notebooks/ it lands without; elsewhere, as it was."""
    from jupyter_core.paths import jupyter_config_path
    from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager

    installed = [Path(d) / "jupyter_server_config.d" / "vidmask-nb.json" for d in jupyter_config_path()]
    config = next((p for p in installed if p.is_file()), None)
    assert config is not None, f"scripts/setup.sh installs the pre-save hook into one of {installed}"
    extensions = json.loads(config.read_text())["ServerApp"]["jpserver_extensions"]
    assert extensions == {"vidmask_nb.run.notebooks": True}
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("frame", execution_count=3, outputs=[
        nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"})])])
    model = {"type": "notebook", "format": "json", "content": json.loads(nbformat.writes(nb))}

    async def save(root: Path, path: str) -> dict:
        from types import SimpleNamespace

        from vidmask_nb.run import notebooks

        manager = AsyncLargeFileManager(root_dir=str(root))
        notebooks._load_jupyter_server_extension(SimpleNamespace(contents_manager=manager))  # as the server loads it
        await manager.save(json.loads(json.dumps(model)), path)
        return json.loads((root / path).read_text())

    name = "zz_saved_by_a_person.ipynb"
    try:
        saved = asyncio.run(save(ROOT, f"notebooks/{name}"))  # through the clone's notebooks/ link
        assert not _outputs(saved), saved
    finally:
        (SHIPPED / name).unlink(missing_ok=True)
    elsewhere = asyncio.run(save(tmp_path, name))  # a copy of the person's own: kept as saved
    assert len(_outputs(elsewhere)) == 1
