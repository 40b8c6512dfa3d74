"""The review's view of the covers (``review.coverage``): from the covers the render makes (masks,
detector floor and codes' floor together), each frame's covered share, the frames over a set share,
and the largest single cover of each kind, measured against the rendered pixels themselves."""
from __future__ import annotations

import json

import pytest

from vidmask_nb.errors import VidmaskError


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A 12-frame 160x120 clip; a drawn box over most of the frame on frames 3-5 (``--no-track``,
    no hold); a floor with a small face on every frame and a code on frames 6-8."""
    from vidmask_nb.detect.floorfile import FloorHeader
    from vidmask_nb.detect.untracked import write_untracked_masks
    from vidmask_nb.media.sample import make_sample_clip
    from vidmask_nb.media.video import probe
    from vidmask_nb.prompts.records import FramePrompt, PromptSet

    root = tmp_path_factory.mktemp("coverage")
    clip = make_sample_clip(root / "clip.mp4", seconds=0.5, size=(160, 120), audio=False)
    info = probe(clip)
    work = root / "run"
    work.mkdir()
    prompts = PromptSet.for_video(info)
    obj = prompts.add_object("person 1")
    prompts.prompts.append(FramePrompt(4, obj.id, box=(10.0, 10.0, 130.0, 100.0), pts=int(info.pts[4])))
    header = FloorHeader(("face", "code"), 1, 0.2, info.frame_count, info.fingerprint, {"face": 0.25, "code": 0.1})
    lines = [json.dumps(header.to_json())]
    for i in range(info.frame_count):
        dets = [{"kind": "face", "box": [140, 4, 150, 16], "score": 0.9}]
        if 6 <= i <= 8:
            dets.append({"kind": "code", "box": [20, 60, 60, 100], "score": 1.0, "what": "qr"})
        lines.append(json.dumps({"frame": i, "detections": dets}))
    (work / "floor.json").write_text("\n".join(lines) + "\n")
    write_untracked_masks(clip, work, info, prompts=prompts, hold=1)
    return clip, work, info


def test_frames_over_the_share_and_the_largest_cover_of_each_kind(run):
    from vidmask_nb.redact.render import RenderOptions
    from vidmask_nb.review.coverage import cover_shares

    clip, work, info = run
    report = cover_shares(clip, work, RenderOptions(hold=0), over=0.5)
    assert [f for f, _ in report.over] == [3, 4, 5]  # the drawn box, held a frame either side
    assert all(s > 0.5 for _, s in report.over)
    assert set(report.largest) == {"masks", "floor", "codes"}
    assert report.largest["masks"]["frame"] in (3, 4, 5) and report.largest["masks"]["share"] > 0.5
    assert report.largest["codes"]["frame"] in (6, 7, 8)
    x0, y0, x1, y1 = report.largest["codes"]["box"]
    assert x0 <= 20 and y0 <= 60 and x1 >= 60 and y1 >= 100 and x1 - x0 < 80  # the code, grown a little
    assert 0 < report.largest["floor"]["share"] < 0.05  # the small face
    assert report.worst[1] == max(s for _, s in report.over)
    assert json.loads(json.dumps(report.to_json()))["over"][0]["frame"] == 3
    with pytest.raises(VidmaskError, match="0..1"):
        cover_shares(clip, work, over=50)


def test_the_shares_are_the_pixels_the_render_blacks_out(run, tmp_path):
    """Each frame's share is what the rendered video shows black (fill, the default) where the clip is not."""
    from vidmask_nb.media.video import VideoReader
    from vidmask_nb.redact.render import RenderOptions, render
    from vidmask_nb.review.coverage import cover_shares

    clip, work, info = run
    report = cover_shares(clip, work, RenderOptions(hold=0))
    out = render(clip, work, RenderOptions(hold=0), floor=work / "floor.json", progress=False,
                 output=tmp_path / "out.mp4")
    with VideoReader(out) as r:
        for f in r:
            black = (f.rgb.max(axis=2) < 12).mean()
            assert abs(black - report.shares[f.index]) < 0.03, (f.index, black, report.shares[f.index])
