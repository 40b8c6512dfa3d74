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
