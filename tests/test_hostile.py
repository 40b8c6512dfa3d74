"""A careless or hostile user (issue 21): each test first shows the harm in its own words, then that it
cannot happen. Drawn boxes in a run that does not track, render --out onto inputs or strangers' files,
malformed prompt files and videos, options that fail late, a killed detector pass, MKV frame rates,
and the audit judging what the run covered."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from conftest import SHARED_MEDIA
from vidmask_nb.cli import main
from vidmask_nb.errors import VidmaskError
from vidmask_nb.media.sample import SampleScene, make_sample_clip
from vidmask_nb.media.video import VideoReader, probe
from vidmask_nb.prompts.records import FramePrompt, PromptSet
from common import inject_masks
from vidmask_nb.redact.render import RenderOptions, render
from vidmask_nb.runfolder.folder import RunFolder

ROOT = Path(__file__).resolve().parents[1]


def _cli(capsys, *argv) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err.strip()


def _one_line(err: str) -> None:
    assert err.startswith("vidmask-nb: error:") and len(err.splitlines()) == 1 and "Traceback" not in err, err


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A 12-frame 160x120 sample clip (no faces: the floor finds nothing), and its info."""
    clip = make_sample_clip(tmp_path_factory.mktemp("tiny") / "tiny.mp4", seconds=0.5, size=(160, 120), audio=False)
    return clip, probe(clip)


def _face_clip(path: Path, frames: int, size: tuple[int, int]) -> Path:
    """``frames`` frames of ``bedroom.mp4`` (two children's faces) scaled to ``size``, H.264."""
    if not (SHARED_MEDIA / "bedroom.mp4").is_file():
        pytest.skip(f"real clips not found at {SHARED_MEDIA} (a detector must fire)")
    with av.open(str(SHARED_MEDIA / "bedroom.mp4")) as inp, av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=30)
        vs.width, vs.height, vs.pix_fmt = size[0], size[1], "yuv420p"
        vs.options = {"crf": "18", "preset": "ultrafast"}
        for i, frame in zip(range(frames), inp.decode(video=0)):
            f = frame.reformat(width=size[0], height=size[1], format="yuv420p")
            f.pts, f.time_base = i, Fraction(1, 30)
            for p in vs.encode(f):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)
    return path


def _box_prompts(info, frame: int, box, label="ball") -> PromptSet:
    prompts = PromptSet.for_video(info)
    obj = prompts.add_object(label)
    prompts.prompts.append(FramePrompt(frame, obj.id, box=tuple(float(v) for v in box), pts=info.pts[frame]))
    return prompts.validate(info)


# -- 1. every object a person named is covered, or the run stops --------------------------------

def test_no_track_covers_every_drawn_box_or_refuses(tiny, tmp_path, capsys):
    from vidmask_nb.detect.floor import compute_floor
    from vidmask_nb.detect.untracked import write_untracked_masks

    clip, info = tiny
    scene = SampleScene((info.width, info.height), info.fps)
    frame = 6
    x0, y0, x1, y1 = scene.object_box(frame, 1)
    prompts = _box_prompts(info, frame, (x0, y0, x1, y1))
    run = RunFolder(tmp_path / "run").create()
    prompts.save(run.prompts_json)
    floor = compute_floor(clip, run.root, "faces", info=info)  # a real floor: nothing found on this clip
    region = (slice(int(y0), int(np.ceil(y1))), slice(int(x0), int(np.ceil(x1))))

    def boxed_difference(out) -> float:
        with VideoReader(clip) as a, VideoReader(out) as b:
            return float(np.abs(a[frame][region].astype(float) - b[frame][region]).mean())

    # The harm: --no-track wrote a masks.json with no objects, so the drawn box rendered as the source.
    inject_masks(info, {}, lambda i, k: None).save(run.masks_json)
    before = render(clip, run.root, floor=floor, output=tmp_path / "before.mp4", preset="ultrafast", progress=False)
    assert boxed_difference(before) < 3, "the harm: the drawn box shows the source"

    # Now the drawn box is a cover: on its frame and up to the hold around it, grown by the floor's margin.
    hold = 3
    write_untracked_masks(clip, run.root, info, hold=hold)
    from vidmask_nb.track.masks import MaskStore

    store = MaskStore.load(run.masks_json)
    assert [o.id for o in store.object_infos] == [1]  # listed because it is covered
    present = [i for i, fm in enumerate(store) if fm.masks()[1].any()]
    assert present == list(range(frame - hold, frame + hold + 1))
    cover = store[frame].masks()[1]
    assert cover[region].all() and cover.sum() > (x1 - x0) * (y1 - y0)  # grown beyond the drawn box
    after = render(clip, run.root, floor=floor, output=tmp_path / "after.mp4", preset="ultrafast", progress=False)
    with VideoReader(after) as b:
        assert b[frame][region].max() < 40, "the drawn box is filled (black)"

    # An object that only points were put on cannot be covered without tracking: one line, exit 2,
    # before any notebook (nothing is written into --out).
    pointed = PromptSet.for_video(info)
    obj = pointed.add_object("dog")
    pointed.prompts.append(FramePrompt(frame, obj.id, points=((50.0, 50.0),), point_labels=(1,), pts=info.pts[frame]))
    pointed.save(tmp_path / "points.json")
    code, err = _cli(capsys, "run", clip, "--prompts", tmp_path / "points.json", "--find", "faces", "--no-track",
                     "--out", tmp_path / "points_run", "--weights", "random")
    assert code == 2 and "'dog' (only points, frame 6)" in err, err
    _one_line(err)
    assert not (tmp_path / "points_run").exists()


