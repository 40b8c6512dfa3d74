"""``share``: copy what is safe to publish out of a complete, current run whose every audit is clean.

Every audit the run asked for must be clean (pictures: faces, personal text, codes; speech: listed
words still heard), unless ``accept_leaks`` (recorded per kind in ``summary.json``).
"""
from __future__ import annotations

from pathlib import Path

from vidmask_nb.errors import VidmaskError
from vidmask_nb.runfolder.folder import atomic_output, write_json
from vidmask_nb.runfolder.record import RunRecord
from vidmask_nb.runfolder.state import RunState, input_digests, sha256_file


def flagged_kinds(record: RunRecord) -> dict:
    """What each of a run's recorded audits still found, by kind (``{"faces": [3, 4], "speech": 1}``)."""
    out: dict = {}
    audit = record.audit
    if audit is not None and not audit.get("clean", False):
        for kind in audit.get("kinds") or ["pictures"]:
            out[str(kind)] = list(audit.get("leak_frames") or [])[:20]
    speech = record.speech_audit
    if speech is not None and not speech.get("clean", False):
        out["speech"] = len(speech.get("heard") or [])
    return out


def covers_line(covers: dict | None) -> str:
    """What the covers cost the viewer, in one line (from ``review.coverage.CoverReport.to_json``)."""
    if not isinstance(covers, dict):
        return "covers: not measured (a run from before the review measured them)"
    worst = covers.get("worst") or {}
    return (f"covers: {covers.get('mean_share', 0):.1%} of the picture on average, at most "
            f"{worst.get('share', 0):.1%} (frame {worst.get('frame')}); {len(covers.get('over') or [])} frame(s) "
            f"over {covers.get('over_share', 0.5):.0%}")


def audit_flags(record: RunRecord) -> list[str]:
    """One line per audit of the run's record that still found something."""
    lines = []
    audit = record.audit
    if audit is not None and not audit.get("clean", False):
        lines.append(f"{'/'.join(map(str, audit.get('kinds') or []))} still detectable on frames "
                     f"{list(audit.get('leak_frames') or [])[:10]}")
    speech = record.speech_audit
    if speech is not None and not speech.get("clean", False):
        lines.append(f"{len(speech.get('heard') or [])} listed word(s) still heard (speech audit)")
    return lines


def portable(value, workdir: Path):
    """``value`` (a summary: dicts, lists, strings) with every absolute path made one a viewer may read: a
    file inside the run folder by its path there, any other by its name and sha256 (``words.txt sha256:...``),
    so that nothing of the person's machine (home folder, user name, where the prompts live) is shared."""
    import os

    if isinstance(value, dict):
        return {k: portable(v, workdir) for k, v in value.items()}
    if isinstance(value, list):
        return [portable(v, workdir) for v in value]
    if not isinstance(value, str) or not value or "\n" in value or not os.path.isabs(value):
        return value
    path = Path(value)
    try:
        if path.resolve().is_relative_to(workdir):
            return path.resolve().relative_to(workdir).as_posix() or "."
        if path.is_file():
            return f"{path.name} sha256:{sha256_file(path)}"
    except (OSError, ValueError):
        pass
    return path.name


