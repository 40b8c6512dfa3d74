"""The prompt editor's logic, driven by simulated mouse, key and button events (no browser)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from vidmask_nb.notebook.editor import PromptEditor
from vidmask_nb.errors import VidmaskError
from vidmask_nb.prompts.records import PromptSet


@pytest.fixture
def editor(tmp_path, sample_clip):
    """The 160x120 clip drawn at half size (80x60 canvas): 1 canvas pixel = 2 source pixels."""
    ed = PromptEditor(sample_clip, tmp_path / "run", max_display=80)
    yield ed
    ed.close()


def on_disk(ed) -> dict:
    return json.loads(ed.path.read_text())


def drag(ed, a, b, via=None, **kw):
    ed.on_mouse_down(*a)
    ed.on_mouse_move(*(via or a))
    ed.on_mouse_move(*b)
    return ed.on_mouse_up(*b, **kw)


def click(ed, at, **kw):
    ed.on_mouse_down(*at)
    return ed.on_mouse_up(*at, **kw)


def test_canvas_is_the_drawn_frame_size_and_css_scales_it(editor, tmp_path, sample_clip):
    assert (editor.canvas.width, editor.canvas.height) == editor.canvas_size == (80, 60)
    assert editor.scale == (2.0, 2.0) and editor.css_scale == 4.0
    layout = editor.canvas.layout  # as wide as the cell allows, up to 4x, at most 48 % of the window's
    # height tall; the height keeps the aspect ratio
    assert (layout.width, layout.max_width, layout.height) == ("100%", "min(320px, calc(48vh * 1.3333))", "auto")
    assert editor.to_source(10, 20) == (20.0, 40.0) and editor.to_canvas(20, 40) == (10.0, 20.0)
    assert editor.to_source(-5, 99) == (0.0, 120.0)  # clamped to the frame
    wide = PromptEditor(sample_clip, tmp_path / "run2", max_display=100, display_width=500)
    assert wide.canvas_size == (100, 75) and wide.scale == (1.6, 1.6) and wide.canvas.layout.max_width.startswith("min(500px,")
    full = PromptEditor(sample_clip, tmp_path / "run3")
    assert full.canvas_size == (160, 120) and full.scale == (1.0, 1.0) and full.css_scale == 4.0


def test_drag_makes_a_box_in_source_pixels_saved_at_once(editor, sample_clip_info):
    editor.set_frame(7)
    prompt = drag(editor, (10, 20), (30, 40), via=(20, 25))
    assert prompt.box == (20.0, 40.0, 60.0, 80.0) and prompt.frame == 7 and prompt.pts == sample_clip_info.pts[7]
    data = on_disk(editor)
    assert data == editor.prompts.to_json()
    assert data["prompts"] == [{"frame": 7, "pts": sample_clip_info.pts[7], "obj_id": 1,
                                "box": [20.0, 40.0, 60.0, 80.0], "points": [], "point_labels": []}]
    assert data["objects"][0]["label"] == "object 1"
    assert PromptSet.load(editor.path, sample_clip_info).prompts == editor.prompts.prompts
    assert not [p.name for p in editor.path.parent.rglob("*") if ".partial-" in p.name]  # no partial files
    assert "box (20, 40)-(60, 80)" in editor.status and "saved prompts.json" in editor.status


def test_drag_up_left_and_off_the_canvas(editor):
    assert drag(editor, (30, 40), (10, 20)).box == (20.0, 40.0, 60.0, 80.0)  # corners in either order
    editor.set_frame(1)
    editor.on_mouse_down(70, 50)
    editor.on_mouse_move(79, 59)
    prompt = editor.on_mouse_out(95, 70)  # left the canvas mid-drag: the box ends at the edge
    assert prompt.box == (140.0, 100.0, 160.0, 120.0)
    assert editor.on_mouse_up(95, 70) is None  # the drag is over


def test_clicks_make_points_shift_right_button_or_mode_makes_them_negative(editor):
    assert click(editor, (15, 15)).points == ((30.0, 30.0),)
    editor.on_key("Shift")  # a Shift press alone arms nothing: the sign is the click's own
    assert click(editor, (16, 16)).point_labels == (1,)
    assert click(editor, (17, 17), shift=True).point_labels == (0,)
    editor.on_mouse_down(18, 18, button=2)  # a right-click
    assert editor.on_mouse_up(18, 18, button=2).point_labels == (0,)
    editor.on_mouse_down(10, 10, button=2)  # a right-drag is a negative point where it was pressed, not a box
    right_drag = editor.on_mouse_up(30, 30, button=2)
    assert right_drag.box is None and right_drag.points == ((20.0, 20.0),) and right_drag.point_labels == (0,)
    assert editor.mode_badge() == "box · object 1"
    editor.set_mode("negative")
    assert click(editor, (19, 19)).point_labels == (0,)
    editor.set_mode("positive")
    assert drag(editor, (20, 20), (40, 40)).points == ((40.0, 40.0),)  # point mode: a drag is a click
    assert [p["point_labels"] for p in on_disk(editor)["prompts"]] == [[1], [1], [0], [0], [0], [0], [1]]


def test_a_tiny_wobble_is_a_click_a_slip_changes_nothing(editor):
    # 1 canvas pixel is 4 screen pixels here, 2 source pixels; a click moves under 2 screen pixels
    editor.css_scale = 1.0  # as a browser event reports it: 1 canvas pixel = 1 screen pixel
    prompt = drag(editor, (10, 10), (11, 10))
    assert prompt.box is None and prompt.points == ((22.0, 20.0),)
    editor.css_scale = 4.0
    assert drag(editor, (10, 10), (12, 11)) is None  # 4x2 source px: a slip, not a box nor a point
    assert "too small for a box" in editor.status and len(editor.prompts.prompts) == 1
    assert drag(editor, (10, 10), (14, 10)) is None  # a flat drag
    prompt = drag(editor, (10, 10), (15, 14))  # 10x8 source pixels: a box
    assert prompt.box == (20.0, 20.0, 30.0, 28.0)


def test_new_box_replaces_the_objects_box_on_that_frame(editor):
    editor.add_box(10, 10, 50, 50)
    editor.add_point(20, 20)
    car = editor.new_object("car")
    editor.add_box(60, 60, 100, 100)
    editor.select_object(1)
    editor.add_box(12, 12, 52, 52)
    editor.add_box(1, 1, 5, 5, frame=9)
    boxes = sorted((p.frame, p.obj_id, p.box) for p in editor.prompts.prompts if p.box)
    assert boxes == [(0, 1, (12.0, 12.0, 52.0, 52.0)), (0, car.id, (60.0, 60.0, 100.0, 100.0)),
                     (9, 1, (1.0, 1.0, 5.0, 5.0))]
    assert "replaced its previous box" not in editor.status
    assert len(editor.prompts.prompts) == 4


def test_delete_and_undo(editor, sample_clip_info):
    editor.add_box(10, 10, 50, 50)
    editor.add_point(20, 20)
    editor.add_point(30, 30, positive=False)
    assert len(on_disk(editor)["prompts"]) == 3
    deleted = editor.delete(1)
    assert deleted.points == ((20.0, 20.0),)
    assert [p.get("point_labels") for p in on_disk(editor)["prompts"]] == [[], [0]]
    assert editor.undo()
    assert len(on_disk(editor)["prompts"]) == 3
    for _ in range(3):
        assert editor.undo()
    assert on_disk(editor)["prompts"] == [] and editor.prompts.prompts == []
    assert editor.undo() is False and editor.status == "nothing to undo"
    with pytest.raises(VidmaskError, match="no prompt selected"):
        editor.delete()
    with pytest.raises(VidmaskError, match="there is no prompt 5"):
        editor.delete(5)


def test_objects_new_pick_rename_delete(editor):
    car = editor.new_object("car")  # the untouched 'object 1' is reused, not left behind empty
    assert editor.obj_id == car.id == 1 and [o.label for o in editor.prompts.objects] == ["car"]
    assert "reused the empty placeholder" in editor.status
    dog = editor.new_object("dog")  # 'car' is not a placeholder (it has a label of its own)
    assert editor.obj_id == dog.id == 2 and dog.color != car.color
    assert editor.object_dropdown.options == (("1: car", 1), ("2: dog", 2))
    with pytest.raises(VidmaskError, match="already an object labelled 'car'"):
        editor.new_object("car")
    assert editor.new_object("").label == "object 3"
    assert editor.new_object("").id == 3 and "object 3 is still empty" in editor.status  # no pile of empties
    editor.rename_object(2, "truck")
    editor.add_box(1, 1, 9, 9, obj_id=2)
    assert [o["label"] for o in on_disk(editor)["objects"]] == ["car", "truck", "object 3"]
    editor.delete_object(2)
    data = on_disk(editor)
    assert [o["id"] for o in data["objects"]] == [1, 3] and data["prompts"] == []
    editor.undo()
    assert len(on_disk(editor)["prompts"]) == 1
    editor.select_object(3)
    editor.delete_object_button.click()  # the widget's control deletes the picked object
    assert [o["label"] for o in on_disk(editor)["objects"]] == ["car", "truck"] and editor.obj_id == 1
    with pytest.raises(VidmaskError, match="no object with id 8"):
        editor.select_object(8)


def test_keyboard_shortcuts(editor):
    editor.on_key("ArrowRight")
    editor.on_key("d")
    assert editor.frame == 2
    editor.on_key("ArrowRight", shift=True)
    assert editor.frame == 12
    editor.on_key("a")
    assert editor.frame == 11 and editor.slider.value == 11
    for key, mode in (("n", "negative"), ("p", "positive"), ("b", "box")):
        editor.on_key(key)
        assert editor.mode == mode == editor.mode_buttons.value
    editor.label_text.value = "dog"
    editor.on_key("o")
    assert editor.prompts.object(editor.obj_id).label == "dog"
    editor.on_key("1")
    assert editor.obj_id == 1
    drag(editor, (10, 10), (20, 20))
    editor.on_key("x")  # deletes the selected (just drawn) prompt
    assert editor.prompts.prompts == []
    editor.on_key("z")
    assert len(editor.prompts.prompts) == 1
    editor.on_key("ArrowLeft", shift=True)
    editor.on_key("ArrowLeft", shift=True)
    assert editor.frame == 0  # clamped at the start


def test_widget_controls_drive_the_same_operations(editor):
    editor.next_button.click()
    editor.next_button.click()
    editor.prev_button.click()
    assert editor.frame == 1
    editor.slider.value = 7
    assert editor.frame == 7 and "0.292 s" in editor.frame_label.value
    editor.label_text.value = "plate"
    editor.new_object_button.click()
    assert editor.prompts.object(editor.obj_id).label == "plate"
    editor.add_box(10, 10, 40, 40)
    editor.set_frame(0)
    editor.add_point(5, 5)
    assert [label for label, _ in editor.prompt_list.options] == [
        "#0 frame 0 · 1: plate · + point (5, 5)", "#1 frame 7 · 1: plate · box (10, 10)-(40, 40)"]
    editor.prompt_list.value = 1  # picking a prompt jumps to its frame
    assert editor.frame == 7 and editor.selected == 1
    editor.delete_button.click()
    assert len(on_disk(editor)["prompts"]) == 1
    editor.undo_button.click()
    assert len(on_disk(editor)["prompts"]) == 2
    editor.mode_buttons.value = "negative"
    assert editor.mode == "negative"
    editor.object_dropdown.value = 1
    assert editor.obj_id == 1
    editor.delete_button.click()  # nothing selected: the error shows in the status line, nothing raises
    assert "no prompt selected" in editor.status
    assert editor.preview_button.disabled  # no model given


def test_browser_events_reach_the_editor(editor):
    """ipyevents' DOM events: positions in CSS pixels of the shown canvas (here 80x60 shown 320x240)."""
    def send(widget, type_, x=0, y=0, **kw):
        widget._handle_mouse_msg(None, {"type": type_, "relativeX": x, "relativeY": y, "boundingRectWidth": 320,
                                        "boundingRectHeight": 240, "button": 0, "shiftKey": False, **kw}, [])

    send(editor.dom_events, "mousedown", 40, 80)
    send(editor.move_events, "mousemove", 80, 120)
    send(editor.dom_events, "mouseup", 120, 160)
    assert editor.prompts.prompts[0].box == (20.0, 40.0, 60.0, 80.0)
    send(editor.dom_events, "keydown", key="ArrowRight", shiftKey=True)  # Shift+->: 10 frames
    assert editor.frame == 10
    send(editor.dom_events, "mousedown", 20, 20)
    send(editor.dom_events, "mouseup", 20, 20)  # then a plain click: a + point
    assert editor.prompts.prompts[-1].point_labels == (1,) and editor.prompts.prompts[-1].frame == 10
    send(editor.dom_events, "mousedown", 20, 20, shiftKey=True)
    send(editor.dom_events, "mouseup", 20, 20, shiftKey=True)
    assert editor.prompts.prompts[-1].point_labels == (0,)
    send(editor.dom_events, "contextmenu", 24, 24, button=2)  # its menu is prevented; the press makes the point
    send(editor.dom_events, "mousedown", 24, 24, button=2)
    send(editor.dom_events, "mouseup", 24, 24, button=2)
    assert [p.point_labels for p in editor.prompts_on_frame()] == [(1,), (0,), (0,)]
    assert editor.prompts.prompts[-1].points == ((12.0, 12.0),)
    send(editor.dom_events, "keydown", key="n")
    assert editor.mode == "negative" and editor.mode_badge().startswith("− point")


