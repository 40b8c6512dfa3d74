"""The prompt editor in a real JupyterLab and a real browser (headless Chromium via Playwright).

Opens ``notebooks/02_prompt.ipynb`` on a generated clip, runs all cells, adds an object (and
deletes a spare one in the widget), steps two frames with the widget's button, drags a box, makes
a tiny drag (a slip: no prompt changes) and a drag over the box (kept until "replace box"), clicks
a point, Shift-clicks and right-clicks negative ones, presses Shift+-> (10 frames) and clicks a
positive one, and checks that ``prompts.json`` holds them in source pixels on those frames and that
object; then runs the in-widget preview. A second test opens it on a real clip with faces (skipped
without ``../shared/media``) in a 1280x800 window (the image and its controls in view together),
presses "Find on this frame", clicks the proposed face on the canvas and accepts it as a new
object, accepts the other face too, finds again (both reported as already boxed), and on frame 10
adds the best face found into the picked object. A third opens notebook 04 on injected masks: its
redacted video plays in the page, and "fix" on a review row opens the editor at that frame with
the tracked masks tinted on the canvas. Screenshots go to the test's temp folder and
``tests/artifacts/browser``.

Skips when Chromium or Playwright is missing, unless ``VIDMASK_REQUIRE_BROWSER=1`` (CI), where a
missing browser fails the run instead.
"""
from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path

import nbformat
import numpy as np
import pytest

from browser_helpers import (Browser, JupyterLab, browser_missing, canvas_to_page, cell_errors, click, copy_artifacts,
                             drag, open_notebook, run_all_cells, wait_canvas_painted, wait_for, wait_until_executed)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
ARTIFACTS = ROOT / "tests" / "artifacts" / "browser"
TOLERANCE_PX = 2.0


def require_browser() -> None:
    why = browser_missing()
    if why is None:
        return
    if os.environ.get("VIDMASK_REQUIRE_BROWSER") == "1":
        pytest.fail(f"VIDMASK_REQUIRE_BROWSER=1 but the browser test cannot run: {why}")
    pytest.skip(f"browser test skipped: {why}")


def _prompts(path: Path) -> list[dict]:
    return json.loads(path.read_text())["prompts"] if path.is_file() else []


@contextmanager
def notebook_in_lab(tmp_path: Path, notebook: str, video: Path, shots: str, viewport=(1400, 1100), **parameters):
    """``notebooks/<notebook>`` set to ``video`` (run folder ``lab/run``) opened in JupyterLab, Run All
    done: yields (browser, prompts.json). ``video`` starts the run's settings with it, as 01 would;
    ``video=None`` leaves them as the test made them. The notebook gets only ``workdir`` (and ``parameters``). Screenshots go to ``tests/artifacts/browser/<shots>``;
    logs are printed on failure."""
    require_browser()
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    root, scratch = tmp_path / "lab", tmp_path / "scratch"
    root.mkdir(exist_ok=True)
    workdir = root / "run"
    if video is not None:  # what notebook 01 leaves: the run's settings name the video (the notebooks after it
        from vidmask_nb.run.pipeline import RunOptions  # take only `workdir`)
        from vidmask_nb.run.settings import RunSettings

        RunSettings(Path(video).resolve(), workdir, RunOptions(weights="random", image_size=128, device="cpu")).save()
    nb = parameterize_notebook(load_notebook_node(str(NOTEBOOKS / notebook)), {"workdir": str(workdir), **parameters})
    nbformat.write(nb, root / notebook)
    with JupyterLab(root, scratch) as lab, Browser(scratch, viewport) as browser:
        page = browser.page
        try:
            open_notebook(page, lab, notebook)
            browser.screenshot("opened")
            run_all_cells(page)
            wait_until_executed(page)
            assert not cell_errors(page), cell_errors(page)
            yield browser, workdir / "prompts.json"
        except Exception:
            browser.screenshot("failure")
            print("JupyterLab log:\n" + lab.log_tail())
            print("browser console:\n" + "\n".join(browser.console[-30:]))
            raise
        finally:
            copy_artifacts(browser.shots, ARTIFACTS / shots)


