"""Spoken personal data and tolerant name matching on transcripts (text only: fast), and the model pins.

The transcripts are written the ways Whisper writes speech (digits or words, punctuation stuck to
words, a name split or misspelt); the matchers are the text layer's (``detect.pii``).
"""
from __future__ import annotations

import shutil

import pytest

from vidmask_nb.detect.speech import SayWords, match_words, similarity
from vidmask_nb.detect.spoken import spoken_pii
from vidmask_nb.errors import VidmaskError


def _said(text: str) -> list[tuple[str, str]]:
    words = text.split()
    return [(kind, " ".join(words[a:b + 1])) for kind, a, b in spoken_pii(words)]


@pytest.mark.parametrize("text, want", [
    ("call me on five five five, one two three four. thanks", [("phone", "five five five, one two three four.")]),
    ("my number is 555, 0142367 for the hotel", [("phone", "555, 0142367")]),
    ("plus forty four twenty, seven nine four six, zero nine five eight", [("phone", "forty four twenty, seven nine four six, zero nine five eight")]),
    ("double five five, one two three four", [("phone", "double five five, one two three four")]),
    ("card, 4111, 1111, 1111, 1111, for the hotel", [("card", "4111, 1111, 1111, 1111,")]),
    ("my card is for one one one, one one one one, one one one one, one one one one right", [("card", "for one one one, one one one one, one one one one, one one one one")]),
    # a digit lost: the Luhn check fails, the run is still silenced (fail closed)
    ("card 4 111 111 111 111 111 111 for the hotel", [("number", "4 111 111 111 111 111 111")]),
    ("G B eight two W E S T one two three four five six nine eight seven six five four three two", [("iban", "G B eight two W E S T one two three four five six nine eight seven six five four three two")]),
    ("write to john dot smith at example dot com please", [("email", "john dot smith at example dot com")]),
    ("write to john.smith@example.com please", [("email", "john.smith@example.com")]),
    # the "at" misheard: found at its "dot com" ending, back over the name
    ("Write to John Dot Smith and M .P. Dot com", [("email", "John Dot Smith and M .P. Dot com")]),
    ("in 1999 I was twenty three and had four cats", []),
    ("we met at nine and left for two hours", []),
])
def test_spoken_numbers_and_addresses(text, want):
    assert _said(text) == want


def test_names_match_tolerantly():
    words = SayWords.parse("Marek Kowalski\nJosé García\nAlice\nSiobhan O'Brien\n")
    assert words.phrases == ("marek kowalski", "jose garcia", "alice", "siobhan o'brien")
    assert words.spoken[1] == "José García"  # given to the recogniser as written

    def hits(text):
        return [(p, " ".join(text.split()[a:b + 1])) for p, a, b, _ in match_words(text.split(), words)]

    assert hits("I met MAREK KOWALSKI, and jose garcia.") == [("marek kowalski", "MAREK KOWALSKI,"),
                                                              ("jose garcia", "jose garcia.")]
    assert hits("then Marek Kowal ski left") == [("marek kowalski", "Marek Kowal ski")]  # split in three
    assert hits("ask Siobhan O'Brien now") == [("siobhan o'brien", "Siobhan O'Brien")]
    assert hits("Alice's cat") == [("alice", "Alice's")]
    assert hits("the police came") == []
    assert similarity("Merck", "marek") >= 0.8 > similarity("market", "marek kowalski")  # sounds alike


def test_wheel_models_are_pinned(tmp_path):
    from vidmask_nb.detect.asr import PINNED, _check, resolve, wheel_folder

    where, what = resolve("tiny.en")
    assert "Systran/faster-whisper-tiny.en" in what and where == str(wheel_folder("tiny.en"))
    fake = tmp_path / "tiny"
    fake.mkdir()
    for name in PINNED["tiny.en"]:
        shutil.copyfile(wheel_folder("tiny.en") / name, fake / name)
    _check(fake, "tiny.en")
    with open(fake / "model.bin", "r+b") as f:  # one byte changed: refused, not loaded
        f.seek(1000)
        b = f.read(1)
        f.seek(1000)
        f.write(bytes([b[0] ^ 1]))
    with pytest.raises(VidmaskError, match="not the pinned file"):
        _check(fake, "tiny.en")
    assert resolve(str(fake))[1].startswith("folder ")  # a folder of one's own is used as is
    (fake / "model.bin").unlink()
    with pytest.raises(VidmaskError, match="no model.bin"):
        resolve(str(fake))


