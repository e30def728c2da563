"""`esrgan upscale`: super-resolve files, folders and globs into an output folder (or one output file)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from functools import partial
from pathlib import Path

import numpy as np
from tqdm import tqdm

from esrgan.api import load_model
from esrgan.back_projection import back_project
from esrgan.cli.inputs import collect_images
from esrgan.cli.options import add_model_arguments, add_runtime_arguments, runtime_options
from esrgan.errors import ConfigError, ImageReadError, ImageWriteError
from esrgan.imaging.io import IMAGE_SUFFIXES, read_image, write_image
from esrgan.inference.pipeline import BackgroundWriter, prefetched
from esrgan.inference.upscaler import Upscaler, resize_to_outscale
from esrgan.weights.zoo import DEFAULT_MODEL


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("upscale", help="super-resolve images", description=__doc__)
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders or glob patterns")
    parser.add_argument("-o", "--output", required=True,
                        help="output folder; or an image file name when there is a single input")
    add_model_arguments(parser, DEFAULT_MODEL)
    add_runtime_arguments(parser)
    parser.add_argument("--outscale", type=float, default=None,
                        help="final scale relative to the input, any value (the network output is resized)")
    parser.add_argument("--blend-with", metavar="MODEL",
                        help="network interpolation: run (1-alpha)*model + alpha*MODEL (paper eq. 4)")
    parser.add_argument("--alpha", type=float, default=0.8, help="weight of --blend-with (default: 0.8)")
    parser.add_argument("--back-projection", type=int, default=0, metavar="N",
                        help="N iterations of back-projection toward the input (MATLAB bicubic); 0 = off")
    parser.add_argument("--suffix", default="", help="appended to each output file's stem, e.g. _x4")
    parser.add_argument("--ext", default="auto", help="output format: auto (as the input), png, jpg, webp, tif")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)


def output_path(source: Path, output: Path, single: bool, suffix: str, ext: str) -> Path:
    """Where the result of `source` goes: `output` itself for one input named like an image, else inside it."""
    if single and output.suffix.lower() in IMAGE_SUFFIXES:
        return output
    extension = source.suffix if ext == "auto" else "." + ext.lstrip(".")
    return output / f"{source.stem}{suffix}{extension.lower()}"


def run(args: argparse.Namespace) -> int:
    if args.ext != "auto" and "." + args.ext.lstrip(".").lower() not in IMAGE_SUFFIXES:
        raise ConfigError(f"--ext {args.ext}: choose auto or one of {', '.join(sorted(IMAGE_SUFFIXES))}")
    if args.outscale is not None and args.outscale <= 0:
        raise ConfigError("--outscale must be positive")
    sources = collect_images(args.inputs)
    if args.back_projection < 0:
        raise ConfigError("--back-projection takes a number of iterations >= 0")
    upscaler = load_model(args.weights or args.model, blend_with=args.blend_with, alpha=args.alpha,
                          **asdict(runtime_options(args)), progress=not args.quiet)
    output = Path(args.output)
    jobs = [(s, output_path(s, output, len(sources) == 1, args.suffix, args.ext)) for s in sources]
    failures = upscale_files(upscaler, jobs, args)
    if failures:
        print(f"esrgan: {len(failures)} of {len(sources)} images failed", file=sys.stderr)
    return 1 if failures else 0


def upscale_files(upscaler: Upscaler, jobs: list[tuple[Path, Path]], args: argparse.Namespace) -> list[str]:
    """Upscale each (source, target) pair; return the failures (each also printed on stderr)."""
    failures: list[str] = []
    # The next image is decoded and the last one encoded on background threads while the network runs.
    with BackgroundWriter() as writer:
        writes = []
        loads = prefetched(jobs, lambda job: read_input(*job, args))
        for (source, target), loaded in tqdm(loads, total=len(jobs), desc="images", unit="img", disable=args.quiet):
            try:
                result = upscale_image(upscaler, loaded.result(), source.name, args)
            except (ImageReadError, ImageWriteError) as error:
                failures.append(str(error))
                tqdm.write(f"esrgan: skipped: {error}", file=sys.stderr)
                continue
            writes.append(writer.submit(partial(write_image, target, result, overwrite=args.overwrite)))
    for write in writes:
        if (error := write.exception()) is not None:
            if not isinstance(error, ImageWriteError):
                raise error
            failures.append(str(error))
            print(f"esrgan: not written: {error}", file=sys.stderr)
    return failures


def read_input(source: Path, target: Path, args: argparse.Namespace) -> np.ndarray:
    """The decoded input, once it is sure its output may be written (so no image is upscaled for nothing)."""
    if source.resolve() == target.resolve():
        raise ImageWriteError(f"{target}: would replace its own input; choose another output or a --suffix")
    if target.exists() and not args.overwrite:
        raise ImageWriteError(f"{target}: exists; pass --overwrite to replace it")
    return read_image(source, max_pixels=int(args.max_pixels))


def upscale_image(upscaler: Upscaler, image: np.ndarray, name: str, args: argparse.Namespace) -> np.ndarray:
    with tqdm(desc=name, unit="tile", leave=False, disable=args.quiet) as bar:
        def on_tile(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        result = upscaler.upscale(image, on_tile=on_tile)
    if args.back_projection:
        result = back_project(result, image, args.back_projection)
    if args.outscale is not None and args.outscale != upscaler.scale:
        result = resize_to_outscale(result, image.shape[0], image.shape[1], args.outscale)
    return result
