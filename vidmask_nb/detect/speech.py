"""Names said aloud and spoken personal data: what a speech recogniser hears in each audio stream.

``SayWords.load(path)`` reads the list: one word or phrase a line (``#`` starts a comment); a
``/threshold/`` after a phrase is pocketsphinx's spotting threshold and only matters to
``asr="pocketsphinx"``. ``spot_words(video, words, say_pii=True)`` decodes every audio stream to 16
kHz mono, transcribes it with Whisper (``detect.asr``: tiny.en from its wheel by default; a model
name or folder otherwise), with the listed phrases given to it as hot words, and returns each hit as
a ``HeardWord`` (stream, phrase or kind, start and end in seconds on the file's clock, what the
transcript wrote).

A listed phrase matches the transcript tolerantly (``match_words``): case, accents and punctuation
do not count; a multi-word name matches across the words the recogniser split or joined it into;
a near miss that sounds alike (``Merck`` for ``Marek``) matches when its ``similarity`` reaches
``DEFAULT_SIMILARITY`` (measured in ``benchmarks/bench_speech.py``), and so does a name written as other
words whose consonants are the name's (``Lauren Ericsson`` for Lars Eriksen: ``sound_alike`` over 1-4
words, ``SOUNDED``). ``say_pii``: phone, card and IBAN numbers read aloud and e-mail addresses spelled
out (``detect.spoken``, the text layer's own matchers). A false alarm costs a short silenced span; a
miss leaks a name, so both lean to finding.

``asr="pocketsphinx"`` is the older keyword spotter, kept only so that ``benchmarks/bench_speech.py``
measures it beside Whisper: it found 9 of 36 names there, so the kit's flags no longer offer it.

Example::

    words = SayWords.load("names.txt")
    for hit in spot_words("clip.mp4", words, say_pii=True):
        print(hit.stream, hit.phrase, hit.start, hit.end)
"""
from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from vidmask_nb.errors import VidmaskError

RATE = 16000  # what both recognisers were trained on
PIECE = RATE // 10  # fed to pocketsphinx 0.1 s at a time, as its own examples do
DEFAULT_THRESHOLD = 1e-40  # pocketsphinx: 1e-20 missed names that 1e-40 found on espeak-ng speech, with no false alarm
DEFAULT_SIMILARITY = 0.8  # a near miss's similarity that still counts as the listed name (bench_speech.py)
SOUNDED = 0.8  # sound keys this alike over 1-4 written words count as the name (bench_speech.py, seeds 0-3:
# 0.75 silenced 1 point more plain speech and found no name more; 0.8 and 0.85 found the same)
SOUNDED_WORDS = 4  # written words a name's sound may spread over ("so in the know app")
SOUNDED_MIN = 5  # consonant sounds both keys need for it
POCKETSPHINX = "pocketsphinx"
PART_LETTERS = 4  # a part of a name this long or longer stands for the whole ("Van", "Al" do not)
PART_SIMILARITY = 0.85  # and must be heard this alike
# words that are never the rest of a name: a part heard alone ("Jürgen", a hot word Whisper wrote in a
# pause) does not spread over them
COMMON = frozenset("a an and any are as at be but by for from he her his i in is it its me my no not of on or "
                   "our she so that the their then there they this to was we were what when who will with you "
                   "your thank thanks please".split())
RETIRED = ("--asr pocketsphinx was retired: on bench_speech.py it silenced 9 of 36 listed names (Whisper tiny.en "
           "31) and no spoken number; use a Whisper model (tiny.en, base) or a model folder")
