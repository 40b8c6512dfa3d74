"""Personal text and codes, end to end on generated material that knows the truth (``pii_material``):
an e-mail, a phone number and a listed name, plain words, a moving QR code and a moving EAN-13 on
12 frames at 640x360. The real readers judge: PP-OCRv4 reading the output, OpenCV decoding it."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

from pii_material import EAN_DIGITS, EMAIL, NAME, PHONE, QR_TEXT, make_clip
from vidmask_nb.detect import find, floor, floorfile, options, untracked
from vidmask_nb.detect.detectors import Detections, get_detector, parse_kinds
from vidmask_nb.detect.options import FindOptions
from vidmask_nb.detect.pii import fold
from vidmask_nb.errors import VidmaskError

SECRETS = [EMAIL, PHONE, "alice", "example.com", "7946", NAME.split()[1], QR_TEXT, EAN_DIGITS]


def _compact(text: str) -> str:
    return re.sub(r"[\W_]+", "", fold(text))


@pytest.fixture(scope="module")
def material(tmp_path_factory):
    root = tmp_path_factory.mktemp("pii")
    words = root / "names.txt"
    words.write_text(f"# people in the footage\n{NAME}\n", encoding="utf-8")
    return make_clip(root / "source.mp4"), words, root


@pytest.fixture(scope="module")
def floor_run(material):
    """The ``--no-track`` run's floor for pii and codes (as notebook 02 makes it), once."""
    clip, words, root = material
    work = root / "run"
    find.find_and_floor(clip.path, work, FindOptions(find="pii,codes", no_track=True, pii_words=str(words)))
    untracked.write_untracked_masks(clip.path, work)
    return work


def _render(clip, work, style):
    from vidmask_nb.redact.render import RenderOptions, render

    return render(clip.path, work, RenderOptions(style=style), floor=floorfile.floor_path(work), progress=False,
                  output=work / f"out_{style.replace(':', '_')}.mp4")


def test_kinds_and_options(tmp_path):
    assert parse_kinds("faces,pii,codes") == ("face", "pii", "code")
    assert parse_kinds("qr,barcode") == ("code",)
    with pytest.raises(VidmaskError, match="--pii-words .* add pii to --find"):
        options.FindOptions(find="faces", pii_words=str(tmp_path / "x.txt")).checked()
    words = tmp_path / "w.txt"
    words.write_text("Dana\n")
    with pytest.raises(VidmaskError, match="no such file"):
        options.FindOptions(find="faces,pii", pii_words=str(tmp_path / "missing.txt")).checked()
    checked = options.FindOptions(find="faces,pii", pii_words=str(words)).checked()
    assert checked.words == ("dana",) and checked.pii_words == str(words.resolve())
    from vidmask_nb.run.options import RunOptions

    assert RunOptions(find="pii", pii_words=str(words), no_track=True).checked().pii_words == str(words.resolve())


def test_what_matched_travels_with_detections():
    dets = Detections(np.array([[0, 0, 10, 10], [5, 5, 20, 20]]), np.array([0.9, 1.0]),
                      np.array(["pii", "code"], dtype=object), np.array(["email+word", "qr"], dtype=object))
    back = Detections.from_json(dets.to_json())
    assert list(back.what) == ["email+word", "qr"] and list(back[1:].what) == ["qr"]
    assert list(Detections.merge([dets, Detections(np.zeros((1, 4)), [0.5], ["face"])]).what) == ["email+word", "qr", ""]
    assert "what" not in Detections(np.zeros((1, 4)), [0.5], ["face"]).to_json()[0]
    # a line misread on the next frame stays personal where it overlaps a personal line
    lines = Detections(np.array([[1, 1, 11, 11], [50, 50, 60, 60]]), [0.8, 0.8], ["pii", "pii"], ["", ""])
    held = floor.sticky_pii(lines, dets[:1])
    assert len(held) == 1 and list(held.what) == ["email+word"]
    # a pattern located with a code's geometry (0.5) is covered; one with none (0.2: a stripe pattern?)
    # only at the place and about the size of a code that decoded (this frame or shortly before)
    located = Detections(np.array([[6, 6, 19, 19], [70, 70, 90, 80], [100, 0, 120, 20], [0, 0, 200, 60]]),
                         [0.2, 0.2, 0.5, 0.2], ["code"] * 4, ["qr", "barcode", "barcode", "qr"])
    assert [list(b) for b in floor.sticky_codes(located, dets).boxes] == [[6, 6, 19, 19], [100, 0, 120, 20]]
    assert [list(b) for b in floor.sticky_codes(located, Detections.empty()).boxes] == [[100, 0, 120, 20]]


