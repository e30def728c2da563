"""MATLAB's `imresize(..., 'bicubic')`, reproduced exactly.

SR benchmarks make their low-resolution inputs with MATLAB's bicubic resize, and the published PSNR / SSIM /
NIQE figures depend on its details, which differ from OpenCV's and PIL's bicubic:

- the cubic convolution kernel of Keys (1981) with a = -0.5;
- when shrinking by a scale s < 1 the kernel is stretched to 1/s of its width and scaled by s
  (antialiasing), so each output pixel averages every input pixel it covers;
- output pixel centres map back to input coordinates by u = x / s + (1 - 1/s) / 2 (pixel-centre alignment);
- samples outside the image are mirrored with the edge pixel repeated ("symmetric" padding);
- the weights of every output pixel are normalised to sum to one;
- the image is resized one dimension at a time, the dimension with the smaller scale factor first;
- for uint8 (and uint16) images every 1-D pass is rounded and clipped to the type before the next one.

`imresize` works on numpy arrays in float64 (and on uint8/uint16 with the rounding above); `imresize_torch`
applies the same weights to float tensors shaped (N, C, H, W) on any device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import torch

from esrgan.errors import ConfigError

_KERNEL_WIDTH = 4.0  # the cubic kernel is supported on [-2, 2]


def cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5, written as MATLAB's `cubic` in imresize.m."""
    absx = np.abs(x)
    absx2 = absx * absx
    absx3 = absx2 * absx
    inner = (1.5 * absx3 - 2.5 * absx2 + 1.0) * (absx <= 1)
    outer = (-0.5 * absx3 + 2.5 * absx2 - 4.0 * absx + 2.0) * ((absx > 1) & (absx <= 2))
    return inner + outer


@dataclass(frozen=True)
class Contributions:
    """For each output sample along one dimension: the input indices it reads and their weights.

    `indices` and `weights` are both (out_length, taps); `indices` are 0-based and already mirrored into
    the input, so `output[i] = sum_k weights[i, k] * input[indices[i, k]]`.
    """

    indices: np.ndarray
    weights: np.ndarray

    def as_matrix(self, in_length: int) -> np.ndarray:
        """Dense (out_length, in_length) matrix doing the same resize as a matrix product."""
        matrix = np.zeros((self.indices.shape[0], in_length), dtype=np.float64)
        rows = np.repeat(np.arange(self.indices.shape[0]), self.indices.shape[1])
        np.add.at(matrix, (rows, self.indices.ravel()), self.weights.ravel())
        return matrix


def contributions(in_length: int, out_length: int, scale: float, antialiasing: bool = True) -> Contributions:
    """Indices and weights of MATLAB's `contributions` (imresize.m) for one dimension.

    Shrinking with antialiasing evaluates the kernel as s * cubic(s * x) over a support 4 / s wide, i.e. the
    kernel is a low-pass filter matched to the new sampling rate.
    """
    stretch = antialiasing and scale < 1
    kernel_width = _KERNEL_WIDTH / scale if stretch else _KERNEL_WIDTH

    x = np.arange(1, out_length + 1, dtype=np.float64)
    # Input coordinate (1-based, as in MATLAB) of the centre of each output pixel.
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)
    left = np.floor(u - kernel_width / 2.0)
    taps = int(math.ceil(kernel_width)) + 2
    indices = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]
    distance = u[:, None] - indices
    weights = scale * cubic(scale * distance) if stretch else cubic(distance)
    weights = weights / weights.sum(axis=1, keepdims=True)

    # Symmetric padding: 1..n followed by n..1, repeated, is MATLAB's mirror with the edge pixel doubled.
    mirror = np.concatenate([np.arange(in_length), np.arange(in_length - 1, -1, -1)])
    zero_based = np.mod(indices.astype(np.int64) - 1, mirror.size)
    indices_0 = mirror[zero_based]

    # As MATLAB does, drop the taps whose weight is zero for every output: they add nothing but work.
    used = np.any(weights != 0, axis=0)
    return Contributions(indices=indices_0[:, used], weights=weights[:, used])


def _output_plan(
    in_shape: tuple[int, int], scale: float | None, output_shape: tuple[int, int] | None
) -> tuple[tuple[float, float], tuple[int, int]]:
    """Per-dimension scale and output size, as imresize.m derives them from its arguments.

    A scale gives the size ceil(s * n) and keeps s itself for the weights; an output size gives the scale
    out / in for each dimension.
    """
    if (scale is None) == (output_shape is None):
        raise ConfigError("imresize needs exactly one of `scale` or `output_shape`")
    if scale is not None:
        if not scale > 0:
            raise ConfigError(f"imresize scale must be positive, got {scale}")
        out = (int(math.ceil(scale * in_shape[0])), int(math.ceil(scale * in_shape[1])))
        return (float(scale), float(scale)), out
    assert output_shape is not None
    rows, cols = (int(v) for v in output_shape)
    if rows <= 0 or cols <= 0:
        raise ConfigError(f"imresize output_shape must be positive, got {output_shape}")
    return (rows / in_shape[0], cols / in_shape[1]), (rows, cols)


