"""Personal data in read text: the matchers on strings (what OCR gives back, spaces dropped too)."""
from __future__ import annotations

import pytest

from vidmask_nb.detect.pii import iban_ok, luhn_ok, match_pii, read_words, words_digest
from vidmask_nb.errors import VidmaskError


@pytest.mark.parametrize("text, kinds", [
    ("alice.cooper@example.com", ("email",)),
    ("Mail: bob_smith+news@mail.co.uk today", ("email",)),
    ("alice.cooper©example.com", ("email",)),  # OCR's @
    ("+44 20 7946 0958", ("phone",)),
    ("+442079460958", ("phone",)),  # OCR drops the spaces
    ("Call (555) 123-4567", ("phone",)),
    ("0176/1234567", ("phone",)),
    ("4111 1111 1111 1111", ("card",)),
    ("4111-1111-1111-1111", ("card",)),
    ("5500005555555559", ("card",)),
    ("DE89 3704 0044 0532 0130 00", ("iban",)),
    ("IBAN GB82WEST12345698765432 BIC", ("iban",)),
    ("AB12 CDE", ("plate",)),
    ("B-MW 1234", ("plate",)),
    ("7ABC123", ("plate",)),
    ("AB-123-CD", ("plate",)),
])
def test_personal_data_is_matched(text, kinds):
    assert match_pii(text) == kinds


@pytest.mark.parametrize("text", [
    "GARDEN CENTRE", "GARDENCENTRE", "Welcome", "OPEN 9-17", "2024-01-15", "15.01.2024", "Price 1.234.567",
    "4111 1111 1111 1112",  # fails Luhn: too long for a phone, not a card
    "DE89 3704 0044 0532 0130 01",  # fails mod 97
    "EXIT", "A4", "Room 12", "", "   ",
])
def test_plain_text_is_not(text):
    assert match_pii(text) == ()


def test_checksums():
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112") and not luhn_ok("41x1")
    assert iban_ok("GB82 WEST 1234 5698 7654 32") and not iban_ok("GB83WEST12345698765432")


def test_word_list(tmp_path):
    words_file = tmp_path / "names.txt"
    words_file.write_text("# people in this footage\nAlice Cooper\n\nJosé\nzoe   \nAlice Cooper\n", encoding="utf-8")
    words = read_words(words_file)
    assert words == ("alice cooper", "jose", "zoe")
    assert match_pii("ALICE COOPER", words) == ("word",)
    assert match_pii("AliceCooper", words) == ("word",)  # run together by OCR
    assert match_pii("Jose Garcia", words) == ("word",)  # accents folded
    assert match_pii("Zoe", words) == ("word",)
    assert match_pii("zoology", words) == ()  # short words only on word boundaries
    assert match_pii("Alice Cooper", ()) == ()
    digest = words_digest(words)
    assert digest.startswith("sha256:") and "alice" not in digest and words_digest(()) is None
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n\n")
    with pytest.raises(VidmaskError, match="--pii-words .* lists no words"):
        read_words(empty)
    with pytest.raises(VidmaskError, match="--pii-words .*no such file"):
        read_words(tmp_path / "missing.txt")
