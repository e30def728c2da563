"""`esrgan upscale`: super-resolve images and videos (files, folders, globs) into an output folder, or one
output file."""

from __future__ import annotations

import argparse
import math
import sys
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from esrgan.cli import SUMMARIES
from esrgan.cli.inputs import collect_inputs
from esrgan.cli.options import add_model_arguments, add_runtime_arguments, runtime_options
from esrgan.defaults import DEFAULT_MODEL
from esrgan.errors import ConfigError, ImageReadError, ImageWriteError
from esrgan.imaging.io import IMAGE_SUFFIXES, fit_for_format, frame_count, read_image, write_image
from esrgan.inference.pipeline import BackgroundWriter, prefetched
from esrgan.interrupts import StopRequest, StopRequested, run_interruptibly
from esrgan.options import UpscaleOptions, check_back_projection, check_outscale
from esrgan.video.containers import is_video, output_format, output_suffix
from esrgan.video.options import CODECS, VideoOptions

if TYPE_CHECKING:
    from esrgan.inference.upscaler import Upscaler


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


def output_path(source: Path, output: Path, single: bool, suffix: str, ext: str) -> Path:
    """Where the result of `source` goes: `output` itself for one input named like an image or a video, else
    inside it.

    An image keeps its format with `--ext auto` when it can be written, else becomes PNG; a video keeps its
    container where it can be written, else becomes Matroska (`esrgan.video.containers.output_suffix`).
    """
    if single and _names_a_file(output):
        return output
    if is_video(source):
        return output / f"{source.stem}{suffix}{output_suffix(source)}"
    extension = source.suffix.lower() if ext == "auto" else "." + ext.lstrip(".").lower()
    if extension not in IMAGE_SUFFIXES:
        extension = ".png"
    return output / f"{source.stem}{suffix}{extension}"


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


def _names_a_file(output: Path) -> bool:
    return output.suffix.lower() in IMAGE_SUFFIXES or is_video(output)


def check_output(output: Path, inputs: list[Path]) -> None:
    """Refuse an output that cannot hold the results before any work: a folder path that is a file, a file
    path under a file, one file name for several inputs, a video's name for an image or the reverse."""
    count = len(inputs)
    single_file = count == 1 and _names_a_file(output)
    if not single_file and _names_a_file(output) and not output.is_dir():
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
    video_options = VideoOptions(codec=args.codec, crf=args.crf, pix_fmt=args.pix_fmt, resume=args.resume,
                                 overwrite=args.overwrite, max_pixels=int(args.max_pixels))
    from esrgan.api import load_model  # PyTorch: imported once the arguments are known to be good

    inputs = collect_inputs(args.inputs)
    output = Path(args.output)
    check_output(output, inputs.files)
    for reason in inputs.skipped:
        print(f"esrgan: skipped: {reason}", file=sys.stderr)
    upscaler = load_model(args.weights or args.model, options=options, blend_with=args.blend_with,
                          alpha=args.alpha, denoise_strength=args.denoise_strength, progress=not args.quiet)
    single = len(inputs.files) == 1
    jobs = [(s, output_path(s, output, single, args.suffix, args.ext)) for s in inputs.files]
    images = [job for job in jobs if not is_video(job[0])]
    videos = [job for job in jobs if is_video(job[0])]
    safe_point = "after the current tile" + (" or video frame; finished video segments are kept for --resume"
                                             if videos else "; finished images are kept")
    with StopRequest(safe_point, exit_at_once=True) as stop:
        failures, undone = upscale_files(upscaler, images, args, stop) if images else ([], 0)
        if undone:
            undone += len(videos)
        else:
            video_failures, undone = upscale_videos(upscaler, videos, video_options, args, stop)
            failures += video_failures
    failures = inputs.skipped + failures
    total = len(inputs.files) + len(inputs.skipped)
    noun = "inputs" if videos else "images"
    if failures:
        print(f"esrgan: {len(failures)} of {total} {noun} failed", file=sys.stderr)
    if undone:
        print(f"esrgan: stopped: {undone} of {total} {noun} not done; the finished ones are written",
              file=sys.stderr)
        return 130
    return 1 if failures else 0


