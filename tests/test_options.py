"""Stage-owned options: one default each, checked once; RunOptions and the CLI take them from the stages."""
from __future__ import annotations

from dataclasses import asdict, fields

import pytest

from vidmask_nb.errors import VidmaskError
from vidmask_nb.detect.options import FindOptions
from vidmask_nb.run.pipeline import RunOptions
from vidmask_nb.track.propagate import TrackOptions
from vidmask_nb.redact.render import RenderOptions

STAGES = (TrackOptions, RenderOptions, FindOptions)


def test_run_options_are_the_stages_options_flat():
    run = RunOptions()
    for stage in STAGES:
        for f in fields(stage):
            assert getattr(run, f.name) == getattr(stage(), f.name), f.name
    opts = RunOptions(model="t", style="blur", hold_seconds=2.5, find="faces", chunk_seconds=4)
    assert opts.track_options == TrackOptions(model="t", chunk_seconds=4)
    assert opts.render_options == RenderOptions(style="blur", hold_seconds=2.5)
    assert opts.find_options == FindOptions(find="faces")
    # the notebooks read these from the run's run.json (settings.RunSettings), the same flat names
    assert set(asdict(RunOptions())) >= {f.name for stage in STAGES for f in fields(stage)}


@pytest.mark.parametrize("opts,words", [
    (RunOptions(weights="random", model="huge"), "unknown model 'huge'"),
    (RunOptions(weights="none"), "--weights must be 'trained' or 'random'"),
    (RunOptions(weights="random", image_size=100), "--image-size must be a multiple of 32"),
    (RunOptions(weights="random", chunk_seconds=0), "--chunk-seconds must be positive"),
    (RunOptions(weights="random", dilate=-1), "--dilate must be 0 or more"),
    (RunOptions(weights="random", hold_seconds=-0.5), "--hold-seconds must be 0 or more"),
    (RunOptions(weights="random", crf=60), "--crf must be 0..51"),
    (RunOptions(weights="random", style="sparkle"), "sparkle"),
    (RunOptions(weights="random", find="cats"), "cats"),
    (RunOptions(weights="random", find="faces", find_every=0), "--find-every must be positive"),
    (RunOptions(weights="random", no_track=True), "--no-track covers what the detectors find"),
])
def test_each_stage_checks_its_own_options(opts, words):
    with pytest.raises(VidmaskError, match=words.replace("(", r"\(").replace(".", r"\.")):
        opts.checked()


def test_checked_returns_canonical_names_and_keeps_the_flat_api():
    opts = RunOptions(model="t", weights="random", image_size=128, style="pixelate").checked()
    assert (opts.model, opts.checkpoint, opts.image_size, opts.style) == ("tiny", None, 128, "pixelate")
    assert RunOptions.from_mapping({"image-size": "256", "hold_seconds": "0.5"}).image_size == 256


def test_cli_defaults_and_help_come_from_the_stage_options():
    from vidmask_nb.cli import _options, build_parser

    parser = build_parser()
    args = parser.parse_args(["run", "clip.mp4", "--out", "runs/x"])
    assert _options(args) == RunOptions()
    run_help = next(a for a in parser._subparsers._group_actions[0].choices["run"]._actions if a.dest == "dilate")
    assert f"default {RenderOptions.dilate}" in run_help.help
