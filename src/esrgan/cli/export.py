"""`esrgan export -o MODEL.onnx`: write a generator as ONNX (dynamic batch, height, width; opset 18).

The export is then run in ONNX Runtime beside PyTorch's fp32 forward pass on an image (`--verify-image`, or
a built-in test pattern) and refused if they differ by more than 1e-4 anywhere. Needs `onnxscript` (the
exporter) and `onnxruntime` (the check; `--no-verify` skips it).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from esrgan.api import build_generator, load_weights
from esrgan.cli import SUMMARIES
from esrgan.cli.options import add_model_arguments
from esrgan.errors import ExportError
from esrgan.imaging.io import read_image
from esrgan.inference.onnx_export import ONNX_OPSET, VERIFY_TOLERANCE, export_onnx, onnx_difference

FORMATS = ("onnx",)
VERIFY_SIDE = 128
"""The check runs on at most this many input pixels a side (the centre of the image): the whole network
is exercised, and a 23-block model in fp32 takes a few seconds, not minutes."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("export", help=SUMMARIES["export"], description=__doc__)
    parser.add_argument("-o", "--output", required=True, help="output file, e.g. realesrgan-x4plus.onnx")
    add_model_arguments(parser, "realesrgan-x4plus")
    parser.add_argument("--format", choices=FORMATS, default="onnx", help="output format (default: onnx)")
    parser.add_argument("--opset", type=int, default=ONNX_OPSET, help=f"ONNX opset (default: {ONNX_OPSET})")
    parser.add_argument("--verify-image", help="image to compare ONNX Runtime and PyTorch on (centre crop)")
    parser.add_argument("--no-verify", action="store_true", help="skip the comparison with PyTorch")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    parser.set_defaults(func=run)


def verification_pattern(height: int, width: int, channels: int) -> np.ndarray:
    """Smooth gradients, edges and fine texture: every kind of content the network responds to."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    planes = [
        0.5 + 0.5 * np.sin(x / 5.0 + c) * np.cos(y / 7.0 - c) * ((x // 16 + y // 16 + c) % 2 * 0.5 + 0.5)
        for c in range(channels)
    ]
    return np.stack(planes, axis=2).astype(np.float32)


def network_input(image: np.ndarray, channels: int) -> np.ndarray:
    """The image with the network's channel count: grey repeated, alpha dropped."""
    planes = image if image.ndim == 3 else image[..., None]
    if planes.shape[2] < channels:
        planes = np.repeat(planes[..., :1], channels, axis=2)
    return planes[..., :channels]


def centre_crop(image: np.ndarray, side: int) -> np.ndarray:
    top, left = max(0, (image.shape[0] - side) // 2), max(0, (image.shape[1] - side) // 2)
    return image[top:top + side, left:left + side]


def run(args: argparse.Namespace) -> int:
    output = Path(args.output)
    source = args.weights or args.model
    spec, state = load_weights(source)
    model = build_generator(spec, state)
    export_onnx(model, spec, output, opset=args.opset, overwrite=args.overwrite)
    print(f"wrote {output}: {spec.describe()}, ONNX opset {args.opset}, dynamic batch/height/width")
    if args.no_verify:
        return 0
    if args.verify_image:
        image, where = network_input(read_image(Path(args.verify_image)), spec.in_channels), args.verify_image
    else:
        image, where = verification_pattern(VERIFY_SIDE, VERIFY_SIDE, spec.in_channels), "a test pattern"
    crop = centre_crop(image, VERIFY_SIDE)
    difference = onnx_difference(output, model, spec, crop)
    verdict = "ok" if difference <= VERIFY_TOLERANCE else "TOO LARGE"
    print(f"max |ONNX Runtime - PyTorch| = {difference:.2e} on {where} ({crop.shape[1]}x{crop.shape[0]}): {verdict}")
    if difference > VERIFY_TOLERANCE:
        output.unlink()
        raise ExportError(f"the export differs from PyTorch by {difference:.2e} > {VERIFY_TOLERANCE:g}; removed it")
    return 0
