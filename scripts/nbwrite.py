"""Write a thin notebook from a list of cells (used to author notebooks/; outputs stay empty).

Usage from Python: ``write_notebook(path, [("markdown", text), ("parameters", code), ("code", code), ...])``.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def write_notebook(path: str | Path, cells: list[tuple[str, str]]) -> Path:
    out = []
    for kind, src in cells:
        src = src.strip("\n")
        lines = [line + "\n" for line in src.split("\n")]
        lines[-1] = lines[-1].rstrip("\n")
        if kind == "markdown":
            out.append({"cell_type": "markdown", "metadata": {}, "source": lines})
        else:
            meta = {"tags": ["parameters"]} if kind == "parameters" else {}
            out.append({"cell_type": "code", "execution_count": None, "metadata": meta,
                        "outputs": [], "source": lines})
    nb = {"cells": out, "metadata": {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"}}, "nbformat": 4, "nbformat_minor": 5}
    for i, cell in enumerate(nb["cells"]):
        cell["id"] = f"cell-{i:02d}"
    Path(path).write_text(json.dumps(nb, indent=1) + "\n", encoding="utf-8")
    return Path(path)


if __name__ == "__main__":
    sys.exit("import write_notebook from this file")
