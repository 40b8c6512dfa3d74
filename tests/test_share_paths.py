"""``summary.json`` is meant to be shared: no path of the person's machine in it (issue 30: it held the prompts'
absolute path). Files inside the run folder are named relative to it, others by name and sha256."""
from __future__ import annotations

import hashlib
import json

from vidmask_nb.cli import main


def test_summary_names_no_path_of_this_machine(tmp_path, sample_clip, capsys):
    import vidmask_nb as vm
    from vidmask_nb.prompts.records import FramePrompt

    info = vm.probe(sample_clip)
    prompts = vm.PromptSet.for_video(info)
    thing = prompts.add_object("thing")
    prompts.prompts.append(FramePrompt(frame=2, obj_id=thing.id, box=(10, 10, 40, 40), pts=info.pts[2]))
    prompts.save(tmp_path / "mine.json")
    words = tmp_path / "words.txt"
    words.write_text("boston\n")
    out = tmp_path / "run"
    assert main(["run", str(sample_clip), "--prompts", str(tmp_path / "mine.json"), "--find", "faces,pii",
                 "--no-track", "--pii-words", str(words), "--out", str(out), "--no-reports"]) == 0
    assert str(tmp_path) in (out / "run.json").read_text()  # the run's own record keeps them: it checks them
    assert main(["share", str(out), "--to", str(tmp_path / "pub")]) == 0
    text = (tmp_path / "pub" / "summary.json").read_text()
    assert str(tmp_path) not in text and str(sample_clip.parent) not in text, text
    digest = hashlib.sha256(words.read_bytes()).hexdigest()
    assert json.loads(text)["options"]["pii_words"] == f"words.txt sha256:{digest}"
