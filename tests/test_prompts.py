"""prompts.json: round trips, merging, and every validation error (each names the bad prompt)."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest

from vidmask_nb.errors import VidmaskError
from vidmask_nb.prompts.records import PROMPTS_VERSION, FramePrompt, PromptSet, VideoRef, color_for


@pytest.fixture
def info(sample_clip_info):
    return sample_clip_info


@pytest.fixture
def prompts(info) -> PromptSet:
    ps = PromptSet.for_video(info)
    dog = ps.add_object("dog")
    cat = ps.add_object("cat", color=(1, 2, 3))
    ps.prompts += [
        FramePrompt(3, dog.id, box=(10.5, 20.25, 60.0, 70.0), pts=info.pts[3]),
        FramePrompt(3, dog.id, points=((30.0, 40.0), (12.0, 90.0)), point_labels=(1, 0), pts=info.pts[3]),
        FramePrompt(20, cat.id, points=((100.0, 50.0),), point_labels=(1,), pts=info.pts[20]),
    ]
    return ps.validate(info)


def test_json_round_trip(tmp_path, info, prompts):
    path = prompts.save(tmp_path / "prompts.json")
    data = json.loads(path.read_text())
    assert data["version"] == PROMPTS_VERSION
    assert data["video"]["fingerprint"] == info.fingerprint and data["video"]["fps"] == "24000/1001"
    assert data["prompts"][0]["pts"] == info.pts[3]
    loaded = PromptSet.load(path, info)
    assert loaded == prompts
    assert loaded.object(2).color == (1, 2, 3) and loaded.object(1).color == color_for(1)
    assert [p.frame for p in loaded.prompts] == [3, 3, 20]


def test_save_is_atomic(tmp_path, prompts, monkeypatch):
    path = prompts.save(tmp_path / "prompts.json")
    before = path.read_bytes()

    def broken_dump(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(json, "dump", broken_dump)
    with pytest.raises(VidmaskError, match="disk is full"):
        prompts.save(path)
    assert path.read_bytes() == before  # the previous complete file survives
    assert [p.name for p in tmp_path.iterdir()] == ["prompts.json"]  # no partial file left


def test_merged_gives_one_call_per_frame_and_object(prompts):
    merged = prompts.merged()
    assert list(merged) == [(3, 1), (20, 2)]
    p = merged[(3, 1)]
    assert p.box == (10.5, 20.25, 60.0, 70.0)
    assert p.points == ((30.0, 40.0), (12.0, 90.0)) and p.point_labels == (1, 0)
    assert prompts.prompt_frames == [3, 20]


def test_object_lookup(prompts):
    assert prompts.object_by_label("cat").id == 2
    assert prompts.object_by_label("bird", create=True).id == 3
    with pytest.raises(VidmaskError, match="unknown label 'fish'"):
        prompts.object_by_label("fish")
    with pytest.raises(VidmaskError, match="no object with id 9"):
        prompts.object(9)


def _bad(prompts, **changes) -> PromptSet:
    prompts.prompts[0] = replace(prompts.prompts[0], **changes)
    return prompts


@pytest.mark.parametrize("changes, message", [
    (dict(box=(10.0, 20.0, 10.0, 70.0)), r"zero-area box \[10.0, 20.0, 10.0, 70.0\]"),
    (dict(box=(60.0, 20.0, 10.0, 70.0)), "zero-area box"),
    (dict(box=(-5.0, 20.0, 60.0, 70.0)), "lies outside the 160x120 frame"),
    (dict(box=(10.0, 20.0, 161.0, 70.0)), "lies outside the 160x120 frame"),
    (dict(frame=48), r"past the end of the video \(frames 0..47\)"),
    (dict(frame=-1), "past the end of the video"),
    (dict(obj_id=7), "unknown object id 7"),
    (dict(box=None), "has neither a box nor points"),
    (dict(points=((1.0, 2.0),), point_labels=()), "1 points but 0 point labels"),
    (dict(points=((170.0, 2.0),), point_labels=(1,)), r"point \(170.0, 2.0\) lies outside"),
    (dict(points=((1.0, 2.0),), point_labels=(2,)), "point label 2 must be 1"),
])
def test_each_validation_error_names_the_prompt(tmp_path, info, prompts, changes, message):
    bad = _bad(prompts, **changes)
    with pytest.raises(VidmaskError, match=message) as err:
        bad.validate(info)
    p = bad.prompts[0]
    assert f"object {p.obj_id} on frame {p.frame}" in str(err.value)  # names the prompt
    path = bad.save(tmp_path / "bad.json")  # and loading the file says the same
    with pytest.raises(VidmaskError, match=message):
        PromptSet.load(path, info)


def test_repeated_object_ids(info, prompts):
    prompts.objects.append(replace(prompts.objects[0], label="dog again"))
    with pytest.raises(VidmaskError, match=r"object ids repeat in the prompt file: \[1, 2, 1\]"):
        prompts.validate(info)


def test_file_for_another_video(tmp_path, info, prompts):
    other = replace(prompts, video=replace(prompts.video, name="other.mp4", fingerprint="sha256:0123"))
    path = other.save(tmp_path / "prompts.json")
    with pytest.raises(VidmaskError, match="made for another video .*other.mp4"):
        PromptSet.load(path, info)
    PromptSet.load(path)  # without the video it is a valid file


def test_file_for_another_size_without_fingerprint(info, prompts):
    moved = replace(prompts, video=replace(prompts.video, fingerprint="", width=320, height=240, frame_count=100))
    with pytest.raises(VidmaskError, match="320x240 video of 100 frames .* is 160x120 with 48 frames"):
        moved.validate(info)


def test_unreadable_files(tmp_path, info, prompts):
    with pytest.raises(VidmaskError, match="prompts file not found"):
        PromptSet.load(tmp_path / "missing.json")
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(VidmaskError, match="not valid JSON"):
        PromptSet.load(tmp_path / "broken.json")
    data = prompts.to_json()
    (tmp_path / "v9.json").write_text(json.dumps({**data, "version": 9}))
    with pytest.raises(VidmaskError, match="version 9; this kit reads version 1"):
        PromptSet.load(tmp_path / "v9.json")
    del data["prompts"][0]["frame"]
    (tmp_path / "nokey.json").write_text(json.dumps(data))
    with pytest.raises(VidmaskError, match="not a valid prompt file"):
        PromptSet.load(tmp_path / "nokey.json")


def test_require_prompts(info):
    empty = PromptSet.for_video(info)
    assert empty.validate(info) is empty
    with pytest.raises(VidmaskError, match="holds no prompts: draw at least one box"):
        empty.require_prompts()


def test_video_ref_of(info):
    ref = VideoRef.of(info)
    assert (ref.width, ref.height, ref.frame_count, ref.fps) == (160, 120, 48, "24000/1001")
    assert ref.name == "sample.mp4" and ref.fingerprint.startswith("sha256:")


def test_one_video_check_for_every_file(info):
    from vidmask_nb.prompts.records import VideoRef

    VideoRef.of(info).check(info)
    VideoRef(frame_count=info.frame_count).check(info)  # unknown fields are not compared
    with pytest.raises(VidmaskError, match=r"^masks.json was made for a video of 7 frames .* Run 03 again$"):
        VideoRef(frame_count=7).check(info, "masks.json was", "run 03 again")
    manifest = {"source": "/x/other.mp4", "fingerprint": "sha256:feed", "pts": [0, 1]}
    assert VideoRef.from_json(manifest) == VideoRef("other.mp4", frame_count=2, fingerprint="sha256:feed")
    with pytest.raises(VidmaskError, match="made for another video \\(other.mp4, 2 frames"):
        VideoRef.from_json(manifest).check(info)
