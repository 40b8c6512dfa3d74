"""Names said aloud: --say-words mutes or bleeps each listed word heard, --audio mutes whole tracks.

The material knows the truth: each phrase is synthesised on its own by espeak-ng and mixed in at a
known time over a real clip's audio (01_dog, when ../shared/media is here) or a tone, on two AAC
tracks with different words. Real Whisper (tiny.en does the work, base audits, both from their
wheels), real PyAV, the real render.
"""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from speech_helpers import RATE, mix, need_espeak, speech_clip
from vidmask_nb.errors import VidmaskError

SECONDS = 7.0
NAMES = ("boston", "michael", "robert")
TRACK_A = [("the weather today", 0.4), ("boston", 2.0), ("it was sunny", 3.1), ("michael", 5.0),
           ("good night", 6.0)]
TRACK_B = [("the weather today", 0.3), ("robert", 1.6), ("michael", 3.5), ("it was sunny", 5.0)]


def _packets(path, kind):
    with av.open(str(path)) as c:
        streams = list(c.streams.video if kind == "video" else c.streams.audio)
        out = {s.index: [] for s in streams}
        for p in c.demux(streams):
            if p.pts is not None:
                out[p.stream.index].append((p.pts, p.dts, p.duration, bytes(p)))
        return out


def _empty_masks(video, tmp: Path) -> Path:
    from vidmask_nb.media.video import probe
    from common import inject_masks

    store = inject_masks(probe(video), {1: "nothing"}, lambda i, k: None)
    path = tmp / "masks.json"
    store.save(path)
    return path


