"""The run folder, the ground floor every stage stands on.

``folder``: its paths (``RunFolder``), partial files of dead processes, atomic writes and JSON, the seal
of a file this process wrote (``seal_output``: what the run records is the very bytes it wrote).
``state``: the one owner of its state file (``run.json``, signed with the folder's ``run.key``: the run's
key, video and options, each stage's status and outputs with their sha256, gaps, the audit, ``complete``)
and of its lock (one run at a time); ``record``: that state as typed records (``RunRecord``, a
``StageRecord`` per stage), validated once when read.
Nothing here knows a stage: stages record what they did here, never the other way round.
"""
