"""The notebooks' first call (``setup``) and their one recording call (``record``): a notebook is a stage
of the run, recorded in the run folder's state (``runfolder.state``) as ``vidmask-nb run`` records it.
The tables they show come from ``review.tables``."""
from __future__ import annotations

import os
import warnings

from vidmask_nb.review.tables import format_table, show_table  # noqa: F401  (the notebooks call notebook.show_table)


def setup(workdir: str | os.PathLike, video: str | os.PathLike | None = None, save: bool = False,
          stage: str | None = None, **params):
    """The first code cell of every numbered notebook; returns the run's settings (``settings.RunSettings``).

    - A ``VidmaskError`` in any later cell shows as its one line (what is wrong, what to do), not a
      traceback through the library's source; other errors keep their traceback.
    - The random-weights banner is printed once per model load (its warning twin is not shown again).
    - ``workdir``, ``video``, ``save`` and ``params`` (the notebook's parameters, None meaning "from the
      run's settings") go to ``settings.run_settings``: each parameter that overrides a saved setting is
      said in one line; notebook 01 saves them (the run's start). Errors name the parameters (``image_size``).
    - The kernel takes the run folder's lock (shared with the folder's other notebooks, refused while a
      headless run writes there); ``stage`` (``"03_propagate"``) is then marked running in the run's
      state with the options this notebook uses, and failed if a later cell fails.
    """
    from vidmask_nb.track.model import RandomWeightsWarning
    from vidmask_nb.run.settings import run_settings

    show_errors_as_one_line()
    warnings.filterwarnings("ignore", category=RandomWeightsWarning)
    s = run_settings(workdir, video, save=save, caller="notebook", lock="notebook", **params)
    if stage is not None and not (stage == "03_propagate" and s.no_track):
        from dataclasses import asdict

        from vidmask_nb.runfolder.state import RunState

        RunState.open(s.workdir).stage_running(stage, options=asdict(s.options))
        _record_failures(s.workdir, stage)
    return s


def record(s, stage: str, *outputs, say=print) -> None:
    """The notebook's stage is done: its outputs (those present) with their sha256 in the run's state.

    ``04_render`` (its first output the redacted video) then completes the run when every stage before
    it is done in this folder (``pipeline.finish_run``), as ``vidmask-nb run`` does; else it says why the
    run is not complete (``vidmask-nb share`` refuses it).
    """
    from vidmask_nb.run.pipeline import finish_run
    from vidmask_nb.runfolder.state import RunState, input_digests

    state = RunState.open(s.workdir)
    fields = {"inputs": input_digests(s.workdir)} if stage == "03_propagate" else {}
    state.stage_done(stage, outputs, **fields)
    if stage == "04_render" and outputs and finish_run(s.workdir, outputs[0], say=say):
        import shlex

        say(f"the run is complete; share it with: vidmask-nb share {shlex.quote(str(s.workdir))} --to DIR")


def _ipython_shell():
    """The running IPython shell (a notebook's kernel), or None outside one."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


_WATCHING: dict = {}


def _record_failures(workdir, stage: str) -> None:
    """In IPython, a cell that fails after ``setup`` marks the stage failed in the run's state."""
    shell = _ipython_shell()
    if shell is None:
        return
    from vidmask_nb.runfolder.state import RunState

    def failed(result) -> None:
        err = result.error_in_exec or result.error_before_exec
        if err is not None:
            line = next((x.strip() for x in str(err).splitlines() if x.strip()), type(err).__name__)
            RunState.open(workdir).stage_failed(stage, f"{type(err).__name__}: {line}")

    old = _WATCHING.pop("callback", None)
    if old is not None:
        shell.events.unregister("post_run_cell", old)
    shell.events.register("post_run_cell", failed)
    _WATCHING["callback"] = failed


def show_errors_as_one_line() -> None:
    """In IPython, show a ``VidmaskError`` as ``VidmaskError: <message>`` without a traceback."""
    shell = _ipython_shell()
    if shell is None:
        return
    from vidmask_nb.errors import VidmaskError

    def one_line(shell, etype, value, tb, tb_offset=None):
        stb = [f"\x1b[0;31m{etype.__name__}\x1b[0m: {value}"]
        shell._showtraceback(etype, value, stb)  # an error output (papermill still stops there)
        return stb

    shell.set_custom_exc((VidmaskError,), one_line)
