"""Find, floor, keep and audit with the real detectors (no mocked detector in any coverage claim)."""
from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from clip_helpers import write_clip
from vidmask_nb.runfolder.folder import RunFolder
from vidmask_nb.detect import find, floor, floorfile, hold, untracked
from vidmask_nb.review.audit import audit_video
from vidmask_nb.detect.detectors import Detections
from vidmask_nb.detect.options import FindOptions
from vidmask_nb.errors import VidmaskError
from vidmask_nb.prompts.records import FramePrompt, PromptSet
from vidmask_nb.media.video import probe


def cut_clip(src: Path, dst: Path, n: int) -> Path:
    """The first ``n`` frames of ``src``, re-encoded (no audio)."""
    with av.open(str(src)) as inp:
        vs = inp.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for _, f in zip(range(n), inp.decode(vs))]
        rate = vs.average_rate
    return write_clip(dst, frames, Fraction(rate))


@pytest.fixture(scope="module")
def text_clip(tmp_path_factory) -> Path:
    """30 frames at 10 fps: a sign with text on frames 0-9 and 20-29, gone on 10-19."""
    import cv2

    frames = []
    for i in range(30):
        img = np.full((240, 320, 3), 200, np.uint8)
        if not 10 <= i < 20:
            cv2.putText(img, "SECRET 42", (40 + i, 130), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (10, 10, 10), 3)
        frames.append(img)
    return write_clip(tmp_path_factory.mktemp("find") / "sign.mp4", frames)


def test_find_text_objects_and_floor_cover(text_clip, tmp_path):
    from vidmask_nb.redact import render

    info = probe(text_clip)
    prompts, log = find.find_and_floor(text_clip, tmp_path, FindOptions(find="text", find_every=0.5), info=info)
    # one object; its first detection is its prompt, and it is prompted again where it comes back
    assert [o.label for o in prompts.objects] == ["text 1"]
    assert [(e["frame"], e["why"]) for e in log] == [(0, "first seen"), (20, "found again")]
    assert json.loads((tmp_path / "prompts.json").read_text())["objects"][0]["label"] == "text 1"
    lines = (tmp_path / "floor.json").read_text().splitlines()
    assert len(lines) == 1 + info.frame_count  # header + one line per frame
    summary = floorfile.floor_summary(floorfile.floor_path(tmp_path))
    assert summary["frames_with_boxes"] == 20
    # --no-track: the floor alone hides the text on every frame where the source shows it
    untracked.write_untracked_masks(text_clip, tmp_path, info)
    out = render.render(text_clip, tmp_path, floor=floorfile.floor_path(tmp_path), progress=False)
    before, after = audit_video(text_clip, "text"), audit_video(out, "text")
    assert before.leak_frames == list(range(10)) + list(range(20, 30))
    assert after.clean, after.rows()


def test_find_groups_detections_with_user_prompts():
    """Grouping alone, on given detections: IoU with the last box, a user's box wins, labels continue."""
    info = type("Info", (), {"fps": Fraction(2), "frame_count": 8, "pts": list(range(8))})()
    from vidmask_nb.prompts.records import VideoRef

    ps = PromptSet(VideoRef("v.mp4", 100, 100, 8, "2", ""))
    me = ps.add_object("face 1")
    ps.prompts.append(FramePrompt(2, me.id, box=(60, 60, 80, 80)))
    a = Detections([[10, 10, 30, 30]], [0.9], ["face"])
    mine = Detections([[61, 61, 80, 80]], [0.8], ["face"])
    by_frame = {0: a, 1: a, 2: Detections.merge([a, mine]), 3: Detections.empty(), 4: a, 5: a,
                6: Detections([[10, 10, 30, 30], [40, 0, 60, 20]], [0.9, 0.5], ["face", "text"]), 7: a}
    out, log = find.find_objects(ps, info, lambda f: by_frame[f], find_every=0.5)
    assert [o.label for o in out.objects] == ["face 1", "face 2", "text 1"]
    assert [(e["frame"], e["object"], e["why"]) for e in log] == [
        (0, "face 2", "first seen"), (4, "face 2", "found again"), (6, "text 1", "first seen")]
    assert len(out.prompts) == 4 and len(ps.prompts) == 1  # the input set is left alone
    with pytest.raises(VidmaskError):
        find.find_objects(ps, info, lambda f: by_frame[f], find_every=0)


