"""Headless runs: every notebook executed by papermill, `vidmask-nb run`, `batch` and `demo`.

Random SAM 2 weights at a reduced input size: these tests check that every stage runs and that the
output is the source frame for frame with its audio, never what an untrained model segments.
"""
from __future__ import annotations

import csv
import json
from fractions import Fraction
from pathlib import Path

import av
import pytest

from vidmask_nb.cli import main
from vidmask_nb.run.pipeline import NOTEBOOKS
from vidmask_nb.media.sample import make_sample_clip
from vidmask_nb.prompts.sources import sample_prompts
from vidmask_nb.media.video import probe

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
FAST = ["--weights", "random", "--image-size", "128", "--device", "cpu", "--chunk-seconds", "0.5"]


def audio_packets(path) -> list[tuple]:
    with av.open(str(path)) as c:
        return [(s.index, bytes(p), p.pts, p.dts) for s in c.streams.audio for p in c.demux(s) if p.size]


def assert_same_timing(src: Path, out: Path) -> None:
    a, b = probe(src), probe(out)
    assert (b.frame_count, b.pts, b.fps, b.time_base) == (a.frame_count, a.pts, a.fps, a.time_base)
    assert (b.width, b.height) == (a.width, a.height)
    assert audio_packets(out) == audio_packets(src)


