"""The audio spans a render changed, as a picture: the source's and the output's waveforms, spans shaded.

``waveform_strip(source, output, plan)`` draws one row per audio track: the source's envelope in
grey, the output's over it in blue, every changed span shaded red and labelled with its reason
(the words are names: the picture is for ``sensitive/qa/``). Each track is drawn from at most
``timeline.MAX_POINTS`` min/max bins, so an hour of audio is as cheap to draw as a minute.

Example::

    waveform_strip("clip.mp4", "runs/clip/clip_redacted.mp4", plan, out_path="runs/clip/sensitive/qa/clip_audio.png")
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vidmask_nb.review.timeline import MAX_POINTS

RATE = 8000  # enough to see speech and bleeps; cheap to decode


def envelope(pcm: np.ndarray, bins: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """(min, max) of ``pcm`` in at most ``bins`` equal bins, scaled to -1..1."""
    if not len(pcm):
        return np.zeros(1), np.zeros(1)
    bins = max(1, min(bins, len(pcm)))
    edges = np.linspace(0, len(pcm), bins + 1).astype(int)
    x = pcm.astype(np.float32) / 32768
    lo = np.minimum.reduceat(x, edges[:-1])
    hi = np.maximum.reduceat(x, edges[:-1])
    return lo, hi


def waveform_strip(source: str | os.PathLike, output: str | os.PathLike, plan, out_path=None):
    """The figure (None when the plan changes nothing): one row per track, source grey, output blue, spans red."""
    import matplotlib.pyplot as plt

    from vidmask_nb.media.audio import read_pcm

    if not plan.changes_audio:
        return None
    tracks = sorted({s.stream for s in plan.spans})
    fig, axes = plt.subplots(len(tracks), 1, figsize=(12, 1.6 * len(tracks) + 0.4), squeeze=False)
    for ax, index in zip(axes[:, 0], tracks):
        for path, colour, label in ((source, "0.6", "source"), (output, "tab:blue", "output")):
            pcm, start = read_pcm(path, index, RATE)
            lo, hi = envelope(pcm)
            t = start + np.linspace(0, len(pcm) / RATE, len(lo))
            ax.fill_between(t, lo, hi, color=colour, lw=0, label=label, alpha=0.9 if label == "source" else 0.7)
        end = t[-1] if len(t) else 1.0
        for s in plan.spans:
            if s.stream == index:
                a, b = max(s.start, 0.0), min(s.end, end)
                ax.axvspan(a, b, color="red", alpha=0.2)
                ax.text((a + b) / 2, 0.92, s.why, ha="center", va="top", fontsize=7, color="darkred",
                        transform=ax.get_xaxis_transform())
        ax.set_xlim(0, end)
        ax.set_ylim(-1, 1)
        ax.set_yticks([])
        ax.set_ylabel(f"track {index}", fontsize=9)
    axes[0, 0].legend(loc="upper right", fontsize=8)
    axes[-1, 0].set_xlabel("seconds")
    fig.suptitle(f"audio {dict(mute='muted', bleep='bleeped').get(plan.mode, plan.mode)} spans (red) in {Path(output).name}", fontsize=11)
    from vidmask_nb.review.overlay import finish_figure

    return finish_figure(fig, out_path, dpi=80)