def test_hold_boxes_holds_each_lost_box_before_and_after():
    """The floor's hold, box by box: a face lost beside one still found is held; so is a face found late."""
    a, b = Detections([[10, 10, 30, 30]], [0.9], ["face"]), Detections([[50, 50, 70, 70]], [0.8], ["face"])
    moved = Detections([[12, 11, 32, 31]], [0.9], ["face"])  # a found again one frame on: not held as well
    empty = Detections.empty()
    seq = [empty, empty, empty, a, Detections.merge([a, b]), moved, a, empty, empty, empty, empty, a]
    held = {i: sorted(map(tuple, d.boxes.tolist())) for i, d in hold.hold_boxes(enumerate(seq), 2)}
    A, B, M = (10, 10, 30, 30), (50, 50, 70, 70), (12, 11, 32, 31)
    assert held == {0: [], 1: [A], 2: [A, B], 3: [A, B], 4: [A, B], 5: [M, B], 6: [A, B],
                    7: [A], 8: [A], 9: [A], 10: [A], 11: [A]}
    assert list(hold.hold_boxes(enumerate(seq), 0)) == list(enumerate(seq))


def test_an_unconfirmed_box_is_held_a_frame_and_a_confirmed_one_the_whole_hold():
    """A low-score box seen on one frame only (a background detection) is held one frame either side;
    the same box seen 3 frames in a row, or once above the find threshold, is held the whole hold."""
    low, high = Detections([[10, 10, 30, 30]], [0.3], ["face"]), Detections([[10, 10, 30, 30]], [0.9], ["face"])
    empty = Detections.empty()

    def covered(seq):
        return [i for i, d in hold.hold_boxes(enumerate(seq), 4) if len(d)]

    assert covered([empty] * 6 + [low] + [empty] * 6) == [5, 6, 7]
    assert covered([empty] * 6 + [high] + [empty] * 6) == list(range(2, 11))
    assert covered([empty] * 6 + [low] * 3 + [empty] * 6) == list(range(2, 13))  # confirmed: held both ways
    assert hold.unconfirmed_hold(30) == 1 and hold.unconfirmed_hold(0) == 0


def test_a_box_that_shrinks_all_at_once_is_covered_where_it_was_for_that_frame():
    """The fast pass at times boxes half a face: the frame keeps the box of the frame before too."""
    whole, half = Detections([[10, 10, 50, 60]], [0.8], ["face"]), Detections([[30, 20, 50, 45]], [0.8], ["face"])
    held = dict(hold.hold_boxes(enumerate([whole, whole, half, whole]), 4))
    assert sorted(map(tuple, held[2].boxes.tolist())) == [(10, 10, 50, 60), (30, 20, 50, 45)]
    assert len(held[1]) == 1 and len(held[3]) == 1


def test_hold_boxes_holds_a_late_box_back_along_its_motion():
    """A small face walking 6 px a frame, found only from frame 5: the frames before are covered
    where it was, not where it was found (a box left at frame 5's place misses it by frame 2)."""
    def at(i):  # the face's true box on frame i: 16 px, moving right
        return [100 + 6 * i, 50, 116 + 6 * i, 66]

    seq = [Detections.empty()] * 5 + [Detections([at(i)], [0.9], ["face"]) for i in range(5, 12)]
    held = dict(hold.hold_boxes(enumerate(seq), 24))
    for i in range(5):
        truth = np.array(at(i), np.float32)
        boxes = held[i].boxes
        assert len(boxes), f"frame {i} has no held box"
        inside = (boxes[:, :2] <= truth[:2] + 0.5).all(axis=1) & (boxes[:, 2:] >= truth[2:] - 0.5).all(axis=1)
        assert inside.any(), f"frame {i}: held {boxes.tolist()} do not cover {truth.tolist()}"
    assert [len(held[i].boxes) for i in range(5, 12)] == [1] * 7  # found frames gain nothing


