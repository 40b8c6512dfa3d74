"""What the notebooks show of a ``run.stages.Run``: one function a picture or widget, each a single call.

The notebooks' cells call these (``vm.show_probe(run)``, ``vm.editor(run)``...): every decision is
made in the package, so a cell is the story ("render, show, audit, review"), not its wiring.
"""
from __future__ import annotations

from pathlib import Path

from IPython.display import display

from vidmask_nb.review.tables import show_table

__all__ = ["show_table"]


def _show_live(widget, what: str) -> None:
    """``widget`` displayed under the line that says what to do if it cannot be drawn (``reload_note``); a plain
    HTML answer (nothing to fix) is shown alone."""
    from vidmask_nb.notebook.live import reload_note

    if hasattr(widget, "live_what"):
        display(reload_note(what), raw=True)
    display(widget)


def show_probe(run) -> None:
    """01: the probe and the run's settings, as two tables."""
    show_table(run.info.to_dict(), title="Probe")
    show_table({"video": str(run.video), **run.settings.to_json()["options"]},
               title=f"The run's settings (in {run.settings.path})")


def show_thumbnails(run, n: int = 8) -> None:
    """01: ``n`` frames spread over the video, with their index and time."""
    from vidmask_nb.media.video import VideoReader, fit_size, sample_indices
    from vidmask_nb.review import overlay

    info = run.info
    reader = VideoReader(run.video, size=fit_size(info.width, info.height, 480), info=info)
    idx = sample_indices(info.frame_count, n)
    overlay.show_grid(reader.frames_at(idx), [f"frame {i} · {info.seconds(i):.2f} s" for i in idx], cols=4)


def show_chunks(manifest) -> None:
    """01: the chunk plan (units of tracking progress and checkpoints)."""
    info = manifest.info
    show_table([{"chunk": c.name, "frames": c.frames, "from s": round(info.seconds(c.start), 3),
                 "to s": round(info.seconds(c.stop - 1), 3)} for c in manifest.plan.chunks], title="Chunks")


def show_found(run, floor: dict | None) -> None:
    """02: the prompts the run was given that could not be used or were clipped (in red), what ``find``
    covered (boxes per kind, what matched: never the text) and the prompts it added."""
    from vidmask_nb.prompts.sources import PromptSource

    check = run.state.record.prompt_check
    if check is not None:  # what `vidmask-nb run` dropped and clipped from its --prompts
        PromptSource.from_json(check, run.prompts).show()
    if floor is None:
        print("find is not set for this run (01's `find`): only the prompts drawn here are hidden")
        return
    show_table([{"kind": k, **v} if isinstance(v, dict) else {"kind": k, "value": v} for k, v in floor.items()],
               title="The detector floor (floor.json): covered on every frame it was found, fail closed")
    log = run.found_log
    show_table(log[:40] or [{"prompts added": "none" if run.options.no_track else "none found"}],
               title=f"{len(log)} prompt(s) added by find")


def editor(run, preview: bool = True):
    """02: the prompt editor on the run (draw boxes and points; Find proposes detector boxes)."""
    from vidmask_nb.notebook.editor import PromptEditor

    model = None
    if preview and not run.options.no_track:
        o = run.options
        model = dict(model=o.model, checkpoint=o.checkpoint, weights=o.weights, device=o.device, image_size=o.image_size)
    from vidmask_nb.notebook.live import reload_note

    ed = PromptEditor(run.info, run.workdir, predictor=model, pii_words=run.options.pii_words)
    display(reload_note("editor", f"every edit is already in {run.folder.prompts_json.name}"), raw=True)
    return ed


def show_preview(run, editor=None) -> None:
    """02: SAM 2's mask on each prompted frame alone, with the tracker's model (none with ``no_track``)."""
    from vidmask_nb.notebook.preview import preview_grid, prompt_rows

    prompts = run.prompts
    if not prompts.prompts:
        print("no prompts: draw a box on the object above, then run this cell again"
              + (" (or let find's floor alone cover what it finds)" if run.options.find else ""))
        return
    show_table(prompt_rows(prompts, run.info), title=f"{len(prompts.prompts)} prompt(s) in {run.folder.prompts_json}")
    predictor = None
    if editor is not None and editor.has_model:  # the editor's model (none when 02's `preview` is off)
        predictor = editor.predictor()
    elif editor is None and not run.options.no_track:
        predictor = run.predictor()
    display(preview_grid(predictor, run.info, prompts))