def _muted(src, out, index, window=0.01, drop_db=10.0) -> np.ndarray:
    """Start times (s) of the 10 ms windows where the output is ``drop_db`` quieter than the source.

    Energy, not sample differences: AAC's noise substitution draws from the decoder's random state,
    so packets copied byte for byte after an edited one decode to other noise of the same energy.
    """
    from vidmask_nb.media.audiotrack import read_pcm

    a, _ = read_pcm(src, index, RATE)
    b, _ = read_pcm(out, index, RATE)
    n = min(len(a), len(b))
    w = int(window * RATE)

    def energy(x):
        return np.mean((x[:n // w * w].astype(np.float64) / 32768).reshape(-1, w) ** 2, axis=1) + 1e-12

    return np.flatnonzero(10 * np.log10(energy(a) / energy(b)) > drop_db) * window


@pytest.fixture(scope="module")
def said(tmp_path_factory):
    """The two-track clip with names at known times, its word list, and outputs rendered with and without --say-words."""
    need_espeak()
    from vidmask_nb.redact.audio import AudioOptions
    from vidmask_nb.redact.render import RenderOptions, render

    tmp = tmp_path_factory.mktemp("said")
    a, truth_a = mix(SECONDS, TRACK_A)
    b, truth_b = mix(SECONDS, TRACK_B)
    src = speech_clip(tmp / "said.mp4", [a, b], SECONDS)
    words = tmp / "names.txt"
    words.write_text("# names said in the clip\n" + "\n".join(NAMES) + "\n")
    masks = _empty_masks(src, tmp)
    kept = render(src, options=RenderOptions(lossless=True), masks=masks, output=tmp / "kept.mp4", progress=False)
    bleeped = render(src, options=RenderOptions(lossless=True), masks=masks, output=tmp / "bleeped.mp4",
                     progress=False, audio=AudioOptions(audio="bleep", say_words=str(words)))
    muted = render(src, masks=masks, output=tmp / "muted.mp4", progress=False,
                   audio=AudioOptions(say_words=str(words)))  # mute: the default effect for listed words
    from vidmask_nb.media.video import probe

    tracks = [s.index for s in probe(src).audio]
    truth = {tracks[0]: [t for t in truth_a if t[0] in NAMES], tracks[1]: [t for t in truth_b if t[0] in NAMES]}
    return src, words, kept, bleeped, truth, muted


def test_listed_names_are_heard_in_the_source_and_not_after_say_words(said):
    from vidmask_nb.detect.speech import SayWords, spot_words

    src, words, _, out, truth, _ = said
    heard = spot_words(src, SayWords.load(words))
    for track, names in truth.items():  # the material is what it says: every name is spotted in the source
        for name, a, b in names:
            assert any(h.stream == track and h.phrase == name and h.start < b and h.end > a for h in heard), \
                (track, name, a, b, heard)
    assert spot_words(out, SayWords.load(words)) == []


def test_only_the_spans_around_each_name_change(said):
    from vidmask_nb.media.audiotrack import BLEEP_HZ, read_pcm

    src, _, _, bleeped, truth, out = said
    for track, names in truth.items():
        changed = _muted(src, out, track)
        assert len(changed), track
        for t in changed:  # every change is within 1 s of a name said on this track (Whisper's word edges are
            # rough: each hit reaches to the pause around it, plus the margin; bench_speech.py measures the cost)
            assert any(a - 1.0 <= t and t + 0.01 <= b + 1.0 for _, a, b in names), (track, t, names)
        muted, _ = read_pcm(out, track, RATE)
        for name, a, b in names:  # and each name is silent from its first to its last sample
            word = muted[int(a * RATE):int(b * RATE)].astype(np.float64) / 32768
            assert np.sqrt(np.mean(word ** 2)) < 1e-3 and np.abs(word).max() < 0.01, (track, name)
            pcm, _ = read_pcm(bleeped, track, RATE)  # bleeped: the tone over the whole word
            word = pcm[int(a * RATE):int(b * RATE)].astype(np.float64)
            spectrum = np.abs(np.fft.rfft(word))
            assert np.fft.rfftfreq(len(word), 1 / RATE)[spectrum.argmax()] == pytest.approx(BLEEP_HZ, abs=5)


def test_video_and_untouched_audio_packets_are_the_sources(said):
    from vidmask_nb.media.video import probe

    src, _, kept, out, _, _ = said
    assert _packets(out, "video") == _packets(kept, "video")  # the audio edit leaves the video's packets alone
    assert probe(out).pts == probe(src).pts
    source, edited = _packets(src, "audio"), _packets(out, "audio")
    assert sorted(source) == sorted(edited) and len(source) == 2
    for index in source:
        assert [p[:3] for p in source[index]] == [p[:3] for p in edited[index]]  # timing to the sample
        same = sum(p == q for p, q in zip(source[index], edited[index]))
        assert 0 < len(source[index]) - same < len(source[index]) // 2, (index, same)


def test_audit_say_words_exit_codes(said, capsys):
    from vidmask_nb.cli import main

    src, words, _, out, _, _ = said
    assert main(["audit", str(src), "--find", "none", "--say-words", str(words)]) == 1
    shown = capsys.readouterr().out
    assert "listed word(s) still heard" in shown and "boston" not in shown  # time spans, never the word
    assert main(["audit", str(out), "--find", "none", "--say-words", str(words)]) == 0


def test_whole_track_mute_and_bleep(tmp_path):
    from vidmask_nb.media.audiotrack import BLEEP_HZ, read_pcm
    from vidmask_nb.media.sample import make_sample_clip
    from vidmask_nb.media.video import probe
    from vidmask_nb.redact.audio import AudioOptions
    from vidmask_nb.redact.render import render

    src = make_sample_clip(tmp_path / "tone.mp4", seconds=1.0, size=(64, 48), audio_delay=480)
    masks = _empty_masks(src, tmp_path)
    index = probe(src).audio[0].index  # audio starting 480 samples after the video: kept to the sample
    for mode in ("mute", "bleep"):
        out = render(src, masks=masks, output=tmp_path / f"{mode}.mp4", progress=False,
                     audio=AudioOptions(audio=mode))
        pcm, start = read_pcm(out, index, RATE)
        assert start == read_pcm(src, index, RATE)[1]
        assert [p[:3] for p in _packets(src, "audio")[index]] == [p[:3] for p in _packets(out, "audio")[index]]
        body = pcm[RATE // 10:-RATE // 10].astype(np.float64) / 32768
        if mode == "mute":
            assert np.abs(body).max() < 1e-3
        else:
            spectrum = np.abs(np.fft.rfft(body))
            assert np.fft.rfftfreq(len(body), 1 / RATE)[spectrum.argmax()] == pytest.approx(BLEEP_HZ, abs=5)


def test_audio_options_fail_closed(tmp_path):
    from vidmask_nb.redact.audio import AudioOptions, parse_spans

    assert parse_spans("1.5-2.2, 7-8.25,2-3") == ((1.5, 3.0), (7.0, 8.25))
    f = tmp_path / "spans.txt"
    f.write_text("# start end\n1 2\n4.5-5\n")
    assert parse_spans(str(f)) == ((1.0, 2.0), (4.5, 5.0))
    assert AudioOptions().mode == "keep" and AudioOptions(audio_spans="1-2").mode == "mute"
    for opts, flag in ((AudioOptions(audio="loud"), "--audio"), (AudioOptions(audio_spans="2-1"), "ends before"),
                       (AudioOptions(audio_spans="soon"), "--audio-spans"),
                       (AudioOptions(audio="keep", audio_spans="1-2"), "choose mute or bleep"),
                       (AudioOptions(say_words=str(tmp_path / "none.txt")), "--say-words"),
                       (AudioOptions(say_margin=-1), "--say-margin")):
        with pytest.raises(VidmaskError, match=flag):
            opts.checked()
    words = tmp_path / "words.txt"
    words.write_text("boston\nqzxvbnq\n")
    AudioOptions(say_words=str(words)).checked()  # Whisper writes any word: nothing to refuse
    from vidmask_nb.detect.speech import SayWords

    with pytest.raises(VidmaskError, match="qzxvbnq"):  # a word pocketsphinx cannot know is named (the benchmark's)
        SayWords.load(words, asr="pocketsphinx")
    for opts, flag in ((AudioOptions(say_words=str(words), asr="pocketsphinx"), "retired"),
                       (AudioOptions(say_pii=True, asr=str(tmp_path)), "no model.bin"),
                       (AudioOptions(audio="keep", say_pii=True), "choose mute or bleep")):
        with pytest.raises(VidmaskError, match=flag):
            opts.checked()


def test_speech_tests_skip_without_espeak_unless_ci_requires_it(monkeypatch):
    import speech_helpers

    monkeypatch.setattr(speech_helpers.shutil, "which", lambda name: None)
    monkeypatch.delenv("VIDMASK_REQUIRE_ESPEAK", raising=False)
    with pytest.raises(pytest.skip.Exception, match="espeak-ng is not installed"):
        need_espeak()
    monkeypatch.setenv("VIDMASK_REQUIRE_ESPEAK", "1")
    with pytest.raises(pytest.fail.Exception, match="VIDMASK_REQUIRE_ESPEAK=1 but the speech tests cannot run"):
        need_espeak()


def test_render_command_bleeps_spans(tmp_path, sample_clip, capsys):
    from vidmask_nb.cli import main
    from vidmask_nb.media.audiotrack import read_pcm
    from vidmask_nb.media.video import probe

    masks = _empty_masks(sample_clip, tmp_path)
    out = tmp_path / "out.mp4"
    assert main(["render", str(sample_clip), "--masks", str(masks), "--out", str(out),
                 "--audio", "bleep", "--audio-spans", "0.5-1.0"]) == 0
    assert "1 span(s), 0.50 s changed" in capsys.readouterr().out
    index = probe(sample_clip).audio[0].index
    a, _ = read_pcm(sample_clip, index, RATE)
    b, _ = read_pcm(out, index, RATE)
    assert np.array_equal(a[:int(0.4 * RATE)], b[:int(0.4 * RATE)])  # before the span: the source's samples
    assert not np.array_equal(a[int(0.55 * RATE):int(0.95 * RATE)], b[int(0.55 * RATE):int(0.95 * RATE)])


@pytest.mark.slow
def test_run_bleeps_listed_words_through_the_notebooks(tmp_path, said):
    """`vidmask-nb run --say-words`: 04 spots, bleeps, draws the waveform strip and audits the words."""
    import json

    from vidmask_nb.cli import main

    src, words, _, _, truth, _ = said
    out = tmp_path / "run"
    assert main(["run", str(src), "--find", "faces", "--no-track", "--out", str(out), "--audio", "bleep",
                 "--say-words", str(words)]) == 0
    nb = json.loads((out / "sensitive" / "reports" / "04_render.ipynb").read_text())
    text = "".join(o.get("text", "") if isinstance(o.get("text", ""), str) else "".join(o["text"])
                   for c in nb["cells"] for o in c.get("outputs", []))
    assert "no listed word heard on 2 audio track(s)" in text
    assert (out / "sensitive" / "qa" / "said_audio.png").is_file()
    assert main(["audit", str(out / "said_redacted.mp4"), "--find", "none", "--say-words", str(words)]) == 0
    changed = _packets(src, "audio") != _packets(out / "said_redacted.mp4", "audio")
    assert changed and len(truth) == 2


@pytest.mark.media
def test_bleep_a_span_of_a_real_clips_stereo_track(tmp_path, shared_media):
    """01_dog's own AAC (stereo, 48 kHz, another encoder's packets): the span's packets re-encoded, the rest the same."""
    from vidmask_nb.media.audiotrack import BLEEP_HZ, AudioEdit, edit_stream, read_pcm

    src = shared_media / "01_dog.mp4"
    with av.open(str(src)) as c:
        index = c.streams.audio[0].index
    edited = edit_stream(src, index, AudioEdit(((2.0, 3.0),), "bleep"))
    assert 45 <= len(edited.packets) <= 51 and edited.packets_total == 454  # 1 s of 1024-sample packets + guards
    out = tmp_path / "dog_audio.mp4"
    with av.open(str(src)) as c, av.open(str(out), "w", format="mp4", options={"movie_timescale": "48000"}) as o:
        s = c.streams[index]
        t = o.add_stream_from_template(s)
        for p in c.demux(s):
            if p.pts is None:
                continue
            if p.pts in edited.packets:
                q = av.Packet(edited.packets[p.pts])
                q.pts, q.dts, q.duration, q.time_base = p.pts, p.dts, p.duration, p.time_base
                p = q
            p.stream = t
            o.mux(p)
    with av.open(str(out)) as c:
        cc = c.streams.audio[0].codec_context
        assert (cc.name, cc.sample_rate, cc.layout.name, cc.profile) == ("aac", 48000, "stereo", "LC")
    a, _ = read_pcm(src, index, RATE)
    b, _ = read_pcm(out, 0, RATE)
    assert len(a) == len(b)
    span = b[int(2.05 * RATE):int(2.95 * RATE)].astype(np.float64)
    assert np.fft.rfftfreq(len(span), 1 / RATE)[np.abs(np.fft.rfft(span)).argmax()] == pytest.approx(BLEEP_HZ, abs=2)
    outside = np.r_[0:int(1.9 * RATE), int(3.1 * RATE):len(a)]
    assert np.array_equal(a[outside], b[outside])  # the source's samples (this clip's track is silent)


def test_whisper_silences_a_foreign_name_and_a_spoken_phone_number_and_base_audits(tmp_path, capsys):
    """--say-pii: a phone number read aloud; a two-word Spanish name said by an English voice; tiny.en does
    the work, base (another model) audits: it hears both in the source and neither in the output."""
    need_espeak()
    from vidmask_nb.cli import main
    from vidmask_nb.redact.audio import AudioOptions, plan_audio
    from vidmask_nb.redact.render import render
    from vidmask_nb.review.sound import heard_strip, waveform_strip

    track, truth = mix(8.0, [("my name is", 0.3), ("José García", 1.2), ("call me on", 2.9),
                             ("five five five, one two three four", 3.8)], real=False)
    src = speech_clip(tmp_path / "pii.mp4", [track], 8.0)
    words = tmp_path / "names.txt"
    words.write_text("José García\n", encoding="utf-8")
    plan = plan_audio(src, AudioOptions(say_words=str(words), say_pii=True))
    assert "tiny.en" in plan.asr and {"word", "phone"} <= {h.kind for h in plan.heard} <= {"word", "phone", "number"}
    for _, a, b in (truth[1], truth[3]):  # each said whole inside a muted span
        assert any(s.start <= a and s.end >= b for s in plan.spans), (a, b, plan.rows())
    plain = sum(max(0.0, min(b, s.end) - max(a, s.start)) for _, a, b in (truth[0], truth[2]) for s in plan.spans)
    assert plain < 1.0, plan.rows()  # the pauses around each hit and the margins: bench_speech.py measures it
    out = render(src, masks=_empty_masks(src, tmp_path), output=tmp_path / "out.mp4", progress=False, audio=plan)
    assert main(["audit", str(src), "--find", "none", "--say-words", str(words), "--say-pii"]) == 1
    shown = capsys.readouterr().out
    assert "heard by Whisper base" in shown and "García" not in shown and "555" not in shown
    assert main(["audit", str(out), "--find", "none", "--say-words", str(words), "--say-pii"]) == 0
    assert waveform_strip(src, out, plan, out_path=tmp_path / "strip.png") is not None
    assert heard_strip(src, plan.heard, out_path=tmp_path / "heard.png") is not None
    assert (tmp_path / "strip.png").stat().st_size > 1000 and (tmp_path / "heard.png").is_file()