def test_codes_are_filled_whatever_the_style():
    from vidmask_nb.prompts.records import TrackedObject
    from vidmask_nb.redact.effects import FillEffect, KeepEffect
    from vidmask_nb.redact.render import is_code_label, object_effects

    objects = [TrackedObject(1, "face 1", (255, 0, 0)), TrackedObject(2, "code 1", (0, 255, 0)),
               TrackedObject(3, "QR code on door", (0, 0, 255))]
    effects = object_effects(objects, "blur")
    assert effects[1].name.startswith("blur") and effects[2] == FillEffect() and effects[3] == FillEffect()
    effects = object_effects(objects, "pixelate", {"code 1": "pixelate:4", 3: "keep"})
    assert effects[2] == FillEffect() and effects[3] == KeepEffect()  # keep only when asked for by name
    assert object_effects(objects, "fill:#ff0000")[2] == FillEffect((255, 0, 0))
    assert not is_code_label("encoder") and is_code_label("barcode_2")


def test_text_and_code_proposals_are_accepted_like_faces(material, tmp_path):
    from vidmask_nb.media.video import probe
    from vidmask_nb.notebook.editor import FIND_KINDS
    from vidmask_nb.notebook.editstate import EditState

    assert {"pii", "code"} <= {k for _, v in FIND_KINDS for k in parse_kinds(v)}
    clip, _, _ = material
    state = EditState(probe(clip.path), tmp_path / "prompts.json")
    dets = Detections(np.array([clip.boxes[3]["email"], clip.boxes[3]["qr"]], np.float32), [0.9, 1.0],
                      ["pii", "code"], ["email", "qr"])
    found = state.propose_on_frame(3, ("pii", "code"), dets)
    assert [p.kind for p in found] == ["code", "pii"]  # best first
    state.accept_all()
    assert sorted(o.label for o in state.prompts.objects) == ["code 1", "pii 1"]


@pytest.mark.slow
def test_personal_text_and_codes_are_gone_from_the_output(material, floor_run):
    clip, words, _ = material
    summary = floorfile.floor_summary(floorfile.floor_path(floor_run))
    assert {"email", "phone", "word", "qr", "ean13"} <= set(summary["matched"]), summary
    floor_text = floorfile.floor_path(floor_run).read_text()
    assert not [s for s in SECRETS if s.lower() in floor_text.lower()]  # what matched, never the text

    out = _render(clip, floor_run, "fill")
    reader, codes = get_detector("pii", words=(fold(NAME),)), get_detector("code")
    from vidmask_nb.media.video import VideoReader

    plain = {"GARDENCENTRE": 0, "OPENDAILY": 0}
    with VideoReader(out) as frames:
        for frame in frames:
            lines, texts = reader.read(frame.rgb)
            leaked = [w for w in lines.what if w]
            assert not leaked, f"frame {frame.index}: personal text still read ({leaked})"
            read = [_compact(t).upper() for t in texts]
            for word in plain:
                plain[word] += any(word in t for t in read)
            assert not len(codes.detect(frame.rgb)), f"frame {frame.index}: a code still decodes"
    assert min(plain.values()) >= len(clip.boxes) - 1, f"plain words no longer readable: {plain}"


