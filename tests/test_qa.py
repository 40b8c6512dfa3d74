"""QA: review table, timeline, contact sheet, overlay video, palette PNGs, and notebook 04 end to end."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from vidmask_nb.review import qa
from vidmask_nb.errors import VidmaskError
from vidmask_nb.track.masks import FrameMasks, MaskStore, ObjectMask, encode_rle
from common import inject_masks
from vidmask_nb.runfolder.folder import RunFolder
from vidmask_nb.media.sample import SampleScene
from vidmask_nb.media.video import probe

ROOT = Path(__file__).resolve().parents[1]
W, H, N = 40, 30, 60


def square(side: int, x: int = 5, y: int = 5) -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[y:y + side, x:x + side] = True
    return m


@pytest.fixture
def troubled_store() -> MaskStore:
    """Object 1 vanishes on 10..12 (short) and 40..49 (long), shrinks on 20..21, scores low on 30;
    object 2 is never found."""
    frames = []
    for i in range(N):
        side = 0 if (10 <= i <= 12 or 40 <= i <= 49) else (3 if i in (20, 21) else 10)
        score = 0.2 if i == 30 else (0.9 if side else 0.05)
        objects = (ObjectMask(1, "face", score, encode_rle(square(side))),
                   ObjectMask(2, "plate", 0.01, encode_rle(np.zeros((H, W), bool))))
        frames.append(FrameMasks(i, i * 1001, objects))
    video = {"width": W, "height": H, "frame_count": N, "fps": "30000/1001", "fingerprint": ""}
    objects = [{"id": 1, "label": "face", "color": [230, 25, 75]}, {"id": 2, "label": "plate", "color": [60, 180, 75]}]
    return MaskStore.from_frames(video, objects, frames)


def test_review_finds_vanishing_collapse_low_score_and_never_found(troubled_store, tmp_path, monkeypatch):
    table = qa.review_frames(troubled_store, drop=0.5, window=15, min_score=0.5, hold=3)
    got = {(r.obj_id, r.reason, r.first, r.last) for r in table}
    assert got == {(1, "vanished", 10, 12), (1, "vanished", 40, 49), (1, "area drop", 20, 21),
                   (1, "low score", 30, 30), (2, "never found", 0, N - 1)}
    by_first = {r.first: r for r in table}
    assert "covered by hold=3" in by_first[10].detail
    assert "NOT covered" in by_first[40].detail and "back at 50" in by_first[40].detail
    assert "91% below" in by_first[20].detail
    assert by_first[20].time == "0:00.67"
    assert [r.first for r in table] == sorted(r.first for r in table)
    assert table.frames_to_check(3) == [0, 10, 20]
    text = str(table)
    assert "never found" in text and "5 span(s) to review" in text
    shown = []
    monkeypatch.setattr(qa, "show_table", lambda rows, title: shown.append((rows, title)))
    table.show(limit=2)
    assert len(shown[0][0]) == 2 and "the first 2 shown" in shown[0][1]
    saved = table.save(tmp_path / "review.json")
    assert saved.is_file()


def test_steady_track_has_nothing_to_review(troubled_store):
    steady = MaskStore.from_frames(troubled_store.header["video"], troubled_store.objects[:1],
                                   [FrameMasks(i, i, (ObjectMask(1, "face", 0.9, encode_rle(square(10))),))
                                    for i in range(N)])
    table = qa.review_frames(steady)
    assert len(table) == 0 and str(table) == "nothing to review"
    with pytest.raises(VidmaskError, match="drop"):
        qa.review_frames(steady, drop=1.5)


def test_review_flags_a_sudden_growth_of_the_area(troubled_store):
    """A jump to a much larger mask (the track leapt to something else) is a span to review;
    steady slow growth (an object coming closer) is not."""
    frames = []
    for i in range(N):
        side = 6 + i // 10 if i < 30 else (24 if 30 <= i <= 33 else 9)  # slow growth, then a leap
        frames.append(FrameMasks(i, i, (ObjectMask(1, "face", 0.9, encode_rle(square(side))),)))
    store = MaskStore.from_frames(troubled_store.header["video"], troubled_store.objects[:1], frames)
    rows = list(qa.review_frames(store, grow=2.0))
    assert [(r.reason, r.first, r.last) for r in rows] == [("area jump", 30, 33)], rows
    assert "x its recent median" in rows[0].detail and "wrong track" in rows[0].detail
    assert "jump > 2x" in qa.review_frames(store).title()
    with pytest.raises(VidmaskError, match="grow"):
        qa.review_frames(store, grow=0.5)


def test_review_lists_a_mask_covering_most_of_the_frame(troubled_store, capsys):
    """Steady masks over 57-90 % of the picture (an untrained model's, or a wrong track) change
    little over time; they are listed all the same, and 04's 'nothing to review' never shows."""
    def mask(i):
        m = np.zeros((H, W), bool)
        m[:, :int(W * (0.57 + 0.33 * i / (N - 1)))] = True  # 57 % -> 90 % of the frame, slowly
        return m
    frames = [FrameMasks(i, i, (ObjectMask(1, "face", 0.9, encode_rle(mask(i))),
                                ObjectMask(2, "plate", 0.9, encode_rle(square(4 + (i >= 30) * 6))))) for i in range(N)]
    store = MaskStore.from_frames(troubled_store.header["video"], troubled_store.objects, frames)
    table = qa.review_frames(store)
    rows = [(r.obj_id, r.reason, r.first, r.last) for r in table]
    assert (1, "covers frame", 0, N - 1) in rows and not any(r[0] == 1 and r[1] != "covers frame" for r in rows)
    worst = next(r for r in table if r.reason == "covers frame")
    assert worst.detail.startswith("mask covers 90% of the frame at frame 59 (> 50%)")
    assert "over 50% of the frame" in table.title()
    table.show()
    assert "nothing to review" not in capsys.readouterr().out
    assert not [r for r in qa.review_frames(store, max_share=0.95)
                if r.obj_id == 1 and r.reason == "covers frame"]  # an option, one default
    with pytest.raises(VidmaskError, match="max_share"):
        qa.review_frames(store, max_share=0)

    # far more than the object's prompt box: the plate's box was 4x4 px; from frame 30 its mask is 10x10
    from vidmask_nb.prompts.records import FramePrompt, PromptSet, TrackedObject
    prompts = PromptSet(store.video, objects=[TrackedObject(2, "plate", (60, 180, 75))],
                        prompts=[FramePrompt(0, 2, box=(5.0, 5.0, 9.0, 9.0))])
    beyond = [r for r in qa.review_frames(store, prompts=prompts) if r.reason == "beyond box"]
    assert [(r.obj_id, r.first, r.last) for r in beyond] == [(2, 30, N - 1)]
    assert "6.2x its largest prompt box" in beyond[0].detail


def test_long_series_stay_bounded_and_keep_one_frame_spikes_and_dropouts():
    """Figures of an hour of frames draw at most 2 x 2000 points per line, and a single-frame spike
    and a single-frame dropout are among them; the review finds both spans."""
    from vidmask_nb.review.timeline import MAX_POINTS, minmax_downsample

    n = 108_000  # an hour at 30 fps
    areas = np.full(n, 1000, np.int64)
    areas[54_321] = 9000  # a one-frame jump
    areas[77_777] = 0  # a one-frame dropout
    x, y = minmax_downsample(areas)
    assert len(x) <= 2 * MAX_POINTS and np.all(np.diff(x) >= 0)
    assert 54_321 in x and 77_777 in x and y.max() == 9000 and y.min() == 0
    small_x, small_y = minmax_downsample(areas[:500])
    assert len(small_x) == 500

    from vidmask_nb.review.timeline import ObjectTimeline

    track = ObjectTimeline(1, "face", (255, 0, 0), areas, np.full(n, 0.9, np.float32))
    rows = qa._review_track(track, drop=0.5, window=15, min_score=0.5, hold=0, fps=None)
    assert {(r.reason, r.first, r.last) for r in rows} == {("area jump", 54_321, 54_321),
                                                          ("vanished", 77_777, 77_777)}


def test_timeline_of_a_long_store_on_disk_is_down_sampled(tmp_path):
    """A file-backed store of 5000 frames: the figure's lines are bounded and keep the spike."""
    from vidmask_nb.track.masks import write_masks_json
    from vidmask_nb.review.timeline import MAX_POINTS, timeline_figure

    n = 5000
    small, big = encode_rle(square(4)), encode_rle(square(20))
    frames = (FrameMasks(i, i, (ObjectMask(1, "face", 0.9, big if i == 3210 else small),)) for i in range(n))
    path = tmp_path / "masks.json"
    write_masks_json(path, {"width": W, "height": H, "frame_count": n, "fps": "30", "fingerprint": ""},
                     [{"id": 1, "label": "face", "color": [230, 25, 75]}], frames)
    with MaskStore.load(path) as store:
        table = qa.review_frames(store)
        assert [(r.reason, r.first) for r in table] == [("area jump", 3210)]
        fig = timeline_figure(store, fps=30, review_spans=[(r.first, r.last) for r in table])
    line = fig.axes[0].lines[0]
    assert len(line.get_xdata()) <= 2 * MAX_POINTS
    assert np.isclose(max(line.get_ydata()), 100.0 * 400 / (W * H))


def test_area_timeline_is_saved(troubled_store, tmp_path):
    table = qa.review_frames(troubled_store)
    fig = qa.area_timeline(troubled_store, table, out_path=tmp_path / "qa" / "areas.png")
    assert (tmp_path / "qa" / "areas.png").stat().st_size > 5000
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 2


def test_palette_pngs_hold_object_ids_and_colours(tmp_path, troubled_store):
    from PIL import Image

    out = qa.export_palette_pngs(troubled_store, tmp_path / "png", progress=False)
    files = sorted(out.glob("frame_*.png"))
    assert len(files) == N and files[0].name == "frame_000000.png"
    img = Image.open(out / "frame_000005.png")
    assert img.mode == "P" and img.size == (W, H)
    ids = np.array(img)
    assert np.array_equal(ids == 1, square(10)) and set(np.unique(ids)) == {0, 1}
    assert img.getpalette()[3:6] == [230, 25, 75]
    assert not np.array(Image.open(out / "frame_000011.png")).any()
    assert (out / "objects.json").is_file()
    assert not list(out.glob(".*partial*"))


@pytest.fixture
def sample_run(tmp_path, sample_clip, sample_clip_info):
    """The sample clip copied into a run folder, with the ball's and block's exact masks, the ball
    lost on frames 20..22."""
    video = tmp_path / "sample.mp4"
    shutil.copy(sample_clip, video)
    info = probe(video)
    scene = SampleScene((info.width, info.height), info.fps)
    inject_masks(info, {1: "ball", 2: "block"},
                 lambda i, k: None if (k == 1 and 20 <= i <= 22) else scene.object_mask(i, k)
                 ).save(RunFolder(tmp_path).masks_json)
    return video, tmp_path


def test_contact_sheet_and_overlay_video(sample_run):
    video, workdir = sample_run
    run = RunFolder(workdir)
    fig = qa.contact_sheet(video, workdir, n=4)
    assert (run.qa_dir / "sample_contact.png").is_file() and len(fig.axes) == 4
    with pytest.raises(VidmaskError, match="outside the video"):
        qa.contact_sheet(video, workdir, frames=[0, 999])
    out = qa.overlay_video(video, workdir, crf=30, preset="ultrafast", progress=False)
    assert out == run.qa_dir / "sample_overlay.mp4"
    rows = qa.compare_to_source(video, out)
    assert all(r["same"] for r in rows), rows


@pytest.mark.slow
def test_notebook_04_runs_headless(sample_run):
    """papermill runs notebooks/04_render.ipynb on the sample clip with injected masks."""

    from clip_helpers import start_run

    video, workdir = sample_run
    start_run(workdir, video)  # what 01 leaves
    run = RunFolder(workdir)
    report = run.reports_dir / "04_render.ipynb"
    report.parent.mkdir(parents=True, exist_ok=True)
    from vidmask_nb.run.pipeline import execute_notebook

    execute_notebook(ROOT / "notebooks" / "04_render.ipynb", report,  # as the kit keeps a run's report
                     dict(workdir=str(workdir), style="pixelate:8", object_styles={"block": "fill:#000000"}, dilate=2,
                          hold=3, crf=20, palette_pngs=True))
    out = run.redacted_video(video)
    assert all(r["same"] for r in qa.compare_to_source(video, out))
    for name in ("sample_contact.png", "sample_review.png", "sample_areas.png", "sample_overlay.mp4",
                 "sample_review.json"):
        assert (run.qa_dir / name).is_file(), name
    assert len(list((workdir / "masks_png").glob("frame_*.png"))) == probe(video).frame_count
    text = report.read_text(encoding="utf-8")
    assert "redacted video:" in text and "vanished" in text and "covered by hold=3" in text
    # the player is a widget whose bytes the kernel sends when shown: the report does not hold the video
    assert "application/vnd.jupyter.widget-view+json" in text and '"VideoModel"' not in text  # no widget state saved
