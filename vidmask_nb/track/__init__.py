"""Stage 03, track: SAM 2 from a few prompts to a mask on every frame, flat memory, resumable.

``model`` (checkpoints, building the predictor) -> ``sam`` (frames and prompts for SAM 2) ->
``tracker`` (the one tracking pass, shared by a full run and a correction) -> ``propagate`` (the
stage) and ``corrections`` (re-track what changed). ``masks`` is the store they write and every
later stage reads.
"""