def test_a_failed_save_takes_the_edit_back(editor, monkeypatch):
    editor.add_box(10, 10, 50, 50)
    before = editor.path.read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(json, "dump", disk_full)
    with pytest.raises(VidmaskError, match="disk is full"):
        editor.add_point(20, 20)
    assert len(editor.prompts.prompts) == 1 and editor.path.read_bytes() == before
    with pytest.raises(VidmaskError, match="disk is full"):
        editor.undo()
    assert len(editor.prompts.prompts) == 1
    monkeypatch.undo()
    assert editor.undo() and on_disk(editor)["prompts"] == []


def test_reopening_loads_the_saved_prompts(tmp_path, sample_clip, sample_clip_info):
    first = PromptEditor(sample_clip_info, tmp_path / "run")
    first.new_object("ball")
    first.add_box(10, 10, 40, 40, frame=20)
    again = PromptEditor(sample_clip, tmp_path / "run")
    assert again.prompts == first.prompts and again.frame == 20
    assert "1 prompt(s) loaded" in again.status


def test_prompts_of_another_video_are_refused(tmp_path, sample_clip):
    from vidmask_nb.media.sample import make_sample_clip
    from vidmask_nb.media.video import probe

    other = probe(make_sample_clip(tmp_path / "other.mp4", seconds=1.0, size=(96, 64), audio=False))
    PromptEditor(other, tmp_path / "run").add_box(1, 1, 9, 9)
    with pytest.raises(VidmaskError, match="made for another video"):
        PromptEditor(sample_clip, tmp_path / "run")


