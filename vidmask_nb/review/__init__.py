"""Look at what was done and what is left: QA pictures, timelines, overlays and the audit.

``overlay`` (drawing masks and boxes) -> ``timeline`` (per-object series) -> ``qa`` (review table,
contact sheet, overlay video) · ``compare`` (source | redacted, one frame) -> ``audit`` (detectors over
the output: what is still visible; listed words still heard); ``sound`` (the audio spans changed, as waveforms).
"""
