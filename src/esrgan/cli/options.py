"""Options shared by the sub-commands that run a generator (upscale, evaluate, sweep)."""

from __future__ import annotations

import argparse
import math

from esrgan.defaults import BACKENDS, DEFAULT_MAX_PIXELS, DEFAULT_TILE_PAD, DEVICES, PRECISIONS
from esrgan.errors import ConfigError
from esrgan.options import UpscaleOptions


def add_model_arguments(parser: argparse.ArgumentParser, default_model: str | None) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("--model", "-m", default=default_model,
                       help=f"zoo model name (see `esrgan models`) or a checkpoint path (default: {default_model})")
    group.add_argument("--weights", "-w", help="path to a checkpoint (.pth, .safetensors) or an NCNN .param; "
                                               "any supported key layout, detected automatically")


def add_runtime_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("how to run the network")
    group.add_argument("--tile", type=int, default=None,
                       help="tile side in input pixels; 0 = whole image in one pass (default: from free memory)")
    group.add_argument("--tile-pad", type=int, default=DEFAULT_TILE_PAD,
                       help=f"context pixels around each tile (default: {DEFAULT_TILE_PAD})")
    group.add_argument("--precision", choices=PRECISIONS, default="auto",
                       help="auto = bf16 on CPUs with native bf16, fp16/bf16 on GPUs, else fp32; "
                            "16-bit and float images always fp32 (bf16 would posterise them)")
    group.add_argument("--device", choices=DEVICES, default="auto", help="default: cuda, then mps, then cpu")
    group.add_argument("--backend", choices=BACKENDS, default="auto",
                       help="auto (default) = openvino on the CPU where installed (`pip install openvino`), else torch")
    group.add_argument("--batch", type=int, default=None,
                       help="tiles per network call (default: from free memory on a GPU, 1 on a CPU)")
    group.add_argument("--max-pixels", type=float, default=DEFAULT_MAX_PIXELS,
                       help=f"refuse inputs with more pixels than this (default: {DEFAULT_MAX_PIXELS:.0e}); "
                            "protects against decompression bombs")


def runtime_options(args: argparse.Namespace) -> UpscaleOptions:
    """The `UpscaleOptions` that `add_runtime_arguments` parsed, checked (no PyTorch is loaded for it)."""
    if not (math.isfinite(args.max_pixels) and args.max_pixels >= 1):
        raise ConfigError(f"--max-pixels must be a finite number >= 1, not {args.max_pixels}")
    return UpscaleOptions(tile=args.tile, tile_pad=args.tile_pad, precision=args.precision, device=args.device,
                          backend=args.backend, batch=args.batch)
