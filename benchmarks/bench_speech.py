"""Names and numbers said aloud: Whisper (tiny.en does the work, base audits) against pocketsphinx, on espeak-ng speech with known times.

The material: sentences said by espeak-ng in several voices and rates, each a listed name (36, many
multi-word, many not English) or a phone or card number (digits read aloud in groups) between plain
words, and every other time a plain sentence. Every phrase is synthesised on its own and placed at a known time, so each name's, number's
and plain phrase's true span is exact. Three clips: speech alone, over noise, over music (chords).

Measured in one run, per recogniser:
- recall: the listed names, and the spoken phone and card numbers, whose true span is silenced whole
  (``plan_audio``'s spans, margins included; at most ``SLACK`` s of it left);
- unlisted speech silenced: seconds of the plain phrases under a silenced span, of all plain speech;
- the independent audit: the output (rendered through the kit, spans muted) transcribed by another
  model (Whisper base), every listed name or spoken number it still hears; and what it hears in
  the source (that it can hear them at all);
- time as a multiple of real time (decode + VAD + transcription + matching; the model's load apart),
  wall clock: on a shared machine it is pessimistic (the load average is printed);
- tiny.en's margin and name-matching threshold swept on the same transcripts (recall against speech
  silenced).

pocketsphinx spots only names whose words are in its dictionary (the others count as missed) and
cannot read numbers. Prints the load average: the machine is shared, so times are pessimistic.

Usage::

    .venv/bin/python benchmarks/bench_speech.py            # ~5 minutes of audio; 8 minutes to run at load 10
    .venv/bin/python benchmarks/bench_speech.py --quick    # one clip (speech alone)
    .venv/bin/python benchmarks/bench_speech.py --seed 2 --rescore --set GAP_REACH=0.15  # a rule swept, on cached
                                                           # transcripts (names, numbers, unlisted speech only)
    .venv/bin/python benchmarks/bench_speech.py --seed 1   # another draw (the defaults were tuned on seed 0; seeds 1
                                                           # to 3 were looked at while tuning; seed 7 was run once,
                                                           # held out, in round 4: keep the next fresh draw for the
                                                           # next round)
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

NAMES = ("Alice Cooper", "Marek Kowalski", "Priya Raman", "Jennifer", "Elizabeth", "Margaret Thompson",
         "Siobhan O'Brien", "Giulia Bianchi", "José García", "François Dubois", "Jürgen Müller", "Zofia Nowak",
         "Hiroshi Tanaka", "Mei Ling Chen", "Oluwaseun Adeyemi", "Aleksandr Petrov", "Ingrid Johansson",
         "Fatima Al-Hassan", "Nguyen Van Minh", "Sean Murphy", "Ahmed Khan", "Lars Eriksen", "Chiara Rossi",
         "Björn Lindqvist", "Kateřina Dvořák", "Dmitri Ivanov", "Ananya Iyer", "Thomas Becker", "Emily Watson",
         "Carlos Mendes", "Sofia Hernández", "Wojciech Zieliński", "Boston", "London", "Michael", "Robert")
FILLERS = (("yesterday I met", "at the station near the river"), ("this report was written by", "last spring"),
           ("please ask", "about the delivery"), ("the meeting with", "starts after lunch"),
           ("we drove to see", "on a rainy morning"), ("the letter was signed by", "and sent on time"),
           ("I think", "will bring the cake"), ("the next speaker is", "from the north office"))
NUMBER_LEADS = (("you can call me on", "any time after six"), ("my card number is", "and it expires soon"),
                ("the phone number is", "thank you"), ("please charge card", "for the hotel"))
PLAIN = ("the weather was fine all week", "we should leave before the traffic starts", "the coffee here is very good",
         "she forgot her umbrella again", "the train was twenty minutes late", "let us talk about it tomorrow",
         "the garden needs water every day", "he bought a new bicycle last year", "the shop closes early today",
         "it is colder than it looks outside", "they painted the kitchen yellow", "the film was longer than expected")
PHONES = ("5550142367", "2079460958", "4155550199", "3125557781", "6175550123", "7700900461")
CARDS = ("4111111111111111", "5500005555555559", "4012888888881881", "6011000990139424", "3530111333300000",
         "5105105105105100")
VOICES = (("en-us", 150), ("en-gb", 170), ("en-us+f3", 140), ("en-gb-scotland", 160), ("en-029", 180),
          ("en-us+m3", 190))
DIGIT_WORDS = "zero one two three four five six seven eight nine".split()
SLACK = 0.03  # s of a true span that may stay unsilenced (a 10 ms window at each edge, rounding)
GAP, PAUSE = 0.12, 0.6  # s between the phrases of a sentence, and between sentences
RATE = 48000


def spoken_digits(digits: str, groups: tuple[int, ...]) -> str:
    out, i = [], 0
    for g in groups:
        out.append(" ".join(DIGIT_WORDS[int(c)] for c in digits[i:i + g]))
        i += g
    return ", ".join(out)


def material(condition: str, names: list[str], phones: list[str], cards: list[str], seed: int):
    """(track float32 48 kHz, truth rows (kind, text, start, end)) for one clip."""
    from speech_helpers import say

    rng = np.random.default_rng(seed)
    items = [("name", n, n) for n in names]
    items += [("phone", p, spoken_digits(p, (3, 3, 4))) for p in phones]
    items += [("card", c, spoken_digits(c, (4, 4, 4, 4))) for c in cards]
    order = rng.permutation(len(items))
    pieces, truth, t = [], [], 0.5
    for k, idx in enumerate(order):
        kind, text, spoken = items[idx]
        voice, rate = VOICES[(k + seed) % len(VOICES)]
        before, after = (FILLERS if kind == "name" else NUMBER_LEADS)[(k + seed) % (len(FILLERS) if kind == "name"
                                                                                else len(NUMBER_LEADS))]
        if kind == "phone" and "card" in before:
            before = "my phone number is"
        if kind == "card" and "phone" in before or kind == "card" and "call" in before:
            before = "my card number is"
        for what, phrase in (("plain", before), (kind, spoken), ("plain", after)):
            x = say(phrase, voice, rate)
            pieces.append((t, x))
            truth.append((what, text if what == kind else phrase, t, t + len(x) / RATE))
            t += len(x) / RATE + GAP
        t += PAUSE
        if k % 2:  # a sentence without a name or number every other time: speech as it mostly is
            phrase = PLAIN[(k // 2 + seed) % len(PLAIN)]
            x = say(phrase, voice, rate)
            pieces.append((t, x))
            truth.append(("plain", phrase, t, t + len(x) / RATE))
            t += len(x) / RATE + PAUSE
    seconds = t + 0.5
    track = np.zeros(int(seconds * RATE), np.float32)
    for start, x in pieces:
        i = int(round(start * RATE))
        track[i:i + len(x)] += 0.5 * x
    n = np.arange(len(track)) / RATE
    if condition == "noise":  # white noise 15 dB under the speech's level
        level = np.sqrt(np.mean(np.concatenate([0.5 * x for _, x in pieces]) ** 2))
        track += (rng.standard_normal(len(track)) * level / 10 ** (15 / 20)).astype(np.float32)
    elif condition == "music":  # a chord every 2 s (three notes with two harmonics), about 12 dB under the speech
        roots = (220.0, 246.9, 196.0, 174.6)
        for b in range(int(seconds / 2) + 1):
            a, e = int(b * 2 * RATE), min(len(track), int((b + 1) * 2 * RATE))
            tt = n[a:e]
            for ratio in (1.0, 1.26, 1.5):
                f = roots[b % 4] * ratio
                track[a:e] += (0.03 * np.sin(2 * np.pi * f * tt) + 0.012 * np.sin(4 * np.pi * f * tt)).astype(np.float32)
    return np.clip(track, -1, 1), truth, seconds


def covered(a: float, b: float, spans) -> float:
    """Seconds of [a, b] under ``spans`` (merged pairs)."""
    return sum(max(0.0, min(b, y) - max(a, x)) for x, y in spans)


def merged(pairs):
    out = []
    for a, b in sorted(pairs):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def score(truth, spans):
    """(names found, names, numbers found, numbers, plain seconds silenced, plain seconds)."""
    spans = merged(spans)
    got = {"name": [0, 0], "number": [0, 0]}
    plain = [0.0, 0.0]
    for kind, _, a, b in truth:
        if kind == "plain":
            plain[0] += covered(a, b, spans)
            plain[1] += b - a
            continue
        key = "name" if kind == "name" else "number"
        got[key][1] += 1
        got[key][0] += (b - a) - covered(a, b, spans) <= SLACK
    return got["name"][0], got["name"][1], got["number"][0], got["number"][1], plain[0], plain[1]


def heard_items(truth, heard):
    """How many listed names and numbers (true spans) a list of ``HeardWord`` overlaps."""
    return sum(any(h.start < b and h.end > a for h in heard) for kind, _, a, b in truth if kind != "plain")


def rescore(seed: int, settings: list[str]) -> None:
    """Recall and unlisted speech of tiny.en's plan with the speech rules' constants set as ``settings`` says,
    on the draw's transcripts, made once (with the listed names as hot words, as the plan does) and cached:
    how round 4's rules were swept. The figures equal the full run's for the same code."""
    import pickle

    import vidmask_nb.detect.speech as speech
    from speech_helpers import speech_clip
    from vidmask_nb.detect.asr import WORK_MODEL, load_model
    from vidmask_nb.media.audiotrack import read_pcm
    from vidmask_nb.media.video import probe
    from vidmask_nb.redact.audio import DEFAULT_MARGIN

    for setting in settings:
        name, _, value = setting.partition("=")
        if not hasattr(speech, name):
            raise SystemExit(f"--set {setting}: vidmask_nb.detect.speech has no {name}")
        setattr(speech, name, type(getattr(speech, name))(value))
    words = speech.SayWords.parse("\n".join(NAMES))
    cache = Path(tempfile.gettempdir()) / f"vidmask_bench_speech_seed{seed}.pkl"
    if cache.is_file():
        clips = pickle.loads(cache.read_bytes())
    else:
        clips = []
        with tempfile.TemporaryDirectory() as tmp:
            for k, cond in enumerate(("clean", "noise", "music")):
                j = (k + seed) % 3
                track, truth, seconds = material(cond, list(NAMES[j::3]), list(PHONES[j::3]), list(CARDS[j::3]),
                                                 seed=k + seed)
                src = speech_clip(Path(tmp) / f"{cond}.mp4", [track], seconds)
                pcm, start = read_pcm(src, probe(src).audio[0].index, speech.RATE)
                said = load_model(WORK_MODEL).words(pcm, hotwords=words.spoken, start=start)
                clips.append((cond, pcm, start, truth, said))
        cache.write_bytes(pickle.dumps(clips))
    total = np.zeros(6)
    for cond, pcm, start, truth, said in clips:
        hits = speech.hear_pcm(pcm, words, start, -1, WORK_MODEL, True, said=said)
        r = score(truth, [(max(0.0, h.start - DEFAULT_MARGIN), h.end + DEFAULT_MARGIN) for h in hits])
        total += r
        print(f"{cond} | names {r[0]}/{r[1]} | numbers {r[2]}/{r[3]} | plain speech silenced {100 * r[4] / r[5]:.1f} %")
    nf, nn, qf, qn, ps, pt = total
    print(f"ALL seed {seed} {' '.join(settings)} | names {nf:.0f}/{nn:.0f} ({100 * nf / nn:.1f} %) | numbers "
          f"{qf:.0f}/{qn:.0f} ({100 * qf / qn:.1f} %) | plain speech silenced {100 * ps / pt:.1f} %")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one clip (speech alone)")
    ap.add_argument("--no-pocketsphinx", action="store_true", help="leave pocketsphinx out")
    ap.add_argument("--seed", type=int, default=0,
                    help="the material's draw: 0 (what the edges and thresholds were tuned on) or another (held out): "
                         "the order, voices, plain sentences, and which names go over noise or music")
    ap.add_argument("--rescore", action="store_true",
                    help="tiny.en's rules only, on its transcripts of the draw (cached in the temp folder after the "
                         "first run): names, numbers and unlisted speech silenced, no render, audit or pocketsphinx")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="with --rescore: a constant of vidmask_nb.detect.speech for this run (GAP_REACH=0.15)")
    a = ap.parse_args()
    if a.rescore:
        return rescore(a.seed, a.set)

    from speech_helpers import speech_clip
    from vidmask_nb.detect.asr import AUDIT_MODEL, WORK_MODEL, load_model
    from vidmask_nb.detect.pii import fold
    from vidmask_nb.detect.speech import (DEFAULT_SIMILARITY, POCKETSPHINX, RATE as ASR_RATE, SayWords,
                                          _dictionary_lookup, hear_pcm, spot_words)
    from vidmask_nb.media.audiotrack import read_pcm
    from vidmask_nb.media.video import probe
    from vidmask_nb.redact.audio import DEFAULT_MARGIN, AudioOptions, plan_audio
    from common import inject_masks
    from vidmask_nb.redact.render import render
    from vidmask_nb.review.audit import audit_speech

    conditions = ("clean",) if a.quick else ("clean", "noise", "music")
    t0 = time.perf_counter()
    work, audit = load_model(WORK_MODEL), load_model(AUDIT_MODEL)
    load_s = time.perf_counter() - t0
    print(f"work: {work.source}\naudit: {audit.source}\nmodels loaded in {load_s:.1f} s (not counted below)")
    print(f"load average (1 min) {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; nice {os.nice(0)}; seed {a.seed}")
    rows, sweep = [], {}
    thresholds = (0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 1.0)
    margins, msweep = (0.0, 0.1, 0.15, 0.25), {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        words_file = tmp / "names.txt"
        words_file.write_text("\n".join(NAMES) + "\n", encoding="utf-8")
        words = SayWords.load(words_file)
        ps_known = [p for p in words.phrases if all(_dictionary_lookup(w) is not None for w in p.split())]
        ps_words = SayWords.parse("\n".join(ps_known), asr=POCKETSPHINX) if ps_known else None
        for k, cond in enumerate(conditions):
            share = len(conditions)
            j = (k + a.seed) % share
            names = list(NAMES[j::share]) if not a.quick else list(NAMES[::3])
            phones, cards = (list(PHONES[j::share]), list(CARDS[j::share])) if not a.quick else (PHONES[:2], CARDS[:2])
            track, truth, seconds = material(cond, names, phones, cards, seed=k + a.seed)
            src = speech_clip(tmp / f"{cond}.mp4", [track], seconds)
            index = probe(src).audio[0].index
            # Whisper tiny.en: the kit's own plan (decode, VAD, transcription, matching), timed
            t1 = time.perf_counter()
            plan = plan_audio(src, AudioOptions(audio="mute", say_words=str(words_file), say_pii=True))
            tiny_s = time.perf_counter() - t1
            spans = [(s.start, s.end) for s in plan.spans]
            nf, nn, qf, qn, ps, pt = score(truth, spans)
            masks = tmp / "masks.json"
            inject_masks(probe(src), {1: "nothing"}, lambda i, k: None).save(masks)
            out = render(src, masks=masks, output=tmp / f"{cond}_out.mp4", progress=False, audio=plan)
            t1 = time.perf_counter()
            after = audit_speech(out, words_file, say_pii=True)
            audit_s = time.perf_counter() - t1
            before = audit_speech(src, words_file, say_pii=True)
            leaks = heard_items(truth, after.heard)
            stray = sum(not any(h.start < y and h.end > x for kind, _, x, y in truth if kind != "plain")
                        for h in after.heard)
            rows.append((cond, "whisper " + WORK_MODEL, seconds, tiny_s, nf, nn, qf, qn, ps, pt, leaks,
                         heard_items(truth, before.heard), stray, audit_s))
            for h in after.heard:
                print(f"  {cond}: the audit hears {h.phrase!r} ({h.text!r}) at {h.start:.2f}-{h.end:.2f} s in the output")
            missed = [t for kind, t, x, y in truth if kind != "plain" and (y - x) - covered(x, y, merged(spans)) > SLACK]
            if missed:
                print(f"  {cond}: tiny.en missed {missed}")
            # the threshold sweep: tiny.en's transcript matched again at each threshold (no new transcription)
            pcm, start = read_pcm(src, index, ASR_RATE)
            said = work.words(pcm, hotwords=words.spoken, start=start)
            hits = hear_pcm(pcm, words, start, index, WORK_MODEL, True, said=said)
            for m in margins:
                r = score(truth, [(max(0.0, h.start - m), h.end + m) for h in hits])
                s = msweep.setdefault(m, [0, 0, 0, 0, 0.0, 0.0])
                for i in range(6):
                    s[i] += r[i]
            for th in thresholds:
                hits = hear_pcm(pcm, words, start, index, WORK_MODEL, True, th, said=said)
                sp = [(max(0.0, h.start - DEFAULT_MARGIN), h.end + DEFAULT_MARGIN) for h in hits]
                r = score(truth, sp)
                s = sweep.setdefault(th, [0, 0, 0.0, 0.0])
                s[0] += r[0]; s[1] += r[1]; s[2] += r[4]; s[3] += r[5]  # noqa: E702
            # pocketsphinx: keyword spotting of the names it knows
            if not a.no_pocketsphinx and ps_words is not None:
                t1 = time.perf_counter()
                hits = spot_words(src, ps_words, asr=POCKETSPHINX)
                ps_s = time.perf_counter() - t1
                sp = [(max(0.0, h.start - DEFAULT_MARGIN), h.end + DEFAULT_MARGIN) for h in hits]
                pf, pn, _, pq, pps, ppt = score(truth, sp)
                rows.append((cond, "pocketsphinx", seconds, ps_s, pf, pn, 0, pq, pps, ppt, None, None, None, None))
    print(f"\nlisted names: {len(NAMES)} ({sum(' ' in n or '-' in n for n in NAMES)} of several words, "
          f"{sum(fold(n) != n.lower() for n in NAMES)} with accents); pocketsphinx's dictionary knows "
          f"{len(ps_known)} of them; phones {len(PHONES)}, cards {len(CARDS)} (Luhn-valid), digits read aloud")
    print(f"margin {DEFAULT_MARGIN} s each side; a name or number counts as silenced when at most {SLACK} s of "
          "its true span is left\n")
    head = ("clip", "recogniser", "audio s", "x real time", "names", "numbers", "plain speech silenced",
            "audit (base) hears in output", "audit hears in source", "audit x real time")
    print(" | ".join(head))
    tot = {}
    for cond, who, secs, t, nf, nn, qf, qn, ps, pt, leaks, src_heard, stray, audit_s in rows:
        total = tot.setdefault(who, [0.0, 0.0, 0, 0, 0, 0, 0.0, 0.0, 0, 0, 0, 0.0])
        for i, v in enumerate((secs, t, nf, nn, qf, qn, ps, pt, leaks or 0, src_heard or 0, stray or 0, audit_s or 0)):
            total[i] += v
        print(" | ".join(str(v) for v in (
            cond, who, f"{secs:.1f}", f"{t / secs:.3f}", f"{nf}/{nn}", f"{qf}/{qn}" if who != "pocketsphinx" else "n/a",
            f"{ps:.1f} of {pt:.1f} s ({100 * ps / pt:.1f} %)",
            "-" if leaks is None else f"{leaks} (+{stray} other hits)", "-" if src_heard is None else
            f"{src_heard}/{nn + qn}", "-" if audit_s is None else f"{audit_s / secs:.3f}")))
    for who, v in tot.items():
        secs, t, nf, nn, qf, qn, ps, pt, leaks, src_heard, stray, audit_s = v
        print(f"ALL | {who} | {secs:.1f} | {t / secs:.3f} | names {nf}/{nn} ({100 * nf / nn:.1f} %) | "
              + (f"numbers {qf}/{qn} ({100 * qf / qn:.1f} %) | " if who != "pocketsphinx" else "numbers n/a | ")
              + f"plain speech silenced {100 * ps / pt:.1f} %"
              + (f" | audit hears {leaks} in the output, {src_heard}/{nn + qn} in the source ({stray} other hits),"
                 f" {audit_s / secs:.3f}x real time" if who != "pocketsphinx" else ""))
    print("\ntiny.en's margin (same transcripts): margin s | names | numbers | plain speech silenced")
    for m, (nf, nn, qf, qn, ps, pt) in msweep.items():
        mark = "  <- default" if m == DEFAULT_MARGIN else ""
        print(f"  {m:.2f} | {nf}/{nn} ({100 * nf / nn:.1f} %) | {qf}/{qn} ({100 * qf / qn:.1f} %) | "
              f"{100 * ps / pt:.1f} %{mark}")
    print("\ntiny.en name-matching threshold (same transcripts): threshold | names silenced | plain speech silenced")
    for th, (nf, nn, ps, pt) in sweep.items():
        mark = "  <- default" if th == DEFAULT_SIMILARITY else ""
        print(f"  {th:.2f} | {nf}/{nn} ({100 * nf / nn:.1f} %) | {100 * ps / pt:.1f} %{mark}")


if __name__ == "__main__":
    main()