def show_tracking(run, store, overlay_count: int = 8) -> None:
    """03: each object's area and score over time (re-tracked frames shaded blue), a table per object,
    and masks on sampled frames."""
    from vidmask_nb.review.timeline import object_timelines, overlay_frames, timeline_figure
    from vidmask_nb.track.corrections import tracking_changes

    if run.options.no_track:
        print("no_track: the covers are the detector floor and the drawn boxes (see 04)")
        return
    prompts = run.prompts
    prompt_frames = {o.id: sorted({p.frame for p in prompts.prompts if p.obj_id == o.id}) for o in prompts.objects}
    changes = tracking_changes(run.workdir)
    display(timeline_figure(store, fps=run.info.fps, prompt_frames=prompt_frames,
                            changed_spans=changes.corrected_spans if changes else []))
    show_table([{"object": f"{t.obj_id}: {t.label}", "empty frames": t.absent_frames,
                 "median area px": int(sorted(t.areas)[len(t.areas) // 2]), "min score": round(float(t.scores.min()), 3)}
                for t in object_timelines(store)], title="Per object")
    display(overlay_frames(run.video, store, n=overlay_count))


def show_plan(run, object_styles=None) -> None:
    """04: what the render covers and how (styles, margins, hold), the gaps in the tracks, the audio plan."""
    from vidmask_nb.redact.gaps import gap_rows

    plan = run.render_plan(object_styles)
    print(plan.describe())
    with run.masks() as store:
        gaps = gap_rows(plan.margins.gaps(store), plan.labels, store.header["video"]["fps"])
    show_table(gaps or [{"gaps": "none longer than the hold"}],
               title=f"Gaps in the tracks longer than {run.hold_frames} frame(s)")
    audio = run.audio_plan()
    if audio.spans:  # SENSITIVE: the "why" column names the words heard, the strip marks them on the source
        from vidmask_nb.review.sound import heard_strip

        show_table(audio.rows(), title=f"audio spans to {audio.mode}")
        if audio.heard:
            display(heard_strip(run.video, audio.heard, out_path=run.folder.qa_dir / f"{run.video.stem}_heard.png"))
    else:
        print(audio.summary())


def show_output(run, output) -> None:
    """04: the redacted video against its source, the audio spans changed, a player and a source | redacted
    slider (the source side is SENSITIVE)."""
    from vidmask_nb.notebook.live import reload_note
    from vidmask_nb.notebook.result import CompareView, video_player
    from vidmask_nb.review import qa
    from vidmask_nb.review.sound import waveform_strip

    show_table(qa.compare_to_source(run.video, output), title="The redacted video against its source")
    audio = run.audio_plan()
    if audio.changes_audio:
        display(waveform_strip(run.video, output, audio, out_path=run.folder.qa_dir / f"{run.video.stem}_audio.png"))
    display(reload_note("player or the source | redacted view", "the video is on disk"), raw=True)
    display(video_player(output, title=f"redacted: {Path(output).name}"))
    display(CompareView(run.video, output))
    print("redacted video:", Path(output).resolve())
    print("SENSITIVE (shows the source, never share):", run.folder.sensitive_dir)


def show_audit(run, audit) -> None:
    """04: every audit's findings, the leaking frames with the detection boxed in red, a *fix* button on
    each leak (the prompt editor at that frame), and the listed words still heard."""
    from vidmask_nb.notebook.editor import review_fixer
    from vidmask_nb.review.audit import leak_sheet

    print(audit.summary())
    report = audit.pictures
    if report is not None and report.findings:
        show_table(report.rows(40), title="detections in the redacted video")
    if report is not None and not report.clean:
        display(leak_sheet(report, out_path=run.folder.qa_dir / f"{run.video.stem}_leaks.png"))
        _show_live(review_fixer(run.video, run.workdir, report.review_table()), "table of fix buttons")
    if audit.speech is not None and audit.speech.heard:
        show_table(audit.speech.rows(), title="listed words still heard in the redacted video")


def show_review(run, table) -> None:
    """04: the spans to check, the area timeline with them shaded, a *fix* button on each row."""
    from vidmask_nb.notebook.editor import review_fixer
    from vidmask_nb.review import qa
    from vidmask_nb.track.corrections import tracking_changes

    table.show()
    changes = tracking_changes(run.workdir)
    if changes and changes.corrected_spans:
        print(changes.summary())
    with run.masks() as store:
        display(qa.area_timeline(store, table, out_path=run.folder.qa_dir / f"{run.video.stem}_areas.png",
                                 changed_spans=changes.corrected_spans if changes else []))
    _show_live(review_fixer(run.video, run.workdir, table), "table of fix buttons")


def show_contact_sheets(run, output, table=None, n: int = 8) -> None:
    """04: overlay | redacted on ``n`` frames spread over the video, then on the review's first frames."""
    from vidmask_nb.review import qa

    display(qa.contact_sheet(run.video, run.workdir, n=n, redacted=output))
    if table is not None and len(table):
        display(qa.contact_sheet(run.video, run.workdir, frames=table.frames_to_check(n), redacted=output,
                                 out_path=run.folder.qa_dir / f"{run.video.stem}_review.png"))


def show_overlay(run, enabled: bool = True) -> None:
    """04: the overlay video (SENSITIVE: the source under a tint; never share it); nothing unless ``enabled``,
    or when no object was tracked."""
    from vidmask_nb.notebook.result import video_player
    from vidmask_nb.review import qa

    if not enabled:
        return
    with run.masks() as store:
        if not store.object_infos:  # a run of the floor alone (--no-track): nothing to tint
            print("no tracked objects: an overlay would be a copy of the source, so none is written")
            return
    overlay = qa.overlay_video(run.video, run.workdir)
    display(video_player(overlay, title="overlay preview (SENSITIVE: shows the source, never share)"))


def export_palette_pngs(run, enabled: bool = True) -> None:
    """04: the masks as palette PNGs, one a frame, into ``<workdir>/masks_png`` (for other tools); nothing
    unless ``enabled``."""
    from vidmask_nb.review import qa

    if enabled:
        with run.masks() as store:
            print("palette PNGs:", qa.export_palette_pngs(store, run.workdir / "masks_png"))