@contextmanager
def notebook_02_in_lab(tmp_path: Path, video: Path, shots: str, viewport=(1400, 1100), **parameters):
    """Notebook 02 in JupyterLab, Run All done, the editor's canvas painted: yields (browser,
    canvas, prompts.json)."""
    with notebook_in_lab(tmp_path, "02_prompt.ipynb", video, shots, viewport, **parameters) as (browser, prompts):
        yield browser, wait_canvas_painted(browser.page, "canvas.vidmask-canvas"), prompts


def test_draw_box_and_point_in_jupyterlab(tmp_path, sample_clip, sample_clip_info):
    info = sample_clip_info
    frame = 2
    box = (40.0, 30.0, 100.0, 80.0)  # source pixels
    point = (70.0, 55.0)
    negative = (120.0, 100.0)
    right = (130.0, 20.0)  # a right-click: a negative point
    later = (60.0, 90.0)  # Shift+-> (10 frames on), then a plain click: a positive point

    # What notebook 01 leaves in the run folder (run.json, manifest.json); 02 is then opened with
    # only `workdir` set, and takes the video and the model from the run's settings.
    from vidmask_nb.media.extract import prepare
    from vidmask_nb.run.pipeline import RunOptions
    from vidmask_nb.run.settings import RunSettings

    workdir = tmp_path / "lab" / "run"
    RunSettings(Path(sample_clip), workdir, RunOptions(weights="random", image_size=128, device="cpu")).save()
    prepare(sample_clip, workdir)
    with notebook_02_in_lab(tmp_path, None, "draw") as (browser, canvas, prompts_json):
        page = browser.page
        # The editor draws the (here full-size) frame: 1 canvas pixel = 1 source pixel, CSS scales it.
        assert canvas.evaluate("c => [c.width, c.height]") == [info.width, info.height]
        browser.screenshot("before_drawing")

        page.locator(".vidmask-label input").fill("target")
        page.locator(".vidmask-new-object").click()
        page.locator(".vidmask-status", has_text="new object 1: target").wait_for(timeout=30_000)
        page.locator(".vidmask-label input").fill("spare")  # an object added by mistake, deleted in the widget
        page.locator(".vidmask-new-object").click()
        page.locator(".vidmask-status", has_text="new object 2: spare").wait_for(timeout=30_000)
        page.locator(".vidmask-delete-object").click()
        page.locator(".vidmask-status", has_text="object 2 deleted").wait_for(timeout=30_000)
        for _ in range(frame):
            page.locator(".vidmask-next").click()
        page.locator(".vidmask-frame-info", has_text=f"{info.seconds(frame):.3f} s").wait_for(timeout=30_000)

        drag(page, canvas, box[:2], box[2:])
        wait_for(lambda: any(p["box"] for p in _prompts(prompts_json)), what="the box in prompts.json")
        drawn = prompts_json.read_bytes()
        drag(page, canvas, (140.0, 100.0), (142.0, 101.0))  # a slip of the hand: 2x1 source px (8x4 on screen)
        page.locator(".vidmask-status", has_text="too small for a box").wait_for(timeout=30_000)
        drag(page, canvas, (110.0, 20.0), (150.0, 60.0))  # over the object's box: kept, the new one waits
        page.locator(".vidmask-status", has_text="already has a box on frame 2, kept").wait_for(timeout=30_000)
        assert prompts_json.read_bytes() == drawn  # neither changed a prompt
        assert page.locator(".vidmask-replace").is_enabled()
        click(page, canvas, point)
        wait_for(lambda: any(p["points"] for p in _prompts(prompts_json)), what="the point in prompts.json")
        # a Shift-click and a right-click: negative points (the click's own Shift flag and button)
        page.keyboard.down("Shift")
        click(page, canvas, negative)
        page.keyboard.up("Shift")
        wait_for(lambda: sum(len(p["points"]) for p in _prompts(prompts_json)) == 2,
                 what="the Shift-click's point in prompts.json")
        click(page, canvas, right, button="right")
        wait_for(lambda: sum(len(p["points"]) for p in _prompts(prompts_json)) == 3,
                 what="the right-click's point in prompts.json")
        page.locator(".vidmask-status", has_text="- point").wait_for(timeout=30_000)
        # Shift+-> jumps 10 frames; the next click is still a + point (no remembered Shift)
        page.keyboard.press("Shift+ArrowRight")
        page.locator(".vidmask-frame-info", has_text=f"frame {frame + 10} ·").wait_for(timeout=30_000)
        click(page, canvas, later)
        wait_for(lambda: any(p["frame"] == frame + 10 for p in _prompts(prompts_json)),
                 what="the point 10 frames on in prompts.json")
        browser.screenshot("after_drawing")

        page.locator(".vidmask-preview-button").click()
        page.locator("img.vidmask-preview").first.wait_for(state="visible", timeout=240_000)
        browser.screenshot("preview")

    data = json.loads(prompts_json.read_text())
    (target,) = data["objects"]  # the placeholder was reused, the spare deleted
    assert target["label"] == "target"
    boxes = [p for p in data["prompts"] if p["box"]]
    points = [p for p in data["prompts"] if p["points"]]
    assert len(boxes) == 1 and len(points) == 4, data["prompts"]
    for p in boxes + points:
        at = frame + 10 if p is points[-1] else frame
        assert p["frame"] == at and p["obj_id"] == target["id"] and p["pts"] == info.pts[at]
    assert all(abs(a - b) <= TOLERANCE_PX for a, b in zip(boxes[0]["box"], box)), boxes[0]["box"]
    for p, (x, y), label in zip(points, (point, negative, right, later), (1, 0, 0, 1)):
        (px, py), = p["points"]
        assert abs(px - x) <= TOLERANCE_PX and abs(py - y) <= TOLERANCE_PX, p
        assert p["point_labels"] == [label], p
    assert len(list(browser.shots.glob("*.png"))) >= 4


