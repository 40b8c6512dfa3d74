"""Shared fixtures: generated clips (always available) and the real clips in ../shared/media (skip if absent)."""
from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_MEDIA = ROOT.parent / "shared" / "media"

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
    from vidmask_nb.sample import make_sample_clip

    return make_sample_clip(clip_dir / "sample.mp4", seconds=2.0, fps=Fraction(24000, 1001), size=(160, 120))


@pytest.fixture(scope="session")
def sample_clip_info(sample_clip):
    from vidmask_nb.video import probe

    return probe(sample_clip)
