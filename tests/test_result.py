"""04's result on screen: the player's HTML, the frame at a time, source | redacted side by side."""
from __future__ import annotations

import os

import numpy as np
import pytest

from vidmask_nb.errors import VidmaskError
from vidmask_nb.notebook.result import CompareView, video_player
from vidmask_nb.review.compare import frame_at, side_by_side


def test_frame_at_a_time(sample_clip_info):
    info = sample_clip_info  # 23.976 fps, 48 frames
    assert frame_at(info, 0) == 0 and frame_at(info, 1.0) == 23 and frame_at(info, 1.01) == 24
    assert frame_at(info, 99) == info.frame_count - 1
    with pytest.raises(VidmaskError, match="number of seconds"):
        frame_at(info, -1)


def test_side_by_side_and_the_compare_view(sample_clip, sample_clip_info, tmp_path):
    img = side_by_side(sample_clip, sample_clip, 5, max_side=80)
    assert img.shape == (60, 80 + 4 + 80, 3) and (img[:, 80:84] == 255).all()
    assert np.array_equal(img[:, :80], img[:, 84:])
    with pytest.raises(VidmaskError, match="outside the video"):
        side_by_side(sample_clip, sample_clip, 48)
    view = CompareView(sample_clip, sample_clip, max_side=80)
    assert view.frame == 23 and bytes(view.image.value[:4]) == b"\x89PNG"
    view.slider.value = 0.5  # the slider moves it
    assert view.frame == frame_at(sample_clip_info, 0.5) and "frame 11" in view.caption.value


def test_the_player_sends_the_file_through_the_kernel_and_links_only_a_huge_one(sample_clip, tmp_path, monkeypatch):
    """Issue 30 item 3: with `jupyter lab notebooks/` the run folder is outside the served root, so a
    link never played; the kernel now sends the bytes (the player works whatever the server's root)."""
    from vidmask_nb.notebook import result

    box = video_player(sample_clip, title="redacted")
    player = box.children[1]
    assert player.value == sample_clip.read_bytes() and player.format == "mp4" and player.controls
    assert "vidmask-player" in player._dom_classes and player.width == "480"  # a 160 px clip is shown at 480 px
    assert "redacted" in box.children[0].value
    monkeypatch.setattr(result, "EMBED_MAX_BYTES", 0)  # a file too large to send: linked, relative to the notebook
    html = video_player(sample_clip, title="redacted", base=sample_clip.parent.parent).data
    rel = os.path.relpath(sample_clip, sample_clip.parent.parent)
    assert f"src='{rel}'" in html and "<video class='vidmask-player' controls" in html
    with pytest.raises(VidmaskError, match="no video to play"):
        video_player(tmp_path / "none.mp4")
