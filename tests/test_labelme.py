"""LabelMe in and out: flat folders, the published workflow's chunk folders, the kit's extraction."""
from __future__ import annotations

import json
import shutil
from fractions import Fraction
from pathlib import Path

import pytest

from common import published_folders, rect, write_labelme
from vidmask_nb.errors import VidmaskError
from vidmask_nb.prompts.labelme import LABELME_VERSION, export_labelme, import_labelme
from vidmask_nb.prompts.records import FramePrompt, PromptSet
from vidmask_nb.media.video import probe

FPS = Fraction(24000, 1001)


@pytest.fixture(scope="module")
def clip3s(tmp_path_factory):
    """3 s at 23.976 fps (72 frames), 64x48, no audio: long enough for several published-layout folders."""
    from vidmask_nb.media.sample import make_sample_clip

    path = make_sample_clip(tmp_path_factory.mktemp("lm") / "clip3s.mp4", seconds=3.0, fps=FPS, size=(64, 48),
                            audio=False)
    return probe(path)


def make_published_layout(root: Path, info, **kwargs) -> dict[str, list[int]]:
    folders = published_folders(info.frame_count, float(info.fps), **kwargs)
    for name, frames in folders.items():
        (root / name).mkdir(parents=True)
        for k in range(len(frames)):
            (root / name / f"{k:05d}.jpg").write_bytes(b"")  # stand-ins: only their count is read
    return folders


def point(label, x, y, flags=None, group_id=None):
    return {"label": label, "points": [[x, y]], "group_id": group_id, "shape_type": "point", "flags": flags or {}}


def as_set(prompts: PromptSet) -> set:
    return {(p.frame, prompts.object(p.obj_id).label, p.box, p.points, p.point_labels, p.pts)
            for p in prompts.prompts}


@pytest.fixture
def prompts(clip3s) -> PromptSet:
    info = clip3s
    ps = PromptSet.for_video(info)
    dog, person2 = ps.add_object("dog"), ps.add_object("person#2")
    ps.prompts += [
        FramePrompt(3, dog.id, box=(4.5, 6.25, 30.0, 40.0), pts=info.pts[3]),
        FramePrompt(3, dog.id, points=((10.0, 12.0),), point_labels=(1,), pts=info.pts[3]),
        FramePrompt(3, dog.id, points=((2.0, 44.0),), point_labels=(0,), pts=info.pts[3]),
        FramePrompt(25, person2.id, box=(40.0, 8.0, 60.0, 30.0), pts=info.pts[25]),
        FramePrompt(71, dog.id, box=(0.0, 0.0, 64.0, 48.0), pts=info.pts[71]),
    ]
    return ps.validate(info)


# -- flat folder ------------------------------------------------------------------------------------

def test_flat_folder_round_trip(tmp_path, clip3s, prompts):
    files = export_labelme(prompts, tmp_path / "lm")
    assert [f.name for f in files] == ["00003.json", "00025.json", "00071.json"]
    data = json.loads(files[0].read_text())
    assert set(data) == {"version", "flags", "shapes", "imagePath", "imageData", "imageHeight", "imageWidth"}
    assert (data["version"], data["imagePath"], data["imageData"]) == (LABELME_VERSION, "00003.jpg", None)
    assert (data["imageWidth"], data["imageHeight"]) == (64, 48)
    for shape in data["shapes"]:
        assert {"label", "points", "shape_type", "group_id", "flags"} <= set(shape)
    negative = [s for s in data["shapes"] if s["flags"].get("negative")]
    assert [(s["label"], s["shape_type"]) for s in negative] == [("dog_neg", "point")]
    person = json.loads(files[1].read_text())["shapes"][0]
    assert (person["label"], person["group_id"]) == ("person", 2)  # 'person#2' splits back

    imported, report = import_labelme(tmp_path / "lm", clip3s)
    assert as_set(imported) == as_set(prompts)
    assert report.complete and (report.files, report.boxes, report.points) == (3, 3, 2)


def test_export_to_smaller_images_and_back(tmp_path, clip3s, prompts):
    export_labelme(prompts, tmp_path / "half", image_size=(32, 24))
    data = json.loads((tmp_path / "half" / "00025.json").read_text())
    assert (data["imageWidth"], data["imageHeight"]) == (32, 24)
    assert data["shapes"][0]["points"] == [[20.0, 4.0], [30.0, 15.0]]
    imported, report = import_labelme(tmp_path / "half", clip3s)
    assert any("scaled to the 64x48 video" in n for n in report.notes)
    box = next(p.box for p in imported.prompts if p.frame == 25)
    assert box == pytest.approx((40.0, 8.0, 60.0, 30.0), abs=0.05)


