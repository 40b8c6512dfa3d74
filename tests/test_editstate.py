"""The editor's state and edits without any widget (``vidmask_nb.notebook.editstate.EditState``)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from vidmask_nb.detect.detectors import Detections
from vidmask_nb.notebook.editstate import EditState
from vidmask_nb.errors import VidmaskError
from vidmask_nb.prompts.records import PromptSet


@pytest.fixture
def state(tmp_path, sample_clip_info):
    return EditState(sample_clip_info, tmp_path / "prompts.json")


def test_edits_are_saved_at_once_and_undone(state, sample_clip_info):
    assert not state.path.exists() and "new prompts" in state.message
    state.set_frame(5)
    box = state.add_box(60, 50, 10, 20)  # corners in any order
    assert box.box == (10.0, 20.0, 60.0, 50.0) and box.frame == 5 and state.selected == 0
    assert "saved prompts.json (1 prompts)" in state.message
    state.add_point(30, 30, positive=False)
    assert PromptSet.load(state.path, sample_clip_info).prompts == state.prompts.prompts
    assert [p.point_labels for p in state.prompts_on_frame()] == [(), (0,)]
    assert state.undo() and len(json.loads(state.path.read_text())["prompts"]) == 1
    state.delete(0)
    assert state.prompts.prompts == [] and state.undo() and len(state.prompts.prompts) == 1
    state.undo()
    assert not state.undo() and state.message == "nothing to undo" and not state.can_undo


def test_objects_placeholder_reused_delete_and_frame_checks(state):
    car = state.new_object("car")  # the untouched 'object 1' is renamed, not left behind empty
    assert [o.label for o in state.prompts.objects] == ["car"] and state.obj_id == car.id
    state.add_box(0, 0, 20, 20)
    person = state.new_object("")
    assert person.label == "object 2" and state.obj_id == person.id
    assert state.new_object("") == person and "still empty" in state.message  # no second placeholder
    state.delete_object(car.id)
    assert [o.id for o in state.prompts.objects] == [person.id] and state.prompts.prompts == []
    state.undo()
    assert [o.label for o in state.prompts.objects] == ["car", "object 2"] and len(state.prompts.prompts) == 1
    with pytest.raises(VidmaskError, match="outside the video"):
        state.set_frame(state.info.frame_count)
    with pytest.raises(VidmaskError, match="unknown mode"):
        state.set_mode("lasso")
    state.set_mode("negative")
    assert state.mode_badge() == "− point · object 2"  # undo gave back the pick of before the delete


def test_proposals_accept_into_objects_and_undo_returns_them(state):
    dets = Detections([[10, 10, 40, 40], [80, 60, 120, 100]], [0.6, 0.9], ["face", "face"])
    found = state.propose_on_frame(3, ("face",), dets)
    assert [p.score for p in found] == pytest.approx([0.9, 0.6]) and state.frame == 3
    assert state.selected_proposal == 0 and not state.path.exists()  # nothing saved yet
    assert state.proposal_at(100, 80) == 0 and state.proposal_at(5, 5) is None
    prompt = state.accept()
    assert prompt.box == (80.0, 60.0, 120.0, 100.0) and state.prompts.object(prompt.obj_id).label == "face 1"
    assert len(state.prompts.objects) == 1  # the placeholder became 'face 1'
    again = state.propose_on_frame(3, ("face",), dets)  # the accepted face has a box there: not proposed again
    assert [p.box for p in again] == [(10.0, 10.0, 40.0, 40.0)]
    state.reject()
    assert state.proposals == [] and "rejected" in state.message
    state.undo()
    assert state.prompts.prompts == [] and found[0] in state.proposals

    log = [{"frame": 0, "kind": "face", "box": [1, 1, 9, 9], "score": 0.8, "object": "face 7"},
           {"frame": 9, "kind": "face", "box": [2, 2, 9, 9], "score": 0.7, "object": "face 7"}]
    state.propose_objects(log)
    added = state.accept_all()
    assert {p.obj_id for p in added} == {state.prompts.objects[-1].id}  # one group -> one object
    assert state.prompts.objects[-1].label == "face 7"


def test_reopening_checks_the_video(tmp_path, state, sample_clip_info):
    state.add_box(0, 0, 10, 10)
    again = EditState(sample_clip_info, state.path)
    assert again.prompts.prompts == state.prompts.prompts and "1 prompt(s) loaded" in again.message


def test_editstate_needs_no_widgets():
    code = ("import sys, vidmask_nb.notebook.editstate; "
            "print(sorted(m for m in ('ipywidgets', 'ipycanvas', 'ipyevents', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
