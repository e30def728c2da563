"""`esrgan upscale`: super-resolve images and videos (files, folders, globs) into an output folder, or one
output file."""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from esrgan.atomic import unfinished_writes
from esrgan.cli import SUMMARIES
from esrgan.cli.options import add_model_arguments, add_runtime_arguments, runtime_options
from esrgan.defaults import DEFAULT_MODEL
from esrgan.errors import ConfigError
from esrgan.imaging.io import IMAGE_SUFFIXES
from esrgan.interrupts import StopRequest
from esrgan.jobs.inputs import collect_inputs
from esrgan.jobs.plan import JobSettings, names_a_file, plan_jobs
from esrgan.jobs.pool import ModelChoice, Worker, plan_workers, run_pool
from esrgan.jobs.report import Outcome, Report
from esrgan.jobs.run import run_jobs
from esrgan.jobs.shard import Shard
from esrgan.options import UpscaleOptions, check_back_projection, check_outscale
from esrgan.video.containers import is_video, output_format
from esrgan.video.options import CODECS, VideoOptions

if TYPE_CHECKING:
    pass


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("upscale", help=SUMMARIES["upscale"], description=__doc__)
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="image or video files, folders or glob patterns")
    parser.add_argument("-o", "--output", required=True,
                        help="output folder; or an image or video file name when there is a single input")
    add_model_arguments(parser, DEFAULT_MODEL)
    add_runtime_arguments(parser)
    parser.add_argument("--outscale", type=float, default=None,
                        help="final scale relative to the input, any value (the network output is resized)")
    parser.add_argument("--blend-with", metavar="MODEL",
                        help="network interpolation: run (1-alpha)*model + alpha*MODEL (paper eq. 4)")
    parser.add_argument("--alpha", type=float, default=0.8, help="weight of --blend-with (default: 0.8)")
    parser.add_argument("--denoise-strength", type=float, default=None, metavar="D",
                        help="for realesr-general-x4v3: D*model + (1-D)*its weak-denoise twin, D in [0, 1] "
                             "(Real-ESRGAN's -dn); default: the model as published (1)")
    parser.add_argument("--back-projection", type=int, default=0, metavar="N",
                        help="N iterations of back-projection toward the input (MATLAB bicubic); 0 = off")
    parser.add_argument("--suffix", default="", help="appended to each output file's stem, e.g. _x4")
    parser.add_argument("--ext", default="auto", help="output format: auto (as the input), png, jpg, webp, tif")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    parser.add_argument("-r", "--recursive", action="store_true",
                        help="take the images and videos of folders' whole trees; the output mirrors each tree")
    parser.add_argument("--skip-existing", action="store_true",
                        help="leave outputs that exist alone and count them as done (a killed run, run again, "
                             "continues where it stopped; unfinished videos resume)")
    parser.add_argument("--devices", metavar="LIST",
                        help="one worker process per device, all pulling from one queue: all (every GPU, else "
                             "the CPU), or a list such as cuda:0,cuda:1")
    parser.add_argument("--workers", type=int, default=1, metavar="N",
                        help="worker processes per device (default 1); CPU workers split the cores")
    parser.add_argument("--report", metavar="FILE.jsonl",
                        help="write one JSON line per input: input, output, status (done, skipped, failed, "
                             "not_done), reason, seconds")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    video = parser.add_argument_group("videos (frame timing, audio, subtitles and metadata are kept)")
    video.add_argument("--codec", choices=list(CODECS), default=None,
                       help="h264 (default for .mp4/.mov/.mkv), hevc, vp9 (default for .webm), av1, "
                            "ffv1 (lossless, .mkv)")
    video.add_argument("--crf", type=int, default=None,
                       help="constant quality, lower is better (default: visually lossless: h264 18, hevc 20, "
                            "vp9 20, av1 24)")
    video.add_argument("--pix-fmt", default=None, help="pixel format (default: yuv420p; ffv1: bgr0)")
    video.add_argument("--resume", action="store_true",
                       help="continue an interrupted video from its last finished segment")
    parser.set_defaults(func=run)


def check_arguments(args: argparse.Namespace) -> UpscaleOptions:
    """Every option's value, before any model is loaded or image read: a mistake costs nothing. Returns the
    run options."""
    if args.ext != "auto" and "." + args.ext.lstrip(".").lower() not in IMAGE_SUFFIXES:
        raise ConfigError(f"--ext {args.ext}: choose auto or one of {', '.join(sorted(IMAGE_SUFFIXES))}")
    check_outscale(args.outscale)
    check_back_projection(args.back_projection)
    if not math.isfinite(args.alpha):
        raise ConfigError(f"--alpha must be a finite number, not {args.alpha}")
    if args.denoise_strength is not None:
        from esrgan.api import check_denoise_strength

        check_denoise_strength(args.denoise_strength)
    if any(part in ("/", "\\") for part in args.suffix) or args.suffix in (".", ".."):
        raise ConfigError(f"--suffix {args.suffix!r}: must not contain / or \\ (outputs stay in the output folder)")
    return runtime_options(args)