def test_export_keeps_shapes_prompts_cannot_hold(tmp_path, prompts):
    polygon = {"label": "tree", "points": [[1, 1], [5, 1], [5, 5]], "group_id": None, "shape_type": "polygon",
               "flags": {}}
    write_labelme(tmp_path / "lm" / "00003.json", [polygon, rect("old", 1, 1, 2, 2)])
    export_labelme(prompts, tmp_path / "lm")
    shapes = json.loads((tmp_path / "lm" / "00003.json").read_text())["shapes"]
    assert shapes[0] == polygon and "old" not in [s["label"] for s in shapes]


# -- shapes -----------------------------------------------------------------------------------------

def test_unusable_shapes_are_reported_by_file_and_label(tmp_path, clip3s):
    lm = tmp_path / "lm"
    write_labelme(lm / "00004.json", [{"label": "car", "points": [[1, 1], [9, 1], [9, 9]], "shape_type": "polygon"}])
    write_labelme(lm / "00010.json", [
        rect("car", 10, 10, 20, 20),
        {"label": "road", "points": [[0, 0], [9, 9]], "shape_type": "line"},
        {"label": "wheel", "points": [[5, 5], [8, 8]], "shape_type": "circle"},
        {"label": "", "points": [[1, 1], [5, 5]], "shape_type": "rectangle"},
    ])
    imported, report = import_labelme(lm, clip3s)  # a polygon-only file does not crash the import
    assert [(p.frame, p.box) for p in imported.prompts] == [(10, (10.0, 10.0, 20.0, 20.0))]
    skipped = {(s.file, s.label, s.shape_type) for s in report.skipped_shapes}
    assert skipped == {("00004.json", "car", "polygon"), ("00010.json", "road", "line"),
                       ("00010.json", "wheel", "circle"), ("00010.json", "", "rectangle")}
    text = str(report)
    assert "4 shape(s) NOT used" in text and "00004.json: polygon 'car'" in text
    assert not report.complete


def test_negative_point_conventions(tmp_path, clip3s):
    write_labelme(tmp_path / "lm" / "00002.json", [
        point("dog", 1, 1), point("dog_neg", 2, 2), point("dog-", 3, 3), point("dog", 4, 4, flags={"negative": True}),
        point("person", 5, 5, group_id=1), point("person_neg", 6, 6, group_id=1),
    ])
    imported, _ = import_labelme(tmp_path / "lm", clip3s)
    got = sorted((imported.object(p.obj_id).label, p.points[0][0], p.point_labels[0]) for p in imported.prompts)
    assert got == [("dog", 1.0, 1), ("dog", 2.0, 0), ("dog", 3.0, 0), ("dog", 4.0, 0),
                   ("person#1", 5.0, 1), ("person#1", 6.0, 0)]
    assert [o.label for o in imported.objects] == ["dog", "person#1"]


def test_rectangles_normalised_and_clipped(tmp_path, clip3s):
    write_labelme(tmp_path / "lm" / "00001.json", [rect("a", 30, 40, 10, 5), rect("b", -3, 10, 20, 60),
                                                   rect("c", 70, 10, 90, 20)])
    imported, report = import_labelme(tmp_path / "lm", clip3s)
    boxes = {imported.object(p.obj_id).label: p.box for p in imported.prompts}
    assert boxes == {"a": (10.0, 5.0, 30.0, 40.0), "b": (0.0, 10.0, 20.0, 48.0)}
    assert any("'b' reached outside the frame; clipped" in n for n in report.notes)
    assert [(s.label, s.reason) for s in report.skipped_shapes] == [("c", "has zero area inside the frame")]


def test_files_that_cannot_be_placed_are_reported(tmp_path, clip3s):
    lm = tmp_path / "lm"
    write_labelme(lm / "00005.json", [rect("a", 1, 1, 5, 5)])
    write_labelme(lm / "00072.json", [rect("a", 1, 1, 5, 5)])  # one past the last frame
    (lm / "00006.json").write_text("{broken")
    (lm / "notes.json").write_text(json.dumps({"hello": 1}))
    imported, report = import_labelme(lm, clip3s)
    assert [p.frame for p in imported.prompts] == [5]
    reasons = dict(report.skipped_files)
    assert "past the end of the video" in reasons["00072.json"]
    assert "not valid JSON" in reasons["00006.json"]
    assert "not a LabelMe file" in reasons["notes.json"]


