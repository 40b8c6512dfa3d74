"""Every up-front check happens up front, in one line (issue 30, harms 14-16): absurd `demo --seconds`, word
lists that are binary, folders or FIFOs, a FIFO as `--masks`, the prompts' LabelMe folder as `--out`."""
from __future__ import annotations

import os
import signal
import time
from fractions import Fraction

import pytest

from vidmask_nb.cli import main
from vidmask_nb.media.sample import make_sample_clip


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_sample_clip(tmp_path_factory.mktemp("up") / "clip.mp4", seconds=0.25, fps=Fraction(24),
                            size=(96, 64), audio=False)


def _refused(capsys, *argv, words: str) -> None:
    """``argv`` exits 2 with one line holding ``words``, within seconds (a FIFO is never opened)."""
    def hang(*_):
        raise TimeoutError(f"hung: {argv}")

    old = signal.signal(signal.SIGALRM, hang)
    signal.alarm(20)
    t0 = time.time()
    try:
        rc = main([str(a) for a in argv])
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    cap = capsys.readouterr()
    err = cap.err.strip()
    assert rc == 2 and words in err and len(err.splitlines()) == 1 and "Traceback" not in err, (argv, err)
    assert err.startswith("vidmask-nb: error:") and time.time() - t0 < 15


@pytest.mark.parametrize("seconds", ["nan", "inf", "-1", "1e9"])
def test_demo_seconds_nan_inf_or_absurd_is_one_line(tmp_path, capsys, seconds):
    """The harm: `demo --seconds nan` or `inf` was a traceback; `1e9` tried to allocate 349 TiB."""
    _refused(capsys, "demo", "--out", tmp_path / "demo", f"--seconds={seconds}", words="--seconds")
    assert not (tmp_path / "demo").exists()


def test_word_lists_that_are_not_text_are_one_line_never_a_hang(tmp_path, clip, capsys):
    """The harms: a binary `--say-words` file was a traceback; a FIFO as `--pii-words` hung without a word;
    a folder or FIFO as `--say-words` was called "no such file"."""
    binary = tmp_path / "words.bin"
    binary.write_bytes(bytes(range(256)) * 4)
    fifo = tmp_path / "words.fifo"
    os.mkfifo(fifo)
    folder = tmp_path / "a folder"
    folder.mkdir()
    out = tmp_path / "run"
    for flag in ("--say-words", "--pii-words"):
        find = ["--find", "faces,pii"] if flag == "--pii-words" else ["--find", "faces"]
        for path, words in ((binary, "is not UTF-8 text"), (fifo, "is not a plain file"), (folder, "is a folder"),
                            (tmp_path / "missing.txt", "no such file")):
            _refused(capsys, "run", clip, "--out", out, *find, "--no-track", flag, path, words=f"{flag} {path}")
            _refused(capsys, "run", clip, "--out", out, *find, "--no-track", flag, path, words=words)
            _refused(capsys, "audit", clip, "--find", "faces,pii", flag, path, words=words)
    assert not out.exists()


def test_render_and_audit_inputs_are_checked_before_any_work(tmp_path, clip, capsys):
    fifo = tmp_path / "masks.json"
    os.mkfifo(fifo)
    _refused(capsys, "render", clip, "--masks", fifo, "--out", tmp_path / "o.mp4", words="not a plain file")
    _refused(capsys, "render", tmp_path, "--masks", fifo, "--out", tmp_path / "o.mp4", words="is a folder")
    _refused(capsys, "audit", fifo, words="not a regular file")
    _refused(capsys, "audit", clip, "--every", "0", words="--every")


def test_the_prompts_labelme_folder_as_out_is_refused_up_front(tmp_path, clip, capsys):
    """The harm: a LabelMe folder given as `--out` (and as `--prompts`) failed only in notebook 02."""
    import json

    labelme = tmp_path / "labelme"
    labelme.mkdir()
    (labelme / "00002.json").write_text(json.dumps({
        "version": "5.5.0", "imagePath": "00002.jpg", "imageData": None, "imageWidth": 96, "imageHeight": 64,
        "shapes": [{"label": "ball", "points": [[10, 10], [40, 40]], "shape_type": "rectangle", "group_id": None,
                    "flags": {}}]}))
    _refused(capsys, "run", clip, "--prompts", labelme, "--out", labelme, "--weights", "random",
             words="is (or is inside) the input folder")
