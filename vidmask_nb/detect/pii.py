"""What in a line of read text identifies a person: e-mail addresses, phone numbers, payment cards,
IBANs, licence-plate-like strings and a person's own word list (names, streets).

``match_pii(text, words)`` returns the kinds that matched (``("email", "phone")``), never the text:
the kit records only the kind of what it found in anything shareable. The matchers are tolerant of
what OCR does to a line (PP-OCRv4 drops the spaces of Latin text: ``+442079460958``,
``GARDENCENTRE``) and lean towards covering (fail closed): a false alarm costs a covered box.

- ``email``: ``name@domain.tld`` (an ``@`` read as ``©`` counts too).
- ``card``: 13-19 digits (spaces or dashes between groups) passing the Luhn check, not in an IBAN.
- ``iban``: two letters, two check digits and 11-30 letters/digits whose ISO 13616 mod-97 is 1.
- ``phone``: 7-15 digits with phone punctuation (``+``, spaces, dashes, dots, slashes, brackets),
  not a date (``2024-01-15``, ``15.01.2024``), not a card or IBAN.
- ``plate``: the whole line is 5-8 capital letters and digits in at most four runs (``AB12 CDE``,
  ``B-MW 1234``, ``7ABC123``, ``AB-123-CD``): letter runs of at most 3, digit runs of at most 4, at
  least one letter and two digits.
- ``word``: a listed word or phrase (``read_words``), case- and accent-insensitive, on word
  boundaries; also inside a line OCR ran together when it is 4 or more letters long.

Example::

    match_pii("mail: alice@example.com")          # ("email",)
    match_pii("4111 1111 1111 1111")              # ("card",)
    match_pii("Alice Cooper", words=("alice cooper",))   # ("word",)
"""
from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from typing import Sequence

from vidmask_nb.errors import VidmaskError

PII_KINDS = ("email", "card", "iban", "phone", "plate", "word")

_EMAIL = re.compile(r"[\w.+%-]+\s?[@©]\s?[\w-]+(?:\.[\w-]+)*\s?\.\s?[a-z]{2,}", re.IGNORECASE)
# runs of digits joined by what phone numbers, cards and IBANs are written with
_DIGIT_RUN = re.compile(r"\+?\(?\d[\d\s().\-/]*\d\)?")
_DATE = re.compile(r"^\d{1,4}[.\-/]\d{1,2}[.\-/]\d{1,4}$")
_IBAN = re.compile(r"[A-Z]{2}\s?\d{2}(?:\s?[A-Z0-9]){11,30}")
_PLATE_CHARS = re.compile(r"^[A-Z0-9]+(?:[\s\-.·][A-Z0-9]+){0,3}$")


def luhn_ok(digits: str) -> bool:
    """The Luhn check of a payment card number (digits only)."""
    if not digits.isdigit():
        return False
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_ok(text: str) -> bool:
    """ISO 13616: letters and digits, country + check digits moved to the end, mod 97 == 1."""
    s = re.sub(r"\s", "", text).upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", s):
        return False
    moved = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _cards(text: str, taken: list[tuple[int, int]]) -> list[tuple[int, int]]:
    spans = []
    for m in _DIGIT_RUN.finditer(text):
        if any(a <= m.start() < b for a, b in taken):
            continue
        digits = re.sub(r"\D", "", m.group())
        if 13 <= len(digits) <= 19 and luhn_ok(digits):
            spans.append(m.span())
    return spans


def _ibans(text: str) -> list[tuple[int, int]]:
    spans = []
    for m in _IBAN.finditer(text.upper()):
        compact = re.sub(r"\s", "", m.group())
        # the pattern may run on into the next word ("... 3000 BIC"): every IBAN length, longest first
        if any(iban_ok(compact[:n]) for n in range(min(34, len(compact)), 14, -1)):
            spans.append(m.span())
    return spans


def _phones(text: str, taken: list[tuple[int, int]]) -> bool:
    for m in _DIGIT_RUN.finditer(text):
        if any(a <= m.start() < b for a, b in taken):
            continue
        raw = m.group().strip()
        digits = re.sub(r"\D", "", raw)
        if not 7 <= len(digits) <= 15 or _DATE.match(raw):
            continue
        if re.fullmatch(r"\d{1,3}(?:[.,]\d{3})+", raw):  # 1.234.567: an amount, not a number to call
            continue
        return True
    return False


def _plate(text: str) -> bool:
    t = text.strip()
    if not _PLATE_CHARS.match(t):
        return False
    compact = re.sub(r"[^A-Z0-9]", "", t)
    if not 5 <= len(compact) <= 8:
        return False
    letters, digits = sum(c.isalpha() for c in compact), sum(c.isdigit() for c in compact)
    if letters < 1 or digits < 2:
        return False
    runs = re.findall(r"[A-Z]+|[0-9]+", compact)
    return len(runs) <= 4 and all(len(r) <= (3 if r.isalpha() else 4) for r in runs)


def fold(text: str) -> str:
    """Lower case without accents, whitespace collapsed (how words and lines are compared)."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(text.lower().split())


def _compact(text: str) -> str:
    return re.sub(r"[\W_]+", "", fold(text))


def _word(text: str, words: Sequence[str]) -> bool:
    line = fold(text)
    squeezed = _compact(text)
    for w in words:
        pattern = r"(?<!\w)" + r"\s*".join(re.escape(p) for p in fold(w).split()) + r"(?!\w)"
        if re.search(pattern, line):
            return True
        c = _compact(w)
        if len(c) >= 4 and c in squeezed:
            return True
    return False


def match_pii(text: str, words: Sequence[str] = ()) -> tuple[str, ...]:
    """The kinds of personal data in one line of read text (``PII_KINDS`` order), () when none."""
    if not text or not text.strip():
        return ()
    found = set()
    if _EMAIL.search(text):
        found.add("email")
    ibans = _ibans(text)
    if ibans:
        found.add("iban")
    cards = _cards(text, ibans)
    if cards:
        found.add("card")
    if _phones(text, cards + ibans):
        found.add("phone")
    if _plate(text):
        found.add("plate")
    if words and _word(text, words):
        found.add("word")
    return tuple(k for k in PII_KINDS if k in found)


def read_words(path: str | os.PathLike, flag: str = "--pii-words") -> tuple[str, ...]:
    """A person's word list: one word or phrase a line (UTF-8), blank lines and ``#`` comments skipped."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        raise VidmaskError(f"{flag} {path}: no such file; give a text file with one word or name a line") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise VidmaskError(f"{flag} {path}: cannot be read as UTF-8 text ({exc})") from None
    words = tuple(dict.fromkeys(w for w in (fold(line.split("#", 1)[0]) for line in lines) if w))
    if not words:
        raise VidmaskError(f"{flag} {path} lists no words: give one word or name a line")
    return words


def words_digest(words: Sequence[str]) -> str | None:
    """A fingerprint of a word list for headers (the words themselves are never written)."""
    if not words:
        return None
    return "sha256:" + hashlib.sha256("\n".join(words).encode()).hexdigest()[:16]