@pytest.mark.slow
def test_audit_exit_codes_and_no_code_decodes_in_any_style(material, floor_run, tmp_path, capsys):
    from vidmask_nb.cli import main

    clip, words, _ = material
    assert main(["audit", str(clip.path), "--find", "pii,codes", "--pii-words", str(words), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    found = {w for f in report["findings"] for w in f["what"].split("+")}
    assert {"email", "phone", "word", "qr", "ean13"} <= found, found
    shown = json.dumps(report).lower()
    assert not [s for s in SECRETS if s.lower() in shown]
    phone_frames = sorted({f["frame"] for f in report["findings"] if "phone" in f["what"]})
    assert phone_frames[0] == clip.frames_with("phone")[0]  # at the truth's place and time
    assert main(["audit", str(clip.path), "--find", "faces", "--pii-words", str(words)]) == 2  # needs pii

    fill = floor_run / "out_fill.mp4"
    fill = fill if fill.is_file() else _render(clip, floor_run, "fill")
    assert main(["audit", str(fill), "--find", "pii,codes", "--pii-words", str(words)]) == 0
    for style in ("blur", "pixelate"):  # codes are filled whatever the style; the rest is blurred or pixelated
        out = _render(clip, floor_run, style)
        assert main(["audit", str(out), "--find", "codes"]) == 0, style
        assert main(["audit", str(out), "--find", "pii", "--pii-words", str(words), "--every", "3"]) == 0, style


def test_a_code_is_a_square_with_finder_patterns_or_regular_bars_and_stripes_are_neither():
    from pii_material import ean_image, qr_image
    from vidmask_nb.detect.detectors import bar_geometry, qr_geometry

    for m in (2, 4, 6):  # the located outline as OpenCV gives it, up to 2 px off on small modules
        img = qr_image(m)
        h, w = img.shape
        p = 4 * m  # the encoder's 2 modules and qr_image's 2
        quad = np.array([[p, p], [w - p, p], [w - p, h - p], [p, h - p]], np.float32)
        assert qr_geometry(img, quad) and qr_geometry(img, quad + np.array([[-2, -1], [1, -2], [2, 1], [-1, 2]]))
        assert qr_geometry(np.rot90(img).copy(), quad)  # any way up
        assert not qr_geometry(img, np.array([[p, p], [w - p, p], [w - p, h // 2], [p, h // 2]], np.float32))
    for m in (1, 2, 3):
        img = ean_image(m, 40)
        h, w = img.shape
        quad = np.array([[11 * m, 4 * m], [w - 11 * m, 4 * m], [w - 11 * m, h - 4 * m], [11 * m, h - 4 * m]], np.float32)
        assert bar_geometry(img, quad) and bar_geometry(img.T.copy(), quad[:, ::-1].copy())
    whole = np.array([[0, 0], [400, 0], [400, 200], [0, 200]], np.float32)
    square = np.array([[100, 20], [260, 20], [260, 180], [100, 180]], np.float32)
    x = np.arange(400)
    for period in (4, 6, 10, 17, 30):  # wallpaper: stripes of one width, or two
        for dark in (period // 2, max(1, period // 3)):
            stripes = np.where(x % period < dark, 30, 220).astype(np.uint8)[None].repeat(200, 0)
            assert not bar_geometry(stripes, whole) and not qr_geometry(stripes, square), (period, dark)
    for tile in (3, 8, 20):  # tiles, a chessboard
        board = np.where(((x[None, :200] // tile) + (x[:200, None] // tile)) % 2, 220, 30).astype(np.uint8)
        assert not qr_geometry(board, square - [100, 0]), tile
    noise = np.random.default_rng(0).integers(0, 2, (50, 50)).repeat(5, 0).repeat(5, 1).astype(np.uint8) * 255
    assert not qr_geometry(noise, np.array([[0, 0], [250, 0], [250, 250], [0, 250]], np.float32))


def test_the_codes_floor_covers_no_wallpaper_on_the_shared_clips(shared_media):
    """Every located pattern on the real clips (bedroom's striped wallpaper, 01_dog, 19_cyclist) has no
    code's geometry, and with no code decoding near it, the floor covers none of it."""
    import av

    from vidmask_nb.detect.detectors import CODE_LOCATED

    det = floor.FrameDetector(("code",), threshold=floor.FLOOR_THRESHOLD, sticky=True)
    located = 0
    for name in ("bedroom", "01_dog", "19_cyclist"):
        with av.open(str(shared_media / f"{name}.mp4")) as c:
            for i, f in enumerate(c.decode(video=0)):
                if i % 10 == 0:
                    found = det.detectors[0].detect(f.to_ndarray(format="rgb24"))
                    located += len(found)
                    assert not (found.scores >= CODE_LOCATED).any(), (name, i, found.boxes)
                    assert not len(floor.sticky_codes(found, Detections.empty())), (name, i)
    assert located  # the locators do fire there: the geometry is what keeps them uncovered


def test_a_pattern_left_visible_is_listed_for_review(tmp_path):
    """``floor.json`` lists the patterns located without a code's geometry and left visible; the
    floor's summary names their frames for the review."""
    from vidmask_nb.detect.floorfile import FloorHeader, floor_summary

    header = FloorHeader(("code",), 1, 0.2, 3, "sha256:x", {"code": 0.1})
    lines = [json.dumps(header.to_json()), json.dumps({"frame": 0, "detections": []}),
             json.dumps({"frame": 1, "detections": [], "unsure_codes": [[0, 0, 300, 90]]}),
             json.dumps({"frame": 2, "detections": [{"kind": "code", "box": [5, 5, 40, 40], "score": 1.0,
                                                     "what": "qr"}]})]
    (tmp_path / "floor.json").write_text("\n".join(lines) + "\n")
    summary = floor_summary(tmp_path / "floor.json")
    assert summary["unsure_codes"] == {"frames": 1, "at": [1]} and summary["boxes"] == {"code": 1}
