"""The ``vidmask-nb`` command: probe, run, batch, share, demo, audit, notebooks, and the stages on their own (track, render).

Errors the kit knows about (``VidmaskError``) are printed as one plain message, exit code 2; no
traceback.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import sys
from dataclasses import fields
from pathlib import Path

from vidmask_nb.errors import VidmaskError, check_number, text_file_arg


def _run_flags(p: argparse.ArgumentParser, defaults_from_manifest: bool = False) -> None:
    g = p.add_argument_group("tracking and rendering options" + (" (defaults for every row)" if defaults_from_manifest else ""))
    _track_flags(g)
    _render_flags(g)
    _find_flags(g)
    g.add_argument("--drop-unusable-prompts", action="store_true",
                   help="go on without prompts, shapes or files that cannot be used, listing each on the console "
                        "and in run.json (default: stop and list them)")


def _track_flags(g) -> None:
    from vidmask_nb.track.propagate import TrackOptions

    d = TrackOptions()  # the tracking stage's defaults, one place
    g.add_argument("--model", default=d.model, help=f"SAM 2.1 size: tiny, small, base_plus, large (default {d.model})")
    g.add_argument("--checkpoint", default=d.checkpoint,
                   help="checkpoint file (default: checkpoints/sam2.1_hiera_<model>.pt)")
    g.add_argument("--weights", default=d.weights, choices=["trained", "random"],
                   help=f"'random' runs untrained weights: a smoke test, masks are meaningless (default {d.weights})")
    g.add_argument("--image-size", type=int, default=d.image_size,
                   help="SAM 2 input size override (default: the model's 1024)")
    g.add_argument("--device", default=d.device, help="cpu, cuda, cuda:N or mps (default: best available)")
    g.add_argument("--chunk-seconds", type=float, default=d.chunk_seconds,
                   help=f"tracking checkpoint interval in seconds of video (default {d.chunk_seconds:g})")


def _render_flags(g) -> None:
    from vidmask_nb.media.encode import DEFAULT_CRF
    from vidmask_nb.redact.render import RenderOptions

    d = RenderOptions()  # the render stage's defaults, one place
    g.add_argument("--style", default=d.style,
                   help=f"fill, fill:#rrggbb, mean, blur, blur:STRENGTH, pixelate, pixelate:BLOCK (default {d.style})")
    g.add_argument("--dilate", type=int, default=d.dilate, help=f"grow masks by PX pixels (default {d.dilate})")
    g.add_argument("--feather", type=int, default=d.feather, help=f"soften mask edges over PX pixels (default {d.feather})")
    g.add_argument("--hold-seconds", type=float, default=d.hold_seconds,
                   help=f"always cover an object through dropouts of up to S seconds (default {d.hold_seconds})")
    g.add_argument("--hold", type=int, default=d.hold, help="the same in frames; overrides --hold-seconds (default: unset)")
    g.add_argument("--no-cover-long-gaps", dest="cover_long_gaps", action="store_false",
                   help="leave dropouts longer than --hold-seconds uncovered, listed in run.json and the review "
                        "(default: covered)")
    g.add_argument("--crf", type=int, default=d.crf, help=f"H.264 quality, lower is better (default {DEFAULT_CRF})")
    g.add_argument("--lossless", action="store_true", default=d.lossless,
                   help="lossless output (large files; default off)")
    _audio_flags(g)
    g.add_argument("--full", action="store_true",
                   help="after the prompts changed, re-track every object over every frame, as stock SAM 2 "
                        "(default: re-track only the objects and frames that changed)")


def _audio_flags(g) -> None:
    from vidmask_nb.redact.audio import AudioOptions

    d = AudioOptions()  # the audio's defaults, one place
    g.add_argument("--audio", default=d.audio, choices=["keep", "mute", "bleep"],
                   help="keep, mute or bleep the audio: every track whole, or only --audio-spans and --say-words "
                        "(default: keep; mute when spans or words are given)")
    g.add_argument("--audio-spans", default=d.audio_spans, metavar="SPANS",
                   type=lambda v: str(Path(v).resolve()) if Path(v).is_file() else v,
                   help="seconds to mute or bleep on every track: 1.5-2.2,7-8.25, or a file of START END lines "
                        "(default: none)")
    g.add_argument("--say-words", default=d.say_words, metavar="FILE", type=text_file_arg("--say-words"),
                   help="a file of words and phrases (one a line) muted or bleeped where the speech recogniser "
                        "hears them, near misses included (default: none)")
    g.add_argument("--say-pii", action="store_true", default=d.say_pii,
                   help="also mute or bleep phone, card and IBAN numbers read aloud and e-mail addresses spelled out")
    g.add_argument("--asr", default=d.asr, metavar="MODEL",
                   help="the speech recogniser: a Whisper model name (tiny.en, base: from their wheels) or a "
                        "model folder (default: tiny.en)")
    g.add_argument("--say-margin", type=float, default=d.say_margin, metavar="S",
                   help=f"seconds muted before and after each word heard (default {d.say_margin})")


def _find_flags(g) -> None:
    from vidmask_nb.detect.options import FindOptions

    d = FindOptions()  # the detectors' defaults, one place
    g.add_argument("--find", default=d.find, metavar="KINDS",
                   help="detectors that find what to hide and cover a floor under SAM 2, comma-separated: faces, "
                        "text (every text region), pii (text read by OCR holding an e-mail, phone, card, IBAN, "
                        "plate or a --pii-words word), codes (QR codes and barcodes, always filled) "
                        "(default: none, only the prompts)")
    g.add_argument("--pii-words", default=d.pii_words, metavar="FILE", type=text_file_arg("--pii-words"),
                   help="with --find ...,pii: a UTF-8 text file of words and names, one a line, covered wherever "
                        "OCR reads them (default: none, the built-in patterns only)")
    g.add_argument("--find-every", type=float, default=d.find_every, metavar="S",
                   help=f"with --find, seconds between frames searched for new objects (default {d.find_every})")
    g.add_argument("--floor-every", type=int, default=d.floor_every, metavar="N",
                   help=f"with --find, the floor's detectors run on every N-th frame (default {d.floor_every}: every frame)")
    g.add_argument("--no-track", action="store_true",
                   help="with --find, cover the detector floor alone; SAM 2 is not loaded (default: track)")
    g.add_argument("--exact-floor", action="store_true",
                   help="with --find faces, the floor's faces by CenterFace at 640 px on every frame, the "
                        "earlier pass (more leak frames on moving, turning and small faces; default: the fast "
                        "pass, detect.fastpass)")


def _ray_flags(p: argparse.ArgumentParser, groups: bool = False) -> None:
    g = p.add_argument_group("Ray cluster (pip install 'vidmask-nb[ray]'; files on a filesystem every node mounts)")
    g.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="run on a Ray cluster: ADDRESS (host:6379), else $RAY_ADDRESS, else a local one "
                        "(default: no Ray, this machine only)")
    g.add_argument("--ray-gpus", type=float, default=None,
                   help="GPUs per task (default 1 when the cluster has GPUs, else 0)")
    g.add_argument("--ray-cpus", type=float, default=None, help="CPUs per task (default 1)")
    g.add_argument("--ray-retries", type=int, default=3,
                   help="retries of a task whose worker or node died; it resumes from its last checkpoint (default 3)")
    if groups:
        g.add_argument("--ray-groups", type=int, default=None,
                       help="object groups tracked by separate tasks (default: one per GPU of the cluster, "
                            "else per CPU slot, at most one per object)")


def _ray_options(args):
    from vidmask_nb.run.cluster import RayOptions

    if args.ray_retries < 0 or (getattr(args, "ray_groups", None) or 1) < 1:
        raise VidmaskError("--ray-retries must be 0 or more and --ray-groups 1 or more")
    return RayOptions(address=args.ray or None, gpus=args.ray_gpus, cpus=args.ray_cpus,
                      max_retries=args.ray_retries, groups=getattr(args, "ray_groups", None))


def _options(args):
    """``RunOptions`` from the flags a command has (the others keep their defaults)."""
    from vidmask_nb.run.pipeline import RunOptions

    return RunOptions(**{f.name: getattr(args, f.name) for f in fields(RunOptions) if hasattr(args, f.name)})


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vidmask-nb", description="Hide chosen objects through a whole video with SAM 2.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("probe", help="print what the kit learns about a video, as JSON")
    s.add_argument("video")
    s.add_argument("--pts", action="store_true", help="include every frame's pts")

    s = sub.add_parser("run", help="run every stage on one video (exit 1 when its own audit still finds something); "
                                   "the notebooks executed as its report in WORKDIR/sensitive/reports")
    s.add_argument("video")
    s.add_argument("--prompts", default=None,
                   help="a prompts.json or a LabelMe folder (default: none; then --find is needed)")
    s.add_argument("--out", required=True, help="the run folder")
    s.add_argument("--no-reports", dest="reports", action="store_false",
                   help="do not execute the notebooks as the run's report (default: they are, in "
                        "WORKDIR/sensitive/reports)")
    _run_flags(s)
    _ray_flags(s, groups=True)

    s = sub.add_parser("track", help="track the prompted objects through a video (stage 03 alone): writes OUT/masks.json")
    s.add_argument("video")
    s.add_argument("--prompts", required=True, help="a prompts.json or a LabelMe folder (copied into OUT/prompts.json)")
    s.add_argument("--out", required=True, help="the run folder (created if missing)")
    _track_flags(s.add_argument_group("tracking options"))

    s = sub.add_parser("batch", help="run many videos from a CSV or YAML manifest")
    s.add_argument("manifest", help="CSV with header video,prompts[,out][,option columns] or a YAML list")
    s.add_argument("--out-root", default=None, help="where run folders go (default: runs/ beside the manifest)")
    _run_flags(s, defaults_from_manifest=True)
    _ray_flags(s)

    s = sub.add_parser("share", help="copy what is safe to share from a finished run: the redacted video "
                                     "(and masks), never the sensitive/ folder")
    s.add_argument("workdir", help="the run folder of a complete, current run")
    s.add_argument("--to", required=True, help="the folder to copy into (made if missing; must not be in WORKDIR)")
    s.add_argument("--with-masks", action="store_true",
                   help="also copy masks.json, checked against the run's record (default: the video only)")
    s.add_argument("--accept-leaks", action="store_true",
                   help="share even though the run's own audit found something still detectable; recorded in "
                        "summary.json (default: refuse)")
    s.add_argument("--into-non-empty", action="store_true",
                   help="copy into a --to folder that already holds files, replacing same-named ones "
                        "(default: refuse a non-empty folder)")

    s = sub.add_parser("audit", help="list frames where a detector still finds something: exit 0 none, 1 some, 2 error")
    s.add_argument("video")
    s.add_argument("--find", default="faces", metavar="KINDS",
                   help="faces, text, pii (personal text still readable), codes (codes that still decode), "
                        "comma-separated (default faces)")
    s.add_argument("--pii-words", default=None, metavar="FILE", type=text_file_arg("--pii-words"),
                   help="with pii: a text file of words and names, one a line, reported wherever OCR reads them")
    s.add_argument("--every", type=int, default=1, metavar="N", help="check every N-th frame (default 1: every frame)")
    s.add_argument("--exact", action="store_true",
                   help="faces by CenterFace at 640 px on every frame checked (default: the fast pass, scanning "
                        "every frame, which sees more faces under 40 px; benchmarks/bench_audit.py)")
    s.add_argument("--json", action="store_true", help="print the full report as JSON (default: a table)")
    s.add_argument("--say-words", default=None, metavar="FILE", type=text_file_arg("--say-words"),
                   help="also list where a word or phrase of FILE is still heard (every audio track; exit 1 when "
                        "one is); --find none checks the audio alone (default: no audio check)")
    s.add_argument("--say-pii", action="store_true",
                   help="also list phone, card and IBAN numbers and e-mail addresses still heard (exit 1 when one is)")
    s.add_argument("--asr", default=None, metavar="MODEL",
                   help="the recogniser that listens: another model than the one that did the work (default: base)")

    _render_parser(sub)

    s = sub.add_parser("notebooks", help="copy the four notebooks (01-04, without outputs) into a folder to open "
                                         "in JupyterLab")
    s.add_argument("folder", help="where to copy them (made if missing); a run folder keeps their outputs, which "
                                  "show the source, beside the run's other sensitive files")
    s.add_argument("--force", action="store_true", help="replace notebooks already there (default: refuse)")

    s = sub.add_parser("demo", help="generate a sample clip and prompts and run the whole pipeline")
    s.add_argument("--out", default="runs/demo")
    s.add_argument("--seconds", type=float, default=2.0, help="length of the sample clip (default 2 s)")
    _run_flags(s)
    return p


def _render_parser(sub) -> None:
    from vidmask_nb.media.encode import DEFAULT_PRESET

    s = sub.add_parser("render", help="redact VIDEO with a masks.json (stage 04 on its own)")
    s.add_argument("video")
    s.add_argument("--masks", required=True,
                   help="a masks.json in the documented format whose video block matches VIDEO (required)")
    s.add_argument("--out", required=True, help="the redacted MP4 to write (required; never the source)")
    g = s.add_argument_group("rendering options")
    _render_flags(g)
    g.add_argument("--object-style", action="append", default=[], metavar="LABEL=STYLE",
                   help="effect for one object by label or id, e.g. plate=fill:#000000; repeatable "
                        "(default: none, every object gets --style)")
    g.add_argument("--preset", default=DEFAULT_PRESET, help=f"x264 speed preset (default {DEFAULT_PRESET})")


def main(argv: list[str] | None = None) -> int:
    with quiet_bars_off_terminal():  # before the parser imports the stages (tqdm reads it at its import)
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    try:
        args = build_parser().parse_args(argv)  # a flag's type (a word list) may refuse in one line here
        return COMMANDS[args.command](args)
    except VidmaskError as exc:
        print(f"vidmask-nb: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a filesystem error the checks could not foresee: one line, no traceback
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        print(f"vidmask-nb: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vidmask-nb: interrupted; finished parts are kept and a rerun resumes", file=sys.stderr)
        return 130


@contextlib.contextmanager
def quiet_bars_off_terminal():
    """Progress bars (every stage's ``tqdm``: frames done, rate, ETA) on a terminal; none when stderr is a
    file or a pipe (a log gets the stage lines, not thousands of carriage returns). tqdm reads
    ``TQDM_DISABLE`` when it is imported, here and in the processes started from here (notebook kernels);
    a value the person set is kept."""
    if sys.stderr.isatty() or "TQDM_DISABLE" in os.environ:
        yield
        return
    os.environ["TQDM_DISABLE"] = "1"
    try:
        yield
    finally:
        os.environ.pop("TQDM_DISABLE", None)


def cmd_probe(args) -> int:
    from vidmask_nb.media.video import probe

    print(json.dumps(probe(args.video).to_dict(with_pts=args.pts), indent=2))
    return 0


def cmd_run(args) -> int:
    from vidmask_nb.run.pipeline import run_video

    if args.ray is not None:
        from vidmask_nb.run import cluster

        ray_opts = _ray_options(args)
        with cluster.connected(ray_opts.address):
            result = cluster.run_video_on_ray(args.video, args.prompts, args.out, _options(args), ray_opts,
                                              reports=args.reports)
    else:
        result = run_video(args.video, args.prompts, args.out, _options(args), reports=args.reports)
    print(f"done in {result.seconds:.1f} s: {result.output}")
    if result.flags:
        print(f"FLAGGED by the run's own audits: {'; '.join(result.flags)}; `share` refuses it unless --accept-leaks")
        return 1
    print(f"to share: vidmask-nb share {shlex.quote(str(args.out))} --to DIR")
    return 0


def cmd_notebooks(args) -> int:
    from vidmask_nb.run.notebooks import copy_notebooks

    for path in copy_notebooks(args.folder, force=args.force):
        print(path)
    print(f"open them with: jupyter lab {shlex.quote(str(args.folder))}")
    return 0


def cmd_track(args) -> int:
    from vidmask_nb.run.pipeline import check_prompts
    from vidmask_nb.track.propagate import propagate
    from vidmask_nb.runfolder.folder import RunFolder
    from vidmask_nb.media.video import probe

    from vidmask_nb.runfolder.state import RunLock, RunState, check_run_folder, sha256_file

    opts = _options(args).checked()  # a wrong option fails before anything is written
    check_run_folder(args.out, "--out", inputs=(args.video, args.prompts))  # never a stranger's folder
    info = probe(args.video)
    # The same fail-closed reading as `run`: every unusable shape, file or prompt listed, nothing written.
    source = check_prompts(Path(args.prompts).resolve(), info)
    source.show()
    run = RunFolder(args.out).create()
    with RunLock(run.root, print).acquire("run"):  # one run per folder at a time
        state = RunState.open(run.root)
        state.stage_running("03_propagate")  # the folder is a run folder from here on (its state says so)
        source.prompts.save(run.prompts_json)
        store = propagate(args.video, run.root, opts.track_options)
        state.stage_done("03_propagate", [run.masks_json], inputs={"prompts.json": sha256_file(run.prompts_json)})
    print(f"masks for {len(store)} frames and {len(store.objects)} object(s): {run.masks_json}")
    store.close()
    return 0


def cmd_batch(args) -> int:
    from vidmask_nb.review.tables import format_table
    from vidmask_nb.run.pipeline import read_batch, run_batch

    items = read_batch(args.manifest, _options(args), args.out_root)
    summary = Path(args.out_root or Path(args.manifest).parent / "runs") / "batch_summary.csv"
    if args.ray is not None:
        from vidmask_nb.run import cluster

        ray_opts = _ray_options(args)
        with cluster.connected(ray_opts.address):
            results = cluster.run_batch_on_ray(items, summary, ray_opts)
    else:
        results = run_batch(items, summary)
    for r in results:
        if r.status == "failed":
            print(f"FAILED {Path(r.video).name}: {r.error}", file=sys.stderr)
    print(format_table([{"video": Path(r.video).name, "status": r.status, "seconds": r.seconds,
                         "output": r.output or ""} for r in results], title="batch summary"))
    failed = sum(r.status == "failed" for r in results)
    print(f"{len(results) - failed} ok, {failed} failed; summary: {summary}")
    return 1 if failed else 0


def cmd_audit(args) -> int:
    from vidmask_nb.review.audit import audit_video
    from vidmask_nb.detect.detectors import parse_kinds
    from vidmask_nb.detect.pii import read_words
    from vidmask_nb.review.tables import format_table
    from vidmask_nb.media.video import check_video_file

    check_video_file(args.video)  # every up-front check before any detector loads
    check_number(args.every, "--every", integer=True, minimum=1)
    if args.pii_words and "pii" not in parse_kinds(args.find):
        raise VidmaskError("--pii-words is read by the pii detector: add pii to --find (e.g. --find faces,pii)")
    speech = None
    if args.say_words or args.say_pii:
        from vidmask_nb.review.audit import audit_speech

        speech = audit_speech(args.video, args.say_words, args.say_pii, args.asr)
    if speech is not None and args.find.strip().lower() == "none":
        report = None
    else:
        report = audit_video(args.video, args.find, args.every,
                             words=read_words(args.pii_words) if args.pii_words else (), exact=args.exact)
    if args.json:
        print(json.dumps({**(report.to_json() if report else {}),
                          **({"speech": speech.to_json()} if speech else {})}, indent=1))
    else:
        if report is not None and report.findings:
            print(format_table(report.rows(), title="still detectable"))
        if report is not None:
            print(report.summary())
        if speech is not None:
            if speech.heard:
                print(format_table(speech.rows(), title="listed words or spoken numbers still heard"))
            print(speech.summary())
    clean = (report is None or report.clean) and (speech is None or speech.clean)
    return 0 if clean else 1


# A demo clip is generated in memory and rendered: minutes at most, never an absurd allocation.
DEMO_MAX_SECONDS = 600


def cmd_demo(args) -> int:
    from vidmask_nb.run.pipeline import demo

    check_number(args.seconds, "--seconds", positive=True)  # nan, inf, 0: one line before any work
    if args.seconds > DEMO_MAX_SECONDS:
        raise VidmaskError(f"--seconds must be at most {DEMO_MAX_SECONDS} for the demo clip, not {args.seconds:g}")

    result = demo(args.out, _options(args), seconds=args.seconds)
    print(f"demo done in {result.seconds:.1f} s")
    print(f"redacted video: {result.output}")
    print(f"reports (SENSITIVE, executed notebooks): {Path(result.workdir) / 'sensitive' / 'reports'}")
    return 1 if result.flags else 0


def cmd_share(args) -> int:
    from vidmask_nb.run.share import covers_line, share

    files = share(args.workdir, args.to, with_masks=args.with_masks, accept_leaks=args.accept_leaks,
                  into_non_empty=args.into_non_empty)
    for path in files:
        print(path)
    print(covers_line(json.loads(files[-1].read_text(encoding="utf-8")).get("covers")))
    return 0


def cmd_render(args) -> int:
    from vidmask_nb.errors import check_input_file
    from vidmask_nb.media.encode import check_output_name
    from vidmask_nb.media.video import check_video_file
    from vidmask_nb.redact.render import render

    check_video_file(args.video)  # up front: a folder, a FIFO, a missing file are one line, never a hang
    object_styles = {}
    for item in args.object_style:
        label, sep, style = item.partition("=")
        if not sep or not label.strip() or not style.strip():
            raise VidmaskError(f"--object-style {item!r}: give LABEL=STYLE, e.g. plate=fill:#000000")
        object_styles[label.strip()] = style.strip()
    opts = _options(args)  # the render flags only; the rest keep their defaults
    opts.render_options.checked()  # inf, nan, negative: one line before any work
    from vidmask_nb.media.audiotrack import check_editable

    check_editable(args.video, opts.audio_options.checked().mode)  # audio --audio cannot edit, before the render
    check_output_name(Path(args.out), "--out", "give a shorter file name")
    check_input_file(args.masks, "--masks", "masks.json")
    out = render(args.video, options=opts.render_options, object_styles=object_styles, masks=args.masks,
                 output=args.out, preset=args.preset, progress=True,
                 audio=opts.audio_options if opts.audio_options.mode != "keep" else None)
    print(f"redacted video: {out}")
    return 0


COMMANDS = {"probe": cmd_probe, "run": cmd_run, "track": cmd_track, "render": cmd_render, "batch": cmd_batch,
            "demo": cmd_demo, "share": cmd_share, "audit": cmd_audit, "notebooks": cmd_notebooks}

if __name__ == "__main__":
    sys.exit(main())