def test_bad_edits_say_what_to_do(editor):
    with pytest.raises(VidmaskError, match="outside the video"):
        editor.set_frame(48)
    with pytest.raises(VidmaskError, match="has no area inside the frame"):
        editor.add_box(170, 10, 200, 40)
    with pytest.raises(VidmaskError, match="unknown mode"):
        editor.set_mode("lasso")
    editor.add_box(1, 1, 9, 9)
    with pytest.raises(VidmaskError, match="no model given to preview"):
        editor.preview()
    with pytest.raises(VidmaskError, match="frame 3 has no prompts to preview"):
        editor.preview(frame=3)


@pytest.mark.media
def test_real_720p_clip_at_display_scale(tmp_path, shared_media):
    """01_dog (1280x720) drawn at 960x540: canvas pixels are 4/3 source pixels."""
    ed = PromptEditor(shared_media / "01_dog.mp4", tmp_path / "run")
    assert ed.canvas_size == (960, 540) and ed.scale == pytest.approx((4 / 3, 4 / 3)) and ed.css_scale == 1.0
    ed.set_frame(288)  # the last frame
    box = drag(ed, (300, 150), (600, 450)).box
    assert box == pytest.approx((400.0, 200.0, 800.0, 600.0))
    saved = PromptSet.load(ed.path, ed.info)
    assert saved.prompts[0].frame == 288 and saved.prompts[0].pts == ed.info.pts[288]
    ed.close()


