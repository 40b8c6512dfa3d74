"""Keyword spotting per minute of audio, and the cost of re-encoding spans, against decoding alone (prints figures).

A generated track of ``--minutes`` (01_dog's audio looped as the bed when ../shared/media is there,
else a tone) with a listed name said by espeak-ng every ``--every`` seconds between plain phrases,
each synthesised on its own, so the truth is known. Measured in one run: decoding the track to 16
kHz mono (the floor), keyword spotting (decode + pocketsphinx), the names found (recall) and the
false alarms, then re-encoding the packets under every span heard (``media.audio.edit_stream``) and
the whole track, each against decoding. Needs espeak-ng. Prints the load average.

Usage::

    .venv/bin/python benchmarks/bench_speech.py                 # 1 minute, a name every 5 s
    .venv/bin/python benchmarks/bench_speech.py --minutes 3
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

NAMES = ("boston", "michael", "robert")
FILLER = ("the weather today", "it was sunny", "good night")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=1.0, help="length of the audio (default 1)")
    ap.add_argument("--every", type=float, default=5.0, help="seconds between names said (default 5)")
    a = ap.parse_args()

    from speech_helpers import MEDIA, mix, speech_clip
    from vidmask_nb.detect.speech import SayWords, spot_words
    from vidmask_nb.media.audio import WHOLE, AudioEdit, edit_stream, read_pcm
    from vidmask_nb.media.video import probe
    from vidmask_nb.redact.audio import DEFAULT_MARGIN

    seconds = 60.0 * a.minutes
    said, t, k = [], 0.5, 0
    while t + a.every <= seconds:
        said += [(FILLER[k % len(FILLER)], t), (NAMES[k % len(NAMES)], t + a.every / 2)]
        t += a.every
        k += 1
    bed = "a 440 Hz tone at -26 dBFS" + (" over 01_dog's (silent) audio" if (MEDIA / "01_dog.mp4").is_file() else "")
    with tempfile.TemporaryDirectory() as tmp:
        track, truth = mix(seconds, said)
        clip = speech_clip(Path(tmp) / "speech.mp4", [track], seconds)
        names = [(p, s, e) for p, s, e in truth if p in NAMES]
        words = SayWords.parse("\n".join(NAMES))
        index = probe(clip).audio[0].index

        t0 = time.perf_counter()
        read_pcm(clip, index, 16000)
        decode = time.perf_counter() - t0
        t0 = time.perf_counter()
        heard = spot_words(clip, words)
        spot = time.perf_counter() - t0
        found = sum(any(h.phrase == p and h.start < e and h.end > s for h in heard) for p, s, e in names)
        false = sum(not any(h.phrase == p and h.start < e and h.end > s for p, s, e in names) for h in heard)

        spans = tuple((max(0.0, h.start - DEFAULT_MARGIN), h.end + DEFAULT_MARGIN) for h in heard)
        t0 = time.perf_counter()
        edited = edit_stream(clip, index, AudioEdit(spans, "bleep")) if spans else None
        spans_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        whole = edit_stream(clip, index, AudioEdit((WHOLE,), "mute"))
        whole_s = time.perf_counter() - t0

    per_min = 60.0 / seconds
    print(f"audio: {seconds:.0f} s, 48 kHz mono AAC, bed {bed}; {len(names)} names said ({', '.join(NAMES)}), "
          f"{len(said) - len(names)} plain phrases; espeak-ng, each phrase synthesised alone")
    print(f"load average (1 min) {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"decode to 16 kHz mono (the floor): {decode * per_min:.2f} s per minute of audio")
    print(f"keyword spotting (decode + pocketsphinx 5.1.1, {len(NAMES)} phrases): {spot * per_min:.2f} s per minute "
          f"of audio ({spot / decode:.1f}x decoding, {spot / seconds:.3f}x real time)")
    print(f"names found {found} of {len(names)}; false alarms {false} (each mutes {2 * DEFAULT_MARGIN:.2f} s + the hit)")
    if edited is not None:
        print(f"re-encode the spans heard ({len(spans)} spans, {edited.seconds_changed:.1f} s, "
              f"{len(edited.packets)} of {edited.packets_total} packets): {spans_s * per_min:.2f} s per minute "
              f"({spans_s / decode:.1f}x decoding)")
    print(f"re-encode the whole track (--audio mute): {whole_s * per_min:.2f} s per minute ({whole_s / decode:.1f}x "
          f"decoding, {len(whole.packets)} packets)")


if __name__ == "__main__":
    main()
