"""The run folder, the ground floor every stage stands on.

``folder``: its paths (``RunFolder``), partial files of dead processes, atomic writes and JSON.
Nothing here knows a stage: stages record what they did here, never the other way round.
"""