# -- find: the real detectors propose boxes on a real frame with faces (no mocked detector) ------------

@pytest.fixture(scope="module")
def face_frames(face_clip):
    """Frames 0 and 10 of the bedroom cut at source size, and CenterFace's faces on them."""
    from vidmask_nb.detect.detectors import detect_frame
    from vidmask_nb.media.video import VideoReader

    with VideoReader(face_clip) as reader:
        return {i: detect_frame(reader[i], "faces") for i in (0, 10)}


@pytest.mark.media
def test_find_accept_and_reject_faces_on_a_real_frame(tmp_path, face_clip, face_frames):
    # drawn at half size: the detector still sees the source frame, boxes are source pixels
    ed = PromptEditor(face_clip, tmp_path / "run", max_display=480)
    assert ed.scale == (2.0, 2.0)
    found = ed.find("faces")
    assert len(found) >= 1 and len(found) == len(face_frames[0]) and ed.selected_proposal == 0
    best = int(np.argmax(face_frames[0].scores))
    assert found[0].kind == "face" and found[0].frame == 0
    assert found[0].box == pytest.approx(tuple(face_frames[0].boxes[best]), abs=0.01)
    assert len(ed.proposal_list.options) == len(found) and "2 faces found on frame 0: 2 new proposal(s)" in ed.status
    assert not ed.path.exists()  # proposals are not prompts: nothing saved yet

    # a click inside the proposal picks it (no point added); accept makes it an object's box prompt
    ed.select_proposal(None)
    x0, y0, x1, y1 = found[0].box
    cx, cy = ed.to_canvas((x0 + x1) / 2, (y0 + y1) / 2)
    assert click(ed, (cx, cy)) is None and ed.selected_proposal == 0 and ed.prompts.prompts == []
    prompt = ed.accept()
    data = on_disk(ed)
    face = next(o for o in data["objects"] if o["id"] == prompt.obj_id)
    assert face["label"] == "face 1" and [o["label"] for o in data["objects"]] == ["face 1"]  # no empty 'object 1'
    assert data["prompts"] == [{"frame": 0, "pts": ed.info.pts[0], "obj_id": face["id"], "box": list(found[0].box),
                                "points": [], "point_labels": []}]
    assert found[0] not in ed.proposals and "accepted: face 1" in ed.status
    assert all(p.box != found[0].box for p in ed.find("faces"))  # a face with a box prompt is not proposed again

    # undo takes the accept back and returns the proposal
    ed.reject_all()
    ed.undo()
    assert on_disk(ed)["prompts"] == [] and found[0] in ed.proposals

    # reject (from the widget's buttons): the proposal goes, prompts.json is untouched
    before = ed.path.read_bytes()
    ed.set_frame(10)
    ed.find_button.click()
    n = len(ed.proposals)
    here = [i for i, p in enumerate(ed.proposals) if p.frame == 10]
    assert len(here) == len(face_frames[10]) >= 1
    ed.proposal_list.value = here[0]
    ed.reject_button.click()
    assert len(ed.proposals) == n - 1 and ed.path.read_bytes() == before and "rejected" in ed.status
    ed.accept_button.click()  # nothing selected: the error shows in the status line, nothing raises
    assert "no proposal selected" in ed.status
    ed.close()


