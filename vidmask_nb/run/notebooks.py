"""The four notebooks the kit ships (``vidmask_nb/notebooks``; a clone's ``notebooks/`` links there): where they
are, copies for a person to open, and JupyterLab's pre-save hook that keeps the shipped ones free of outputs.

Light on purpose: the Jupyter server imports the hook (``etc/jupyter/jupyter_server_config.d/vidmask-nb.json``)."""
from __future__ import annotations

import os
from pathlib import Path

from vidmask_nb.errors import VidmaskError
from vidmask_nb.runfolder.folder import atomic_output

NOTEBOOKS = ("01_extract", "02_prompt", "03_propagate", "04_render")


def notebooks_dir() -> Path:
    """The numbered notebooks, shipped inside the package (``vidmask_nb/notebooks``)."""
    d = Path(os.environ.get("VIDMASK_NOTEBOOKS", Path(__file__).resolve().parents[1] / "notebooks"))
    missing = [n for n in NOTEBOOKS if not (d / f"{n}.ipynb").is_file()]
    if missing:
        raise VidmaskError(f"notebooks {', '.join(missing)} not found in {d}: the installed kit is incomplete; "
                           "reinstall vidmask-nb")
    return d


def copy_notebooks(to, force: bool = False) -> list[Path]:
    """Copy the four notebooks (without outputs, as shipped) into ``to`` for a person to open; an existing
    notebook there is kept unless ``force`` (it may hold a person's work)."""
    import shutil

    to = Path(to)
    if to.exists() and not to.is_dir():
        raise VidmaskError(f"{to} is a file; give a folder for the notebooks")
    to.mkdir(parents=True, exist_ok=True)
    out = []
    for name in NOTEBOOKS:
        dest = to / f"{name}.ipynb"
        if dest.exists() and not force:
            raise VidmaskError(f"{dest} exists (it may hold your work); give another folder, or --force")
        with atomic_output(dest) as tmp:
            shutil.copyfile(notebooks_dir() / f"{name}.ipynb", tmp)
        out.append(dest)
    return out


def strip_outputs_where_shipped(model: dict, path: str, contents_manager=None, **_) -> None:
    """JupyterLab's pre-save hook, installed with the kit (``etc/jupyter/jupyter_server_config.d``): a notebook
    saved in the folder the kit ships its notebooks in (a clone's ``notebooks/``, tracked by git) is saved
    without outputs or execution counts, so the source's pixels (thumbnails, contact sheets) never land in a
    file one commit publishes. Work whose outputs should stay goes into copies: ``vidmask-nb notebooks DIR``."""
    if model.get("type") != "notebook" or not isinstance(model.get("content"), dict):
        return
    root = Path(getattr(contents_manager, "root_dir", "") or ".")
    shipped = Path(__file__).resolve().parents[1] / "notebooks"
    if (root / path).resolve().parent != shipped.resolve():
        return
    for cell in model["content"].get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None


def _jupyter_server_extension_points() -> list[dict]:
    """A Jupyter server extension (enabled by ``etc/jupyter/jupyter_server_config.d/vidmask-nb.json``, which the
    kit installs): it registers ``strip_outputs_where_shipped`` as a pre-save hook of the server's contents."""
    return [{"module": "vidmask_nb.run.notebooks"}]


def _load_jupyter_server_extension(serverapp) -> None:
    serverapp.contents_manager.register_pre_save_hook(strip_outputs_where_shipped)
