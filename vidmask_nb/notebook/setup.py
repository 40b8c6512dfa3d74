"""The notebooks' first call (``setup``); the tables they show come from ``review.tables``."""
from __future__ import annotations

import os
import warnings

from vidmask_nb.review.tables import format_table, show_table  # noqa: F401  (the notebooks call notebook.show_table)


def setup(workdir: str | os.PathLike, video: str | os.PathLike | None = None, save: bool = False, **params):
    """The first code cell of every numbered notebook; returns the run's settings (``settings.RunSettings``).

    - A ``VidmaskError`` in any later cell shows as its one line (what is wrong, what to do), not a
      traceback through the library's source; other errors keep their traceback.
    - The random-weights banner is printed once per model load (its warning twin is not shown again).
    - ``workdir``, ``video``, ``save`` and ``params`` (the notebook's parameters, None meaning "from the
      run's settings") go to ``settings.run_settings``: each parameter that overrides a saved setting is
      said in one line; notebook 01 saves them.
    """
    from vidmask_nb.track.model import RandomWeightsWarning
    from vidmask_nb.run.settings import run_settings

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
