"""`esrgan convert INPUT -o OUTPUT`: rewrite any loadable generator as the canonical checkpoint.

INPUT may be an NCNN `.param` (its `.bin` beside it), a `.pth` / `.safetensors` in any supported key layout,
or a zoo name. OUTPUT is `.safetensors` (recommended: no pickle, the spec travels as metadata) or `.pth`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from esrgan.api import load_weights
from esrgan.errors import CheckpointError
from esrgan.weights.io import save_checkpoint

OUTPUT_SUFFIXES = (".safetensors", ".pth", ".pt")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("convert", help="convert NCNN or other checkpoints to the canonical form",
                                   description=__doc__)
    parser.add_argument("input", metavar="INPUT", help="NCNN .param, .pth, .safetensors, or zoo name")
    parser.add_argument("-o", "--output", required=True, help="output checkpoint (.safetensors or .pth)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    output = Path(args.output)
    if output.suffix not in OUTPUT_SUFFIXES:
        raise CheckpointError(f"{output}: unsupported output format; use {' or '.join(OUTPUT_SUFFIXES)}")
    spec, state = load_weights(args.input)
    save_checkpoint(output, state, spec, overwrite=args.overwrite)
    print(f"wrote {output}: {spec.describe()}, from {args.input}")
    return 0