def share(workdir, to, with_masks: bool = False, accept_leaks: bool = False, into_non_empty: bool = False) -> list[Path]:
    """Copy what is safe to share from a complete, current run into ``to``; returns the files.

    The redacted video, ``masks.json`` with ``with_masks``, and ``summary.json`` (objects, options,
    dropped prompts, uncovered gaps, the audit, the video's sha256). Never anything from ``sensitive/``.
    Refuses unless the run's state marks a complete run whose video, prompts and options are still
    the ones on disk, whose output (and masks) are the files it recorded (same sha256), and whose audit
    found nothing (``accept_leaks``: share anyway, recorded in the summary). ``to`` must be new or empty
    unless ``into_non_empty``. The same checks whichever way the run was driven (notebooks or ``run``).
    """
    import shutil

    if not str(to).strip():
        raise VidmaskError("--to is empty: give the folder to copy into")
    workdir, to = Path(workdir).resolve(), Path(to).resolve()
    state = RunState.load(workdir)
    if state is None:
        raise VidmaskError(f"{workdir} holds no run.json: share a run folder whose run completed "
                           "(notebooks 01-04, or vidmask-nb run)")
    record = state.record
    if state.status != "complete":
        raise VidmaskError(f"the run in {workdir} is not complete (status {state.status!r}); "
                           "run it to the end first")
    output = Path(record.output or "")
    if not output.is_file() or sha256_file(output) != record.output_sha256:
        raise VidmaskError(f"{output} is missing or is not the file this run wrote; run it again")
    video = Path(record.video or "")
    prompts = Path(record.prompts) if record.prompts else None
    if not video.is_file() or (prompts is not None and not prompts.exists()):
        raise VidmaskError(f"cannot check that the run is current: its video {video} or prompts {prompts} "
                           "are gone; run again where they are")
    from vidmask_nb.media.video import probe
    from vidmask_nb.run.options import RunOptions
    from vidmask_nb.run.settings import options_key, prompts_digest

    try:
        opts = RunOptions(**(record.options or {}))
    except (TypeError, KeyError) as exc:
        raise VidmaskError(f"{state.path} was written by another version of the kit ({exc}); run again") from None
    if (options_key(probe(video), opts, prompts_digest(prompts)) != record.key
            or input_digests(workdir) != record.inputs):
        raise VidmaskError(f"the video, prompts or masks changed since the run in {workdir} completed; "
                           "run it again before sharing")
    if record.audit is None:
        raise VidmaskError(f"{state.path} records no audit of {output.name}: every run audits its output; "
                           "run 04 (or vidmask-nb run) again")
    flags = audit_flags(record)
    if flags and not accept_leaks:
        raise VidmaskError(f"the run's own audits still find something in {output.name}: {'; '.join(flags)}; fix "
                           "them (02, then 03 and 04), or share anyway with --accept-leaks (recorded in summary.json)")
    if to == workdir or to.is_relative_to(workdir):
        raise VidmaskError(f"--to {to} is inside the run folder; give a folder outside it")
    if to.is_file():
        raise VidmaskError(f"--to {to} is a file; give a folder")
    if to.is_dir() and any(to.iterdir()) and not into_non_empty:
        raise VidmaskError(f"--to {to} is not empty; give a new or empty folder, or --into-non-empty to "
                           "replace same-named files there")
    files = [output] + ([workdir / "masks.json"] if with_masks else [])
    try:
        to.mkdir(parents=True, exist_ok=True)
        out = []
        for f in files:
            with atomic_output(to / f.name) as tmp:
                shutil.copyfile(f, tmp)
            out.append(to / f.name)
        summary = {k: getattr(record, k) for k in ("objects", "options", "prompt_check", "uncovered_gaps", "long_gaps",
                                                 "output_sha256", "floor")}
        summary["audit"] = record.audit  # the pictures' audit (faces, text, pii, codes)
        summary["audits"] = {"pictures": record.audit, "speech": record.speech_audit}
        summary["covers"] = record.covers  # how much of the picture the covers take: mean, worst, over the share
        if record.render_options:
            summary["options"] = record.render_options  # what 04 rendered with (a notebook may override)
        summary["video"] = output.name
        if summary.get("prompt_check"):  # where the person's files live is not for the viewer
            summary["prompt_check"] = {k: v for k, v in summary["prompt_check"].items() if k not in ("source", "path")}
        accepted = flagged_kinds(record) if accept_leaks else {}
        summary["leaks_accepted"] = bool(accepted)
        summary["leaks_accepted_by_kind"] = accepted  # what the person chose to publish anyway, by kind
        if with_masks:
            summary["masks_sha256"] = (record.inputs or {}).get("masks.json")
        out.append(write_json(to / "summary.json", portable(summary, workdir)))
    except OSError as exc:
        raise VidmaskError(f"cannot write to {to}: {exc.strerror or exc}") from None
    return out
