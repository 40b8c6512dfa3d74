"""Shared fixtures: generated clips (always available) and the real clips in ../shared/media (skip if absent)."""
from __future__ import annotations

import os
import sys
from fractions import Fraction
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# VIDMASK_SHARED_MEDIA points elsewhere (a git worktree has no ../shared beside it)
SHARED_MEDIA = Path(os.environ.get("VIDMASK_SHARED_MEDIA", ROOT.parent / "shared" / "media"))
# benchmarks/common.py (truth clips, the scorer, injected masks) is the one copy the benchmarks and the tests
# share; the product does not carry it, and the benchmarks import nothing from here.
sys.path.insert(0, str(ROOT / "benchmarks"))

os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("PYTORCH_ENABLE_MPS_FALLBACK", "1")


def shared_clips() -> list[Path]:
    return sorted(SHARED_MEDIA.glob("*.mp4")) if SHARED_MEDIA.is_dir() else []


@pytest.fixture(scope="session")
def shared_media() -> Path:
    if not SHARED_MEDIA.is_dir():
        pytest.skip(f"real clips not found at {SHARED_MEDIA} (a fresh clone has no ../shared)")
    return SHARED_MEDIA


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="session")
def sample_clip(clip_dir) -> Path:
    """A 2 s, 23.976 fps, 160x120 generated clip with an AAC tone."""
    from vidmask_nb.media.sample import make_sample_clip

    return make_sample_clip(clip_dir / "sample.mp4", seconds=2.0, fps=Fraction(24000, 1001), size=(160, 120))


@pytest.fixture(scope="session")
def sample_clip_info(sample_clip):
    from vidmask_nb.media.video import probe

    return probe(sample_clip)


@pytest.fixture(scope="session")
def face_clip(shared_media, clip_dir) -> Path:
    """The first 30 frames (1 s) of ``bedroom.mp4`` (960x540, 30 fps, faces on every frame), re-encoded."""
    from common import cut

    path = clip_dir / "bedroom_1s.mp4"
    if path.is_file():
        return path
    cut(shared_media / "bedroom.mp4", path, 30, crf=16)
    return path