def test_a_drawn_box_moves_with_the_floor_box_of_the_same_object(tiny, tmp_path):
    """Where the floor finds the drawn object, the cover is carried with it (a floor box moving 4 px a
    frame), held where the floor loses it, and ends at the hold."""
    from vidmask_nb.detect.floorfile import FloorHeader
    from vidmask_nb.detect.untracked import untracked_covers

    _, info = tiny
    header = FloorHeader(("face",), 1, 0.2, info.frame_count, info.fingerprint, {"face": 0.25})
    lines = [json.dumps(header.to_json())]
    for i in range(info.frame_count):
        dets = [] if i >= 7 else [{"kind": "face", "box": [20 + 4 * i, 20, 40 + 4 * i, 44], "score": 0.9}]
        lines.append(json.dumps({"frame": i, "detections": dets}))
    floor = tmp_path / "floor.json"
    floor.write_text("\n".join(lines) + "\n")
    drawn = (14.0, 14.0, 46.0, 60.0)  # a head-and-shoulders box around the floor's face on frame 2 (x 28..48)
    prompts = _box_prompts(info, 2, (drawn[0] + 8, drawn[1], drawn[2] + 8, drawn[3]))
    covers = untracked_covers(prompts, info, floor, hold=6)
    assert sorted(covers) == list(range(0, 9))
    at = {i: covers[i][1][0] for i in covers}
    assert np.allclose(at[5], (22 + 12, 14, 54 + 12, 60))  # carried: moved 12 px with the face
    assert np.allclose(at[8], at[6])  # frame 7 on: the floor lost it, the cover stays where it was
    assert np.allclose(at[0], (22 - 8, 14, 54 - 8, 60))  # backwards too


# -- 4. outputs never overwrite inputs or strangers' files --------------------------------------

def test_render_out_never_overwrites_an_input_or_a_strangers_file(tiny, tmp_path, capsys):
    clip, info = tiny
    masks = tmp_path / "masks.json"
    inject_masks(info, {1: "ball"}, lambda i, k: None).save(masks)
    masks_bytes = masks.read_bytes()
    stranger = tmp_path / "holiday.mp4"
    make_sample_clip(stranger, seconds=0.25, size=(64, 48), audio=False)
    stranger_bytes = stranger.read_bytes()
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    # The harm: `render --out` onto its own --masks turned the tracking result into an MP4, exit 0.
    for out, said in ((masks, "would overwrite --masks"), (Path(str(masks) + ".idx"), "masks' index"),
                      (clip, "overwrite the source"), (stranger, "not a video this kit rendered"),
                      (notes, "not a video this kit rendered")):
        code, err = _cli(capsys, "render", clip, "--masks", masks, "--out", out, "--preset", "ultrafast")
        assert code == 2 and said in err, err
        _one_line(err)
    assert masks.read_bytes() == masks_bytes and stranger.read_bytes() == stranger_bytes
    assert notes.read_text() == "my notes"
    floor = tmp_path / "floor.json"
    floor.write_text("{}\n")
    with pytest.raises(VidmaskError, match="would overwrite the floor"):
        render(clip, masks=masks, output=floor, floor=floor, progress=False)
    # A floor.json beside the masks is rendered with them (issue 30, harm 9): one that is not a floor is refused.
    code, err = _cli(capsys, "render", clip, "--masks", masks, "--out", tmp_path / "x.mp4", "--preset", "ultrafast")
    assert code == 2 and "floor version" in err and not (tmp_path / "x.mp4").exists(), err
    floor.unlink()
    # Its own earlier output (tagged when written) may be rendered again.
    own = tmp_path / "redacted.mp4"
    for _ in range(2):
        code, err = _cli(capsys, "render", clip, "--masks", masks, "--out", own, "--preset", "ultrafast")
        assert code == 0, err


