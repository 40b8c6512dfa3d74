"""The ``vidmask-nb`` command: probe, run, batch, demo.

Errors the kit knows about (``VidmaskError``) are printed as one plain message, exit code 2; no
traceback.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from vidmask_nb.errors import VidmaskError


def _run_flags(p: argparse.ArgumentParser, defaults_from_manifest: bool = False) -> None:
    from vidmask_nb.pipeline import RunOptions

    d = RunOptions()
    g = p.add_argument_group("tracking and rendering options" + (" (defaults for every row)" if defaults_from_manifest else ""))
    g.add_argument("--model", default=d.model, help="SAM 2.1 size: tiny, small, base_plus, large (default tiny)")
    g.add_argument("--checkpoint", default=None, help="checkpoint file (default: checkpoints/sam2.1_hiera_<model>.pt)")
    g.add_argument("--weights", default=d.weights, choices=["trained", "random"],
                   help="'random' runs untrained weights: a smoke test, masks are meaningless")
    g.add_argument("--image-size", type=int, default=None, help="SAM 2 input size override (default: the model's 1024)")
    g.add_argument("--device", default=None, help="cpu, cuda, cuda:N or mps (default: best available)")
    g.add_argument("--style", default=d.style, help="fill, fill:#rrggbb, mean, blur, blur:STRENGTH, pixelate, pixelate:BLOCK")
    g.add_argument("--dilate", type=int, default=d.dilate, help=f"grow masks by PX pixels (default {d.dilate})")
    g.add_argument("--feather", type=int, default=d.feather, help="soften mask edges over PX pixels (default 0)")
    g.add_argument("--hold", type=int, default=d.hold, help=f"keep covering through dropouts of up to N frames (default {d.hold})")
    g.add_argument("--chunk-seconds", type=float, default=d.chunk_seconds, help="tracking checkpoint interval")
    g.add_argument("--crf", type=int, default=None, help="H.264 quality, lower is better (default 10)")
    g.add_argument("--lossless", action="store_true", help="lossless output (large files)")
    g.add_argument("--full", action="store_true",
                   help="after the prompts changed, re-track every object over every frame, as stock SAM 2 "
                        "(default: re-track only the objects and frames that changed)")


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
    from vidmask_nb.cluster import RayOptions

    if args.ray_retries < 0 or (getattr(args, "ray_groups", None) or 1) < 1:
        raise VidmaskError("--ray-retries must be 0 or more and --ray-groups 1 or more")
    return RayOptions(address=args.ray or None, gpus=args.ray_gpus, cpus=args.ray_cpus,
                      max_retries=args.ray_retries, groups=getattr(args, "ray_groups", None))


def _options(args):
    from vidmask_nb.pipeline import RunOptions

    return RunOptions(model=args.model, checkpoint=args.checkpoint, weights=args.weights, image_size=args.image_size,
                      device=args.device, style=args.style, dilate=args.dilate, feather=args.feather, hold=args.hold,
                      chunk_seconds=args.chunk_seconds, crf=args.crf, lossless=args.lossless, full=args.full)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vidmask-nb", description="Hide chosen objects through a whole video with SAM 2.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("probe", help="print what the kit learns about a video, as JSON")
    s.add_argument("video")
    s.add_argument("--pts", action="store_true", help="include every frame's pts")

    s = sub.add_parser("run", help="run notebooks 01-04 on one video (papermill), reports in WORKDIR/reports")
    s.add_argument("video")
    s.add_argument("--prompts", required=True, help="a prompts.json or a LabelMe folder")
    s.add_argument("--out", required=True, help="the run folder")
    _run_flags(s)
    _ray_flags(s, groups=True)

    s = sub.add_parser("batch", help="run many videos from a CSV or YAML manifest")
    s.add_argument("manifest", help="CSV with header video,prompts[,out][,option columns] or a YAML list")
    s.add_argument("--out-root", default=None, help="where run folders go (default: runs/ beside the manifest)")
    _run_flags(s, defaults_from_manifest=True)
    _ray_flags(s)

    s = sub.add_parser("demo", help="generate a sample clip and prompts and run the whole pipeline")
    s.add_argument("--out", default="runs/demo")
    s.add_argument("--seconds", type=float, default=2.0, help="length of the sample clip (default 2 s)")
    _run_flags(s)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except VidmaskError as exc:
        print(f"vidmask-nb: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vidmask-nb: interrupted; finished parts are kept and a rerun resumes", file=sys.stderr)
        return 130


def cmd_probe(args) -> int:
    from vidmask_nb.video import probe

    print(json.dumps(probe(args.video).to_dict(with_pts=args.pts), indent=2))
    return 0


def cmd_run(args) -> int:
    from vidmask_nb.pipeline import run_video

    if args.ray is not None:
        from vidmask_nb import cluster

        ray_opts = _ray_options(args)
        with cluster.connected(ray_opts.address):
            result = cluster.run_video_on_ray(args.video, args.prompts, args.out, _options(args), ray_opts)
    else:
        result = run_video(args.video, args.prompts, args.out, _options(args))
    print(f"done in {result.seconds:.1f} s: {result.output}")
    print(f"reports: {Path(args.out) / 'reports'}")
    return 0


def cmd_batch(args) -> int:
    from vidmask_nb.notebook import format_table
    from vidmask_nb.pipeline import read_batch, run_batch

    items = read_batch(args.manifest, _options(args), args.out_root)
    summary = Path(args.out_root or Path(args.manifest).parent / "runs") / "batch_summary.csv"
    if args.ray is not None:
        from vidmask_nb import cluster

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


def cmd_demo(args) -> int:
    from vidmask_nb.pipeline import demo

    result = demo(args.out, _options(args), seconds=args.seconds)
    print(f"demo done in {result.seconds:.1f} s")
    print(f"redacted video: {result.output}")
    print(f"reports (executed notebooks): {Path(result.workdir) / 'reports'}")
    return 0


COMMANDS = {"probe": cmd_probe, "run": cmd_run, "batch": cmd_batch, "demo": cmd_demo}

if __name__ == "__main__":
    sys.exit(main())
