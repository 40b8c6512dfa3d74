"""Spoken personal data in a transcript: phone, card and IBAN numbers read aloud, e-mail addresses spelled out.

A recogniser writes a number read aloud in many ways: ``555-1234``, ``5 5 5 1 2 3 4``, ``five five
five, one two three four``, ``four one one one, one one ...``, ``double five``. ``spoken_pii(words)``
turns each run of such words into digits and asks the text layer's own matchers
(``detect.pii.match_pii``: the Luhn check, ISO 13616, the phone rule) what it is. It fails closed:
a run of ``MIN_DIGITS`` or more digits that no matcher names (a digit misheard breaks a card's Luhn
check; tiny.en repeats ``one`` in a long run) is still silenced, as ``number``. An e-mail address
is found at its ``at`` (``john dot smith at example dot com``, ``john.smith@example.com``) or, when
the ``at`` was misheard, at a ``dot com``-like ending.

Each hit is ``(kind, first word, last word)``: the caller turns word indices into times.

Example::

    spoken_pii(["call", "five", "five", "five,", "one", "two", "three", "four."])  # [("phone", 1, 7)]
"""
from __future__ import annotations

import re
from typing import Sequence

from vidmask_nb.detect.pii import fold, iban_ok, match_pii

MIN_DIGITS = 7  # the shortest phone number the text layer counts; shorter runs are years, sums, times
UNITS = {"zero": "0", "oh": "0", "o": "0", "nought": "0", "one": "1", "two": "2", "three": "3", "four": "4",
         "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9"}
TEENS = {"ten": "10", "eleven": "11", "twelve": "12", "thirteen": "13", "fourteen": "14", "fifteen": "15",
         "sixteen": "16", "seventeen": "17", "eighteen": "18", "nineteen": "19"}
TENS = {"twenty": "2", "thirty": "3", "forty": "4", "fifty": "5", "sixty": "6", "seventy": "7", "eighty": "8",
        "ninety": "9"}
# words a recogniser writes for a digit it heard; counted only next to a sure digit ("call me at four" is not a number)
SOUNDALIKE = {"for": "4", "to": "2", "too": "2", "won": "1", "ate": "8", "free": "3", "tree": "3", "nein": "9"}
SEPARATORS = {"dash", "hyphen", "-", "plus", "+", "double", "triple", "hundred", "thousand"}
TLDS = {"com", "org", "net", "edu", "gov", "io", "co", "uk", "de", "fr", "es", "it", "nl", "pl", "eu", "info", "me"}
AT_WORDS = {"at", "@"}
DOT_WORDS = {"dot", "period", "point"}
JOIN_WORDS = {"underscore", "dash", "hyphen"}
PRIORITY = ("email", "iban", "card", "phone", "number")


def _clean(token: str) -> str:
    """A word folded, its surrounding punctuation dropped (inner dots, dashes, @ and + kept)."""
    return fold(token).strip(" ,;:!?\"'()[]").rstrip(".")


def _digits_of(word: str) -> str | None:
    """The digits a word says on its own (``"555-1234"``, ``"five"``, ``"+44"``), or None."""
    if re.fullmatch(r"\+?[\d().\-/,]*\d[\d().\-/,]*", word):
        return re.sub(r"\D", "", word)
    return UNITS.get(word) or TEENS.get(word)


def _run_digits(words: list[str]) -> str:
    """The digits a run of number words says (``twenty three`` 23, ``double five`` 55, ``five hundred`` 500)."""
    out, i = [], 0
    while i < len(words):
        w = words[i]
        nxt = words[i + 1] if i + 1 < len(words) else ""
        if w in ("double", "triple") and (_digits_of(nxt) or SOUNDALIKE.get(nxt)):
            out.append((_digits_of(nxt) or SOUNDALIKE[nxt]) * (2 if w == "double" else 3))
            i += 2
            continue
        if w in TENS:
            unit = UNITS.get(nxt)
            out.append(TENS[w] + (unit if unit and unit != "0" else "0"))
            i += 2 if unit and unit != "0" else 1
            continue
        if w == "hundred":
            out.append("00")
        elif w == "thousand":
            out.append("000")
        else:
            out.append(_digits_of(w) or SOUNDALIKE.get(w, ""))
        i += 1
    return "".join(out)


def may_be_digit(word: str) -> bool:
    """A folded word that says a digit or a number, or is written for one ("for", "to", "double", "-5")."""
    w = word.strip(" ,.;:-")
    return bool(w) and (_digits_of(w) is not None or w in TENS or w in SEPARATORS or w in SOUNDALIKE
                        or bool(re.fullmatch(r"[\d\s.,-]+", w)))


def _is_number_word(w: str) -> bool:
    return _digits_of(w) is not None or w in TENS or w in SEPARATORS


