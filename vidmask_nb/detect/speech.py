"""Names said aloud: keyword spotting of a person's word list in each audio stream (pocketsphinx).

``SayWords.load(path)`` reads the list: one word or phrase a line (``#`` starts a comment), each
optionally followed by its own spotting threshold as pocketsphinx writes it (``boston /1e-30/``;
lower finds more, and more false alarms). ``spot_words(video, words)`` decodes every audio stream
to 16 kHz mono, runs pocketsphinx 5's keyword search (its US-English acoustic model and dictionary
ship in the wheel: no download) and returns each hit as a ``HeardWord`` (stream, phrase, start and
end in seconds on the file's clock). A false alarm costs a short muted span; a miss leaks a name,
so the default threshold (``DEFAULT_THRESHOLD``) leans to finding.

Words that are not in pocketsphinx's dictionary cannot be spotted: loading names each one (spell it
as it sounds, in dictionary words). What is spotted is only as good as the model: keyword spotting
is a help, not a proof; ``--audio mute`` over the whole track is the sure way.

Example::

    words = SayWords.load("names.txt")
    for hit in spot_words("clip.mp4", words):
        print(hit.stream, hit.phrase, hit.start, hit.end)
"""
from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from vidmask_nb.errors import VidmaskError

RATE = 16000  # what the acoustic model was trained on
PIECE = RATE // 10  # fed 0.1 s at a time, as pocketsphinx's own examples do
DEFAULT_THRESHOLD = 1e-40  # measured on espeak-ng speech: 1e-20 missed names that 1e-40 found, with no false alarm
_LINE = re.compile(r"^(?P<phrase>[^/]+?)\s*(?:/(?P<th>[0-9.eE+-]+)/)?\s*$")


@dataclass(frozen=True)
class SayWords:
    """The words and phrases to mute, each with its spotting threshold; ``source`` names the file."""

    phrases: tuple[str, ...]
    thresholds: tuple[float, ...]
    source: str = ""

    @classmethod
    def load(cls, path: str | os.PathLike, flag: str = "--say-words") -> "SayWords":
        path = Path(path)
        if not path.is_file():
            raise VidmaskError(f"{flag} {path}: no such file (one word or phrase a line)")
        return cls.parse(path.read_text(encoding="utf-8"), str(path), flag)

    @classmethod
    def parse(cls, text: str, source: str = "", flag: str = "--say-words") -> "SayWords":
        phrases, thresholds = [], []
        for n, raw in enumerate(text.splitlines(), 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            m = _LINE.match(line)
            if m is None:
                raise VidmaskError(f"{flag} {source} line {n}: {raw.strip()!r} is not a phrase (optionally /threshold/)")
            phrase = " ".join(re.sub(r"[^\w' ]", " ", m["phrase"].lower()).split())
            if not phrase:
                raise VidmaskError(f"{flag} {source} line {n}: no word in {raw.strip()!r}")
            phrases.append(phrase)
            thresholds.append(float(m["th"]) if m["th"] else DEFAULT_THRESHOLD)
        if not phrases:
            raise VidmaskError(f"{flag} {source}: no word or phrase in the file")
        unknown = sorted({w for p in phrases for w in p.split() if _dictionary_lookup(w) is None})
        if unknown:
            raise VidmaskError(f"{flag} {source}: not in pocketsphinx's English dictionary, so it cannot be "
                               f"spotted: {', '.join(unknown)}; spell each as it sounds in dictionary words")
        return cls(tuple(phrases), tuple(thresholds), source)

    def kws_text(self) -> str:
        """pocketsphinx's keyphrase list: ``phrase /threshold/`` a line."""
        return "".join(f"{p} /{t:g}/\n" for p, t in zip(self.phrases, self.thresholds))


@dataclass(frozen=True)
class HeardWord:
    """One keyword hit: the phrase, on which audio stream, from ``start`` to ``end`` seconds."""

    stream: int
    phrase: str
    start: float
    end: float


def _decoder_class():
    try:
        from pocketsphinx import Decoder
    except ImportError:
        raise VidmaskError("--say-words needs pocketsphinx: pip install pocketsphinx==5.1.1") from None
    return Decoder


@lru_cache(maxsize=1)
def _dictionary():
    return _decoder_class()(loglevel="FATAL")


def _dictionary_lookup(word: str):
    try:
        return _dictionary().lookup_word(word)
    except (KeyError, RuntimeError):
        return None


def spot_pcm(pcm: np.ndarray, words: SayWords, start: float = 0.0, stream: int = -1) -> list[HeardWord]:
    """Keyword hits in 16 kHz mono int16 ``pcm`` whose first sample is at ``start`` seconds."""
    Decoder = _decoder_class()
    pcm = np.ascontiguousarray(pcm, dtype=np.int16)
    with tempfile.TemporaryDirectory() as tmp:
        kws = Path(tmp) / "keyphrases.txt"
        kws.write_text(words.kws_text(), encoding="utf-8")
        decoder = Decoder(kws=str(kws), loglevel="FATAL")
    frate = int(decoder.config["frate"])
    hits: list[HeardWord] = []
    offset = 0  # samples fed before this utterance began
    decoder.start_utt()
    for i in range(0, len(pcm), PIECE):
        decoder.process_raw(pcm[i:i + PIECE].tobytes(), False, False)
        if decoder.hyp() is None:
            continue
        for seg in decoder.seg():
            phrase = " ".join(seg.word.split())  # pocketsphinx keeps the space before /threshold/
            if phrase in words.phrases:
                hits.append(HeardWord(stream, phrase, round(start + offset / RATE + seg.start_frame / frate, 3),
                                      round(start + offset / RATE + (seg.end_frame + 1) / frate, 3)))
        decoder.end_utt()  # a fresh utterance after each hit, as pocketsphinx's keyword examples do
        offset = i + PIECE
        decoder.start_utt()
    decoder.end_utt()
    return hits


def spot_words(video: str | os.PathLike, words: SayWords, streams: Sequence[int] | None = None) -> list[HeardWord]:
    """Every hit of ``words`` in each audio stream of ``video`` (``streams``: stream indices; None: all)."""
    from vidmask_nb.media.audio import read_pcm
    from vidmask_nb.media.video import probe

    indices = [s.index for s in probe(video).audio] if streams is None else list(streams)
    hits: list[HeardWord] = []
    for index in indices:
        pcm, start = read_pcm(video, index, RATE)
        hits += spot_pcm(pcm, words, start, index)
    return sorted(hits, key=lambda h: (h.stream, h.start))
