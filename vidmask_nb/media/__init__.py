"""Stage 01, media: probe a video (exact fps fraction, every pts, colour), read frames, plan chunks,
encode the output with the source's timing and audio; generated sample clips.

``video`` (probe, ``VideoInfo``, ``VideoReader``) -> ``chunks`` -> ``extract`` (notebook 01); ``encode``
(``VideoWriter``) is used by the render; ``planes`` holds decoded frames in their own YUV (a reused pool,
box-wise RGB both ways) for the render and the overlay; ``audiotrack`` reads an audio track's samples and
re-encodes only its packets under muted or bleeped spans; ``threads`` moves frames between a pass's
threads; ``sample`` draws clips with known truth for tests and the demo.
"""
