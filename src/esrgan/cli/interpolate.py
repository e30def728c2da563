"""`esrgan interpolate A B --alpha α -o OUT`: write the network-interpolated checkpoint (paper eq. 4)."""

from __future__ import annotations

import argparse
from pathlib import Path

from esrgan.api import interpolate_weights
from esrgan.cli import SUMMARIES
from esrgan.weights.io import save_checkpoint


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("interpolate", help=SUMMARIES["interpolate"],
                                   description=__doc__)
    parser.add_argument("a", metavar="A", help="first model (alpha = 0), e.g. the PSNR-oriented one: zoo name or path")
    parser.add_argument("b", metavar="B", help="second model (alpha = 1), e.g. the GAN one: zoo name or path")
    parser.add_argument("--alpha", type=float, required=True, help="weight of B; 0 gives A, 1 gives B")
    parser.add_argument("-o", "--output", required=True, help="output checkpoint (.safetensors or .pth)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    spec, state = interpolate_weights(args.a, args.b, args.alpha)
    output = Path(args.output)
    save_checkpoint(output, state, spec, overwrite=args.overwrite)
    print(f"wrote {output}: {spec.describe()}, alpha {args.alpha:g}")
    return 0