@pytest.mark.media
def test_find_in_whole_video_groups_proposals_and_accept_all(tmp_path, face_clip, face_frames):
    ed = PromptEditor(face_clip, tmp_path / "run")
    ed.add_box(0, 0, 20, 20, frame=29)  # a drawn prompt is kept; its frame is searched too
    proposals = ed.find_video("faces", every=0.5)  # frames 0, 15 and 29 of 30
    assert ed.find_progress.value == ed.find_progress.max == 3
    assert proposals and all(p.kind == "face" and p.group.startswith("face ") for p in proposals)
    first = [p for p in proposals if p.frame == 0]
    assert len(first) == len(face_frames[0])  # every face on frame 0 is the first sighting of an object
    ed.accept_all()
    data = on_disk(ed)
    labels = {o["id"]: o["label"] for o in data["objects"]}
    assert sorted(set(labels.values()) - {"object 1"}) == sorted({p.group for p in proposals})
    found = [p for p in data["prompts"] if labels[p["obj_id"]] != "object 1"]
    assert len(found) == len(proposals) and ed.proposals == []
    assert {(p["frame"], labels[p["obj_id"]]) for p in found} == {(p.frame, p.group) for p in proposals}
    with pytest.raises(VidmaskError, match="no proposals to accept"):
        ed.accept_all()
    ed.close()


def test_button_errors_and_loading_show_in_the_widget(tmp_path, sample_clip, capsys):
    def broken_model():
        raise RuntimeError("CUDA out of memory")

    ed = PromptEditor(sample_clip, tmp_path / "run", predictor=broken_model)
    ed.add_box(10, 10, 50, 50)
    ed.preview_button.click()  # an unexpected error: its line in the status, its traceback in the widget
    assert ed.status == "RuntimeError: CUDA out of memory (traceback below the image)"
    assert "Traceback" in capsys.readouterr().out  # outside a kernel the Output area passes prints through
    assert ed._predictor is None

    loaded = PromptEditor(sample_clip, tmp_path / "run2", predictor=lambda: "a predictor")
    assert loaded.predictor() == "a predictor"
    assert loaded.status.startswith("SAM 2 loaded in ")  # not left at "loading SAM 2 ..."
    for e in (ed, loaded):
        e.close()