def _dimension_order(scales: tuple[float, float]) -> list[int]:
    """MATLAB resizes the dimension with the smaller scale first (a stable sort: rows first on a tie)."""
    return sorted(range(2), key=lambda dim: scales[dim])


def _resize_axis(image: np.ndarray, axis: int, contrib: Contributions, integer_max: int | None) -> np.ndarray:
    """One 1-D pass along `axis`, accumulating the taps in order as imresizemex does."""
    moved = np.moveaxis(image, axis, 0).astype(np.float64, copy=False)
    out = np.zeros((contrib.indices.shape[0],) + moved.shape[1:], dtype=np.float64)
    extra = (slice(None),) + (None,) * (moved.ndim - 1)
    for k in range(contrib.indices.shape[1]):
        out += contrib.weights[:, k][extra] * moved[contrib.indices[:, k]]
    if integer_max is not None:
        # MATLAB casts each pass to the integer class: round half away from zero, then saturate.
        out = np.clip(np.floor(out + 0.5), 0, integer_max)
    return np.moveaxis(out, 0, axis)


def imresize(
    image: np.ndarray,
    scale: float | None = None,
    output_shape: tuple[int, int] | None = None,
    antialiasing: bool = True,
) -> np.ndarray:
    """MATLAB `imresize(image, scale or [rows cols], 'bicubic')` for an (H, W) or (H, W, C) array.

    uint8 (uint16) input gives uint8 (uint16) output, rounded after each 1-D pass exactly as MATLAB does; any
    other input is computed in float64 without rounding and returned as float64.
    """
    if image.ndim not in (2, 3):
        raise ConfigError(f"imresize expects an (H, W) or (H, W, C) array, got shape {image.shape}")
    integer_max = {np.dtype(np.uint8): 255, np.dtype(np.uint16): 65535}.get(image.dtype)
    scales, out_shape = _output_plan((image.shape[0], image.shape[1]), scale, output_shape)
    result = image.astype(np.float64)
    for dim in _dimension_order(scales):
        contrib = contributions(image.shape[dim], out_shape[dim], scales[dim], antialiasing)
        result = _resize_axis(result, dim, contrib, integer_max)
    return result if integer_max is None else result.astype(image.dtype)


def imresize_torch(
    images: torch.Tensor,
    scale: float | None = None,
    output_shape: tuple[int, int] | None = None,
    antialiasing: bool = True,
) -> torch.Tensor:
    """The float path of `imresize` for a batch (N, C, H, W) or a single (C, H, W) float tensor.

    Each 1-D pass is a matrix product with the dense weight matrix of `contributions`, computed in float64
    on the host and cast to the tensor's dtype and device, so it runs on any device and keeps autograd.
    """
    if images.ndim not in (3, 4):
        raise ConfigError(f"imresize_torch expects (N, C, H, W) or (C, H, W), got shape {tuple(images.shape)}")
    if not images.is_floating_point():
        raise ConfigError(f"imresize_torch takes float tensors, got {images.dtype}; use imresize for integers")
    height, width = images.shape[-2], images.shape[-1]
    scales, out_shape = _output_plan((height, width), scale, output_shape)
    result = images
    for dim in _dimension_order(scales):
        in_length = (height, width)[dim]
        matrix = contributions(in_length, out_shape[dim], scales[dim], antialiasing).as_matrix(in_length)
        weights = torch.from_numpy(matrix).to(device=images.device, dtype=images.dtype)
        if dim == 0:
            result = torch.matmul(weights, result)
        else:
            result = torch.matmul(result, weights.T)
    return result


Rounding = Literal["once", "per_pass"]
"""How an integer image is rounded by `imresize_keeping_type`."""
ROUNDINGS: tuple[Rounding, ...] = get_args(Rounding)


def imresize_keeping_type(image: np.ndarray, scale: float, rounding: Rounding = "per_pass") -> np.ndarray:
    """MATLAB bicubic `imresize(image, scale)` returning an image of the input's dtype.

    Integer images: "per_pass" rounds after each 1-D pass, MATLAB's own integer path (what PIRM-style LR sets
    made in MATLAB hold); "once" resizes in float and rounds at the end (what the official ESRGAN / BasicSR
    scripts do: read as float, resize, save as 8-bit). Float images stay float, clipped to [0, 1].
    """
    if rounding not in ROUNDINGS:
        raise ConfigError(f"rounding must be one of {', '.join(ROUNDINGS)}, not {rounding!r}")
    if image.dtype.kind == "f":
        return np.clip(imresize(image.astype(np.float64), scale=scale), 0.0, 1.0).astype(image.dtype)
    if rounding == "per_pass":
        return imresize(image, scale=scale)
    top = float(np.iinfo(image.dtype).max)
    resized = imresize(image.astype(np.float64) / top, scale=scale)
    return np.clip(np.floor(resized * top + 0.5), 0, top).astype(image.dtype)
