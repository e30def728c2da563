"""Export a generator to ONNX with dynamic batch, height and width, and check it against PyTorch.

The graph is produced by PyTorch's `torch.export`-based ONNX exporter (needs `onnxscript`) at opset
`ONNX_OPSET`; it takes a float32 (N, C, H, W) image in [0, 1] named `input` and gives `output`, the raw
network output (N, C, H·s, W·s), not clamped. For the ×1 and ×2 RRDBNets, which pixel-unshuffle their
input, H and W must be multiples of 4 and 2 respectively; the graph declares it.

Verification runs the exported file in ONNX Runtime (`onnxruntime`) beside the fp32 PyTorch forward pass on
the same image; `VERIFY_TOLERANCE` is the largest difference accepted.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn

from esrgan.archs.spec import ModelSpec
from esrgan.atomic import atomic_write
from esrgan.errors import ExportError

ONNX_OPSET = 18
"""Opset of exported models (Resize with dynamic scales, DepthToSpace/SpaceToDepth): ONNX Runtime ≥ 1.14,
OpenVINO ≥ 2023, TensorRT ≥ 8.6 read it."""

VERIFY_TOLERANCE = 1e-4
"""Largest max-abs difference from PyTorch's fp32 output (on the [0, 1] scale) an export may have."""

MAX_SIDE = 16384
"""Upper bound of the dynamic height and width declared in the graph (input pixels)."""


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the exporter's progress prints, deprecation warnings and torchvision-missing log lines."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def export_onnx(
    model: nn.Module, spec: ModelSpec, path: Path, opset: int = ONNX_OPSET, overwrite: bool = False
) -> Path:
    """Write `model` as an ONNX file at `path` (atomically; an existing file only with `overwrite`)."""
    if Path(path).exists() and not overwrite:
        raise ExportError(f"{path}: exists; pass --overwrite to replace it")
    try:
        import onnxscript  # noqa: F401 - the exporter needs it; fail here with a clear message
    except ImportError as error:
        raise ExportError("ONNX export needs the onnxscript and onnx packages: pip install onnxscript") from error
    model = model.eval().float().cpu()
    multiple = spec.input_multiple
    height, width = (torch.export.Dim(name, min=1, max=MAX_SIDE // multiple) for name in ("height", "width"))
    dynamic = {
        0: torch.export.Dim("batch", min=1, max=1024),
        2: height * multiple if multiple > 1 else height,
        3: width * multiple if multiple > 1 else width,
    }
    example = torch.rand(2, spec.in_channels, 8 * multiple, 8 * multiple)
    with _quiet_exporter(), torch.no_grad():
        try:
            program = torch.onnx.export(
                model, (example,), dynamo=True, opset_version=opset, input_names=["input"],
                output_names=["output"], dynamic_shapes=(dynamic,),
                external_data=False, verbose=False,
            )
        except Exception as error:  # the exporter raises many unrelated types; all mean "not exportable"
            raise ExportError(f"{spec.describe()} could not be exported to ONNX: {error}") from error
    if program is None:  # only the legacy (dynamo=False) exporter returns nothing
        raise ExportError(f"{spec.describe()}: the ONNX exporter returned no program")
    try:
        atomic_write(Path(path), lambda temp: program.save(str(temp), external_data=False), overwrite=overwrite)
    except FileExistsError:
        raise ExportError(f"{path}: exists; pass --overwrite to replace it") from None
    return Path(path)


def onnx_difference(path: Path, model: nn.Module, spec: ModelSpec, image: np.ndarray) -> float:
    """Max abs difference between the ONNX file (ONNX Runtime, CPU) and PyTorch fp32 on one image.

    `image` is (H, W, C) with `spec.in_channels` channels, uint8/uint16 or float in [0, 1]; it is cropped to
    the input multiple.
    """
    try:
        import onnxruntime
    except ImportError as error:
        raise ExportError("verifying an ONNX export needs onnxruntime: pip install onnxruntime") from error
    if image.dtype != np.float32 and np.issubdtype(image.dtype, np.integer):
        image = image.astype(np.float32) / np.iinfo(image.dtype).max
    multiple = spec.input_multiple
    image = image[: image.shape[0] // multiple * multiple, : image.shape[1] // multiple * multiple]
    batch = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).permute(2, 0, 1)[None]
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    with torch.inference_mode():
        expected = model.eval().float().cpu()(batch).numpy()
    actual = session.run(None, {"input": batch.numpy()})[0]
    if actual.shape != expected.shape:
        raise ExportError(f"{path}: output shape {actual.shape} differs from PyTorch's {expected.shape}")
    return float(np.abs(actual - expected).max())