def check_output(output: Path, inputs: list[Path]) -> None:
    """Refuse an output that cannot hold the results before any work: a folder path that is a file, a file
    path under a file, one file name for several inputs, a video's name for an image or the reverse."""
    count = len(inputs)
    single_file = count == 1 and names_a_file(output)
    if not single_file and names_a_file(output) and not output.is_dir():
        kind = "a video" if is_video(output) else "an image"
        raise ConfigError(f"-o {output}: names {kind} file, but there are {count} inputs; give a folder")
    if single_file and is_video(inputs[0]) != is_video(output):
        kinds = ("a video", "an image") if is_video(inputs[0]) else ("an image", "a video")
        raise ConfigError(f"-o {output}: the input is {kinds[0]}, but this names {kinds[1]} file")
    if single_file and is_video(output):
        output_format(output)  # a container that can be written
    folder = output.parent if single_file else output
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"-o {output}: {folder} is a file, not a folder")
    for parent in folder.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(f"-o {output}: {parent} is a file, so no folder can be made inside it")
            break


def run(args: argparse.Namespace) -> int:
    options = check_arguments(args)
    if args.skip_existing and args.overwrite:
        raise ConfigError("--skip-existing leaves existing outputs alone and --overwrite replaces them; choose one")
    settings = JobSettings(
        outscale=args.outscale, back_projection=args.back_projection, overwrite=args.overwrite,
        max_pixels=int(args.max_pixels), quiet=args.quiet,
        video=VideoOptions(codec=args.codec, crf=args.crf, pix_fmt=args.pix_fmt,
                           resume=args.resume or args.skip_existing, overwrite=args.overwrite,
                           max_pixels=int(args.max_pixels)),
    )
    shard = Shard.from_environment()
    output = Path(args.output)
    inputs = collect_inputs(args.inputs, recursive=args.recursive, exclude=output)
    check_output(output, [file.path for file in inputs.files])
    plan = plan_jobs(inputs.files, output, suffix=args.suffix, ext=args.ext, skip_existing=args.skip_existing)
    jobs = shard.take(plan.jobs)
    report_path = Path(args.report) if args.report else None
    if report_path is not None and shard.enabled:
        report_path = report_path.with_name(f"{report_path.stem}.rank{shard.rank}{report_path.suffix}")
    with Report(report_path) as report:
        for source, reason in [*inputs.skipped.items(), *plan.clashes.items()]:
            print(f"esrgan: skipped: {reason}", file=sys.stderr)
            report.add(Outcome(source, None, "failed", reason))
        for job in shard.take(plan.existing):
            report.add(Outcome(job.source, job.target, "skipped", "the output exists"))
        if leftovers := unfinished_writes([job.target for job in jobs]):
            for temp in leftovers:  # this process writes those targets now, so their temp files are its own
                temp.unlink(missing_ok=True)
            if not args.quiet:
                print(f"esrgan: removed {len(leftovers)} unfinished file(s) that an interrupted run left beside "
                      "its outputs", file=sys.stderr)
        if shard.enabled and not args.quiet:
            print(f"esrgan: {shard.describe()}: {len(jobs)} of {len(plan.jobs)} inputs to do", file=sys.stderr)
        if jobs:
            videos = any(job.is_video for job in jobs)
            safe_point = "after the current tile" + (" or video frame; finished video segments are kept for "
                                                     "--resume" if videos else "; finished images are kept")
            model = ModelChoice(str(args.weights or args.model), args.blend_with, args.alpha, args.denoise_strength)
            workers = choose_workers(args, options, shard)
            if len(workers) > 1:
                if not args.quiet:
                    print(f"esrgan: {len(workers)} workers: {', '.join(w.describe() for w in workers)}",
                          file=sys.stderr)
                with StopRequest(safe_point, exit_at_once=True) as stop:
                    run_pool(model, workers, jobs, settings, stop, report)
            else:
                upscaler = model.load(workers[0].options, progress=not args.quiet)
                with StopRequest(safe_point, exit_at_once=True) as stop:
                    run_jobs(upscaler, jobs, settings, stop, report)
        return summarise(report, any(is_video(file.path) for file in inputs.files), args.quiet)


def choose_workers(args: argparse.Namespace, options: UpscaleOptions, shard: Shard) -> list[Worker]:
    """This process's workers: one in-process worker unless --devices / --workers ask for more; under a
    launcher, the one GPU of the process's LOCAL_RANK."""
    if shard.enabled:
        if args.devices is not None or args.workers != 1:
            raise ConfigError("under torchrun or Slurm each process takes the GPU of its local rank; leave out "
                              "--devices and --workers (start more processes per node instead)")
        return [Worker(replace(options, device_index=shard.local_rank))]
    if args.devices is None and args.workers == 1:
        return [Worker(options)]
    return plan_workers(args.devices or {"auto": "all"}.get(options.device, options.device), args.workers, options)


def summarise(report: Report, with_videos: bool, quiet: bool) -> int:
    """The summary on stderr (the failures again, when progress bars may have scrolled them away) and the
    exit status: 130 when stopped, 1 when anything failed, else 0."""
    noun = "inputs" if with_videos else "images"
    failures = report.failures()
    if failures and not quiet and len(report.outcomes) > 1:
        print("esrgan: failed:\n" + "\n".join(f"  {reason}" for reason in failures), file=sys.stderr)
    not_done = report.count("not_done")
    if failures or report.count("skipped") or not_done or not quiet:
        print(f"esrgan: {report.summary(noun)}", file=sys.stderr)
    if not_done:
        print(f"esrgan: stopped: {not_done} of {len(report.outcomes)} {noun} not done; the finished ones are "
              "written (run again with --skip-existing to do the rest)", file=sys.stderr)
        return 130
    return 1 if failures else 0