def test_import_into_existing_prompts_is_idempotent(tmp_path, clip3s, prompts):
    export_labelme(prompts, tmp_path / "lm")
    existing = PromptSet.for_video(clip3s)
    existing.add_object("person#2")
    once, _ = import_labelme(tmp_path / "lm", clip3s, into=existing)
    twice, _ = import_labelme(tmp_path / "lm", clip3s, into=once)
    assert once.object_by_label("person#2").id == 1  # matched by label, not duplicated
    assert len(twice.prompts) == len(prompts.prompts) and as_set(twice) == as_set(prompts)


def test_bad_folders(tmp_path, clip3s):
    with pytest.raises(VidmaskError, match="LabelMe folder not found"):
        import_labelme(tmp_path / "nope", clip3s)
    (tmp_path / "empty").mkdir()
    with pytest.raises(VidmaskError, match=r"no LabelMe files \(\*.json\) found"):
        import_labelme(tmp_path / "empty", clip3s)
    write_labelme(tmp_path / "late" / "00099.json", [rect("a", 1, 1, 5, 5)])
    with pytest.raises(VidmaskError, match="none of the LabelMe files .* could be used:\n(.|\n)*00099.json"):
        import_labelme(tmp_path / "late", clip3s)
    write_labelme(tmp_path / "odd" / "00001.json", [rect("a", 1, 1, 5, 5)], size=(64, 64))
    with pytest.raises(VidmaskError, match="does not have the shape of the 64x48 video"):
        import_labelme(tmp_path / "odd", clip3s)


# -- the kit's extraction layout ----------------------------------------------------------------------

def test_kit_layout_with_manifest_round_trip(tmp_path, clip3s, prompts):
    from vidmask_nb.media.chunks import plan_chunks
    from vidmask_nb.media.extract import extract_jpegs

    plan = plan_chunks(clip3s.frame_count, clip3s.fps, frames=20, overlap=2)
    frames = extract_jpegs(clip3s.path, tmp_path / "frames", plan, info=clip3s)
    files = export_labelme(prompts, frames, manifest=frames / "manifest.json")
    # frame 25 is owned by chunk 1, whose files start at frame 18 (2 frames of overlap)
    assert frames / "chunk_0001_f000020-000039" / "00007.json" in files
    assert (frames / "chunk_0001_f000020-000039" / "00007.jpg").is_file()
    imported, report = import_labelme(frames, clip3s)  # manifest.json found by itself
    assert as_set(imported) == as_set(prompts) and report.complete

    # The same frame saved in two overlapping folders is one prompt, not two.
    shutil.copy(frames / "chunk_0001_f000020-000039" / "00007.json", frames / "chunk_0000_f000000-000019" / "00025.json")
    again, _ = import_labelme(frames, clip3s)
    assert len(again.prompts) == len(prompts.prompts)

    # One chunk folder given alone: the manifest beside it still places it.
    one, _ = import_labelme(frames / "chunk_0001_f000020-000039", clip3s)
    assert {p.frame for p in one.prompts} == {25}


def test_kit_layout_without_manifest(tmp_path, clip3s, prompts):
    from vidmask_nb.media.chunks import plan_chunks
    from vidmask_nb.media.extract import extract_jpegs

    frames = extract_jpegs(clip3s.path, tmp_path / "frames", plan_chunks(72, clip3s.fps, frames=30), info=clip3s)
    export_labelme(prompts, frames, manifest=frames / "manifest.json")
    (frames / "manifest.json").unlink()
    imported, report = import_labelme(frames, clip3s)  # folder names carry the first frame
    assert as_set(imported) == as_set(prompts) and report.complete


def test_manifest_for_another_video(tmp_path, clip3s):
    write_labelme(tmp_path / "frames" / "chunk_0000_f000000-000071" / "00001.json", [rect("a", 1, 1, 5, 5)])
    (tmp_path / "frames" / "manifest.json").write_text(json.dumps(
        {"version": 1, "source": "other.mp4", "fingerprint": "sha256:feed", "pts": [0, 1],
         "chunks": [{"name": "chunk_0000_f000000-000071", "start": 0, "stop": 72, "first_file_frame": 0}]}))
    with pytest.raises(VidmaskError, match="made for another video"):
        import_labelme(tmp_path / "frames", clip3s)


