"""`esrgan sweep`: network vs image interpolation across α on benchmark sets, scored and plotted.

Writes into OUTDIR: sweep.csv (mean scores per dataset, strategy and α), sweep.json (the same plus every
per-image score), perception_distortion.png (paper Fig. 2) and alpha_grid.png (paper Fig. 10).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from esrgan.cli import SUMMARIES
from esrgan.cli.options import add_runtime_arguments, runtime_options
from esrgan.errors import ConfigError
from esrgan.evaluation.metric_names import parse_metrics
from esrgan.evaluation.sweep import (
    DEFAULT_ALPHAS,
    STRATEGIES,
    CropChoice,
    SweepConfig,
    SweepResult,
    default_metrics,
    parse_alphas,
    run_sweep,
    write_csv,
    write_json,
)
from esrgan.metrics.ma import MODEL_ENV

OUTPUTS = ("sweep.csv", "sweep.json", "perception_distortion.png", "alpha_grid.png")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("sweep", help=SUMMARIES["sweep"],
                                   description=__doc__)
    parser.add_argument("--psnr", required=True, metavar="A", help="PSNR-oriented model (alpha = 0): zoo name or path")
    parser.add_argument("--gan", required=True, metavar="B", help="GAN model (alpha = 1), same architecture as A")
    parser.add_argument("--alphas", default=DEFAULT_ALPHAS,
                        help=f"start:stop:step (stop included) or a comma list (default: {DEFAULT_ALPHAS})")
    parser.add_argument("--dataset", required=True, nargs="+", action="extend", metavar="DIR",
                        help="folders of HR images; LR = MATLAB bicubic x1/scale of the HR cropped to the scale")
    parser.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="folder for the tables and figures")
    parser.add_argument("--metrics", help="comma list from psnr, ssim, rmse, niqe, ma, pi "
                                          "(default: all, but ma and pi only with Ma's model)")
    parser.add_argument("--ma-model", type=Path, metavar="MAT",
                        help=f"Ma et al.'s model.mat (default: ${MODEL_ENV}); adds ma and pi to the default metrics")
    parser.add_argument("--back-projection", type=int, default=0, metavar="N",
                        help="N iterations of back-projection on every output (MATLAB bicubic); 0 = off")
    parser.add_argument("--plot-x", choices=("rmse", "psnr"), help="distortion axis (default: rmse)")
    parser.add_argument("--plot-y", choices=("pi", "niqe"), help="perception axis (default: pi if computed, else niqe)")
    parser.add_argument("--crop-image", metavar="NAME",
                        help="image shown in the alpha grid (default: the first of the first dataset)")
    parser.add_argument("--crop", metavar="X,Y,SIZE",
                        help="grid crop in HR pixels, or just SIZE (default: its most detailed 128-pixel square)")
    parser.add_argument("--no-plots", action="store_true", help="write the tables only (no matplotlib needed)")
    parser.add_argument("--overwrite", action="store_true", help="replace earlier results in OUTDIR")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar, no table")
    add_runtime_arguments(parser)
    # fp32 by default, as `esrgan evaluate`: scores must not depend on the hardware's precision.
    parser.set_defaults(func=run, precision="fp32")


def run(args: argparse.Namespace) -> int:
    with_ma = args.ma_model is not None or bool(os.environ.get(MODEL_ENV))
    metrics = parse_metrics(args.metrics) if args.metrics else default_metrics(with_ma)
    axes = None
    if not args.no_plots:
        from esrgan.evaluation.plots import choose_axes, require_matplotlib

        require_matplotlib()
        axes = choose_axes(metrics, args.plot_x, args.plot_y)
    output = Path(args.output)
    existing = [name for name in OUTPUTS if (output / name).exists()]
    if existing and not args.overwrite:
        raise ConfigError(f"{output} already holds {', '.join(existing)}; pass --overwrite to replace them")
    config = SweepConfig(
        psnr_model=args.psnr,
        gan_model=args.gan,
        datasets=tuple(Path(d) for d in args.dataset),
        alphas=parse_alphas(args.alphas),
        metrics=metrics,
        ma_model=args.ma_model,
        back_projection=args.back_projection,
        crop=CropChoice.parse(args.crop_image, args.crop),
        runtime=runtime_options(args),
        max_pixels=int(args.max_pixels),
    )
    result = run_sweep(config, progress=not args.quiet)
    output.mkdir(parents=True, exist_ok=True)
    write_csv(result, output / "sweep.csv")
    write_json(result, output / "sweep.json")
    written = ["sweep.csv", "sweep.json"]
    if not args.no_plots:
        from esrgan.evaluation.plots import plot_alpha_grid, plot_perception_distortion

        if axes is not None:
            plot_perception_distortion(result, output / "perception_distortion.png", *axes)
            written.append("perception_distortion.png")
        plot_alpha_grid(result.grid, output / "alpha_grid.png")
        written.append("alpha_grid.png")
    if not args.quiet:
        print(format_table(result))
    print(f"wrote {', '.join(str(output / name) for name in written)}")
    return 0


def format_table(result: SweepResult) -> str:
    """Mean scores as a text table, network and image interpolation side by side for each α."""
    metrics = result.config.metrics
    header = f"{'dataset':<12} {'alpha':>6}  " + "  ".join(f"{s + ' ' + m:>14}" for s in STRATEGIES for m in metrics)
    lines = [header]
    means = {(r.dataset, r.strategy, r.alpha): r.mean for r in result.rows}
    for dataset in result.dataset_names:
        for alpha in result.config.alphas:
            cells = "  ".join(f"{means[dataset, s, alpha][m]:>14.4f}" for s in STRATEGIES for m in metrics)
            lines.append(f"{dataset:<12} {alpha:>6g}  {cells}")
    return "\n".join(lines)