def upscale_videos(
    upscaler: Upscaler, jobs: list[tuple[Path, Path]], options: VideoOptions, args: argparse.Namespace,
    stop: StopRequest,
) -> tuple[list[str], int]:
    """Upscale each (source, target) video in turn; return the failure lines and how many videos a stop
    request left undone (the interrupted one included: its finished segments wait for --resume)."""
    if not jobs:
        return [], 0
    from esrgan.video.command import run_video_job  # PyAV: only when there is a video

    failures: list[str] = []
    for index, (source, target) in enumerate(jobs):
        lines, stopped = run_video_job(upscaler, source, target, options, stop, outscale=args.outscale,
                                       back_projection=args.back_projection, quiet=args.quiet)
        failures += lines
        if stopped or stop.requested:
            return failures, len(jobs) - index - (not stopped)
    return failures, 0


def upscale_files(
    upscaler: Upscaler, jobs: list[tuple[Path, Path]], args: argparse.Namespace, stop: StopRequest
) -> tuple[list[str], int]:
    """Upscale each (source, target) pair; return the failures (each also printed on stderr) and how many
    images a stop request left undone (0 when the job ran to its end)."""
    failures: list[str] = []
    undone = 0
    # The next image is decoded and the last one encoded on background threads while the network runs.
    with BackgroundWriter() as writer:
        writes = []
        loads = prefetched(jobs, lambda job: read_input(*job, args))
        progress = tqdm(loads, total=len(jobs), desc="images", unit="img", disable=args.quiet)
        for index, ((source, target), loaded) in enumerate(progress):
            try:
                stop.check()
                image = loaded.result()
                upscaled = run_interruptibly(partial(upscale_image, upscaler, image, source.name, args, stop))
                result, notes = fit_for_format(upscaled, target.suffix)
            except StopRequested:
                undone = len(jobs) - index
                break
            except (ImageReadError, ImageWriteError) as error:
                failures.append(str(error))
                tqdm.write(f"esrgan: skipped: {error}", file=sys.stderr)
                continue
            except Exception as error:  # noqa: BLE001 - one image's failure must not stop the others
                detail = str(error).splitlines()[0] if str(error) else ""
                reason = f"{source}: failed: {type(error).__name__}: {detail}"
                failures.append(reason)
                tqdm.write(f"esrgan: {reason}", file=sys.stderr)
                continue
            for reason, action in notes:
                tqdm.write(f"esrgan: note: {target.name}: {reason}: {action}", file=sys.stderr)
            writes.append(writer.submit(partial(write_image, target, result, overwrite=args.overwrite)))
    for write in writes:
        if (failure := write.exception()) is not None:
            if not isinstance(failure, ImageWriteError):
                raise failure
            failures.append(str(failure))
            print(f"esrgan: not written: {failure}", file=sys.stderr)
    return failures, undone


def read_input(source: Path, target: Path, args: argparse.Namespace) -> np.ndarray:
    """The decoded input, once it is sure its output may be written (so no image is upscaled for nothing)."""
    if source.resolve() == target.resolve():
        raise ImageWriteError(f"{target}: would replace its own input; choose another output or a --suffix")
    if target.exists() and not args.overwrite:
        raise ImageWriteError(f"{target}: exists; pass --overwrite to replace it")
    image = read_image(source, max_pixels=int(args.max_pixels))
    if (frames := frame_count(source)) > 1:
        tqdm.write(f"esrgan: note: {source.name} is animated ({frames} frames); only the first frame is upscaled",
                   file=sys.stderr)
    return image


def upscale_image(
    upscaler: Upscaler, image: np.ndarray, name: str, args: argparse.Namespace, stop: StopRequest
) -> np.ndarray:
    with tqdm(desc=name, unit="tile", leave=False, disable=args.quiet) as bar:
        def on_tile(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)
            stop.check()  # between tiles: a large image answers Ctrl-C within one tile

        return upscaler.upscale_array(image, args.outscale, on_tile, args.back_projection)