# -- the published workflow's layout ----------------------------------------------------------------

def test_published_layout_first_frames_corrected(tmp_path, clip3s):
    """1.1 s folders at 23.976 fps: the extractor names folders 26 and 53 that start at 27 and 54."""
    folders = make_published_layout(tmp_path / "clip3s_frames_23fps", clip3s, folder_duration=1.1)
    assert list(folders) == ["1_frame0-25", "2_frame26-52", "3_frame53-71"]
    assert [v[0] for v in folders.values()] == [0, 27, 54]  # the names are one low
    root = tmp_path / "clip3s_frames_23fps"
    write_labelme(root / "2_frame26-52" / "00000.json", [rect("dog", 1, 1, 9, 9)])
    write_labelme(root / "3_frame53-71" / "00005.json", [rect("dog", 2, 2, 9, 9)])
    write_labelme(root / "1_frame0-25" / "00026.json", [rect("dog", 3, 3, 9, 9)])
    imported, report = import_labelme(root, clip3s)
    got = sorted((p.frame, p.box[0]) for p in imported.prompts)
    assert got == [(folders["1_frame0-25"][26], 3.0), (folders["2_frame26-52"][0], 1.0),
                   (folders["3_frame53-71"][5], 2.0)] == [(26, 3.0), (27, 1.0), (59, 2.0)]
    assert report.complete and not report.notes


def test_published_layout_sorted_by_number_and_stray_folder_reported(tmp_path, clip3s):
    root = tmp_path / "frames"
    folders = make_published_layout(root, clip3s, folder_duration=0.2)
    assert len(folders) == 15  # 10_ sorts before 2_ as text; we sort by number
    expected = {}
    for name in ("2_frame5-8", "10_frame45-48", "15_frame70-71"):
        k = len(folders[name]) - 1
        write_labelme(root / name / f"{k:05d}.json", [rect("ball", 1, 1, 8, 8)])
        expected[folders[name][k]] = name
    write_labelme(root / "backup" / "00001.json", [rect("ball", 1, 1, 8, 8)])
    imported, report = import_labelme(root, clip3s)
    assert sorted(p.frame for p in imported.prompts) == sorted(expected) == [9, 49, 71]
    assert [name for name, _ in report.skipped_files] == ["backup"]
    assert "cannot tell which frames this folder holds" in str(report)


def test_published_single_folder_with_start_seconds(tmp_path, clip3s):
    """--start 2 at 23.976 fps: the folder is named from frame 47 but its first image is frame 48."""
    root = tmp_path / "frames"
    folders = make_published_layout(root, clip3s, start=2)
    (name, saved), = folders.items()
    assert name == "1_frame47-71" and saved[0] == 48
    write_labelme(root / name / "00000.json", [rect("ball", 1, 1, 8, 8)])
    imported, _ = import_labelme(root, clip3s)
    assert [p.frame for p in imported.prompts] == [48]
    one, _ = import_labelme(root / name, clip3s)  # the chunk folder given by itself
    assert [p.frame for p in one.prompts] == [48]


def test_published_layout_replay_matches_the_extractor_widely():
    """The name replay recovers every folder's true first frame across frame rates and arguments."""
    import random

    from vidmask_nb.prompts.labelme import SEED_CHUNK_RE, _replay_seed_names

    rng = random.Random(3)
    for fps in (Fraction(30000, 1001), Fraction(24000, 1001), Fraction(24), Fraction(30), Fraction(2997, 50),
                Fraction(25), Fraction(60000, 1001)):
        for _ in range(25):
            n = rng.randint(50, 3000)
            duration = rng.choice([None, 1, 2, 4, 10, 20, 0.5, 0.2, 3.3])
            start = rng.choice([0, 0, 1, 2])
            folders = published_folders(n, float(fps), start=start, folder_duration=duration)
            names = [(int(m.group(2)), int(m.group(3))) for m in map(SEED_CHUNK_RE.match, folders)]
            layout = _replay_seed_names(names, n, fps)
            assert layout is not None, (fps, n, duration, start)
            assert [layout[k][0] for k in names] == [v[0] for v in folders.values()], (fps, n, duration, start)
