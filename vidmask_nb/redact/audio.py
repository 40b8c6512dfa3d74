"""The render stage's audio: what is muted or bleeped, on which track, and why (``--audio``, ``--say-words``).

``AudioOptions`` are the flags: ``audio`` (keep, mute or bleep), ``audio_spans`` (seconds,
``"1.5-2.2,7-8.25"``, or a file with one ``START END`` or ``START-END`` a line, or pairs from a
notebook), ``say_words`` (a word list for ``detect.speech``), ``say_pii`` (also phone, card and
IBAN numbers read aloud and e-mail addresses spelled out), ``asr`` (the recogniser: a Whisper model
name or a model folder; default ``detect.asr.WORK_MODEL``) and ``say_margin``
(seconds added before and after each word heard; default ``DEFAULT_MARGIN``). With neither spans nor words,
``mute``/``bleep`` apply to the whole of every audio track; with them, to those spans only, and
``audio`` unset means mute (a listed word is never kept). Spans apply to every audio track; a word
is muted on the track it was heard on. ``plan_audio`` spots the words and lists every span
(``AudioSpan``: track, start, end, why); ``edit_audio`` re-encodes the packets under them
(``media.audiotrack.edit_stream``), which the render's ``VideoWriter`` puts in place of the source's.

Example::

    plan = plan_audio("clip.mp4", AudioOptions(audio="bleep", say_words="names.txt"))
    plan.rows()      # [{"track": 1, "start s": 1.81, "end s": 2.66, "why": "said: boston"}, ...]
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from vidmask_nb.errors import VidmaskError
from vidmask_nb.media.audiotrack import MODES, WHOLE, AudioEdit, EditedStream, edit_stream, merge_spans

DEFAULT_MARGIN = 0.08  # s before and after a hit, whose edges are at the pauses around it (swept in bench_speech.py)


def parse_spans(value, flag: str = "--audio-spans") -> tuple[tuple[float, float], ...]:
    """Spans in seconds from ``"1.5-2.2,7-8"``, a file of ``START END`` lines, or (start, end) pairs."""
    if value is None or value == "" or value == ():
        return ()
    if isinstance(value, (str, os.PathLike)):
        text = str(value)
        path = Path(text)
        lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else text.split(",")
        pairs = []
        for n, raw in enumerate(lines, 1):
            item = raw.split("#", 1)[0].strip()
            if not item:
                continue
            parts = item.replace("-", " ", 1).replace(",", " ").split() if item.count("-") <= 1 else item.split()
            try:
                start, end = (float(p) for p in parts)
            except ValueError:
                where = f"{path} line {n}" if path.is_file() else repr(item)
                raise VidmaskError(f"{flag}: {where} is not START-END in seconds (e.g. 1.5-2.2)") from None
            pairs.append((start, end))
    else:
        try:
            pairs = [(float(a), float(b)) for a, b in value]
        except (TypeError, ValueError):
            raise VidmaskError(f"{flag}: give (start, end) pairs in seconds, not {value!r}") from None
    if any(a < 0 for a, _ in pairs):
        raise VidmaskError(f"{flag}: a span starts before 0 s")
    return merge_spans(pairs)


@dataclass(frozen=True)
class AudioOptions:
    """The render stage's audio settings (flags ``--audio``, ``--audio-spans``, ``--say-words``, ``--say-pii``,
    ``--asr``, ``--say-margin``)."""

    audio: str | None = None  # keep | mute | bleep; None: keep, or mute when spans or words are given
    audio_spans: str | Sequence[tuple[float, float]] | None = None
    say_words: str | None = None
    say_margin: float = DEFAULT_MARGIN
    say_pii: bool = False
    asr: str | None = None  # None: detect.asr.WORK_MODEL (Whisper tiny.en from its wheel)

    @property
    def mode(self) -> str:
        if self.audio is not None:
            return self.audio
        return "mute" if (self.audio_spans or self.say_words or self.say_pii) else "keep"

    def checked(self) -> "AudioOptions":
        """Raise ``VidmaskError`` naming the flag for a bad setting; returns the options."""
        if self.audio is not None and self.audio not in MODES:
            raise VidmaskError(f"--audio must be one of {', '.join(MODES)}, not {self.audio!r}")
        if not self.say_margin >= 0:
            raise VidmaskError(f"--say-margin must be 0 s or more, not {self.say_margin}")
        if self.audio == "keep" and (self.audio_spans or self.say_words or self.say_pii):
            raise VidmaskError("--audio keep with --audio-spans, --say-words or --say-pii: choose mute or bleep")
        if self.asr == "pocketsphinx":
            from vidmask_nb.detect.speech import RETIRED

            raise VidmaskError(RETIRED)
        if self.asr is not None and (self.say_words or self.say_pii):
            from vidmask_nb.detect.asr import resolve

            resolve(self.asr)
        parse_spans(self.audio_spans)
        if self.say_words:
            self.words()
        return self

    def words(self):
        from vidmask_nb.detect.speech import SayWords

        return SayWords.load(self.say_words, asr=self.asr) if self.say_words else None


@dataclass(frozen=True)
class AudioSpan:
    """One span changed on one audio track: seconds on the file's clock, and why."""

    stream: int
    start: float
    end: float
    why: str  # "span", "whole track", "said: <phrase>" (the phrase is sensitive: a name), "spoken <kind>"


