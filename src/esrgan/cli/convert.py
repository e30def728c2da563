"""`esrgan convert INPUT -o OUTPUT`: rewrite any loadable generator as the canonical checkpoint, or as NCNN.

INPUT may be an NCNN `.param` (its `.bin` beside it), a `.pth` / `.safetensors` in any supported key layout,
or a zoo name. OUTPUT is `.safetensors` (recommended: no pickle, the spec travels as metadata), `.pth`, or
`.param` for NCNN: the `.bin` is written beside it, convolution weights in fp16 unless `--fp32`, in the form
Real-ESRGAN's NCNN tools run (input blob `data`, output blob `output`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from esrgan.api import load_weights
from esrgan.cli import SUMMARIES
from esrgan.errors import CheckpointError
from esrgan.weights.io import save_checkpoint
from esrgan.weights.ncnn import write_ncnn

CHECKPOINT_SUFFIXES = (".safetensors", ".pth", ".pt")
NCNN_SUFFIX = ".param"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("convert", help=SUMMARIES["convert"],
                                   description=__doc__)
    parser.add_argument("input", metavar="INPUT", help="NCNN .param, .pth, .safetensors, or zoo name")
    parser.add_argument("-o", "--output", required=True,
                        help="output checkpoint (.safetensors or .pth) or NCNN model (.param, .bin beside it)")
    parser.add_argument("--fp32", action="store_true", help="NCNN output: store convolution weights in fp32")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    output = Path(args.output)
    if output.suffix not in (*CHECKPOINT_SUFFIXES, NCNN_SUFFIX):
        raise CheckpointError(f"{output}: unsupported output format; use {', '.join(CHECKPOINT_SUFFIXES)} or .param")
    if args.fp32 and output.suffix != NCNN_SUFFIX:
        raise CheckpointError("--fp32 applies to NCNN output (.param) only; checkpoints keep the weights' own dtype")
    spec, state = load_weights(args.input)
    if output.suffix == NCNN_SUFFIX:
        weights = write_ncnn(output, spec, state, fp16=not args.fp32, overwrite=args.overwrite)
        written = f"{output} and {weights.name} ({'fp32' if args.fp32 else 'fp16'} weights)"
    else:
        save_checkpoint(output, state, spec, overwrite=args.overwrite)
        written = str(output)
    print(f"wrote {written}: {spec.describe()}, from {args.input}")
    return 0