# A hit's edges move to the pauses in the audio around it (bench_speech.py, tuned on its seed 0, checked on seed 1):
REACH = 0.15  # s an edge may move outwards to the pause before or after it (a number's start 0.2 s more)
INWARDS = 0.1  # s into Whisper's start a pause may begin and still be the one before the word
GAP_REACH = 0.4  # s a start may move back to the word before's end (bench_speech.py: 0.4 and 0.6 the same)
END_IN = 0.4  # s before Whisper's end a pause may end and still be the one after the word (its ends ran late:
# often to the next word's start)
END_SURE = 0.15  # s before Whisper's end within which any pause may end a name (bench_speech.py, seeds 0-3:
END_LONG = 0.08  # 0.2 s found one name fewer); earlier, only a pause this long (0.1 s: more plain
# speech silenced, no name more)
QUIET = 4.0  # a 10 ms frame within 6 dB of the floor around it (in the whole band and above 2 kHz) is quiet
PAUSE_FRAMES = 5  # 50 ms of quiet frames is a pause (a stop consonant's closure is mostly shorter)
VOICE_PAD = 0.12  # s of the VAD's padding taken off again where a hit must lie on the voice
ON_VOICE = 0.7  # of a doubtful part's time on the VAD's (unpadded) voice that shows it was said
FLOOR = 0.1  # and written with at least this confidence (tiny.en wrote "Ananya" at p 0.01 over "colder than")
CONFIRM_BELOW = 0.5  # a part of a name written with less confidence is confirmed by a decode without hot words,
CONFIRM_AROUND = 1.0  # of the s each side of it (an audit's hit: half of it each side),
CONFIRM_SIMILARITY = 0.6  # which must write a word this alike
CONFIRM_UNSURE = 0.5  # an audit's second decode less sure than this proves nothing: the hit stays (at 0.15
# the audit dropped real names in the source too: it heard 29 of 48 there, against 41 at 0.5; bench_speech.py)
CONFIRM_DIGITS = 3  # digits an audit's number hit must hold when heard again
SILENT_DB = -60.0  # dBFS: an audit hit's span this quiet in the output is silenced, nothing to hear
STRETCH = 0.3  # s of silence inside a hit, by the VAD, that is trimmed off its edge
_LINE = re.compile(r"^(?P<phrase>[^/]+?)\s*(?:/(?P<th>[0-9.eE+-]+)/)?\s*$")


