"""The CLI: probe output, plain errors with non-zero exits, options checked before heavy work."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from vidmask_nb.cli import main


def test_probe_prints_json(sample_clip, capsys):
    assert main(["probe", str(sample_clip)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["fps"] == "24000/1001" and isinstance(out["frame_count"], int) and out["frame_count"] == 48
    assert out["streams"][0]["kind"] == "audio"


def test_error_is_one_line_without_traceback(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00" * 1000)
    proc = subprocess.run([sys.executable, "-m", "vidmask_nb.cli", "probe", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("vidmask-nb: error:") and "not a video" in proc.stderr


@pytest.mark.parametrize("flags,words", [
    (["--style", "sparkle"], "unknown style"),
    (["--style", "fill:#12345"], "colour"),
    (["--dilate", "-2"], "--dilate must be 0 or more"),
    (["--weights", "trained", "--checkpoint", "/nowhere/sam2.1_hiera_tiny.pt"], "checkpoint not found"),
    (["--model", "huge"], "unknown model"),
    (["--image-size", "100"], "multiple of 32"),
    (["--audio", "keep", "--audio-spans", "1-2"], "choose mute or bleep"),
    (["--audio-spans", "soon"], "--audio-spans"),
    (["--say-words", "/nowhere/names.txt"], "--say-words"),
])
def test_run_checks_options_first(tmp_path, sample_clip, capsys, flags, words):
    prompts = tmp_path / "prompts.json"
    prompts.write_text("{}")
    rc = main(["run", str(sample_clip), "--prompts", str(prompts), "--out", str(tmp_path / "run"),
               "--weights", "random", *flags])
    err = capsys.readouterr().err
    assert rc == 2 and words in err, err
    assert not (tmp_path / "run").exists(), "nothing is written when an option is wrong"


def test_run_refuses_prompts_for_another_video(tmp_path, sample_clip, clip_dir, capsys):
    from fractions import Fraction

    from vidmask_nb.media.sample import make_sample_clip
    from vidmask_nb.prompts.sources import sample_prompts
    from vidmask_nb.media.video import probe

    other = make_sample_clip(tmp_path / "other.mp4", seconds=1.0, fps=Fraction(25), size=(96, 64), audio=False)
    sample_prompts(probe(other)).save(tmp_path / "prompts.json")
    rc = main(["run", str(sample_clip), "--prompts", str(tmp_path / "prompts.json"), "--out", str(tmp_path / "run"),
               "--weights", "random", "--image-size", "128"])
    err = capsys.readouterr().err
    assert rc == 2 and ("another video" in err or "made for a" in err), err
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_track_writes_masks_from_a_prompts_file(tmp_path, capsys):
    from fractions import Fraction

    from vidmask_nb.track.masks import MaskStore
    from vidmask_nb.media.sample import make_sample_clip
    from vidmask_nb.prompts.sources import sample_prompts
    from vidmask_nb.media.video import probe

    clip = make_sample_clip(tmp_path / "short.mp4", seconds=0.5, fps=Fraction(24), size=(96, 64), audio=False)
    info = probe(clip)
    prompts = sample_prompts(info).save(tmp_path / "my_prompts.json")
    work = tmp_path / "work"
    rc = main(["track", str(clip), "--prompts", str(prompts), "--out", str(work),
               "--weights", "random", "--image-size", "128", "--device", "cpu"])
    out = capsys.readouterr().out
    assert rc == 0 and str(work / "masks.json") in out, out
    assert (work / "prompts.json").is_file() and (work / "masks.json.idx").is_file()
    with MaskStore.load(work / "masks.json") as store:
        store.check_video(info)
        assert len(store) == info.frame_count and "RANDOM-WEIGHTS" in store.header["key"]
    assert not (work / "reports").exists(), "no notebook ran"


def test_track_with_missing_prompts_is_one_line_and_exit_2(tmp_path, sample_clip):
    proc = subprocess.run([sys.executable, "-m", "vidmask_nb.cli", "track", str(sample_clip), "--prompts",
                           str(tmp_path / "nope.json"), "--out", str(tmp_path / "work"), "--weights", "random"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and "prompts not found" in proc.stderr and "nope.json" in proc.stderr
    assert not (tmp_path / "work").exists()


def test_ray_flag_says_what_to_install_when_ray_is_missing(tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)  # an environment without the [ray] extra
    (tmp_path / "batch.csv").write_text("video,prompts\nclip.mp4,clip.json\n")
    assert main(["batch", str(tmp_path / "batch.csv"), "--ray"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'vidmask-nb[ray]'" in err[0]


def test_object_groups_split_in_id_order():
    from vidmask_nb.track.propagate import object_groups

    assert object_groups([3, 1, 2], 2) == [(1, 2), (3,)]
    assert object_groups([5, 1], 8) == [(1,), (5,)]
    assert object_groups(range(1, 8), 3) == [(1, 2, 3), (4, 5), (6, 7)]