@pytest.fixture
def tracked_run(tmp_path, sample_clip, sample_clip_info):
    """A run folder with the sample clip's exact masks (ball 1, block 2), the ball lost on frames 20..22."""
    from common import inject_masks
    from vidmask_nb.runfolder.folder import RunFolder
    from vidmask_nb.media.sample import SampleScene

    info = sample_clip_info
    scene = SampleScene((info.width, info.height), info.fps)
    store = inject_masks(info, {1: "ball", 2: "block"},
                         lambda i, k: None if (k == 1 and 20 <= i <= 22) else scene.object_mask(i, k))
    run = tmp_path / "tracked"
    store.save(RunFolder(run).create().masks_json)
    return run, scene, store


def test_tracked_masks_are_tinted_on_the_frame_and_can_be_hidden(tracked_run, sample_clip):
    from vidmask_nb.notebook.editor import MASK_ALPHA
    from vidmask_nb.media.video import VideoReader

    run, scene, store = tracked_run
    ed = PromptEditor(sample_clip, run, frame=10)  # full size: 1 canvas pixel = 1 source pixel
    assert ed.frame == 10 and ed.slider.value == 10 and "frame 10 ·" in ed.frame_label.value
    with VideoReader(sample_clip) as reader:
        source = reader[10]
    shown = ed.frame_image()
    color = np.array(store.objects[1]["color"], np.float32)
    block = scene.object_mask(10, 2)
    expected = np.rint((1 - MASK_ALPHA) * source[block].astype(np.float32) + MASK_ALPHA * color)
    assert np.abs(shown[block].astype(int) - expected).max() <= 1
    outside = ~(block | scene.object_mask(10, 1))
    assert np.array_equal(shown[outside], source[outside])  # nothing else is tinted
    ed.masks_toggle.value = False  # the toggle hides them
    assert not ed.show_masks and np.array_equal(ed.frame_image(), source)
    ed.on_key("m")
    assert ed.show_masks
    ed.close()
    half = PromptEditor(sample_clip, run, frame=10, max_display=80)  # downscaled masks follow the frame
    assert half.masks_on_frame()[2].shape == (120, 160) and half.frame_image().shape == (60, 80, 3)
    half.close()


def test_review_spans_and_prompts_on_the_timeline_and_jumps(tracked_run, sample_clip, sample_clip_info):
    from vidmask_nb.review import qa
    from vidmask_nb.notebook.editor import TIMELINE_SIZE

    run, _, store = tracked_run
    ed = PromptEditor(sample_clip, run)
    rows = [(r.obj_id, r.reason, r.first, r.last) for r in ed.review_rows]
    assert (1, "vanished", 20, 22) in rows and rows == [(r.obj_id, r.reason, r.first, r.last)
                                                        for r in qa.review_frames(store)]
    vanished = next(i for i, r in enumerate(ed.review_rows) if r.reason == "vanished")
    ed.review_list.value = vanished  # picking a span jumps to its first frame
    assert ed.frame == 20 and "frames 20-22 · 1: ball · vanished" in ed.status
    assert "in review span" in ed.masks_info.value and ed.masks_on_frame()[1].sum() == 0
    ed.timeline._handle_frontend_event(None, {"event": "mouse_down", "x": TIMELINE_SIZE[0] * 0.5, "y": 5}, [])
    assert ed.frame == sample_clip_info.frame_count // 2
    assert ed.timeline_frame(TIMELINE_SIZE[0] + 50) == sample_clip_info.frame_count - 1
    ed.close()


def test_without_masks_json_it_still_works_and_picks_them_up_later(tmp_path, tracked_run, sample_clip):
    import shutil

    run, _, _ = tracked_run
    fresh = tmp_path / "fresh"
    ed = PromptEditor(sample_clip, fresh, frame=20)
    assert ed.mask_store is None and "no tracked masks yet" in ed.masks_info.value and ed.masks_toggle.disabled
    assert ed.review_rows == [] and ed.masks_on_frame() == {}
    ed.add_box(10, 10, 50, 50)
    shutil.copy(run / "masks.json", fresh / "masks.json")  # 03 ran
    ed.step_frame(1)
    assert ed.mask_store is not None and 2 in ed.masks_on_frame() and ed.review_rows
    (fresh / "masks.json").write_text("{not json")
    ed.step_frame(1)
    assert ed.mask_store is None and "not shown" in ed.masks_note
    ed.close()
    with pytest.raises(VidmaskError, match="outside the video"):
        PromptEditor(sample_clip, fresh, frame=999)