def assert_reports_clean(workdir: Path) -> None:
    for name in NOTEBOOKS:
        report = workdir / "sensitive" / "reports" / f"{name}.ipynb"
        assert report.is_file(), report
        nb = json.loads(report.read_text())
        errors = [o for c in nb["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors, f"{name}: {errors[0].get('ename')}: {errors[0].get('evalue')}"


def test_run_executes_every_notebook(tmp_path, sample_clip, capfd):
    info = probe(sample_clip)
    sample_prompts(info).save(tmp_path / "prompts.json")
    out = tmp_path / "run"
    rc = main(["run", str(sample_clip), "--prompts", str(tmp_path / "prompts.json"), "--out", str(out),
               "--style", "pixelate:8", *FAST])
    captured = capfd.readouterr()  # the kernels' own output too (capfd: file descriptors 1 and 2)
    err = captured.err
    assert rc == 0, err
    # quiet: no kernel transport warning, no papermill parameter warnings, no progress bars off a terminal:
    # nothing but the stage lines and the random-weights banner (the stages run in this process)
    banner = [line for line in err.splitlines() if line.startswith("!!")]
    assert [line for line in err.splitlines() if line.strip() and not line.startswith("[sample.mp4")
            and line not in banner] == [], err
    # once each: the model built for the tracker (03), the masks it made rendered (04)
    assert (captured.out + err).count("RANDOM WEIGHTS: this SAM 2 model is untrained") == 2, captured
    assert_reports_clean(out)
    reports = "".join((out / "sensitive" / "reports" / f"{n}.ipynb").read_text() for n in NOTEBOOKS)
    assert "cannot import name '_C'" not in reports and "overrides the run's settings" not in reports
    assert reports.count("RANDOM WEIGHTS: this SAM 2 model is untrained") == 1  # 02's preview: one banner
    assert_same_timing(sample_clip, out / "sample_redacted.mp4")
    masks = json.loads((out / "masks.json").read_text())
    assert len(masks["frames"]) == info.frame_count
    assert all(len(f["objects"]) == 2 for f in masks["frames"])
    assert (out / "manifest.json").is_file() and (out / "run.json").is_file()
    # the same state the notebooks leave when stepped by hand (tests/test_state.py): every stage done
    state = json.loads((out / "run.json").read_text())
    assert state["status"] == "complete" and {n: r["status"] for n, r in state["stages"].items()} == dict.fromkeys(
        NOTEBOOKS, "done")
    assert state["stages"]["03_propagate"]["inputs"]["prompts.json"] == state["inputs"]["prompts.json"]
    assert not (out / "run.lock").exists() and "settings.json" not in {p.name for p in out.iterdir()}


@pytest.mark.media
def test_run_on_real_clip_with_audio(tmp_path, shared_media, capsys):
    from vidmask_nb.prompts.records import FramePrompt, PromptSet

    src = shared_media / "02_hummingbird.mp4"
    info = probe(src)
    prompts = PromptSet.for_video(info)
    bird = prompts.add_object("hummingbird")
    prompts.prompts.append(FramePrompt(frame=60, obj_id=bird.id, box=(500, 200, 800, 450), pts=info.pts[60]))
    prompts.save(tmp_path / "prompts.json")
    out = tmp_path / "run"
    rc = main(["run", str(src), "--prompts", str(tmp_path / "prompts.json"), "--out", str(out), *FAST,
               "--chunk-seconds", "3"])
    assert rc == 0, capsys.readouterr().err
    assert_reports_clean(out)
    assert_same_timing(src, out / "02_hummingbird_redacted.mp4")


def test_batch_goes_on_past_a_broken_video(tmp_path, capsys):
    rows = []
    for name, fps in (("a", Fraction(25)), ("b", Fraction(30000, 1001))):
        clip = make_sample_clip(tmp_path / f"{name}.mp4", seconds=0.8, fps=fps, size=(128, 96), audio=name == "a")
        sample_prompts(probe(clip)).save(tmp_path / f"{name}.json")
        rows.append({"video": f"{name}.mp4", "prompts": f"{name}.json", "style": "blur"})
    (tmp_path / "broken.mp4").write_bytes(b"not a video at all")
    rows.append({"video": "broken.mp4", "prompts": "a.json", "style": ""})
    with open(tmp_path / "batch.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["video", "prompts", "style"])
        w.writeheader()
        w.writerows(rows)
    rc = main(["batch", str(tmp_path / "batch.csv"), *FAST])
    captured = capsys.readouterr()
    assert rc == 1
    failures = [line for line in captured.err.splitlines() if line.startswith("FAILED")]
    assert len(failures) == 1 and "broken.mp4" in failures[0] and "not a video" in failures[0]
    assert (tmp_path / "runs" / "a" / "a_redacted.mp4").is_file()
    assert (tmp_path / "runs" / "b" / "b_redacted.mp4").is_file()
    summary = list(csv.DictReader(open(tmp_path / "runs" / "batch_summary.csv")))
    assert [r["status"] for r in summary] == ["done", "done", "failed"]
    # a second run skips what is complete and still reports the failure
    assert main(["batch", str(tmp_path / "batch.csv"), *FAST]) == 1
    summary = list(csv.DictReader(open(tmp_path / "runs" / "batch_summary.csv")))
    assert [r["status"] for r in summary] == ["skipped", "skipped", "failed"]


def test_demo_without_checkpoint_says_what_to_do(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("VIDMASK_CHECKPOINTS", str(tmp_path / "none"))
    monkeypatch.chdir(tmp_path)
    import vidmask_nb.track.model as model

    monkeypatch.setattr(model, "CHECKPOINT_URL_BASE", "http://127.0.0.1:9/")  # no network here either way
    rc = main(["demo", "--out", str(tmp_path / "demo")])
    err = capsys.readouterr().err
    if rc == 0:  # a trained checkpoint was found beside the package: then the demo simply ran
        return
    assert rc == 2 and "Traceback" not in err
    assert "download_ckpts.sh" in err and "--weights random" in err
    assert str(ROOT / "checkpoints") in err  # the repository's own folder, where the loader looks


def test_demo_with_random_weights(tmp_path, capsys):
    rc = main(["demo", "--out", str(tmp_path / "demo"), "--seconds", "1", *FAST])
    assert rc == 0, capsys.readouterr().err
    assert_reports_clean(tmp_path / "demo")
    assert_same_timing(tmp_path / "demo" / "sample.mp4", tmp_path / "demo" / "sample_redacted.mp4")
