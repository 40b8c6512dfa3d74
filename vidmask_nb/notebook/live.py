"""Widgets that live in the kernel, and what a notebook says when one cannot be drawn.

A notebook saved with a widget's output holds only a reference to the widget's model, which lives in the
kernel: reopened later, or after its kernel restarted, JupyterLab shows "Error displaying widget: model not
found" in its place. (A page reload with the same kernel running draws it again: the models are fetched
from the kernel.) The kit does not save widget state into the notebook, on purpose: it would hold the
frames' pixels (the editor's canvas, the source | redacted view) in a file meant to stay free of them, and a
restored editor would be a picture with no kernel behind its buttons. Instead, ``reload_note`` is a line
shown above each such widget saying to run the cell again, and ``LiveWidget`` gives the widget a plain text
that says so where no widget can be drawn (a notebook viewed on GitHub, nbconvert).
"""
from __future__ import annotations

import html


def reload_note(what: str, kept: str = "") -> dict:
    """The line shown above a kernel-side widget (see the module): ``display(reload_note(...), raw=True)``."""
    text = (f"If the {what} below reads 'Error displaying widget' (the notebook reopened or its kernel restarted), "
            f"run this cell again{': ' + kept if kept else ''}.")
    return {"text/plain": text, "text/html": f"<div class='vidmask-reload-note' style='font-size:85%;color:#666'>"
                                             f"{html.escape(text)}</div>"}


class LiveWidget:
    """A widget that lives in the kernel: where no widget can be drawn (a saved notebook on GitHub, nbconvert,
    a front end without ipywidgets) its text says to run the cell, not a page of ``VBox(children=...)``."""

    live_what = "widget"

    def _repr_mimebundle_(self, **kwargs):
        data = super()._repr_mimebundle_(**kwargs)
        if isinstance(data, dict) and "text/plain" in data:
            data["text/plain"] = f"[the {self.live_what}: it lives in the kernel; run this cell to show it]"
        return data
