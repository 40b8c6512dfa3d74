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


def test_a_slip_of_the_mouse_changes_nothing_and_says_so(state):
    assert state.min_box == 8  # 160x120: the 8 px floor (1 % of the frame is less)
    assert not state.path.exists()
    assert state.drag_box(50, 50, 54, 53) is None and state.prompts.prompts == []
    assert "4x3 px drag is too small for a box" in state.message and "nothing changed" in state.message
    assert state.drag_box(10, 10, 60, 11) is None  # a flat line is no box either
    assert not state.path.exists() and not state.can_undo
    box = state.drag_box(10, 10, 60, 22)  # a wide, low box (a line of text) is a box
    assert box.box == (10.0, 10.0, 60.0, 22.0)
    from vidmask_nb.notebook.editstate import min_box_px
    assert (min_box_px(960, 540), min_box_px(1920, 1080), min_box_px(3840, 2160)) == (10, 19, 38)


def test_replacing_a_box_needs_the_deliberate_act_and_is_undone(state):
    good = state.drag_box(20, 20, 80, 80)
    before = state.path.read_bytes()
    assert state.drag_box(100, 90, 110, 100) is None  # a second drag for the same object on this frame
    assert state.prompts.prompts == [good] and state.path.read_bytes() == before
    assert "already has a box on frame 0, kept" in state.message and "replace box" in state.message
    assert state.pending_box.box == (100.0, 90.0, 110.0, 100.0)
    new = state.replace_box()
    assert [p.box for p in state.prompts.prompts] == [new.box] and "replaced its previous box" in state.message
    assert state.pending_box is None
    with pytest.raises(VidmaskError, match="no box waiting"):
        state.replace_box()
    state.undo()
    assert state.prompts.prompts == [good]
    state.drag_box(100, 90, 110, 100)
    state.set_frame(4)  # moving on drops the waiting box
    assert state.pending_box is None
    state.set_frame(0)
    state.drag_box(100, 90, 110, 100)
    state.drop_pending()
    assert state.pending_box is None and state.prompts.prompts == [good] and "unchanged" in state.message
    assert state.drag_box(100, 90, 110, 100, replace=True).box == (100.0, 90.0, 110.0, 100.0)  # a modifier's way
    other = state.new_object("other")  # another object may have its own box there
    assert state.drag_box(30, 30, 70, 70).obj_id == other.id and len(state.prompts.prompts) == 2


def test_find_counts_the_faces_already_boxed_and_shows_them(state):
    dets = Detections([[10, 10, 40, 40], [80, 60, 120, 100]], [0.79, 0.75], ["face", "face"])
    state.new_object("anna")
    state.add_box(11, 10, 40, 41)
    ben = state.new_object("ben")
    state.add_box(80, 60, 121, 100)
    assert state.propose_on_frame(0, ("face",), dets) == [] and state.proposals == []
    assert state.message == "2 faces found on frame 0, both already boxed (anna, ben): show them ('show found')"
    assert [p.boxed_by for p in state.matched] == [1, ben.id]
    state.set_show_matched(True)
    assert state.show_matched and "2 detection(s) already boxed shown" in state.message
    state.delete(1)  # ben's box gone: his face is proposed, anna's still counted
    found = state.propose_on_frame(0, ("face",), dets)
    assert [p.boxed_by for p in found] == [None] and found[0].box == (80.0, 60.0, 120.0, 100.0)
    assert state.message == ("2 faces found on frame 0: 1 new proposal(s): click one, then accept or reject; "
                             "1 already boxed (anna): show them ('show found')")
    state.propose_on_frame(5, ("face",), Detections.empty())
    assert state.message == "no face found on frame 5"


def test_a_proposal_accepted_into_the_picked_object_or_as_a_new_one(state):
    dets = Detections([[10, 10, 40, 40], [80, 60, 120, 100]], [0.9, 0.6], ["face", "face"])
    anna = state.new_object("anna")
    state.add_box(10, 10, 40, 40, frame=0)
    state.propose_on_frame(3, ("face",), dets)
    prompt = state.accept_into_picked()  # the best face, into anna: a second prompt of hers
    assert prompt.obj_id == anna.id and prompt.frame == 3 and [o.label for o in state.prompts.objects] == ["anna"]
    assert [p.frame for p in state.prompts.prompts if p.obj_id == anna.id] == [0, 3]
    assert "accepted into anna: box on frame 3" in state.message
    with pytest.raises(VidmaskError, match="already has a box on frame 3"):  # never replaces her box there
        state.accept(0, into=anna.id)
    face = state.accept(0)  # the other face: a new object, picked
    assert state.prompts.object(face.obj_id).label == "face 1" and state.obj_id == face.obj_id
    state.undo()
    state.undo()
    assert len(state.proposals) == 2 and [p.frame for p in state.prompts.prompts] == [0]
