"""The fast face pass under the floor (detect.fastpass) covers a moving real face on a generated clip."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from vidmask_nb.detect import find
from vidmask_nb.detect.fastpass import FastPassOptions
from vidmask_nb.errors import VidmaskError


def test_fast_pass_options_are_checked():
    assert FastPassOptions().checked().to_json()["pass"] == "fast"
    with pytest.raises(VidmaskError, match="full_every"):
        FastPassOptions(full_every=0).checked()


@pytest.mark.media
@pytest.mark.parametrize("face, frames, path, hold", [
    # the full-size scan runs on frames 0 and 12 (every 12th): the others are the fast pass's own; no hold
    ("large", 16, [(120, 190, 90), (500, 160, 70)], 0),
    # a 24 px face (this crop is not sharp enough to be found smaller; the benchmark's sharp 16 px
    # faces are), found by the fine tiles when its tile comes round, and covered on the frames before
    # by the hold, back along its motion
    ("24 px", 24, [(300, 200, 36), (360, 180, 36)], None),
])
def test_fast_pass_covers_a_moving_real_face_with_no_leak_frame(shared_media, tmp_path, face, frames, path, hold):
    import av

    from vidmask_nb.detect.detectors import get_detector
    from vidmask_nb.media.truthclip import Actor, Sprite, TruthScene, write_truth_clip
    from vidmask_nb.media.video import VideoReader, probe
    from vidmask_nb.redact.render import render
    from vidmask_nb.review.score import LeakScorer

    with av.open(str(shared_media / "bedroom.mp4")) as c:
        face_frame = next(c.decode(video=0)).to_ndarray(format="rgb24")
    with av.open(str(shared_media / "02_hummingbird.mp4")) as c:
        bgs = [f.to_ndarray(format="rgb24") for _, f in zip(range(8), c.decode(video=0))]
    d = get_detector("face", scale=1.0, threshold=0.6).detect(face_frame)
    x0, y0, x1, y1 = d.boxes[int(np.argmax(d.scores))]
    bw, bh = x1 - x0, y1 - y0
    cx0, cy0, cx1, cy1 = int(max(0, x0 - bw / 4)), int(max(0, y0 - bh / 4)), int(x1 + bw / 4), int(y1 + bh / 4)
    crop = face_frame[cy0:cy1, cx0:cx1]
    cw, ch = cx1 - cx0, cy1 - cy0
    sprite = Sprite(crop, ((x0 - cx0) / cw, (y0 - cy0) / ch, (x1 - cx0) / cw, (y1 - cy0) / ch))
    fps = Fraction(24000, 1001)
    n = frames
    (ax, ay, ah), (bx, by, bh) = path  # centre and sprite height at the start and the end
    scene = TruthScene((640, 360), fps, n, [Actor("face", sprite, [(0, ax, ay, ah, 1), (n / fps, bx, by, bh, 1)])])
    clip = write_truth_clip(tmp_path / "walk.mp4", scene, [b[::2, ::2] for b in bgs])
    info = probe(clip)
    work = tmp_path / "run"
    find.find_and_floor(clip, work, "faces", info=info, track=False)
    assert find.read_floor_header(find.floor_path(work)).detector["pass"] == "fast"
    find.write_untracked_masks(clip, work, info)
    out = render(clip, work, floor=find.floor_path(work), progress=False, hold=hold)  # 0: the pass alone
    scorer = LeakScorer()
    with VideoReader(clip) as a, VideoReader(out) as b:
        for fa, fb in zip(a, b):
            scorer.add(fa.rgb, fb.rgb, scene.truth(fa.index))
    result = scorer.result()
    assert result.region_frames == n and result.leak_frames == 0, result
