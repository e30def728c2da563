"""The `Upscaler`: a loaded generator plus the options of how to run it, applied to real images.

It takes what image files hold (uint8 or uint16, grey, RGB or RGBA, numpy or PIL) and returns the same
kind: grey stays grey, alpha is upscaled too, 16-bit stays 16-bit. Images of one size can go through the
network together (`upscale_batch`), each with the result it gets alone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import cv2
import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

from esrgan.archs.spec import ModelSpec
from esrgan.back_projection import back_project
from esrgan.errors import ConfigError
from esrgan.hardware import resolve_device, resolve_precision
from esrgan.imaging.io import pil_to_array, to_grey
from esrgan.inference.backends import Backend, create_backend
from esrgan.inference.memory import auto_batch_size, auto_tile_size
from esrgan.inference.tiling import tile_grid, upscale_tiled
from esrgan.options import UpscaleOptions, check_back_projection, check_outscale

if TYPE_CHECKING:
    from esrgan.video.frames import Frame, SkippedFrame
    from esrgan.video.job import VideoResult

TileCallback = Callable[[int, int], None]


@dataclass
class _Path:
    """One way of running the network: a backend at one precision, with tiles sized for that precision."""

    backend: Backend
    tile: int
    batch: int


class Upscaler:
    """Runs one generator on images; construct it once and reuse it for many images.

    With `precision="auto"`, 8-bit images run at the fastest precision the hardware has (bf16 on CPUs with
    native bf16), but 16-bit and float images run in fp32: bf16's 8-bit mantissa posterises them
    (`benchmarks/sixteen_bit.py` measures it; README, "Performance").
    """

    def __init__(self, model: nn.Module, spec: ModelSpec, options: UpscaleOptions | None = None) -> None:
        options = UpscaleOptions() if options is None else options
        self.spec = spec
        self.options = options
        self.device = resolve_device(options.device, options.device_index)
        self.dtype = resolve_precision(options.precision, self.device)
        self.model = model
        self.multiple = spec.input_multiple
        self.tile_pad = _round_up(options.tile_pad, self.multiple)
        self._paths: dict[torch.dtype, _Path] = {}
        self._path(self.dtype)

    def _path(self, dtype: torch.dtype) -> _Path:
        """The backend, tile and batch for `dtype`, made on first use (a second precision costs nothing
        until an image needs it)."""
        if dtype not in self._paths:
            backend = create_backend(self.options.backend, self.model, self.spec, self.device, dtype)
            tile = auto_tile_size(self.spec, self.device, dtype) if self.options.tile is None else self.options.tile
            if not self.spec.tiles:  # a network with a global receptive field sees the whole image, or it changes
                tile = 0
            tile = _round_up(tile, self.multiple)
            side = tile + 2 * self.tile_pad
            batch = (self.options.batch if self.options.batch is not None
                     else auto_batch_size(self.spec, self.device, dtype, side, side) if tile > 0 else 1)
            self._paths[dtype] = _Path(backend, tile, batch)
        return self._paths[dtype]

    def precision_for(self, pixels: np.dtype) -> torch.dtype:
        """The precision an image of this pixel type runs at: fp32 for more than 8 bits when `auto` chose less."""
        if self.options.precision == "auto" and pixels != np.uint8:
            return torch.float32
        return self.dtype

    @property
    def backend(self) -> Backend:
        return self._paths[self.dtype].backend

    @property
    def tile(self) -> int:
        return self._paths[self.dtype].tile

    @property
    def batch(self) -> int:
        return self._paths[self.dtype].batch

    @property
    def scale(self) -> int:
        return self.spec.scale

    @overload
    def upscale(self, image: np.ndarray, outscale: float | None = None, on_tile: TileCallback | None = None,
                back_projection: int = 0) -> np.ndarray: ...

    @overload
    def upscale(self, image: Image.Image, outscale: float | None = None, on_tile: TileCallback | None = None,
                back_projection: int = 0) -> Image.Image: ...

    def upscale(
        self, image: np.ndarray | Image.Image, outscale: float | None = None, on_tile: TileCallback | None = None,
        back_projection: int = 0,
    ) -> np.ndarray | Image.Image:
        """Super-resolve one image, returned as the kind it came as (numpy array or PIL image)."""
        if isinstance(image, Image.Image):
            return Image.fromarray(self.upscale_array(pil_to_array(image), outscale, on_tile, back_projection))
        return self.upscale_array(image, outscale, on_tile, back_projection)

    def upscale_array(
        self, image: np.ndarray, outscale: float | None = None, on_tile: TileCallback | None = None,
        back_projection: int = 0,
    ) -> np.ndarray:
        """Super-resolve one image: the network, then `back_projection` iterations toward `image`
        (`esrgan.back_projection`), then a resize to `outscale` × the input size when that differs from the
        network's scale. `on_tile(done, total)` is called after each tile."""
        return self._upscale_alike([image], outscale, on_tile, back_projection)[0]

    def upscale_batch(
        self, images: Sequence[np.ndarray], outscale: float | None = None, back_projection: int = 0,
    ) -> list[np.ndarray]:
        """Super-resolve images of one shape and pixel type, each exactly as `upscale_array` would, with up
        to `images_per_call` of them in one network call (their tiles, for images larger than a tile).

        Images of different shapes or pixel types are refused (`ConfigError`), not grouped: the caller knows
        which of its images may wait for others of their size."""
        if any(i.shape != images[0].shape or i.dtype != images[0].dtype for i in images):
            kinds = sorted({f"{i.shape} {i.dtype}" for i in images})
            raise ConfigError(f"a batch holds images of one shape and pixel type, not {', '.join(kinds)}; "
                              "group them by shape and pixel type first")
        return self._upscale_alike(list(images), outscale, None, back_projection)

    def images_per_call(self, height: int, width: int, pixels: np.dtype) -> int:
        """How many whole `height`×`width` images of the pixel type `pixels` go through the network in one
        call: `UpscaleOptions.batch` when given, else `memory.auto_batch_size` (as many as fit the free memory,
        on a CPU only small images). Images larger than one tile go tile by tile, `batch` tiles per call."""
        if self.options.batch is not None:
            return self.options.batch
        padded = _round_up(height, self.multiple), _round_up(width, self.multiple)
        return auto_batch_size(self.spec, self.device, self.precision_for(np.dtype(pixels)), *padded)

    def _upscale_alike(
        self, images: list[np.ndarray], outscale: float | None, on_tile: TileCallback | None, back_projection: int,
    ) -> list[np.ndarray]:
        """`upscale_array` for images of one shape and pixel type, their network passes batched."""
        check_outscale(outscale)
        check_back_projection(back_projection)
        if not images:
            return []
        dtype, ndim = images[0].dtype, images[0].ndim
        if dtype not in (np.uint8, np.uint16, np.float32, np.float64):
            raise ConfigError(f"unsupported pixel type {dtype}; use uint8, uint16 or float in [0, 1]")
        planes = [image if ndim == 3 else image[..., None] for image in images]
        channels = planes[0].shape[2]
        if channels not in (1, 2, 3, 4):
            raise ConfigError(f"images have 1 to 4 channels (grey, grey+alpha, RGB, RGBA), not {channels}")
        if self.spec.in_channels == 4:  # the network itself takes RGBA: alpha goes through with the colour
            results = self._run([_to_rgba(p) for p in planes], dtype, on_tile)
        else:
            has_alpha = channels in (2, 4)
            colours = [_to_channels(p[..., : channels - has_alpha], self.spec.in_channels) for p in planes]
            results = self._run(colours, dtype, on_tile)
            if channels - has_alpha == 1 and results[0].shape[2] > 1:
                results = [to_grey(result)[..., None] for result in results]
            if has_alpha and results[0].shape[2] != 4:
                alphas = self._upscale_alpha([p[..., -1:] for p in planes], dtype)
                results = [np.concatenate([r, a[..., None]], axis=2) for r, a in zip(results, alphas)]
        return [self._finish(result, image, outscale, back_projection) for result, image in zip(results, images)]

    def _finish(
        self, result: np.ndarray, image: np.ndarray, outscale: float | None, back_projection: int,
    ) -> np.ndarray:
        """The network's (H·s, W·s, C) result in `image`'s layout, back-projected and resized to `outscale`."""
        channels = 1 if image.ndim == 2 else image.shape[2]
        # One plane out is a 2-D grey image, unless the caller gave (H, W, 1) and gets its own shape back.
        if result.shape[2] == 1 and (image.ndim == 2 or channels > 1):
            result = result[..., 0]
        if back_projection:
            result = back_project(result, image, back_projection)
        if outscale is not None and outscale != self.scale:
            result = resize_to_outscale(result, image.shape[0], image.shape[1], outscale)
        return result

    def _upscale_alpha(self, alphas: list[np.ndarray], dtype: np.dtype) -> list[np.ndarray]:
        """Alpha goes through the network too (sharp edges stay sharp), unless it is constant."""
        height, width = alphas[0].shape[:2]
        constant = [alpha.min() == alpha.max() for alpha in alphas]
        varying = [_to_channels(a, self.spec.in_channels) for a, flat in zip(alphas, constant) if not flat]
        upscaled = iter(self._run(varying, dtype, None))
        return [np.full((height * self.scale, width * self.scale), alpha.flat[0], dtype=alpha.dtype) if flat
                else to_grey(next(upscaled)) for alpha, flat in zip(alphas, constant)]

    def _run(self, images: list[np.ndarray], dtype: np.dtype, on_tile: TileCallback | None) -> list[np.ndarray]:
        """The network's outputs for (H, W, C) images of one shape, batched: whole images that are one tile
        each `images_per_call` at a time, the tiles of larger ones `batch` at a time. Only the images of one
        call exist as float32 at a time."""
        if not images:
            return []
        height, width = images[0].shape[:2]
        pad_h, pad_w = (-height) % self.multiple, (-width) % self.multiple
        path = self._path(self.precision_for(dtype))
        whole = len(tile_grid(height + pad_h, width + pad_w, path.tile, self.tile_pad, self.multiple)) == 1
        batch = self.images_per_call(height, width, dtype) if whole else path.batch
        outputs: list[np.ndarray] = []
        for start in range(0, len(images), batch):
            chunk = np.stack([_to_unit_float(image) for image in images[start:start + batch]])
            tensor = torch.from_numpy(chunk).permute(0, 3, 1, 2)
            if pad_h or pad_w:
                # Reflection needs the image to be larger than the pad; a 1×1 or 2×2 image is replicated instead.
                mode = "reflect" if pad_h < height and pad_w < width else "replicate"
                tensor = F.pad(tensor, (0, pad_w, 0, pad_h), mode=mode)
            outputs += upscale_tiled(
                path.backend, tensor, self.scale, path.tile, self.tile_pad, lambda t: _from_unit_float(t, dtype),
                on_tile, batch, self.multiple,
            )
        return [output[: height * self.scale, : width * self.scale] for output in outputs]

    def upscale_video(self, source: str | Path, target: str | Path, **options: Any) -> VideoResult:
        """Upscale the video `source` into `target`: frames through the network, the frame timing, audio,
        subtitles and metadata kept; resumable. Options: `esrgan.video.job.upscale_video`."""
        from esrgan.video.job import upscale_video

        return upscale_video(self, source, target, **options)

    def frames(self, source: str | Path, **options: Any) -> Iterator[Frame | SkippedFrame]:
        """The upscaled frames of the video `source`, one at a time (a `SkippedFrame` where one cannot be
        decoded). Options: `esrgan.video.frames.upscaled_frames`."""
        from esrgan.video.frames import upscaled_frames

        return upscaled_frames(self, source, **options)

    def fingerprint(self) -> str:
        """A digest of what decides the output for 8-bit input: the architecture, the weights and the
        precision. A resumed video job compares it, so a video is never stitched from two networks' frames."""
        digest = hashlib.sha256(f"{self.spec!r} {self.dtype}".encode())
        for name, tensor in self.model.state_dict().items():
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
        return digest.hexdigest()[:16]

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        """Network on a (N, C, H, W) float batch in [0, 1], on the chosen device, precision and backend."""
        return self.backend(batch)

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Replace the weights (same architecture), e.g. by each blend of a network interpolation."""
        self.model.load_state_dict(state)
        for path in self._paths.values():
            path.backend.reload()


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
    """The image as the network's input channels: a single plane repeated (grey and alpha through an RGB
    model), colour made grey (luma) for a grey model."""
    if image.shape[2] == channels:
        return image
    if image.shape[2] == 1:
        return np.repeat(image, channels, axis=2)
    if channels == 1:
        return to_grey(image)[..., None]
    raise ConfigError(f"the model takes {channels} channels; the image has {image.shape[2]}")


def _to_rgba(planes: np.ndarray) -> np.ndarray:
    """Grey, grey+alpha, RGB or RGBA as RGBA; a missing alpha is opaque."""
    colour = planes[..., :3] if planes.shape[2] >= 3 else np.repeat(planes[..., :1], 3, axis=2)
    if planes.shape[2] in (2, 4):
        return np.concatenate([colour, planes[..., -1:]], axis=2)
    opaque = 1.0 if planes.dtype.kind == "f" else np.iinfo(planes.dtype).max
    return np.concatenate([colour, np.full_like(planes[..., :1], opaque)], axis=2)


def resize_to_outscale(image: np.ndarray, height: int, width: int, outscale: float) -> np.ndarray:
    """Final resize to `outscale` × the input size: Lanczos up (sharp), area down (no aliasing)."""
    size = (max(1, round(width * outscale)), max(1, round(height * outscale)))
    interpolation = cv2.INTER_LANCZOS4 if size[0] > image.shape[1] else cv2.INTER_AREA
    resized = cv2.resize(image, size, interpolation=interpolation)
    return resized if resized.ndim == image.ndim else resized[..., None]