# -- 6. every malformed input is one line, exit 2, before any notebook ---------------------------

_VIDEO = {"name": "tiny.mp4", "width": 160, "height": 120, "frame_count": 12}
_OBJ = [{"id": 1, "label": "ball"}]
_PROMPTS_CASES = {
    "a 3-number box": ({"version": 1, "video": _VIDEO, "objects": _OBJ,
                        "prompts": [{"frame": 1, "obj_id": 1, "box": [1, 2, 3]}]}, "a box of 3 number"),
    "top level []": ([], "not a prompt file"),
    "top level null": (None, "not a prompt file"),
    '"video": {}': ({"version": 1, "video": {}, "objects": _OBJ, "prompts": []}, "must give width"),
    '"prompts": "x"': ({"version": 1, "video": _VIDEO, "objects": _OBJ, "prompts": "x"}, '"prompts" must be a list'),
    "deep nesting": ('{"version": 1, "video": %s, "prompts": %s}' % (json.dumps(_VIDEO), "[" * 100000 + "]" * 100000),
                     "nests too deep"),
    "a NaN box": ('{"version": 1, "video": %s, "objects": %s, "prompts": [{"frame": 1, "obj_id": 1, '
                  '"box": [NaN, 2, 30, 40]}]}' % (json.dumps(_VIDEO), json.dumps(_OBJ)), "not finite"),
    "an infinite box": ('{"version": 1, "video": %s, "objects": %s, "prompts": [{"frame": 1, "obj_id": 1, '
                        '"box": [1, 2, Infinity, 40]}]}' % (json.dumps(_VIDEO), json.dumps(_OBJ)), "not finite"),
}
_SHAPE = {"label": "ball", "points": [[10, 10], [40, 40]], "shape_type": "rectangle"}
_LABELME_CASES = {
    "deep nesting": ('{"shapes": [%s]}' % ("[" * 100000 + "]" * 100000), "nests too deep"),
    "a shape that is a string": ({"shapes": ["rectangle"]}, "is not a LabelMe shape"),
    'imageWidth "abc"': ({"shapes": [_SHAPE], "imageWidth": "abc", "imageHeight": 120}, "imageWidth/imageHeight"),
    "imageWidth 1e-300": ({"shapes": [_SHAPE], "imageWidth": 1e-300, "imageHeight": 120}, "imageWidth/imageHeight"),
}


def _write(path: Path, doc) -> Path:
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
    return path


@pytest.mark.parametrize("case", sorted(_PROMPTS_CASES))
def test_malformed_prompts_json_is_one_plain_error(case, tiny, tmp_path):
    from vidmask_nb.prompts.sources import load_prompt_source

    doc, said = _PROMPTS_CASES[case]
    path = _write(tmp_path / "prompts.json", doc)
    # The harm: each of these ended in a Python traceback (exit 1), or later in 02 ("cannot convert
    # float NaN to integer"). Now it is a VidmaskError saying what is wrong, before any work.
    with pytest.raises(VidmaskError, match=said.replace("(", r"\(")) as err:
        load_prompt_source(path, tiny[1])
    assert "Traceback" not in str(err.value)


@pytest.mark.parametrize("case", sorted(_LABELME_CASES))
def test_malformed_labelme_files_are_listed_not_a_traceback(case, tiny, tmp_path):
    from vidmask_nb.prompts.sources import load_prompt_source

    doc, said = _LABELME_CASES[case]
    folder = tmp_path / "labelme"
    folder.mkdir()
    _write(folder / "00003.json", doc)
    with pytest.raises(VidmaskError, match=said) as err:
        load_prompt_source(folder, tiny[1])
    assert "Traceback" not in str(err.value)