@pytest.mark.media
def test_find_and_accept_a_face_in_jupyterlab(tmp_path, face_clip):
    """Find on this frame -> click the cyan proposal on the canvas -> accept: the face is an object."""
    require_browser()
    from vidmask_nb.detect.detectors import detect_frame
    from vidmask_nb.media.video import VideoReader

    with VideoReader(face_clip) as reader:  # what the kernel's detector will propose, found here independently
        faces, later = detect_frame(reader[0], "faces"), detect_frame(reader[10], "faces")
    assert len(faces), "CenterFace finds no face on frame 0 of the bedroom cut"
    face = tuple(float(v) for v in faces.boxes[int(faces.scores.argmax())])
    centre = lambda b: np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2])  # noqa: E731
    # the same face on frame 10: the detection nearest to it
    again = tuple(float(v) for v in min(later.boxes, key=lambda b: np.abs(centre(b) - centre(face)).sum()))

    # a laptop window: the 960 px frame is shrunk to the cell's width, whole, its clicks scaled back
    with notebook_02_in_lab(tmp_path, face_clip, "find", viewport=(1280, 800), preview=False) as (
            browser, canvas, prompts_json):
        page = browser.page
        assert canvas.evaluate("c => [c.width, c.height]") == [960, 540]  # 1 canvas pixel = 1 source pixel
        shown = canvas.bounding_box()
        cell = page.locator(".jp-Cell-outputArea").filter(has=canvas).first.bounding_box()
        assert shown["width"] < 960 and shown["x"] + shown["width"] <= min(cell["x"] + cell["width"], 1280) + 1
        assert abs(shown["height"] / shown["width"] - 540 / 960) < 0.01  # not stretched
        # at 1280x800 the image and the controls it needs are in view together
        page.locator(".vidmask-header").evaluate("e => e.scrollIntoView({block: 'start'})")
        in_view = lambda sel: page.locator(sel).first.bounding_box()  # noqa: E731
        for sel in (".vidmask-mode", ".vidmask-object", ".vidmask-find", ".vidmask-accept", ".vidmask-next"):
            assert in_view(sel)["y"] >= 0, sel
        for sel in ("canvas.vidmask-canvas", ".vidmask-status", ".vidmask-proposals", ".vidmask-prompt-list"):
            assert in_view(sel)["y"] + in_view(sel)["height"] <= 800, (sel, in_view(sel))
        # issue 30: the frame line was cut ("…prompted fram"), the find choice read "faces + persor"
        assert page.locator(".vidmask-frame-info div[title]").evaluate(
            "e => e.scrollHeight <= e.clientHeight + 1 && e.scrollWidth <= e.clientWidth + 1")
        kinds = page.locator(".vidmask-find-kinds select")
        kinds.select_option(label="faces + personal text + codes")
        assert kinds.evaluate("""s => { const c = document.createElement('canvas').getContext('2d');
            c.font = getComputedStyle(s).font;
            return c.measureText(s.options[s.selectedIndex].text).width + 20 <= s.clientWidth; }""")
        kinds.select_option(label="faces")
        browser.screenshot("layout_1280x800")
        page.locator(".vidmask-find").click()
        page.locator(".vidmask-status", has_text=f"{len(faces)} faces found on frame 0").wait_for(timeout=60_000)
        browser.screenshot("proposals")
        click(page, canvas, ((face[0] + face[2]) / 2, (face[1] + face[3]) / 2))
        page.locator(".vidmask-status", has_text="proposal #0").wait_for(timeout=30_000)
        page.locator(".vidmask-accept").click()
        data = wait_for(lambda: prompts_json.is_file() and json.loads(prompts_json.read_text()),
                        what="the accepted face in prompts.json")
        # the label box shows the pick (its value reaches the page a moment after prompts.json is saved)
        wait_for(lambda: page.locator(".vidmask-label input").input_value() == "face 1", timeout=30,
                 what="the label box to show the accepted object, face 1")
        browser.screenshot("accepted")
        first = data

        # the other face too, then Find again: both reported as already boxed, and shown on request
        page.locator(".vidmask-proposals select").select_option(index=0)
        page.locator(".vidmask-status", has_text="proposal #0").wait_for(timeout=30_000)
        page.locator(".vidmask-accept").click()
        page.locator(".vidmask-status", has_text="accepted: face 2").wait_for(timeout=30_000)
        page.locator(".vidmask-find").click()
        page.locator(".vidmask-status", has_text="2 faces found on frame 0, both already boxed (face 1, face 2)"
                     ).wait_for(timeout=60_000)
        page.locator(".vidmask-show-found").click()
        page.locator(".vidmask-status", has_text="2 detection(s) already boxed shown").wait_for(timeout=30_000)
        browser.screenshot("already_boxed")

        # frame 10: the same face found again goes into its object (face 1, picked) as a second prompt of it
        page.locator(".vidmask-object select").select_option(label="1: face 1")
        page.locator(".vidmask-accept-into", has_text="add to face 1").wait_for(timeout=30_000)
        x, y = canvas_to_page(page, canvas, 480, 270)
        page.mouse.move(x, y)
        page.keyboard.press("Shift+ArrowRight")
        page.locator(".vidmask-frame-info", has_text="frame 10 ·").wait_for(timeout=30_000)
        page.locator(".vidmask-find").click()
        page.locator(".vidmask-status", has_text="found on frame 10").wait_for(timeout=60_000)
        click(page, canvas, tuple(centre(again)))
        page.locator(".vidmask-status", has_text="proposal #").wait_for(timeout=30_000)
        page.locator(".vidmask-accept-into").click()
        page.locator(".vidmask-status", has_text="accepted into face 1: box on frame 10").wait_for(timeout=30_000)
        data = json.loads(prompts_json.read_text())
        browser.screenshot("accepted_into")

    (obj,) = first["objects"]
    (prompt,) = first["prompts"]
    assert obj["label"] == "face 1" and prompt["obj_id"] == obj["id"] and prompt["frame"] == 0
    assert all(abs(a - b) <= TOLERANCE_PX for a, b in zip(prompt["box"], face)), (prompt["box"], face)
    labels = {o["id"]: o["label"] for o in data["objects"]}
    assert sorted(labels.values()) == ["face 1", "face 2"]  # no third object: the face went into face 1
    assert sorted((labels[p["obj_id"]], p["frame"]) for p in data["prompts"]) == [
        ("face 1", 0), ("face 1", 10), ("face 2", 0)]
    (into,) = [p for p in data["prompts"] if p["frame"] == 10]
    assert all(abs(a - b) <= TOLERANCE_PX for a, b in zip(into["box"], again)), (into["box"], again)


