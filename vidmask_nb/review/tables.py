"""Tables for people: HTML in Jupyter, plain text on the console and in logs."""
from __future__ import annotations

import html
from typing import Mapping, Sequence


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
