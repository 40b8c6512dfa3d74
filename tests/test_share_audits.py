"""``share`` requires every audit the run asked for to be clean, and ``run`` says so by its exit code (issue 30
item 1: a run whose speech audit heard a listed word was shared, its summary holding only the pictures' audit)."""
from __future__ import annotations

import json

import pytest

from vidmask_nb.cli import main
from vidmask_nb.runfolder.state import RunState


@pytest.mark.media
def test_run_exits_1_when_its_own_audit_finds_a_leak(tmp_path, face_clip, capsys):
    """Faces under a 2 px pixelation (a style too weak to hide them): the audit still finds them, the run
    exits 1 naming what, and share refuses it."""
    out = tmp_path / "run"
    rc = main(["run", str(face_clip), "--find", "faces", "--no-track", "--style", "pixelate:2", "--out", str(out),
               "--no-reports"])
    captured = capsys.readouterr()
    assert rc == 1, captured.err
    assert "FLAGGED" in captured.out and "face still detectable" in captured.out
    assert main(["share", str(out), "--to", str(tmp_path / "pub")]) == 2
    assert "--accept-leaks" in capsys.readouterr().err


def test_share_refuses_each_audit_that_found_something_and_records_what_was_accepted(tmp_path, sample_clip, capsys):
    out = tmp_path / "run"
    assert main(["run", str(sample_clip), "--find", "faces", "--no-track", "--out", str(out), "--no-reports"]) == 0
    assert main(["share", str(out), "--to", str(tmp_path / "clean")]) == 0
    summary = json.loads((tmp_path / "clean" / "summary.json").read_text())
    assert summary["audits"]["pictures"]["clean"] and summary["leaks_accepted_by_kind"] == {}
    capsys.readouterr()
    clean = RunState.load(out).record

    for kind, record in (("speech", {"speech_audit": {"clean": False, "heard": [{"track": 1, "start s": 0.2}]}}),
                         ("codes", {"audit": dict(clean.audit, clean=False, kinds=["codes"], leak_frames=[5])})):
        state = RunState.load(out)
        state.update(**record)
        assert main(["share", str(out), "--to", str(tmp_path / f"no_{kind}")]) == 2
        err = capsys.readouterr().err
        assert "--accept-leaks" in err and err.count("\n") == 1, err
        assert main(["share", str(out), "--to", str(tmp_path / kind), "--accept-leaks"]) == 0
        accepted = json.loads((tmp_path / kind / "summary.json").read_text())["leaks_accepted_by_kind"]
        assert kind in accepted, accepted
        state.update(**{k: getattr(clean, k) for k in record})


def test_the_review_lists_frames_whose_covers_exceed_the_share_and_share_states_it(tmp_path, sample_clip, capsys):
    """Issue 29: the review sees the covers (masks, floor and codes together), not only the masks. A drawn box
    over most of the picture (no tracking: the box is the cover) is listed, and share says what covers cost."""
    import vidmask_nb as vm
    from vidmask_nb.prompts.records import FramePrompt

    info = vm.probe(sample_clip)
    prompts = vm.PromptSet.for_video(info)
    wall = prompts.add_object("wall")
    prompts.prompts.append(FramePrompt(frame=10, obj_id=wall.id, box=(0, 0, info.width - 8, info.height - 8),
                                       pts=info.pts[10]))
    prompts.save(tmp_path / "prompts.json")
    out = tmp_path / "run"
    assert main(["run", str(sample_clip), "--prompts", str(tmp_path / "prompts.json"), "--find", "faces",
                 "--no-track", "--out", str(out), "--no-reports"]) == 0
    review = json.loads((out / "sensitive" / "qa" / "sample_review.json").read_text())
    rows = [r for r in review["rows"] if r["reason"] == "covers frame"]
    assert rows and rows[0]["first"] <= 10 <= rows[0]["last"], review["rows"]
    covers = RunState.load(out).record.covers
    assert covers["worst"]["share"] > 0.5 and any(o["frame"] == 10 for o in covers["over"])
    capsys.readouterr()
    assert main(["share", str(out), "--to", str(tmp_path / "pub")]) == 0
    assert "frame(s) over 50%" in capsys.readouterr().out