@pytest.mark.slow
def test_the_real_cli_refuses_malformed_inputs_before_any_notebook(tiny, tmp_path):
    """Through the installed entry point in a fresh process: exit 2, the error, no traceback, no run folder."""
    clip, _ = tiny
    loop = tmp_path / "loop.mp4"
    os.symlink(tmp_path / "loop.mp4", loop)  # a link to itself
    labelme = tmp_path / "lm"
    labelme.mkdir()
    _write(labelme / "00003.json", _LABELME_CASES["a shape that is a string"][0])
    cases = [([loop, "--prompts", _write(tmp_path / "ok.json", _PROMPTS_CASES['"video": {}'][0])], "loop of symbolic links"),
             ([clip, "--prompts", _write(tmp_path / "deep.json", _PROMPTS_CASES["deep nesting"][0])], "nests too deep"),
             ([clip, "--prompts", _write(tmp_path / "nan.json", _PROMPTS_CASES["a NaN box"][0])], "not finite"),
             ([clip, "--prompts", labelme], "is not a LabelMe shape")]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for n, (argv, said) in enumerate(cases):
        out = tmp_path / f"run{n}"
        r = subprocess.run([sys.executable, "-m", "vidmask_nb.cli", "run", *map(str, argv), "--out", str(out),
                            "--weights", "random"], capture_output=True, text=True, env=env, timeout=120)
        assert r.returncode == 2 and said in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert r.stderr.startswith("vidmask-nb: error:") and not out.exists(), r.stderr


# -- 7. checks up front -------------------------------------------------------------------------

def test_long_names_and_non_finite_options_fail_before_any_work(tiny, tmp_path, capsys):
    clip, info = tiny
    prompts = _box_prompts(info, 3, (10, 10, 40, 40)).save(tmp_path / "p.json")
    # The harm: a 240-byte name failed in 04 after all the work ("File name too long"), --hold-seconds
    # inf in 04 after tracking, --chunk-seconds inf in 01 with an OverflowError.
    long_clip = tmp_path / ("a" * 236 + ".mp4")
    os.link(clip, long_clip)
    code, err = _cli(capsys, "run", long_clip, "--prompts", prompts, "--out", tmp_path / "long", "--weights", "random")
    assert code == 2 and "rename (or link) the video" in err and "bytes long" in err, err
    _one_line(err)
    assert not (tmp_path / "long").exists()
    for flag in ("--hold-seconds", "--chunk-seconds", "--find-every"):
        for value in ("inf", "nan"):
            code, err = _cli(capsys, "run", clip, "--prompts", prompts, "--out", tmp_path / "x", "--weights", "random",
                             "--find", "faces", flag, value)
            assert code == 2 and f"{flag} must be a finite number, not {value}" in err, err
            _one_line(err)
    code, err = _cli(capsys, "render", clip, "--masks", tmp_path / "m.json", "--out", tmp_path / "o.mp4",
                     "--hold-seconds", "inf")
    assert code == 2 and "--hold-seconds must be a finite number" in err, err
    code, err = _cli(capsys, "render", clip, "--masks", tmp_path / "m.json", "--out", tmp_path / ("b" * 250 + ".mp4"))
    assert code == 2 and "bytes long" in err, err
    assert not (tmp_path / "x").exists()


# -- 8. a killed detector pass resumes where it stopped -----------------------------------------

