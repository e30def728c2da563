"""`esrgan evaluate`: PSNR / SSIM / NIQE / Ma / PI of a model (or the bicubic baseline) on benchmark folders.

Each --dataset is a folder of HR images; `--model bicubic --scale S` scores MATLAB bicubic upscaling, no
network. Without --lr-dir or --sr-dir the LR inputs are made from the mod-cropped HR images with MATLAB's
bicubic (uint8 path, as the benchmark LR packs were). PSNR and SSIM are computed on MATLAB's Y channel with
`scale` border pixels cropped; NIQE, Ma and PI on rounded Y with a 4-px crop, as PIRM 2018 did. The network
runs in fp32 unless --precision says otherwise, so that the scores do not depend on the hardware.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from esrgan.api import load_model
from esrgan.cli import SUMMARIES
from esrgan.cli.options import add_model_arguments, add_runtime_arguments, runtime_options
from esrgan.defaults import DEFAULT_MODEL
from esrgan.errors import ConfigError
from esrgan.evaluation.evaluate import (
    BICUBIC,
    DEFAULT_METRICS,
    METRICS,
    Dataset,
    EvaluationOptions,
    ImageResult,
    SuperResolve,
    bicubic_upscaler,
    evaluate,
)
from esrgan.evaluation.metric_names import parse_metrics
from esrgan.evaluation.report import error_lines, format_table, write_csv, write_json
from esrgan.imaging.matlab_resize import ROUNDINGS
from esrgan.metrics.ma import MODEL_ENV


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("evaluate", help=SUMMARIES["evaluate"], description=__doc__)
    parser.add_argument("--dataset", "-d", action="append", required=True, metavar="HR_DIR",
                        help="folder of HR images; repeat for several datasets")
    add_model_arguments(parser, DEFAULT_MODEL)
    parser.add_argument("--scale", "-s", type=int, default=None,
                        help="SR factor (default: the model's; required with --model bicubic and --sr-dir)")
    parser.add_argument("--lr-dir", action="append", metavar="DIR",
                        help="LR images named like the HR ones (or <stem>x<scale>), one per --dataset in order")
    parser.add_argument("--lr-rounding", choices=ROUNDINGS, default="per_pass",
                        help="LR made here: per_pass = MATLAB's uint8 imresize, as the benchmark LR packs "
                             "(default); once = float, rounded once, as the original ESRGAN release")
    parser.add_argument("--sr-dir", action="append", metavar="DIR",
                        help="score existing SR images named like the HR ones, one per --dataset; no model runs")
    parser.add_argument("--metrics", default=",".join(DEFAULT_METRICS),
                        help=f"comma-separated, from {','.join(METRICS)} (default: {','.join(DEFAULT_METRICS)})")
    channel = parser.add_mutually_exclusive_group()
    channel.add_argument("--y-channel", dest="y_channel", action="store_true", default=True,
                         help="PSNR/SSIM on MATLAB's Y channel, as the papers report them (default)")
    channel.add_argument("--rgb", dest="y_channel", action="store_false", help="PSNR/SSIM on the RGB channels")
    parser.add_argument("--ma-model", type=Path, default=None, metavar="PATH",
                        help=f"Ma et al.'s model.mat, needed for ma and pi (default: ${MODEL_ENV})")
    parser.add_argument("--back-projection", type=int, default=0, metavar="N",
                        help="N iterations of back-projection of each SR image toward its LR image; 0 = off")
    parser.add_argument("--save-sr", type=Path, default=None, metavar="DIR",
                        help="also write the SR images, as DIR/<dataset>/<stem>.png")
    parser.add_argument("--overwrite", action="store_true", help="replace existing images under --save-sr")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="write every score as JSON")
    parser.add_argument("--csv", type=Path, default=None, metavar="PATH", help="write every score as CSV")
    parser.add_argument("--verbose", "-v", action="store_true", help="a row per image, not only the means")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    add_runtime_arguments(parser)
    parser.set_defaults(func=run, precision="fp32")


def _datasets(args: argparse.Namespace) -> list[Dataset]:
    count = len(args.dataset)
    for option, folders in (("--lr-dir", args.lr_dir), ("--sr-dir", args.sr_dir)):
        if folders and len(folders) != count:
            raise ConfigError(f"{option} given {len(folders)} times for {count} datasets; give one per --dataset")
    if args.lr_dir and args.sr_dir:
        raise ConfigError("--lr-dir and --sr-dir exclude each other: SR images come from a model or from a folder")
    lr_dirs = args.lr_dir or [None] * count
    sr_dirs = args.sr_dir or [None] * count
    return [
        Dataset(Path(hr), lr_dir=None if lr is None else Path(lr), sr_dir=None if sr is None else Path(sr))
        for hr, lr, sr in zip(args.dataset, lr_dirs, sr_dirs)
    ]


def _method(args: argparse.Namespace) -> tuple[str, SuperResolve | None, int]:
    """Name, SR function and scale of what is evaluated."""
    if args.sr_dir:
        if args.weights or args.back_projection:
            raise ConfigError("--sr-dir scores existing images: --weights and --back-projection do not apply")
        if args.scale is None:
            raise ConfigError("--sr-dir needs --scale (the factor the SR images were made with)")
        return ", ".join(str(d) for d in args.sr_dir), None, args.scale
    name = args.weights or args.model
    if name == BICUBIC:
        if args.scale is None:
            raise ConfigError("--model bicubic needs --scale")
        return BICUBIC, bicubic_upscaler(args.scale), args.scale
    upscaler = load_model(name, options=runtime_options(args), progress=not args.quiet)
    if args.scale is not None and args.scale != upscaler.scale:
        raise ConfigError(f"--scale {args.scale} does not match the model, which upscales x{upscaler.scale}")
    return str(name), upscaler.upscale_array, upscaler.scale


def run(args: argparse.Namespace) -> int:
    metrics = parse_metrics(args.metrics, METRICS)
    datasets = _datasets(args)
    if args.scale is not None and args.scale < 1:
        raise ConfigError(f"--scale must be a positive integer, not {args.scale}")
    method, super_resolve, scale = _method(args)
    options = EvaluationOptions(
        scale=scale, metrics=metrics, y_channel=args.y_channel, back_projection=args.back_projection,
        save_sr=args.save_sr, overwrite=args.overwrite, ma_model=args.ma_model, max_pixels=int(args.max_pixels),
        lr_rounding=args.lr_rounding,
    )
    with tqdm(desc="evaluate", unit="img", disable=args.quiet, file=sys.stderr) as bar:
        def on_image(image: ImageResult, total: int) -> None:
            bar.total = total
            bar.set_postfix_str(image.name, refresh=False)
            bar.update()

        evaluation = evaluate(datasets, super_resolve, options, method=method, on_image=on_image)
    print(format_table(evaluation, per_image=args.verbose))
    if args.json is not None:
        write_json(evaluation, args.json)
    if args.csv is not None:
        write_csv(evaluation, args.csv)
    problems = error_lines(evaluation)
    for line in problems:
        print(f"esrgan: {line}", file=sys.stderr)
    return 1 if problems else 0

