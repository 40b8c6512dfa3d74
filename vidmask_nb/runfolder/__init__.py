"""The run folder, the ground floor every stage stands on.

``folder``: its paths (``RunFolder``), partial files of dead processes, atomic writes and JSON, the seal
of a file this process wrote (``seal_output``: what the run records is the very bytes it wrote).
``state``: the one owner of its state file (``run.json``, signed with the folder's ``run.key``: the run's
key, video and options, each stage's status and outputs with their sha256, gaps, the audit, ``complete``)
and of its lock (one run at a time).
``progress``: a stage's bars, from a notebook kernel to the console of ``vidmask-nb run``.
Nothing here knows a stage: stages record what they did here, never the other way round.
"""

from vidmask_nb.runfolder.progress import install_from_env as _install_progress

_install_progress()  # in a kernel of `vidmask-nb run` (VIDMASK_PROGRESS set): its bars reach the console