def _words(timed: str):
    """Words as Whisper gives them from ``"text@start-end/probability ..."`` (probability 0.9 when left out)."""
    from vidmask_nb.detect.asr import Word

    out = []
    for item in timed.split():
        text, rest = item.split("@")
        span, _, p = rest.partition("/")
        a, b = span.split("-")
        out.append(Word(" " + text, float(a), float(b), float(p or 0.9)))
    return out


def test_a_garbled_number_is_one_stretch_and_the_plain_words_after_it_are_not():
    from vidmask_nb.detect.speech import after_cue

    # tiny.en under noise, for "my card number is five five zero zero, zero zero five five, ..., any time after six"
    said = _words("my@0-0.2 card@0.2-0.5 number@0.5-0.8 is@0.8-1.0 Time-5,@1.1-1.5/0.05 Niro,@1.5-1.7/0.3 "
                  "Niro,@2.1-2.4 Niro,@2.4-2.6 Time-5,@2.7-3.0/0.6 Time-5,@3.1-3.5 "
                  "anytime@3.6-4.0/0.5 after@4.0-4.3 six@4.3-4.6")
    assert after_cue(said) == [(4, 9)]  # from the first garbled digit to the last; not "anytime after six"
    # the same digits with the cue itself garbled ("Meikaram, Marie," for "my card number is"): found at the digits
    said = _words("Meikaram,@0-0.4/0.1 Marie,@0.5-0.7/0.01 Time-5,@1.1-1.5/0.05 Niro,@1.5-1.7/0.3 "
                  "Niro,@2.1-2.4 Niro,@2.4-2.6 Time-5,@2.7-3.0/0.6 Time-5,@3.1-3.5 after@4.0-4.3 six@4.3-4.6")
    assert after_cue(said) == [(1, 7)]  # one doubtful word before the first digit kept: a first digit misheard
    # plain speech with a number in it is not a number read aloud
    assert after_cue(_words("the@0-0.1 train@0.1-0.4 was@0.4-0.6 20@0.6-0.9 minutes@0.9-1.3 late@1.3-1.6")) == []
    # "card" of "card number is" is not the cue's end: the stretch starts after "is"
    assert after_cue(_words("card@0-0.3 number@0.3-0.6 is@0.6-0.8 4111,@0.9-1.5 1111@1.7-2.3")) == [(3, 4)]


def test_a_number_garbled_in_the_middle_or_lost_in_a_loop_is_still_one_stretch():
    from vidmask_nb.detect.speech import after_cue

    # tiny.en under noise for "my phone number is three one two, five five five, seven seven eight one": the
    # middle group written "I'm fine, I'm" and a second between the groups in its word times, none in the audio
    said = _words("my@0-0.2 phone@0.2-0.5 number@0.5-0.8 in@0.8-1.1/0.6 312,@1.1-1.6/0.5 I'm@2.3-2.7/0.7 "
                  "fine,@2.7-2.9/0.6 I'm@3.1-3.7/0.7 7@3.7-3.7/0.2 7@3.7-4.2/0.05 8@4.2-4.5 1@4.5-4.9/0.2 "
                  "100,@4.9-5.1/0.1 for@5.8-6.0 the@6.0-6.2 hotel@6.2-6.6")
    assert after_cue(said) == [(3, 4), (7, 12)]  # by the word times alone: "I'm fine," between left out
    assert after_cue(said, bare=[(0.0, 5.1), (5.8, 6.7)]) == [(3, 12)]  # by the audio's pauses: one stretch
    # the decoder looping on a card's digits ("6-0-1-1, Lio Nio Nio Nio ..."): the loop counts as digits, and
    # the written digits before it stay in the stretch
    said = _words("Micaad,@0-0.5/0.5 in@0.5-0.5/0.3 6-0-1-1,@0.5-1.6/0.3 Lio@1.7-1.9/0.1 Nio@1.9-2.2/0.25 "
                  + " ".join(f"Nio,@{2.2 + 0.2 * k:.1f}-{2.4 + 0.2 * k:.1f}/0.8" for k in range(8)))
    found = after_cue(said)
    assert found and found[0][0] == 2 and found[0][1] == len(said) - 1