def test_review_row_opens_the_editor_at_its_frame_with_masks_drawn(tmp_path, sample_clip, sample_clip_info):
    """04 with injected masks (the ball lost on frames 30..32): "fix" on the vanished row opens
    the editor at frame 30 with the block's tracked mask tinted on the canvas.
    ipycanvas sends an RGB frame as JPEG, so pixels are compared inside uniform areas, with a
    tolerance well below the tint's change (0.4 x the distance to the object's colour)."""
    require_browser()
    from vidmask_nb.notebook.editor import MASK_ALPHA
    from common import inject_masks
    from vidmask_nb.runfolder.folder import RunFolder
    from vidmask_nb.media.sample import SampleScene
    from vidmask_nb.media.video import VideoReader

    info, frame = sample_clip_info, 30
    scene = SampleScene((info.width, info.height), info.fps)
    store = inject_masks(info, {1: "ball", 2: "block"},
                         lambda i, k: None if (k == 1 and 30 <= i <= 32) else scene.object_mask(i, k))
    store.save(RunFolder(tmp_path / "lab" / "run").create().masks_json)
    ys, xs = np.nonzero(scene.object_mask(frame, 2))
    inside = (int(np.median(xs)), int(np.median(ys)))  # a pixel well inside the block's mask
    with VideoReader(sample_clip) as reader:
        source = reader[frame]
    tint = np.array(store.objects[1]["color"], float)

    with notebook_in_lab(tmp_path, "04_render.ipynb", sample_clip, "review", overlay_preview=False) as (browser, _):
        page = browser.page
        # the redacted video plays in the page: JupyterLab serves it, the browser decodes it
        player = page.locator("video.vidmask-player").first
        player.scroll_into_view_if_needed()
        playing = player.evaluate("""async v => { v.muted = true; await v.play();
            await new Promise(r => setTimeout(r, 700)); v.pause();
            return {time: v.currentTime, duration: v.duration, width: v.videoWidth, error: v.error && v.error.code}; }""")
        assert playing["error"] is None and playing["time"] > 0 and playing["width"] == info.width, playing
        assert abs(playing["duration"] - info.frame_count / float(info.fps)) < 0.2, playing
        assert page.locator("img.vidmask-compare").first.bounding_box()["width"] > 0  # source | redacted
        browser.screenshot("player")
        row = page.locator(".vidmask-review-row", has_text="vanished").first
        row.scroll_into_view_if_needed()
        row.locator(".vidmask-fix").click()
        canvas = wait_canvas_painted(page, "canvas.vidmask-canvas")
        page.locator(".vidmask-frame-info", has_text=f"frame {frame} ·").wait_for(timeout=30_000)
        page.locator(".vidmask-status", has_text="frames 30-32 · 1: ball · vanished").wait_for(timeout=30_000)
        browser.screenshot("fix_opened")
        pixel = lambda x, y: canvas.evaluate(  # noqa: E731
            "(c, [x, y]) => Array.from(c.getContext('2d').getImageData(x, y, 1, 1).data)", [x, y])
        expected = (1 - MASK_ALPHA) * source[inside[1], inside[0]] + MASK_ALPHA * tint
        tinted = lambda: np.abs(np.array(pixel(*inside)[:3]) - expected).max() <= 10  # noqa: E731
        try:
            wait_for(tinted, what="the block's mask tint")
        except AssertionError:
            raise AssertionError(f"canvas pixel {inside} is {pixel(*inside)}, not the block's tint {expected.round()} "
                                 f"(source {source[inside[1], inside[0]]})") from None