def test_a_held_box_moves_with_its_centre_and_keeps_its_size():
    """bedroom's frame 27: a low-score box on a leg found at 97x57 and then at 117x131 px, then lost;
    its edges' change was taken for motion and held on, 14 % of the frame. Held now where it was, at
    its size. And a box found late is held back along its motion the whole hold when it kept its size,
    only as far as that motion was measured when it changed shape."""
    a, b = Detections([[154, 328, 251, 386]], [0.32], ["face"]), Detections([[151, 304, 268, 436]], [0.32], ["face"])
    held = dict(hold.hold_boxes(enumerate([Detections.empty(), a, b, Detections.empty()]), 30))
    assert held[3].boxes.tolist() == [[151, 304, 268, 436]]

    def at(i, grow=0):  # found from frame 40, moving 4 px a frame (and growing ``grow`` px a frame)
        return [300 + 4 * i, 100, 340 + 4 * i + grow * (i - 40), 150 + grow * (i - 40)]

    steady = [Detections.empty()] * 40 + [Detections([at(i)], [0.9], ["face"]) for i in range(40, 50)]
    held = dict(hold.hold_boxes(enumerate(steady), 30))
    box = held[10].boxes[0]
    assert box[0] <= at(10)[0] and box[2] >= at(10)[2]  # a steady box: back along its motion all the way
    changing = [Detections.empty()] * 40 + [Detections([at(i, 4)], [0.9], ["face"]) for i in range(40, 50)]
    held = dict(hold.hold_boxes(enumerate(changing), 30))
    far = hold.BACK_REACH_FRAMES
    assert held[40 - far].boxes.tolist() == held[10].boxes.tolist()  # stays where the reach ends
    assert (held[10].boxes[0, 2] - held[10].boxes[0, 0]) < 60  # not grown over the whole hold


@pytest.mark.parametrize("missed", [(6,), (6, 7)])
def test_hold_boxes_stops_holding_a_fast_face_found_again_on_its_way(missed):
    """A 20 px face moving 30 px a frame (motion blur), missed on one or two frames: it is covered
    there along its motion, and the held boxes stop where the face is found again, forward and back
    (before, a grown place never overlapped the small face enough to count as found, and grew on
    over the whole hold: boxes of 400 px on a 40 px face)."""
    def at(i):
        return [100 + 30 * i, 300, 120 + 30 * i, 320]

    seq = [Detections.empty() if i in missed else Detections([at(i)], [0.9], ["face"]) for i in range(24)]
    held = dict(hold.hold_boxes(enumerate(seq), 24))
    for i in missed:
        truth, boxes = np.array(at(i), np.float32), held[i].boxes
        assert ((boxes[:, :2] <= truth[:2]).all(axis=1) & (boxes[:, 2:] >= truth[2:]).all(axis=1)).any()
    others = [i for i in range(24) if abs(i - missed[0]) > 2 and abs(i - missed[-1]) > 2]
    assert [len(held[i].boxes) for i in others] == [1] * len(others)  # nothing held where it is found


@pytest.mark.media
def test_floor_holds_a_face_lost_beside_another(shared_media, tmp_path):
    """bedroom.mp4 frames 8-10: the floor (640 px) loses the girl's face while it finds the boy's; the
    independent judge (960 px, threshold 0.3) sees it on frames 8 and 10 unless the floor holds it."""
    from vidmask_nb.redact import render
    from vidmask_nb.detect.detectors import get_detector, iou_matrix
    from vidmask_nb.media.video import VideoReader

    clip = cut_clip(shared_media / "bedroom.mp4", tmp_path / "bed13.mp4", 13)
    info = probe(clip)
    floor.compute_floor(clip, tmp_path, "faces", info=info, exact=True)  # the 640 px pass, which loses her
    untracked.write_untracked_masks(clip, tmp_path, info)
    judge = get_detector("face", scale=0.75, threshold=0.3)
    with VideoReader(clip, info=info) as reader:
        source = {i: judge.detect(rgb) for i, rgb in zip((8, 10), reader.frames_at([8, 10]))}
    assert all(len(d) for d in source.values())

    def still_showing(hold):
        out = render.render(clip, tmp_path, render.RenderOptions(hold=hold), floor=floorfile.floor_path(tmp_path),
                            progress=False, output=tmp_path / f"hold{hold}.mp4")
        with VideoReader(out) as reader:
            return [i for i, rgb in zip((8, 10), reader.frames_at([8, 10]))
                    if len(d := judge.detect(rgb)) and (iou_matrix(source[i].boxes, d.boxes) >= 0.3).any()]

    assert still_showing(0)  # the floor's own boxes alone leave her visible
    assert still_showing(30) == []  # held 1 s (30 fps), box by box