@dataclass(frozen=True)
class SayWords:
    """The words and phrases to silence (folded: lower case, no accents), as written (``spoken``, for the
    recogniser's hot words), each with its pocketsphinx threshold; ``source`` names the file."""

    phrases: tuple[str, ...]
    thresholds: tuple[float, ...]
    source: str = ""
    spoken: tuple[str, ...] = ()

    @classmethod
    def load(cls, path: str | os.PathLike, flag: str = "--say-words", asr: str | None = None) -> "SayWords":
        path = Path(path)
        if not path.is_file():
            raise VidmaskError(f"{flag} {path}: no such file (one word or phrase a line)")
        return cls.parse(path.read_text(encoding="utf-8"), str(path), flag, asr)

    @classmethod
    def parse(cls, text: str, source: str = "", flag: str = "--say-words", asr: str | None = None) -> "SayWords":
        from vidmask_nb.detect.pii import fold

        phrases, thresholds, spoken = [], [], []
        for n, raw in enumerate(text.splitlines(), 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            m = _LINE.match(line)
            if m is None:
                raise VidmaskError(f"{flag} {source} line {n}: {raw.strip()!r} is not a phrase (optionally /threshold/)")
            phrase = " ".join(re.sub(r"[^\w' ]", " ", fold(m["phrase"])).split())
            if not phrase:
                raise VidmaskError(f"{flag} {source} line {n}: no word in {raw.strip()!r}")
            phrases.append(phrase)
            spoken.append(" ".join(m["phrase"].split()))
            thresholds.append(float(m["th"]) if m["th"] else DEFAULT_THRESHOLD)
        if not phrases:
            raise VidmaskError(f"{flag} {source}: no word or phrase in the file")
        if asr == POCKETSPHINX:
            unknown = sorted({w for p in phrases for w in p.split() if _dictionary_lookup(w) is None})
            if unknown:
                raise VidmaskError(f"{flag} {source}: not in pocketsphinx's English dictionary, so it cannot be "
                                   f"spotted: {', '.join(unknown)}; spell each as it sounds, or use Whisper (--asr tiny.en)")
        return cls(tuple(phrases), tuple(thresholds), source, tuple(spoken))

    def kws_text(self) -> str:
        """pocketsphinx's keyphrase list: ``phrase /threshold/`` a line."""
        return "".join(f"{p} /{t:g}/\n" for p, t in zip(self.phrases, self.thresholds))


@dataclass(frozen=True)
class HeardWord:
    """One hit: the listed phrase (or the kind of spoken data: ``phone``, ``card``, ``iban``, ``email``,
    ``number``), on which audio stream, from ``start`` to ``end`` seconds; ``kind`` is ``word`` for a
    listed phrase; ``text`` what the transcript wrote (sensitive, like the phrase)."""

    stream: int
    phrase: str
    start: float
    end: float
    kind: str = "word"
    text: str = ""
    score: float = 1.0


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



def _letters(text: str) -> str:
    from vidmask_nb.detect.pii import fold

    return re.sub(r"[^a-z0-9]", "", fold(text))


def sound_key(text: str) -> str:
    """A rough key of how a word sounds: consonants only after the first letter, alike ones merged
    (``marek`` and ``merck`` both ``mrk``), so a recogniser's near miss still matches."""
    s = _letters(text)
    if not s:
        return ""
    for a, b in (("ph", "f"), ("ck", "k"), ("ch", "x"), ("sh", "x"), ("sch", "x"), ("th", "t"), ("dh", "d"),
                 ("ce", "se"), ("ci", "si"), ("cy", "sy"), ("c", "k"), ("q", "k"), ("x", "ks"), ("z", "s"),
                 ("w", "v"), ("j", "y"), ("gh", "g"), ("dz", "s"), ("ts", "s")):
        s = s.replace(a, b)
    head, rest = s[0], re.sub(r"[aeiouyh]", "", s[1:])
    key = head + rest
    return re.sub(r"(.)\1+", r"\1", key)


def _edits(a: str, b: str) -> int:
    """Levenshtein distance: letters inserted, deleted or changed to turn ``a`` into ``b``."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def sound_alike(heard: Sequence[str], phrase: str) -> float:
    """How alike the sound keys of a few written words, run together, and a listed phrase are, 0..1 (1 less
    the edits between the keys over the longer key); 0 when either key has fewer than ``SOUNDED_MIN``
    consonant sounds (a short key matches too much plain speech)."""
    ka, kb = sound_key("".join(heard)), sound_key(phrase)
    if min(len(ka), len(kb)) < SOUNDED_MIN:
        return 0.0
    return round(1 - _edits(ka, kb) / max(len(ka), len(kb)), 3)


def similarity(heard: str, phrase: str) -> float:
    """How alike a stretch of the transcript and a listed phrase are, 0..1 (1: the same letters)."""
    a, b = _letters(heard), _letters(phrase)
    if not a or not b:
        return 0.0
    if a == b:
        return 1.0
    spelled = SequenceMatcher(None, a, b).ratio()
    ka, kb = sound_key(heard), sound_key(phrase)
    # the sound key only vouches for names long enough to have 3 consonant sounds: "mrk", not "al"
    sounded = SequenceMatcher(None, ka, kb).ratio() if min(len(ka), len(kb)) >= 3 else 0.0
    return round(max(spelled, (spelled + sounded) / 2), 3)


def match_words(texts: Sequence[str], words: SayWords, threshold: float = DEFAULT_SIMILARITY,
                part_heard=None, sounded: bool = True) -> list[tuple[str, int, int, float]]:
    """(phrase, first, last word index, similarity) of each listed phrase in a transcript's ``texts``.

    Windows of as many words as the phrase, one fewer and one more (a recogniser splits ``Kowalski``
    in two, or joins a name into one word) are compared with ``similarity``; of overlapping windows
    the most alike wins, so a hit does not spread over the words beside it.
    """
    letters = [_letters(t) for t in texts]
    found = []
    for phrase in words.phrases:
        n = len(phrase.split())
        target = _letters(phrase)
        for size in sorted({max(1, n - 1), n, n + 1}):
            for i in range(len(texts) - size + 1):
                joined = "".join(letters[i:i + size])
                if not joined or not letters[i] or not letters[i + size - 1]:
                    continue
                if not 0.5 <= len(joined) / len(target) <= 2.0:
                    continue
                score = similarity(joined, phrase)
                if score >= threshold:
                    found.append((phrase, i, i + size - 1, score))
        # Sounded alike over 1-4 written words: tiny.en writes a name it does not know as other words, whose
        # letters differ but whose consonants are the name's ("Lauren Ericsson" for Lars Eriksen: lrnrksn
        # against lrsrksn). A window starting or ending on a common word is not a name's.
        for size in range(1, SOUNDED_WORDS + 1) if sounded else ():
            for i in range(len(texts) - size + 1):
                if letters[i] in COMMON or letters[i + size - 1] in COMMON or not letters[i] \
                        or not letters[i + size - 1]:
                    continue
                score = sound_alike(texts[i:i + size], phrase)
                if score >= SOUNDED:
                    found.append((phrase, i, i + size - 1, round(score * 0.98, 3)))  # the spelling wins a tie
        if n < 2:
            continue
        # One part of a longer name heard well ("Sofia" of "Sofia Hernández", tiny.en wrote "Sofia O'Brien";
        # "Petrov" of "Aleksandr Petrov", written "Alexa Petrov") silences the whole name's place: the
        # words beside it, as many as the name has, on the side the part says.
        for j, part in enumerate(phrase.split()):
            if len(_letters(part)) < PART_LETTERS:
                continue
            for i in range(len(texts)):
                # a common word is never the part ("thank" sounds like "Tanaka")
                score = similarity(letters[i], part) if letters[i] and letters[i] not in COMMON else 0.0
                if score >= max(threshold, PART_SIMILARITY) and (part_heard is None or part_heard(i, part)):
                    first, last = i, i
                    # the words beside it that could be the rest of the name: not "the", "and", "with"...
                    while first > max(0, i - j) and letters[first - 1] not in COMMON:
                        first -= 1
                    while last < min(len(texts) - 1, i + n - 1 - j) and letters[last + 1] not in COMMON:
                        last += 1
                    found.append((phrase, first, last, round(score * 0.99, 3)))
    found.sort(key=lambda h: (-h[3], h[2] - h[1]))
    taken: list[tuple[str, int, int, float]] = []
    for hit in found:
        if not any(hit[1] <= t[2] and t[1] <= hit[2] for t in taken):
            taken.append(hit)
    return sorted(taken, key=lambda h: h[1])


def join_pieces(said: Sequence) -> list:
    """Whisper's words with the pieces of one word joined: a piece without a leading space continues the
    word before (``O`` + ``'Brien,``, ``Kowal`` + ``ski``, ``555`` + ``-1234``)."""
    from vidmask_nb.detect.asr import Word

    out: list = []
    for w in said:
        if out and w.text and not w.text[0].isspace():
            p = out[-1]
            out[-1] = Word(p.text + w.text, p.start, max(p.end, w.end), min(p.probability, w.probability))
        else:
            out.append(w)
    return out


_CUE = re.compile(r"(?:(?:number|card|phone|mobile|iban|account)(?: number)?(?: is| was)?|"
                  r"(?:call|reach|text|ring) (?:me|us) (?:on|at))$")
CUE_DOUBT = 0.5  # a word written with less confidence than this, after a number's cue, may be a garbled digit
GROUP_PAUSE = 0.6  # s between the groups of a number read aloud ("five five five, one two ...")
BRIDGE = 2  # words between two stretches of a number that join them
LOOP = 3  # alike words in a row that are a decoder's loop
CUE_SECONDS = 7.0  # the longest number said after a cue (a card read in four groups of four)


def seconds_in(a: float, b: float, regions: Sequence[tuple[float, float]], trim: float = 0.0) -> float:
    """Seconds of ``a..b`` inside ``regions`` (each taken in by ``trim`` s at both ends)."""
    return sum(max(0.0, min(b, y - trim) - max(a, x + trim)) for x, y in regions)


def after_cue(said: Sequence, bare: Sequence[tuple[float, float]] | None = None) -> list[tuple[int, int]]:
    """(first, last) word index of each stretch that may be a number the recogniser garbled: what is said right
    after "my number is", "card number", "call me on"..., and what is said around a digit it wrote, while the
    words may be digits: a digit word or soundalike, a word written with low confidence (``CUE_DOUBT``), a
    word said again ("Niro Niro", "time time": tiny.en under noise, for "zero zero", "five five"). It stops at
    a pause, a ``COMMON`` word or a confident plain word ("anytime after six"). A stretch after no cue counts
    when it holds ``MIN_DIGITS`` such words (one a digit): the number is silenced whatever was written (fail
    closed). ``bare``: the stretches of speech the VAD heard (unpadded); with them, a gap between two words
    is the silence the audio holds there, not the gap between Whisper's word times (in a number it garbled,
    tiny.en left a second between "312," and "I'm" where the digits went on)."""
    from vidmask_nb.detect.pii import fold
    from vidmask_nb.detect.spoken import MIN_DIGITS, may_be_digit

    def gap(k: int) -> float:
        """Seconds of pause between word ``k`` and the next."""
        a, b = said[k].end, said[k + 1].start
        if bare is None or b <= a:
            return b - a
        return (b - a) - seconds_in(a, b, bare)

    clean = [re.sub(r"[^a-z0-9 ]", "", fold(w.text)).strip() for w in said]

    def digitish(j: int, first: int) -> bool:
        return (clean[j] not in COMMON and (may_be_digit(clean[j]) or any(c.isdigit() for c in clean[j])
                                            or said[j].probability < CUE_DOUBT
                                            or clean[j] in clean[max(first, j - 3):j] + clean[j + 1:j + 4]))

    def solid(k: int, first: int, last: int) -> bool:
        """A digit, or a word said again within the stretch ``first..last``: not only a doubtful word."""
        return (may_be_digit(clean[k]) or any(c.isdigit() for c in clean[k])
                or clean[k] in clean[max(first, k - 3):k] + clean[k + 1:last + 1][:3])

    def loop(k: int) -> bool:
        """Word ``k`` is in a run of ``LOOP`` or more alike words: the decoder looping on digits it lost
        ("Nio, Nio, Nio..." for "zero zero nine nine"), counted as digits."""
        a = b = k
        while a > 0 and clean[a - 1] == clean[k]:
            a -= 1
        while b + 1 < len(clean) and clean[b + 1] == clean[k]:
            b += 1
        return bool(clean[k]) and clean[k] not in COMMON and b - a + 1 >= LOOP

    out = []
    for i in range(len(said)):
        cue = _CUE.search(" ".join(w for w in clean[max(0, i - 3):i + 1] if w)) and not \
            _CUE.search(" ".join(w for w in clean[max(0, i - 2):i + 2] if w))  # not "card" of "card number is"
        if cue and i + 1 < len(said):
            first = i + 1
        elif any(c.isdigit() for c in clean[i]) or may_be_digit(clean[i]) and clean[i] not in COMMON:
            first = i
            while (first > 0 and gap(first - 1) < GROUP_PAUSE and digitish(first - 1, 0)
                   and said[i].start - said[first - 1].start <= 1.0):
                first -= 1  # the first digits written as a word ("Time -5" for "five five")
        else:
            continue
        j = max(first, i)
        while (j + 1 < len(said) and gap(j) < GROUP_PAUSE
               and said[j + 1].end - said[first].start <= CUE_SECONDS and digitish(j + 1, first)):
            j += 1
        while j > first and not solid(j, first, j):
            j -= 1  # a doubtful word counts only between digits: "any time" garbled after the number is not it
        # a doubtful word leading the stretch is dropped, never a written digit ("6-0-1-1," before "Lio Nio")
        while not cue and first + 1 < j and not solid(first + 1, first, j) and not re.search(r"\d", clean[first]):
            first += 1
        sure = sum(len(re.sub(r"\D", "", c)) or (1 if may_be_digit(c) and c not in COMMON or loop(k) else 0)
                   for k, c in enumerate(clean[first:j + 1], first))
        if cue or (sure >= 1 and j - first + 1 + sum(max(0, len(re.sub(r"\D", "", c)) - 1) for c in clean[first:j + 1])
                   >= MIN_DIGITS):
            out.append((first, j))
    merged: list[tuple[int, int]] = []
    for a, b in sorted(out):
        # two stretches a word or two apart, with no pause between, are one number garbled in the middle
        # ("312, I'm fine, I'm 7 7 8 1" for "three one two, five five five, seven seven eight one")
        if merged and (a <= merged[-1][1] + 1 or a <= merged[-1][1] + 1 + BRIDGE
                       and all(gap(k) < GROUP_PAUSE for k in range(merged[-1][1], a))):
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def hear_pcm(pcm: np.ndarray, words: SayWords | None, start: float = 0.0, stream: int = -1,
             asr: str | None = None, say_pii: bool = False, threshold: float = DEFAULT_SIMILARITY,
             transcript: list | None = None, said: Sequence | None = None, confirm: bool = False) -> list[HeardWord]:
    """The hits in 16 kHz mono ``pcm`` whose first sample is at ``start`` s (``transcript``: a list the
    recogniser's words are appended to, for review; ``said``: such words from an earlier call, matched
    again without transcribing, as the benchmark's threshold sweep does; ``confirm``: the audit's
    mode, each hit kept only if ``confirmed``)."""
    from vidmask_nb.detect.asr import WORK_MODEL, load_model, speech_regions
    from vidmask_nb.detect.spoken import may_be_digit, spoken_pii

    asr = asr or WORK_MODEL
    if asr == POCKETSPHINX:
        if say_pii:
            raise VidmaskError("--say-pii needs a transcript: use Whisper (--asr tiny.en), not pocketsphinx")
        return spot_pcm(pcm, words, start, stream) if words is not None else []
    if said is None:
        said = load_model(asr).words(pcm, hotwords=words.spoken if words is not None else (), start=start)
    if transcript is not None:
        transcript += said
    said = join_pieces(said)
    texts = [w.text for w in said]

    x = np.asarray(pcm, dtype=np.float32) / (32768 if np.asarray(pcm).dtype == np.int16 else 1)
    n10 = len(x) // (RATE // 100)
    energy = (x[:n10 * (RATE // 100)].reshape(n10, -1) ** 2).mean(axis=1) if n10 else np.zeros(1)
    # and above 2 kHz: a fricative's onset ("six", "five") is soft in the whole band, under music or a hum
    # through a Hann window: a bare 10 ms frame leaks music's low notes into the high bins (30 dB under them,
    # flickering with their phase), so over music a pause never looked quiet there and every end ran late
    spec = (np.abs(np.fft.rfft(x[:n10 * (RATE // 100)].reshape(n10, -1) * np.hanning(RATE // 100), axis=1)) ** 2
            if n10 else np.zeros((1, 81)))
    high = spec[:, 20:].mean(axis=1)  # bins of 100 Hz

    def valley(t: float, back: float, ahead: float, last: bool, number: bool = False) -> float:
        """A word's edge at the pause near ``t``, in the 10 ms frames from ``t - back`` to ``t + ahead`` s.

        A pause is ``PAUSE_FRAMES`` or more quiet frames in a row (``QUIET``: near the floor of the 2 s
        around, in the whole band and above 2 kHz, where a fricative's soft onset shows). The start
        (``last`` False) is where the last pause that begins by ``t`` ends (the one ``t`` lies in, when
        Whisper started the word early); the end (``last`` True) is where the first pause that ends after
        ``t - back`` begins. With no pause there, the window's own edge: the wider span (fail closed).
        """
        i0 = int(max(0.0, t - back - start) * 100)
        i1 = int(max(0.0, t + ahead - start) * 100) + 1
        if i1 <= i0 or i0 >= len(energy):
            return t
        e = energy[i0:i1]
        # the floor from a wider stretch: a window wholly inside a word has quiet frames of its own
        f0, f1 = max(0, i0 - 100), min(len(energy), i1 + 100)
        quiet = e <= QUIET * energy[f0:f1].min() + 1e-10
        quiet &= high[i0:i1] <= QUIET * high[f0:f1].min() + 1e-10
        runs, j = [], 0  # the pauses: (first, last + 1) frame of each run of PAUSE_FRAMES quiet frames or more
        while j < len(e):
            if quiet[j]:
                k = j
                while k < len(e) and quiet[k]:
                    k += 1
                if k - j >= PAUSE_FRAMES:
                    runs.append((j, k))
                j = k
            j += 1
        ti = int(round((t - start) * 100)) - i0  # t's frame in the window
        if last:  # the end: where the first pause that ends after t (less END_IN) begins
            # a name's end: a pause that begins well inside Whisper's last word (over END_SURE s before its
            # end) counts only when it is END_LONG s or longer (under noise the closure of a stop inside the
            # name, the k of Eriksen, was a 50 ms pause and cut the name short); a number's ends as before
            after = [r for r in runs if r[1] > ti - int(END_IN * 100)
                     and (number or r[0] >= ti - int(END_SURE * 100) or r[1] - r[0] >= int(END_LONG * 100))]
            return start + (i0 + (after[0][0] if after else len(e))) / 100
        before = [r for r in runs if r[0] <= ti]  # the start: where the last pause that begins by t ends
        return start + (i0 + (before[-1][1] if before else 0)) / 100

    def on_voice(first: int, last: int, number: bool = False) -> tuple[float, float]:
        """The span of words ``first..last``, its edges moved to the pauses in the audio around it.

        Whisper's word times are rough (tiny.en put a name's start 0.3 s late, or stretched it over the
        pause before it, and its ends ran up to 0.3 s into the next word): each edge moves to the pause
        next to it, up to ``REACH`` s outwards, so that the margin after it can be small.
        """
        a, b = said[first].start, said[last].end
        back = REACH + (0.2 if number else 0.0)  # a number's first digit hides in the word before ("is 4...")
        ahead = REACH
        if first > 0 and a - said[first - 1].end > back:
            # Whisper left a gap before the hit's first word: the word was written late (tiny.en wrote
            # "Thomas" with no length at 15.78 s for a name said from 15.46 s), so its start is looked for
            # back to the word before's end, up to GAP_REACH s
            back = min(a - said[first - 1].end + 0.02, GAP_REACH)
        a2, b2 = valley(a, back, INWARDS, False), valley(b, END_IN, ahead, True, number)
        if b2 <= a2:
            a2, b2 = a, b
        # and clipped to the stretches of speech the VAD heard in it: tiny.en stretched a name said after
        # a silence over the whole silence before it
        inside = [(x, y) for x, y in voiced if min(b2, y) - max(a2, x) >= min(0.08, (b2 - a2) / 2)]
        if inside:  # only a long silence is trimmed: Silero hears a soft onset ("f") late
            a2 = inside[0][0] if inside[0][0] - a2 > STRETCH else a2
            b2 = inside[-1][1] if b2 - inside[-1][1] > STRETCH else b2
        return round(float(a2), 3), round(float(b2), 3)

    hits = []
    voiced = speech_regions(pcm, start, pad=0.15) if said else []  # padded: Silero hears a soft "f" late
    bare = speech_regions(pcm, start) if said else []  # unpadded: where the voice is

    def heard_in_voice(a: float, b: float) -> bool:
        # a hot word Whisper wrote in the pause after a chunk's last word ("Jürgen" with nobody saying it)
        # lies outside every stretch of speech the VAD heard: nothing there to silence
        return seconds_in(a, b, voiced, trim=VOICE_PAD) >= 0.05

    def on_bare(first: int, last: int) -> bool:
        """Whether ``ON_VOICE`` of words ``first..last``'s time lies on the VAD's (unpadded) voice."""
        w0, w1 = said[first].start, said[last].end
        return w1 > w0 and seconds_in(w0, w1, bare) >= ON_VOICE * (w1 - w0)

    confirmed: dict[int, bool] = {}

    def part_heard(i: int, part: str) -> bool:
        """Whether word ``i``, heard as one part of a listed name, was said: it lies on the voice, and when
        Whisper wrote it with little confidence, a decode of the seconds around it without the hot words
        writes something like it too (tiny.en wrote "Jürgen" at p 0.25 in pauses, with nobody saying it)."""
        if not heard_in_voice(said[i].start, said[i].end):
            return False
        if confirm and _letters(said[i].text) != _letters(part):
            return False  # the audit: a part alone counts spelled as it is (base wrote "long", matched as "Ling")
        if said[i].probability >= CONFIRM_BELOW or asr == POCKETSPHINX:
            return True
        # a name said is on the voice the VAD hears, nearly whole; tiny.en's hot word written in a pause is
        # at most 62 % on it (bench_speech.py, all three draws: 76 % or more for every part truly said)
        if said[i].probability >= FLOOR and on_bare(i, i):
            return True
        if i not in confirmed:
            a0 = max(0.0, said[i].start - start - CONFIRM_AROUND)
            b0 = min(len(x) / RATE, said[i].end - start + CONFIRM_AROUND)
            again = [_letters(w.text) for w in load_model(asr).decode(x, a0, b0)]
            pairs = [u + v for u, v in zip(again, again[1:])]
            confirmed[i] = any(w and similarity(w, part) >= CONFIRM_SIMILARITY for w in again + pairs)
        return confirmed[i]

    if words is not None:
        # a part of a name counts only where its own word is on the voice: tiny.en wrote a hot word's first
        # name ("Jürgen") in the pauses between sentences, where nobody said it
        # (the audit matches spellings only: its rules, and its zero false alarms over plain speech, were
        # measured without the sound-key windows)
        for phrase, a, b, score in match_words(texts, words, threshold, part_heard, sounded=not confirm):
            if not heard_in_voice(said[a].start, said[b].end):
                continue
            if confirm and max(w.probability for w in said[a:b + 1]) < FLOOR:
                continue  # the audit: a hot word the decoder doubted (base: "Marek Kowalski" at p 0.02-0.06 over music)
            hits.append(HeardWord(stream, phrase, *on_voice(a, b), "word",
                                  " ".join(t.strip() for t in texts[a:b + 1]), score))
    if say_pii:
        for a, b in after_cue(said, bare):
            if confirm and sum(len(re.sub(r"\D", "", t)) or may_be_digit(re.sub(r"[^a-z0-9]", "", t.lower()))
                               for t in texts[a:b + 1]) < CONFIRM_DIGITS:
                continue  # the audit: a cue and a digit or two after it ("after six") are the plain words past a
                # silenced number, not a number heard
            if confirm and not on_bare(a, b):
                continue  # the audit: digits written over a silenced number ("For") are not on the voice
            hits.append(HeardWord(stream, "number", *on_voice(a, b, True), "number",
                                  " ".join(t.strip() for t in texts[a:b + 1])))
        for kind, a, b in spoken_pii(texts):
            hits.append(HeardWord(stream, kind, *on_voice(a, b, True), kind,
                                  " ".join(t.strip() for t in texts[a:b + 1])))
    if confirm and asr != POCKETSPHINX:
        hits = [h for h in hits if confirmed_hit(h, x, start, load_model(asr), threshold)]
    return sorted(hits, key=lambda h: h.start)


def confirmed_hit(hit: HeardWord, x: np.ndarray, start: float, rec, threshold: float = DEFAULT_SIMILARITY) -> bool:
    """Whether an audit's hit is heard in the audio itself, not only written because it was a hot word.

    The audit hears with the listed names as hot words, and Whisper writes a hot word where nobody says it
    (base wrote "Marek Kowalski" in the pauses of an output where it was silenced, and "number" hits on the
    plain word after a silenced number's cue). A hit is dropped only on evidence that it is not there:
    its span is silent (under ``SILENT_DB``: the silenced span itself), or the same model, decoding the
    second around it again without hot words, writes no word there or other words that neither match the
    phrase (at ``CONFIRM_SIMILARITY``, looser than the hit's own threshold) nor, for a number, hold
    ``CONFIRM_DIGITS`` digits. It fails closed where that second decode is itself lost (mean probability
    under ``CONFIRM_UNSURE``): the hit stays heard.
    """
    from vidmask_nb.detect.spoken import TEENS, UNITS, spoken_pii

    a, b = int(max(0.0, hit.start - start) * RATE), int(max(0.0, hit.end - start) * RATE)
    piece = x[a:b]
    if len(piece) == 0 or 10 * np.log10(float(np.mean(piece.astype(np.float64) ** 2)) + 1e-20) < SILENT_DB:
        return False
    a0, b0 = max(0.0, hit.start - start - CONFIRM_AROUND / 2), min(len(x) / RATE, hit.end - start + CONFIRM_AROUND / 2)
    again = join_pieces(rec.decode(x, a0, b0))
    if not again:
        return False
    texts = [w.text for w in again]
    if hit.kind == "word":
        one = SayWords((hit.phrase,), (DEFAULT_THRESHOLD,), "", (hit.phrase,))
        if match_words(texts, one, min(threshold, CONFIRM_SIMILARITY)):
            return True
    else:  # a number: digits heard again, at least CONFIRM_DIGITS ("after six" past a silenced number is none)
        clean = [re.sub(r"[^a-z0-9]", "", w.lower()) for w in texts]
        if spoken_pii(texts) or sum(len(re.sub(r"\D", "", w)) or (w in UNITS or w in TEENS) for w in clean) \
                >= CONFIRM_DIGITS:
            return True
    return float(np.mean([w.probability for w in again])) < CONFIRM_UNSURE


def spot_words(video: str | os.PathLike, words: SayWords | None, streams: Sequence[int] | None = None,
               asr: str | None = None, say_pii: bool = False, threshold: float = DEFAULT_SIMILARITY,
               confirm: bool = False) -> list[HeardWord]:
    """Every hit of ``words`` (and with ``say_pii`` every spoken number or address) in each audio stream of
    ``video`` (``streams``: stream indices; None: all), heard by ``asr`` (default: Whisper tiny.en);
    ``confirm``: each hit checked again (``confirmed_hit``), as the audit does."""
    from vidmask_nb.media.audiotrack import read_pcm
    from vidmask_nb.media.video import probe

    indices = [s.index for s in probe(video).audio] if streams is None else list(streams)
    hits: list[HeardWord] = []
    for index in indices:
        pcm, start = read_pcm(video, index, RATE)
        hits += hear_pcm(pcm, words, start, index, asr, say_pii, threshold, confirm=confirm)
    return sorted(hits, key=lambda h: (h.stream, h.start))