def test_review_fixer_opens_the_editor_at_a_rows_frame(tracked_run, sample_clip):
    from vidmask_nb.review import qa
    from vidmask_nb.notebook.editor import ReviewFixer, review_fixer

    run, _, store = tracked_run
    table = qa.review_frames(store, hold=3)
    fixer = review_fixer(sample_clip, run, table)
    assert isinstance(fixer, ReviewFixer) and len(fixer.buttons) == len(table) and fixer.editor is None
    vanished = next(i for i, r in enumerate(fixer.rows) if r.reason == "vanished")
    fixer.buttons[vanished].click()
    ed = fixer.editor
    assert ed is not None and ed.frame == 20 and ed.obj_id in {o.id for o in ed.prompts.objects}
    assert ed.review_rows == table.rows and "covered by hold=3" in ed.status
    assert fixer.children[-1].children == (ed,)
    fixer.buttons[0].click()  # the same editor moves
    assert fixer.editor is ed and ed.frame == fixer.rows[0].at  # the frame the row names (its worst)
    fixer.close()
    empty = qa.ReviewTable([], table.settings)
    assert "nothing to fix" in review_fixer(sample_clip, run, empty).value


def test_an_audit_leak_opens_the_editor_at_its_frame(tmp_path, sample_clip, sample_clip_info):
    """Each audit leak of 04 is a row with a "fix" button, like the review's (issue 10)."""
    from vidmask_nb.review.audit import AuditReport, Finding
    from vidmask_nb.notebook.editor import ReviewFixer

    report = AuditReport(str(sample_clip), ("face",), 1, sample_clip_info.frame_count, [
        Finding(7, 0.29, "face", (10.0, 10.0, 30.0, 30.0), 0.61), Finding(8, 0.33, "face", (11.0, 10.0, 31.0, 30.0), 0.58),
        Finding(20, 0.83, "face", (40.0, 40.0, 60.0, 60.0), 0.9, kept=True)])
    table = report.review_table()
    assert [(r.first, r.last, r.reason) for r in table] == [(7, 8, "audit leak")], "kept faces are not leaks"
    fixer = ReviewFixer(sample_clip, tmp_path / "run", table)
    editor = fixer.fix(0)
    assert editor.frame == 7 and "audit leak" in editor.status
    fixer.close()


def test_a_drag_over_the_objects_box_waits_for_replace_and_the_label_box_follows_the_pick(editor):
    good = drag(editor, (10, 10), (30, 30))
    assert editor.replace_button.disabled and editor.label_text.value == "object 1"
    assert drag(editor, (40, 40), (60, 55)) is None  # over the same object's frame: kept, a dashed box waits
    assert editor.prompts.prompts == [good] and not editor.replace_button.disabled
    assert "already has a box on frame 0, kept" in editor.status
    editor.replace_button.click()
    assert [p.box for p in editor.prompts.prompts] == [(80.0, 80.0, 120.0, 110.0)]
    assert editor.replace_button.disabled and "replaced its previous box" in editor.status
    editor.on_key("z")
    assert editor.prompts.prompts == [good]
    drag(editor, (40, 40), (60, 55))
    editor.on_key("Escape")  # drops the dashed box
    with pytest.raises(VidmaskError, match="no box waiting"):
        editor.on_key("r")
    assert editor.prompts.prompts == [good]
    drag(editor, (40, 40), (60, 55))
    editor.on_key("r")
    assert editor.prompts.prompts[0].box == (80.0, 80.0, 120.0, 110.0)
    car = editor.new_object("car")
    assert editor.label_text.value == "car" and editor.accept_into_button.description == "add to car"
    editor.label_text.value = "typed"  # typing is not undone by a redraw
    editor.step_frame(1)
    assert editor.label_text.value == "typed"
    editor.select_object(1)
    assert editor.label_text.value == "object 1" and car.id != 1
    editor.preview_image.layout.display = None  # as after "preview this frame" on frame 1
    editor._preview_frame = 1
    editor.step_frame(1)
    assert editor.preview_image.layout.display == "none"  # the preview of another frame does not linger


def test_fix_opens_the_frame_its_row_names_not_the_spans_first(tmp_path, sample_clip, sample_clip_info):
    """Issue 30: a row "low score ... at frame 32" over frames 30-33 opened frame 30."""
    from common import inject_masks
    from vidmask_nb.media.sample import SampleScene
    from vidmask_nb.notebook.editor import ReviewFixer
    from vidmask_nb.review import qa
    from vidmask_nb.runfolder.folder import RunFolder

    info = sample_clip_info
    scene = SampleScene((info.width, info.height), info.fps)
    low = {30: 0.3, 31: 0.3, 32: 0.1, 33: 0.3}
    store = inject_masks(info, {1: "ball"}, lambda i, k: scene.object_mask(i, k), lambda i, k: low.get(i, 1.0))
    store.save(RunFolder(tmp_path / "run").create().masks_json)
    table = qa.review_frames(store, hold=3)
    index = next(i for i, r in enumerate(table) if r.reason == "low score")
    assert (table.rows[index].first, table.rows[index].last) == (30, 33) and "at frame 32" in table.rows[index].detail
    fixer = ReviewFixer(sample_clip, tmp_path / "run", table)
    fixer.buttons[index].click()
    assert fixer.editor.frame == 32 and "editing at frame 32" in fixer._status.value
    fixer.close()


