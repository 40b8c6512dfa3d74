"""The run folder, the ground floor every stage stands on.

``folder``: its paths (``RunFolder``), partial files of dead processes, atomic writes and JSON.
``state``: the one owner of its state file (``run.json``: the run's key, video and options, each stage's
status and outputs with their sha256, gaps, the audit, ``complete``) and of its lock (one run at a time).
Nothing here knows a stage: stages record what they did here, never the other way round.
"""

from vidmask_nb.runfolder.progress import install_from_env as _install_progress

_install_progress()  # in a kernel of `vidmask-nb run` (VIDMASK_PROGRESS set): its bars reach the console