def test_a_missing_browser_skips_or_fails_as_asked(monkeypatch):
    import browser_helpers

    monkeypatch.setattr(browser_helpers, "CHROMIUM_CANDIDATES", ("/nonexistent/chromium",))
    monkeypatch.delenv("VIDMASK_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception, match="Chromium not found"):
        require_browser()
    monkeypatch.setenv("VIDMASK_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="VIDMASK_REQUIRE_BROWSER=1 but the browser test cannot run"):
        require_browser()


def test_find_only_run_from_the_clones_notebooks_plays_saves_clean_and_shares(tmp_path, sample_clip, sample_clip_info):
    """Issue 30 items 2-4, as the README says: `jupyter lab notebooks/` in the clone. A find-only, no-track
    run steps 01 -> 04 in the browser (no SAM 2 checkpoint anywhere), 04's video plays although the run
    folder is outside the served root, each notebook is saved (File > Save Notebook) without outputs in the clone, and
    `share` accepts the run."""
    require_browser()
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    from vidmask_nb.cli import main

    served = ROOT / "notebooks"  # the clone's notebooks (a link to the shipped ones)
    workdir, scratch = tmp_path / "run", tmp_path / "scratch"
    names = {n: f"zz_{tmp_path.name}_{n}.ipynb" for n in ("01_extract", "02_prompt", "03_propagate", "04_render")}
    params = {"01_extract": {"video": str(sample_clip), "find": "faces", "no_track": True, "thumbnails": 2},
              "04_render": {"overlay_preview": False, "contact_frames": 2}}
    try:
        for n, name in names.items():  # a person's copies with their parameters, in the clone's notebooks/
            nb = parameterize_notebook(load_notebook_node(str(served / f"{n}.ipynb")),
                                       {"workdir": str(workdir), **params.get(n, {})})
            nbformat.write(nb, served / name)
        with JupyterLab(served, scratch) as lab, Browser(scratch, (1280, 800)) as browser:
            page = browser.page
            try:
                for n, name in names.items():
                    open_notebook(page, lab, name, alone=True)
                    run_all_cells(page)
                    wait_until_executed(page)
                    assert not cell_errors(page), (n, cell_errors(page))
                    browser.screenshot(n)
                    if n == "04_render":
                        player = page.locator("video.vidmask-player").first
                        player.scroll_into_view_if_needed()
                        playing = player.evaluate("""async v => { v.muted = true; await v.play();
                            await new Promise(r => setTimeout(r, 700)); v.pause();
                            return {time: v.currentTime, error: v.error && v.error.code}; }""")
                        assert playing["error"] is None and playing["time"] > 0, playing
                    before = (served / name).stat().st_mtime_ns
                    page.locator(".lm-MenuBar-itemLabel", has_text="File").first.click()  # as a person saves
                    page.locator(".lm-Menu-itemLabel", has_text="Save Notebook").first.click()
                    wait_for(lambda: (served / name).stat().st_mtime_ns != before, what=f"{n} saved")
            except Exception:
                browser.screenshot("failure")
                print("JupyterLab log:\n" + lab.log_tail())
                raise
            finally:
                copy_artifacts(browser.shots, ARTIFACTS / "find_only")
        for name in names.values():
            saved = json.loads((served / name).read_text())
            assert not [c for c in saved["cells"] if c["cell_type"] == "code" and c.get("outputs")], name
        assert main(["share", str(workdir), "--to", str(tmp_path / "published")]) == 0
        assert (tmp_path / "published" / "sample_redacted.mp4").is_file()
    finally:
        for name in names.values():
            (served / name).unlink(missing_ok=True)