def test_keep_style_leaves_an_object_and_audit_calls_it_kept(text_clip, tmp_path):
    from vidmask_nb.review.audit import kept_masks
    from vidmask_nb.redact.effects import parse_style
    from vidmask_nb.track.masks import MaskStore
    from common import inject_masks
    from vidmask_nb.redact.render import RenderOptions, render

    assert parse_style("keep").name == "keep"
    info = probe(text_clip)
    floor.compute_floor(text_clip, tmp_path, "text", info=info)
    whole = np.ones((info.height, info.width), bool)
    store = inject_masks(info, {1: "sign"}, lambda i, k: whole)
    store.save(tmp_path / "masks.json")
    out = render(text_clip, tmp_path, RenderOptions(style="keep"), floor=floorfile.floor_path(tmp_path),
                 progress=False, output=tmp_path / "kept.mp4")
    report = audit_video(out, "text", keep_masks=kept_masks(MaskStore.load(tmp_path / "masks.json"), [1]))
    assert report.clean and len(report.kept_frames) == 20


@pytest.mark.slow
@pytest.mark.media
def test_no_track_run_on_a_real_cut(shared_media, tmp_path):
    """`run --find faces --no-track` on 30 frames of a real clip: audit of the source exits 1, of the output 0."""
    from vidmask_nb.cli import main

    clip = cut_clip(shared_media / "bedroom.mp4", tmp_path / "bed30.mp4", 30)
    assert main(["audit", str(clip), "--every", "3"]) == 1
    assert main(["run", str(clip), "--find", "faces", "--no-track", "--out", str(tmp_path / "run")]) == 0
    out = tmp_path / "run" / "bed30_redacted.mp4"
    assert main(["audit", str(out), "--json"]) == 0
    mark = json.loads((tmp_path / "run" / "run.json").read_text())
    assert mark["audit"]["clean"] and mark["audit"]["frames_checked"] == 30
    run = RunFolder(tmp_path / "run")
    assert json.loads((run.qa_dir / "bed30_audit.json").read_text())["face_pass"] == "fast+floor"  # the floor's looks count
    assert not (run.qa_dir / "bed30_overlay.mp4").exists()  # nothing tracked: no copy of the source under no tint
    assert (tmp_path / "run" / "floor.json").is_file() and not (tmp_path / "run" / "masks").exists()
    # a redaction, not a blackout
    with av.open(str(clip)) as a, av.open(str(out)) as b:
        fa = next(a.decode(video=0)).to_ndarray(format="rgb24").astype(int)
        fb = next(b.decode(video=0)).to_ndarray(format="rgb24").astype(int)
    assert (np.abs(fa - fb).max(axis=2) > 40).mean() < 0.1


@pytest.mark.media
def test_audit_looks_with_the_fast_pass_and_sees_what_the_exact_one_sees(shared_media, tmp_path):
    """The audit's default face pass (the fast pass, scanning every frame) flags every unredacted frame of a
    real cut with faces that the exact pass flags, and says which pass it was."""
    clip = cut_clip(shared_media / "bedroom.mp4", tmp_path / "bed12.mp4", 12)
    fast, exact = audit_video(clip, "faces"), audit_video(clip, "faces", exact=True)
    assert (fast.face_pass, exact.face_pass) == ("fast", "exact")
    assert exact.leak_frames and set(exact.leak_frames) <= set(fast.leak_frames)
    assert audit_video(clip, "faces", every=3).face_pass == "exact"  # the fast pass follows faces frame by frame


def test_cli_errors(tmp_path, sample_clip):
    from vidmask_nb.cli import main

    assert main(["run", str(sample_clip), "--out", str(tmp_path / "r")]) == 2  # neither prompts nor find
    assert main(["run", str(sample_clip), "--no-track", "--out", str(tmp_path / "r")]) == 2
    assert main(["run", str(sample_clip), "--find", "cars", "--out", str(tmp_path / "r")]) == 2
    assert main(["audit", str(tmp_path / "missing.mp4")]) == 2
    assert main(["audit", str(sample_clip)]) == 0  # the generated clip has no faces
