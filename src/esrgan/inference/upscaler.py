"""The `Upscaler`: a loaded generator plus the options of how to run it, applied to real images.

It takes what image files hold (uint8 or uint16, grey, RGB or RGBA, numpy or PIL) and returns the same
kind: grey stays grey, alpha is upscaled too, 16-bit stays 16-bit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

from esrgan.archs.spec import ModelSpec
from esrgan.errors import ConfigError
from esrgan.imaging.io import pil_to_array
from esrgan.inference.backends import create_backend
from esrgan.inference.memory import auto_batch_size, auto_tile_size
from esrgan.inference.precision import resolve_device, resolve_precision
from esrgan.inference.tiling import upscale_tiled

DEFAULT_TILE_PAD = 48
"""LR pixels of context around each tile: a trained 23-block RRDBNet needs this much for tiled output to match
a whole pass to > 50 dB (`tests/inference/test_tiling_real_weights.py`). It is computed twice at every seam,
which is why the default tile is as large as memory allows."""

LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)
TileCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class UpscaleOptions:
    """How to run the network.

    `tile`: None = chosen from free memory, 0 = whole image in one pass. `batch`: tiles per network call,
    None = chosen from free memory (GPU) or 1 (CPU). `backend`: `torch`, `openvino` or `auto` (see
    `esrgan.inference.backends`).
    """

    tile: int | None = None
    tile_pad: int = DEFAULT_TILE_PAD
    precision: str = "auto"
    device: str = "auto"
    backend: str = "auto"
    batch: int | None = None


class Upscaler:
    """Runs one generator on images; construct it once and reuse it for many images."""

    def __init__(self, model: nn.Module, spec: ModelSpec, options: UpscaleOptions = UpscaleOptions()) -> None:
        if options.tile is not None and options.tile < 0 or options.tile_pad < 0:
            raise ConfigError("tile and tile pad must be >= 0 (tile 0 = whole image)")
        if options.batch is not None and options.batch < 1:
            raise ConfigError("batch (tiles per network call) must be >= 1")
        self.spec = spec
        self.options = options
        self.device = resolve_device(options.device)
        self.dtype = resolve_precision(options.precision, self.device)
        self.backend = create_backend(options.backend, model, spec, self.device, self.dtype)
        self.model = model
        self.multiple = spec.input_multiple
        tile = auto_tile_size(spec, self.device, self.dtype) if options.tile is None else options.tile
        self.tile = _round_up(tile, self.multiple)
        self.tile_pad = _round_up(options.tile_pad, self.multiple)
        self.batch = (
            auto_batch_size(spec, self.device, self.dtype, self.tile, self.tile_pad)
            if options.batch is None else options.batch
        )

    @property
    def scale(self) -> int:
        return self.spec.scale

    def upscale(
        self, image: np.ndarray | Image.Image, outscale: float | None = None, on_tile: TileCallback | None = None
    ) -> np.ndarray | Image.Image:
        """Super-resolve one image; `outscale` resizes the network output to any final scale."""
        if isinstance(image, Image.Image):
            return Image.fromarray(self.upscale_array(pil_to_array(image), outscale, on_tile))
        return self.upscale_array(image, outscale, on_tile)

    def upscale_array(
        self, image: np.ndarray, outscale: float | None = None, on_tile: TileCallback | None = None
    ) -> np.ndarray:
        if image.dtype not in (np.uint8, np.uint16, np.float32, np.float64):
            raise ConfigError(f"unsupported pixel type {image.dtype}; use uint8, uint16 or float in [0, 1]")
        planes = image if image.ndim == 3 else image[..., None]
        channels = planes.shape[2]
        if channels not in (1, 2, 3, 4):
            raise ConfigError(f"images have 1 to 4 channels (grey, grey+alpha, RGB, RGBA), not {channels}")
        has_alpha = channels in (2, 4)
        colour = planes[..., : channels - has_alpha]
        result = self._run(_to_channels(colour, self.spec.in_channels), image.dtype, on_tile)
        if colour.shape[2] == 1:
            result = _to_grey(result)[..., None]
        if has_alpha:
            result = np.concatenate([result, self._upscale_alpha(planes[..., -1:], image.dtype)[..., None]], axis=2)
        if outscale is not None and outscale != self.scale:
            result = resize_to_outscale(result, image.shape[0], image.shape[1], outscale)
        return result[..., 0] if image.ndim == 2 else result

    def _upscale_alpha(self, alpha: np.ndarray, dtype: np.dtype) -> np.ndarray:
        """Alpha goes through the network too (sharp edges stay sharp), unless it is constant."""
        height, width = alpha.shape[:2]
        if alpha.min() == alpha.max():
            return np.full((height * self.scale, width * self.scale), alpha.flat[0], dtype=alpha.dtype)
        return _to_grey(self._run(_to_channels(alpha, self.spec.in_channels), dtype, None))

    def _run(self, image: np.ndarray, dtype: np.dtype, on_tile: TileCallback | None) -> np.ndarray:
        height, width = image.shape[:2]
        tensor = torch.from_numpy(_to_unit_float(image)).permute(2, 0, 1).unsqueeze(0)
        pad_h, pad_w = (-height) % self.multiple, (-width) % self.multiple
        if pad_h or pad_w:
            tensor = F.pad(tensor, (0, pad_w, 0, pad_h), mode="reflect")
        output = upscale_tiled(
            self.forward, tensor, self.scale, self.tile, self.tile_pad, lambda t: _from_unit_float(t, dtype),
            on_tile, self.batch, self.multiple,
        )
        return output[: height * self.scale, : width * self.scale]

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        """Network on a (N, C, H, W) float batch in [0, 1], on the chosen device, precision and backend."""
        return self.backend(batch)

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Replace the weights (same architecture), e.g. by each blend of a network interpolation."""
        self.model.load_state_dict(state)
        self.backend.reload()


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def _to_unit_float(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    if image.dtype == np.uint16:
        return image.astype(np.float32) / 65535.0
    return image.astype(np.float32)


def _from_unit_float(tensor: torch.Tensor, dtype: np.dtype) -> np.ndarray:
    """(C, H, W) in [0, 1] to (H, W, C) of `dtype`; quantised where it was computed (a GPU sends 1/4 the bytes)."""
    if dtype == np.uint8:
        tensor = tensor.mul(255.0).round_().to(torch.uint8)
    elif dtype == np.uint16:
        tensor = tensor.mul(65535.0).round_().to(torch.int32)
    return tensor.permute(1, 2, 0).cpu().numpy().astype(dtype, copy=False)


def _to_channels(image: np.ndarray, channels: int) -> np.ndarray:
    """Repeat a single plane to the network's input channels (grey and alpha through an RGB model)."""
    if image.shape[2] == channels:
        return image
    if image.shape[2] == 1:
        return np.repeat(image, channels, axis=2)
    raise ConfigError(f"the model takes {channels} channels; the image has {image.shape[2]}")


def _to_grey(image: np.ndarray) -> np.ndarray:
    if image.shape[2] == 1:
        return image[..., 0]
    grey = image.astype(np.float32) @ LUMA_WEIGHTS
    return grey.round().astype(image.dtype) if np.issubdtype(image.dtype, np.integer) else grey.astype(image.dtype)


def resize_to_outscale(image: np.ndarray, height: int, width: int, outscale: float) -> np.ndarray:
    """Final resize to `outscale` × the input size: Lanczos up (sharp), area down (no aliasing)."""
    size = (max(1, round(width * outscale)), max(1, round(height * outscale)))
    interpolation = cv2.INTER_LANCZOS4 if size[0] > image.shape[1] else cv2.INTER_AREA
    resized = cv2.resize(image, size, interpolation=interpolation)
    return resized if resized.ndim == image.ndim else resized[..., None]
