"""The audio spans a render changed, as a picture: the source's and the output's waveforms, spans shaded.

``waveform_strip(source, output, plan)`` draws one row per audio track: the source's envelope in
grey, the output's over it in blue, every changed span shaded red and labelled with its reason
(the words are names: the picture is for ``sensitive/qa/``). What the recogniser heard
(``plan.heard``: each listed name and spoken number, as the transcript wrote it) is drawn above the
waveform, names in orange and numbers in purple, and the figure is titled SENSITIVE. Each track is
drawn from at most ``timeline.MAX_POINTS`` min/max bins, so an hour of audio is as cheap to draw as a minute.

``heard_strip(video, heard)`` draws the same marks over the source alone (before a render, or for an
audit's hits).

Example::

    waveform_strip("clip.mp4", "runs/clip/clip_redacted.mp4", plan, out_path="runs/clip/sensitive/qa/clip_audio.png")
    heard_strip("clip.mp4", plan.heard, out_path="runs/clip/sensitive/qa/clip_heard.png")
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


def mark_heard(ax, heard, index: int) -> int:
    """Draw each hit on track ``index`` as a bracket with what the transcript wrote; returns how many."""
    n = 0
    for k, h in enumerate(h for h in heard if h.stream == index):
        colour = "darkorange" if getattr(h, "kind", "word") == "word" else "purple"
        label = f"{'name' if h.kind == 'word' else h.kind}: {h.text or h.phrase}"
        y = 0.80 - 0.14 * (k % 3)  # three rows, so neighbouring hits do not print over each other
        ax.plot([h.start, h.end], [y, y], color=colour, lw=3, transform=ax.get_xaxis_transform(), solid_capstyle="butt")
        ax.text(h.start, y - 0.03, label, ha="left", va="top", fontsize=7, color=colour,
                transform=ax.get_xaxis_transform(), clip_on=True)
        n += 1
    return n


def waveform_strip(source: str | os.PathLike, output: str | os.PathLike, plan, out_path=None, heard=None):
    """The figure (None when the plan changes nothing): one row per track, source grey, output blue, spans red,
    and what the recogniser heard (``heard``; default ``plan.heard``) marked above, SENSITIVE in the title."""
    import matplotlib.pyplot as plt

    from vidmask_nb.media.audiotrack import read_pcm

    if not plan.changes_audio:
        return None
    heard = list(getattr(plan, "heard", []) if heard is None else heard)
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
        mark_heard(ax, heard, index)
        ax.set_xlim(0, end)
        ax.set_ylim(-1, 1)
        ax.set_yticks([])
        ax.set_ylabel(f"track {index}", fontsize=9)
    axes[0, 0].legend(loc="upper right", fontsize=8)
    axes[-1, 0].set_xlabel("seconds")
    title = f"audio {dict(mute='muted', bleep='bleeped').get(plan.mode, plan.mode)} spans (red) in {Path(output).name}"
    if heard:
        title = (f"SENSITIVE: {sum(h.kind == 'word' for h in heard)} listed name(s) (orange) and "
                 f"{sum(h.kind != 'word' for h in heard)} spoken number(s) (purple) heard; " + title)
    fig.suptitle(title, fontsize=11, color="darkred" if heard else "black")
    from vidmask_nb.review.overlay import finish_figure

    return finish_figure(fig, out_path, dpi=80)


def heard_strip(video: str | os.PathLike, heard, out_path=None):
    """The source's waveform per track with every hit of ``heard`` (``detect.speech.HeardWord``) marked:
    names orange, spoken numbers purple, titled SENSITIVE. None when nothing was heard."""
    import matplotlib.pyplot as plt

    from vidmask_nb.media.audiotrack import read_pcm

    heard = list(heard)
    if not heard:
        return None
    tracks = sorted({h.stream for h in heard})
    fig, axes = plt.subplots(len(tracks), 1, figsize=(12, 1.6 * len(tracks) + 0.4), squeeze=False)
    for ax, index in zip(axes[:, 0], tracks):
        pcm, start = read_pcm(video, index, RATE)
        lo, hi = envelope(pcm)
        t = start + np.linspace(0, len(pcm) / RATE, len(lo))
        ax.fill_between(t, lo, hi, color="0.6", lw=0)
        mark_heard(ax, heard, index)
        ax.set_xlim(0, t[-1] if len(t) else 1.0)
        ax.set_ylim(-1, 1)
        ax.set_yticks([])
        ax.set_ylabel(f"track {index}", fontsize=9)
    axes[-1, 0].set_xlabel("seconds")
    fig.suptitle(f"SENSITIVE: {sum(h.kind == 'word' for h in heard)} listed name(s) (orange) and "
                 f"{sum(h.kind != 'word' for h in heard)} spoken number(s) (purple) heard in {Path(video).name}",
                 fontsize=11, color="darkred")
    from vidmask_nb.review.overlay import finish_figure

    return finish_figure(fig, out_path, dpi=80)