@pytest.mark.slow
def test_a_killed_floor_resumes_where_it_stopped_to_the_same_bytes(tmp_path):
    from vidmask_nb.detect.floor import compute_floor
    from vidmask_nb.detect.floorfile import floor_progress_paths

    # Long enough that the pass is still running after its first checkpoint (1 s) on a fast machine:
    # the fast pass reads a faceless clip at about 55 frames/s, so 24 frames ended before any mark.
    clip = _face_clip(tmp_path / "faces.mp4", 90, (320, 180)) if (SHARED_MEDIA / "bedroom.mp4").is_file() else \
        make_sample_clip(tmp_path / "faces.mp4", seconds=8.0, size=(320, 180), audio=False)
    total = probe(clip).frame_count
    reference = compute_floor(clip, tmp_path / "whole", "faces").read_bytes()
    code = "import sys; from vidmask_nb.detect.floor import compute_floor; compute_floor(sys.argv[1], sys.argv[2], 'faces')"
    env = dict(os.environ, PYTHONPATH=str(ROOT), TQDM_DISABLE="1")
    work = tmp_path / "killed"
    lines, mark = floor_progress_paths(work)
    # The harm: a killed --find run started detection again from frame 0.
    proc = subprocess.Popen([sys.executable, "-c", code, str(clip), str(work)], env=env)
    deadline = time.monotonic() + 120
    while not mark.is_file() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (work / "floor.json").exists(), "the detector pass ended before it was killed: no test"
    done = json.loads(mark.read_text())["frames"]
    assert 0 < done < total
    r = subprocess.run([sys.executable, "-c", code, str(clip), str(work)], env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"floor: resuming after {done} of {total} frames (frame {done} next" in r.stdout, r.stdout
    assert (work / "floor.json").read_bytes() == reference  # byte for byte an uninterrupted run's
    assert not lines.exists() and not mark.exists()


# -- 9. containers keep their frame-rate fraction; the audit judges against the covers -----------

def test_an_mkv_at_30000_1001_comes_out_at_30000_1001(tmp_path):
    mp4 = make_sample_clip(tmp_path / "src.mp4", seconds=1.0, fps=Fraction(30000, 1001), size=(64, 48))
    mkv = tmp_path / "src.mkv"
    with av.open(str(mp4)) as inp, av.open(str(mkv), "w") as out:
        streams = {s.index: out.add_stream_from_template(s) for s in inp.streams}
        for packet in inp.demux():
            if packet.dts is not None:
                packet.stream = streams[packet.stream.index]
                out.mux(packet)
    src = probe(mkv)
    assert src.fps == Fraction(30000, 1001) and src.time_base == Fraction(1, 1000)
    inject_masks(src, {1: "ball"}, lambda i, k: None).save(tmp_path / "masks.json")
    out = probe(render(mkv, masks=tmp_path / "masks.json", output=tmp_path / "out.mp4", preset="ultrafast",
                       progress=False))
    # The harm: 30000/1001 came out as 1192000/40307 (frames over the MP4's rounded milliseconds).
    assert out.fps == Fraction(30000, 1001)
    assert [p * out.time_base for p in out.pts] == [p * src.time_base for p in src.pts]  # timestamps identical


def test_the_audit_judges_a_finding_against_the_runs_covers(tmp_path):
    from vidmask_nb.detect.floor import compute_floor, detect_video
    from vidmask_nb.review.audit import audit_run, audit_video

    clip = _face_clip(tmp_path / "two_faces.mp4", 4, (480, 270))
    info = probe(clip)
    faces = {i: d.boxes[np.argsort(-d.boxes[:, 1])] for i, d in detect_video(clip, ["face"], info=info)}
    assert all(len(b) == 2 for b in faces.values()), "bedroom's two faces on each frame"

    def mask_of(i, k):  # a cover over the lower face only (the other is left outside every cover)
        m = np.zeros((info.height, info.width), bool)
        x0, y0, x1, y1 = faces[i][0]
        m[int(y0):int(y1) + 1, int(x0):int(x1) + 1] = True
        return m

    run = RunFolder(tmp_path / "run").create()
    inject_masks(info, {1: "child"}, mask_of).save(run.masks_json)
    # The harm, in its own words: judged alone, a detection inside a cover is a leak (on MKV sources the
    # audit listed hands and shirts below a covered face). Here the source itself stands for an output
    # whose detections lie inside and outside the covers.
    alone = audit_video(clip, "faces")
    assert len(alone.leaks) == 8
    report = audit_run(clip, run.root, clip, "faces", options=RenderOptions(style="fill"), floor=False)
    assert len(report.leaks) == 4 and sum(f.covered for f in report.findings) == 4
    assert all(f.box[1] < faces[f.frame][0][1] for f in report.leaks)  # the face outside the covers leaks
    # Under a blur the source's pixels are still there: a face found inside it is a leak.
    assert len(audit_run(clip, run.root, clip, "faces", options=RenderOptions(style="blur"), floor=False).leaks) == 8
    # The floor is a cover too: with it, both faces are covered.
    compute_floor(clip, run.root, "faces", info=info)
    report = audit_run(clip, run.root, clip, "faces", options=RenderOptions(style="fill"))
    assert report.clean
    # ...and the floor's looks at the source count as the audit's: both faces on every frame, covered
    assert report.face_pass == "fast+floor"
    by_floor = [f for f in report.findings if f.by == "floor"]
    assert len(by_floor) == 8 and all(f.covered for f in by_floor)