def _number_runs(clean: list[str]) -> list[tuple[int, int]]:
    """(first, last) word index of each run of number words, soundalikes joined only beside a sure digit."""
    runs, i, n = [], 0, len(clean)
    while i < n:
        if _digits_of(clean[i]) is None and clean[i] not in TENS:
            i += 1
            continue
        j = i
        while j + 1 < n and (_is_number_word(clean[j + 1]) or
                             (clean[j + 1] in SOUNDALIKE and j + 2 < n and _digits_of(clean[j + 2]) is not None)):
            j += 1
        a = i
        while a > 0 and (clean[a - 1] in SOUNDALIKE or clean[a - 1] in ("double", "triple", "plus", "+")):
            a -= 1  # "for one one one ...": the first digit misheard as a word
        runs.append((a, j))
        i = j + 1
    return runs


def _email_spans(clean: list[str]) -> list[tuple[int, int]]:
    spans = []

    def left(k: int) -> int:  # back over word (dot|underscore|dash word)*
        a = k - 1
        while a - 2 >= 0 and (clean[a - 1] in DOT_WORDS | JOIN_WORDS) and clean[a - 2]:
            a -= 2
        return max(a, 0)

    def right(k: int) -> int:  # on over word (dot word)+
        b = k + 1
        while b + 2 < len(clean) and clean[b + 1] in DOT_WORDS:
            b += 2
        return min(b, len(clean) - 1)

    for k, w in enumerate(clean):
        if "@" in w and len(w) > 1:  # written whole: john.smith@example.com
            if match_pii(w.replace(" ", "")):
                spans.append((k, k))
            continue
        if w in AT_WORDS and 0 < k < len(clean) - 1:
            a, b = left(k), right(k)
            text = "".join("." if x in DOT_WORDS else "_" if x == "underscore" else "-" if x in ("dash", "hyphen")
                           else "@" if x in AT_WORDS else x for x in clean[a:b + 1])
            if "email" in match_pii(text):
                spans.append((a, b))
        elif any(a <= k <= b for a, b in spans):
            continue  # the ending of an address already found at its "at"
        elif (w in TLDS and k >= 2 and (clean[k - 1] in DOT_WORDS or clean[k].startswith("."))) or \
                re.fullmatch(r"[\w-]+\.(?:" + "|".join(TLDS) + r")", w):
            # an address whose "at" was misheard ("john dot smith and m p dot com"): from the ending back
            # over the words joined by dots, and up to three words before (the name and the lost "at")
            a, free = k - (2 if clean[k - 1] in DOT_WORDS else 0), 3
            while a > 0:
                if a >= 2 and clean[a - 1] in DOT_WORDS | JOIN_WORDS | AT_WORDS:
                    a -= 2
                elif free:
                    a, free = a - 1, free - 1
                else:
                    break
            spans.append((max(0, a), k))
    return spans


def spoken_pii(words: Sequence[str]) -> list[tuple[str, int, int]]:
    """(kind, first, last) word index of each number or address said in ``words`` (a transcript's words)."""
    clean = [_clean(w) for w in words]
    hits = []
    for a, b in _number_runs(clean):
        while a < b and _digits_of(clean[a]) is None and clean[a] not in TENS and clean[a] not in SOUNDALIKE \
            and clean[a] not in ("double", "triple"):
            a += 1
        parts = [_run_digits([w]) if w not in TENS and w not in ("double", "triple") else None for w in clean[a:b + 1]]
        digits = _run_digits(clean[a:b + 1])
        if len(digits) < MIN_DIGITS:
            continue
        # the matchers read the digits as a line of text: one group per word said, as they are grouped aloud
        grouped = " ".join(p for p in parts if p) if all(p is not None for p in parts) else digits
        kinds = [k for k in match_pii(grouped) if k in ("card", "iban", "phone")] or \
            [k for k in match_pii(digits) if k in ("card", "iban", "phone")]
        hits.append((kinds[0] if kinds else "number", a, b))
    hits += [("email", a, b) for a, b in _email_spans(clean)]
    hits += [("iban", a, b) for a, b in _iban_spans(clean)]
    merged: list[tuple[str, int, int]] = []  # one hit per stretch of words: the surest kind names it
    for kind, a, b in sorted(hits, key=lambda h: (h[1], h[2])):
        if merged and a <= merged[-1][2]:
            k0, a0, b0 = merged[-1]
            merged[-1] = (min(k0, kind, key=PRIORITY.index), a0, max(b0, b))
        else:
            merged.append((kind, a, b))
    return merged


def _iban_spans(clean: list[str]) -> list[tuple[int, int]]:
    """IBANs spelled: two letters (``g b``, ``GB``) then check digits and the account's letters and digits."""
    spans = []
    for k, w in enumerate(clean):
        letters = w if re.fullmatch(r"[a-z]{2}\d{0,2}", w) else (w + clean[k + 1] if k + 1 < len(clean) and re.fullmatch(
            r"[a-z]", w) and re.fullmatch(r"[a-z]", clean[k + 1]) else None)
        if not letters:
            continue
        text, j = letters.upper(), k + (1 if len(w) == 1 else 0)
        while j + 1 < len(clean) and len(text) < 40:
            nxt = clean[j + 1]
            d = _digits_of(nxt)
            if d is not None:
                text += d
            elif re.fullmatch(r"[a-z0-9]{1,4}", nxt):
                text += nxt.upper()
            else:
                break
            j += 1
            if len(text) >= 15 and iban_ok(text):
                spans.append((k, j))
                break
    return spans
