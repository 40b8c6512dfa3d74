"""Stage 04, redact: turn masks into a covered video.

``effects`` (fill, mean, blur, pixelate, keep; margins) and ``gaps`` (covering dropouts) ->
``planar`` (covers applied to a frame's own YUV planes) -> ``render`` (the stage: source + masks +
floor -> redacted MP4 through ``media.encode``); ``audio`` (its audio: whole tracks, spans and listed
words heard, muted or bleeped).
"""
