"""The notebooks' first call (``setup``) and small display helpers (tables as HTML, plain text outside Jupyter)."""
from __future__ import annotations

import html
import os
import warnings
from typing import Mapping, Sequence


def setup(workdir: str | os.PathLike, video: str | os.PathLike | None = None, save: bool = False, **params):
    """The first code cell of every numbered notebook; returns the run's settings (``settings.RunSettings``).

    - A ``VidmaskError`` in any later cell shows as its one line (what is wrong, what to do), not a
      traceback through the library's source; other errors keep their traceback.
    - The random-weights banner is printed once per model load (its warning twin is not shown again).
    - ``workdir``, ``video``, ``save`` and ``params`` (the notebook's parameters, None meaning "from the
      run's settings") go to ``settings.run_settings``: each parameter that overrides a saved setting is
      said in one line; notebook 01 saves them.
    """
    from vidmask_nb.model import RandomWeightsWarning
    from vidmask_nb.settings import run_settings

    show_errors_as_one_line()
    warnings.filterwarnings("ignore", category=RandomWeightsWarning)
    return run_settings(workdir, video, save=save, **params)


def show_errors_as_one_line() -> None:
    """In IPython, show a ``VidmaskError`` as ``VidmaskError: <message>`` without a traceback."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    from vidmask_nb.errors import VidmaskError

    def one_line(shell, etype, value, tb, tb_offset=None):
        stb = [f"\x1b[0;31m{etype.__name__}\x1b[0m: {value}"]
        shell._showtraceback(etype, value, stb)  # an error output (papermill still stops there)
        return stb

    shell.set_custom_exc((VidmaskError,), one_line)


def show_table(rows: Mapping | Sequence[Mapping], title: str | None = None):
    """Show a dict (as key/value rows) or a list of dicts (as columns) as a table."""
    if isinstance(rows, Mapping):
        rows = [{"field": k, "value": v} for k, v in rows.items()]
    rows = list(rows)
    cols = list(dict.fromkeys(k for r in rows for k in r))
    try:
        from IPython.display import HTML, display

        head = "".join(f"<th style='text-align:left'>{html.escape(str(c))}</th>" for c in cols)
        body = "".join("<tr>" + "".join(f"<td style='text-align:left'>{html.escape(_fmt(r.get(c)))}</td>"
                                        for c in cols) + "</tr>" for r in rows)
        cap = f"<caption style='text-align:left'><b>{html.escape(title)}</b></caption>" if title else ""
        display(HTML(f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"))
    except ImportError:
        print(format_table(rows, title))


def format_table(rows: Sequence[Mapping], title: str | None = None) -> str:
    """A plain-text table (for the CLI and logs)."""
    rows = list(rows)
    cols = list(dict.fromkeys(k for r in rows for k in r))
    cells = [[str(c) for c in cols]] + [[_fmt(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cols))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return ((title + "\n") if title else "") + "\n".join(lines)


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)) and len(v) > 6:
        return f"[{len(v)} items]"
    return str(v)