@pytest.mark.media
def test_find_in_whole_video_leaves_out_people_already_boxed_and_says_so(tmp_path, face_clip, face_frames):
    """Issue 30: the whole-video find proposed a face inside a drawn person as a new object, without a word.
    A face inside the person's box (frame 0) or its tracked mask (frame 15) is that person's: not proposed."""
    from common import inject_masks
    from vidmask_nb.detect.detectors import detect_frame
    from vidmask_nb.media.video import VideoReader
    from vidmask_nb.runfolder.folder import RunFolder

    with VideoReader(face_clip) as reader:
        later = detect_frame(reader[15], "faces")
    first, then = (d.boxes[int(np.argmax(d.scores))] for d in (face_frames[0], later))
    ed = PromptEditor(face_clip, tmp_path / "run")
    w, h = first[2] - first[0], first[3] - first[1]
    ed.add_box(max(0, first[0] - w), max(0, first[1] - h / 2), first[2] + w, min(ed.info.height - 1, first[3] + 3 * h))
    person = ed.rename_object(ed.obj_id, "person").id
    body = np.zeros((ed.info.height, ed.info.width), bool)
    body[int(then[1]) - 10:int(then[3]) + 60, int(then[0]) - 20:int(then[2]) + 20] = True
    inject_masks(ed.info, {person: "person"}, lambda i, k: body if i == 15 else None).save(RunFolder(tmp_path / "run").masks_json)
    proposals = ed.find_video("faces", every=0.5)  # frames 0, 15 and 29
    from vidmask_nb.detect.detectors import iou_matrix

    iou = lambda a, b: float(iou_matrix(np.array(a), np.array(b))[0, 0])  # noqa: E731
    assert not any(p.frame == 0 and iou(p.box, first) > 0.5 or p.frame == 15 and iou(p.box, then) > 0.5
                   for p in proposals), [p.describe() for p in proposals]
    assert len([p for p in proposals if p.frame == 0]) == len(face_frames[0]) - 1
    assert "2 detection(s) already boxed (person), not proposed" in ed.status
    assert {(m.frame, m.boxed_by) for m in ed.state.matched} == {(0, person), (15, person)}
    ed.close()


def test_overlay_labels_never_stack_and_outlines_have_a_contrasting_halo(editor):
    """Issue 30: at 1280x800 overlay labels stacked on each other, and a green box vanished in its green tint."""
    from vidmask_nb.notebook.editor import halo_color
    from vidmask_nb.prompts.records import color_for

    for label in ("alpha", "beta", "gamma"):  # three objects boxed at nearly the same place
        editor.new_object(label)
        editor.add_box(20, 20, 60, 60)
    plates = editor.plates
    assert len(plates) == 4  # the corner badge and one label per box
    for i, (x, y, w, h) in enumerate(plates):
        for (x2, y2, w2, h2) in plates[i + 1:]:
            assert not (x < x2 + w2 and x2 < x + w and y < y2 + h2 and y2 < y + h), plates

    def luma(rgb):
        return 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]

    for obj_id in range(1, 11):
        color = color_for(obj_id)
        halo = [int(v) for v in halo_color(color)[4:-1].split(",")]
        assert abs(luma(halo) - luma(color)) > 90, (color, halo)


def test_a_widget_that_cannot_be_drawn_says_to_run_its_cell_again(tmp_path, sample_clip, capsys):
    """Issue 30: reopened, the editor's output read only "Error displaying widget: model not found"."""
    import vidmask_nb as vm
    from clip_helpers import start_run

    run = vm.Run.open(start_run(tmp_path / "run", sample_clip, no_track=True))
    capsys.readouterr()
    ed = vm.editor(run, preview=False)
    shown = capsys.readouterr().out  # outside a kernel, display() prints the line's plain text
    assert "reads 'Error displaying widget'" in shown and "run this cell again" in shown and "prompts.json" in shown
    assert ed._repr_mimebundle_()["text/plain"] == "[the prompt editor: it lives in the kernel; run this cell to show it]"
    ed.close()