@dataclass
class AudioPlan:
    """What the render does to the audio: ``mode`` over ``spans`` (``AudioSpan``), per track."""

    mode: str
    spans: list[AudioSpan] = field(default_factory=list)
    streams: tuple[int, ...] = ()
    edited: dict[int, EditedStream] = field(default_factory=dict)  # filled by ``edit_audio``
    heard: list = field(default_factory=list)  # detect.speech.HeardWord: what the recogniser heard (sensitive)
    asr: str = ""  # which recogniser and model heard it (detect.asr.Recogniser.source)

    @property
    def changes_audio(self) -> bool:
        return self.mode != "keep" and bool(self.spans)

    def edits(self) -> dict[int, AudioEdit]:
        out = {}
        for index in self.streams:
            spans = [(s.start, s.end) for s in self.spans if s.stream == index]
            if spans and self.mode != "keep":
                out[index] = AudioEdit(tuple(spans), self.mode)
        return out

    def rows(self, with_words: bool = True) -> list[dict]:
        """One row per span (``with_words=False``: the phrase left out, for anything shareable)."""
        return [{"track": s.stream, "start s": round(s.start, 3) if s.start > -1e300 else "start",
                 "end s": round(s.end, 3) if s.end < 1e300 else "end", "effect": self.mode,
                 "why": s.why if with_words or not s.why.startswith("said: ") else "said: a listed word"}
                for s in self.spans]

    def summary(self) -> str:
        if not self.changes_audio:
            return "audio: kept as the source's (every packet copied)"
        lines = [f"audio: {self.mode} over {len(self.spans)} span(s) on {len(self.edits())} track(s)"]
        if self.asr:
            lines.append(f"speech heard by {self.asr}")
        lines += [e.summary() for e in self.edited.values()]
        return "\n".join(lines)


def plan_audio(video: str | os.PathLike, options: AudioOptions) -> AudioPlan:
    """The spans ``options`` change on each audio track of ``video`` (listed words spotted here)."""
    from vidmask_nb.media.video import probe

    options = options.checked()
    streams = tuple(s.index for s in probe(video).audio)
    plan = AudioPlan(options.mode, [], streams)
    if options.mode == "keep" or not streams:
        return plan
    spans = parse_spans(options.audio_spans)
    words = options.words()
    if not spans and words is None and not options.say_pii:
        plan.spans = [AudioSpan(i, *WHOLE, "whole track") for i in streams]
        return plan
    for i in streams:
        plan.spans += [AudioSpan(i, a, b, "span") for a, b in spans]
    if words is not None or options.say_pii:
        from vidmask_nb.detect.asr import WORK_MODEL
        from vidmask_nb.detect.speech import POCKETSPHINX, spot_words

        asr = options.asr or WORK_MODEL
        m = options.say_margin
        plan.heard = spot_words(video, words, streams, asr, options.say_pii)
        if asr == POCKETSPHINX:
            plan.asr = "pocketsphinx 5.1.1 keyword spotting"
        else:
            from vidmask_nb.detect.asr import load_model

            plan.asr = load_model(asr).source
        plan.spans += [AudioSpan(h.stream, max(0.0, h.start - m), h.end + m,
                                 f"said: {h.phrase}" if h.kind == "word" else f"spoken {h.kind}")
                       for h in plan.heard]
    plan.spans.sort(key=lambda s: (s.stream, s.start))
    return plan


def edit_audio(video: str | os.PathLike, plan: AudioPlan) -> dict[int, dict[int, bytes]]:
    """Re-encode the packets under ``plan``'s spans; {stream index: {pts: payload}} for ``VideoWriter``."""
    plan.edited = {index: edit_stream(video, index, edit) for index, edit in plan.edits().items()}
    return {index: e.packets for index, e in plan.edited.items()}
