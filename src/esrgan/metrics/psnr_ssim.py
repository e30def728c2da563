"""PSNR and SSIM as SR papers report them (and as ESRGAN's Table 1 / BasicSR compute them).

Both metrics take a restored image and its reference, optionally on MATLAB's Y channel (unrounded float
Y in [16, 235], see `esrgan.imaging.color.to_y_channel`), after removing `crop_border` pixels (the scale
factor, by convention) from every side. Pixel values are compared on the [0, 255] scale:

- uint8 images as they are, uint16 images scaled by 255 / 65535,
- float images are taken to be in [0, 1] (MATLAB's `im2double` convention) and scaled by 255.

PSNR = 10 log10(255^2 / MSE), with MSE over all pixels and channels (inf for identical images).

SSIM follows Wang, Bovik, Sheikh & Simoncelli, "Image quality assessment: from error visibility to
structural similarity", IEEE TIP 13(4), 2004, eq. (13), with the constants of their `ssim_index.m`:
an 11x11 Gaussian window with sigma 1.5, C1 = (0.01 L)^2, C2 = (0.03 L)^2, L = 255, the local statistics
computed only where the window fits inside the image ('valid' filtering), and the SSIM map averaged. The
later `ssim.m` first downsamples images larger than 256 px; SR evaluation code (and so the published
tables) does not, and neither do we. Colour images score the mean of the per-channel SSIMs.

The numpy functions are the reference; `psnr_torch` / `ssim_torch` compute the same on (N, C, H, W) float
batches in [0, 1] on any device (in float64), for validation during training.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import correlate1d

from esrgan.errors import MetricError
from esrgan.imaging.color import to_y_channel, to_y_channel_torch

_WINDOW_SIZE = 11
_WINDOW_SIGMA = 1.5
_K1, _K2, _L = 0.01, 0.03, 255.0
_C1 = (_K1 * _L) ** 2
_C2 = (_K2 * _L) ** 2

Array = TypeVar("Array", np.ndarray, torch.Tensor)


def _to_255(image: np.ndarray) -> np.ndarray:
    """The image as float64 on the [0, 255] scale, always (H, W, C)."""
    if image.dtype == np.uint8:
        scaled = image.astype(np.float64)
    elif image.dtype == np.uint16:
        scaled = image.astype(np.float64) * (255.0 / 65535.0)
    elif np.issubdtype(image.dtype, np.floating):
        scaled = image.astype(np.float64) * 255.0
    else:
        raise MetricError(f"metrics take uint8, uint16 or float images, got {image.dtype}")
    return scaled[..., None] if scaled.ndim == 2 else scaled


def _prepare(
    image: np.ndarray, reference: np.ndarray, crop_border: int, y_channel: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Both images as float64 (H, W, C) on [0, 255], checked for equal size, converted and cropped."""
    if image.shape != reference.shape:
        raise MetricError(
            f"image size {image.shape} differs from reference size {reference.shape}; "
            "crop or resize one of them so both match"
        )
    if image.ndim not in (2, 3):
        raise MetricError(f"metrics take (H, W) or (H, W, C) images, got shape {image.shape}")
    if crop_border < 0:
        raise MetricError(f"crop_border must be >= 0, got {crop_border}")
    if y_channel:
        first, second = to_y_channel(image)[..., None], to_y_channel(reference)[..., None]
    else:
        first, second = _to_255(image), _to_255(reference)
    if crop_border:
        if min(first.shape[:2]) <= 2 * crop_border:
            raise MetricError(f"crop_border {crop_border} leaves nothing of an image of size {image.shape}")
        first = first[crop_border:-crop_border, crop_border:-crop_border]
        second = second[crop_border:-crop_border, crop_border:-crop_border]
    return first, second


def psnr(image: np.ndarray, reference: np.ndarray, crop_border: int = 0, y_channel: bool = False) -> float:
    """Peak signal-to-noise ratio in dB on the [0, 255] scale; inf when the images are identical."""
    first, second = _prepare(image, reference, crop_border, y_channel)
    mse = float(np.mean((first - second) ** 2))
    if mse == 0:
        return math.inf
    return 10.0 * math.log10(_L**2 / mse)


def gaussian_window_1d(size: int = _WINDOW_SIZE, sigma: float = _WINDOW_SIGMA) -> np.ndarray:
    """Normalised 1-D Gaussian; its outer product is MATLAB's `fspecial('gaussian', size, sigma)`."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(x**2) / (2.0 * sigma**2))
    return g / g.sum()


def _filter_valid(plane: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Separable correlation with outer(g, g), kept only where the window lies inside the plane."""
    half = g.size // 2
    filtered = correlate1d(correlate1d(plane, g, axis=0, mode="constant"), g, axis=1, mode="constant")
    return filtered[half:-half, half:-half]


def _ssim_maps(x: Array, y: Array, local_mean: Callable[[Array], Array]) -> tuple[Array, Array]:
    """SSIM map, eq. (13) of Wang et al., and its contrast-structure factor, from Gaussian-weighted local
    moments; works on numpy arrays and torch tensors alike."""
    mu_x, mu_y = local_mean(x), local_mean(y)
    sigma_x2 = local_mean(x * x) - mu_x**2
    sigma_y2 = local_mean(y * y) - mu_y**2
    sigma_xy = local_mean(x * y) - mu_x * mu_y
    contrast_structure = (2 * sigma_xy + _C2) / (sigma_x2 + sigma_y2 + _C2)
    luminance = (2 * mu_x * mu_y + _C1) / (mu_x**2 + mu_y**2 + _C1)
    return luminance * contrast_structure, contrast_structure


def ssim_plane(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Mean SSIM and mean contrast-structure term of two float planes (no scaling, L = 255 constants).

    The second value is the `mcs` of Wang's `ssim_index`, which Ma et al.'s GSM features use as a
    structural correlation between pyramid bands.
    """
    if x.shape != y.shape or x.ndim != 2:
        raise MetricError(f"ssim_plane takes two 2-D arrays of one size, got {x.shape} and {y.shape}")
    if min(x.shape) < _WINDOW_SIZE:
        raise MetricError(f"SSIM needs at least {_WINDOW_SIZE}x{_WINDOW_SIZE} pixels, got {x.shape}")
    g = gaussian_window_1d()
    ssim_map, cs_map = _ssim_maps(x.astype(np.float64), y.astype(np.float64), lambda t: _filter_valid(t, g))
    return float(ssim_map.mean()), float(cs_map.mean())


def ssim(image: np.ndarray, reference: np.ndarray, crop_border: int = 0, y_channel: bool = False) -> float:
    """Structural similarity (Wang et al. 2004), mean over channels; 1.0 when the images are identical."""
    first, second = _prepare(image, reference, crop_border, y_channel)
    return float(np.mean([ssim_plane(first[..., c], second[..., c])[0] for c in range(first.shape[2])]))


def _prepare_torch(
    images: torch.Tensor, references: torch.Tensor, crop_border: int, y_channel: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Float64 (N, C, H, W) batches on [0, 255], converted and cropped as `_prepare` does."""
    if images.shape != references.shape:
        raise MetricError(
            f"image batch size {tuple(images.shape)} differs from reference size {tuple(references.shape)}"
        )
    if images.ndim != 4 or not images.is_floating_point() or not references.is_floating_point():
        raise MetricError(f"torch metrics take float (N, C, H, W) batches in [0, 1], got {tuple(images.shape)}")
    if crop_border < 0:
        raise MetricError(f"crop_border must be >= 0, got {crop_border}")
    first, second = images.double(), references.double()
    if y_channel:
        first, second = to_y_channel_torch(first), to_y_channel_torch(second)
    else:
        first, second = first * 255.0, second * 255.0
    if crop_border:
        if min(first.shape[-2:]) <= 2 * crop_border:
            raise MetricError(f"crop_border {crop_border} leaves nothing of images of size {tuple(images.shape)}")
        first = first[..., crop_border:-crop_border, crop_border:-crop_border]
        second = second[..., crop_border:-crop_border, crop_border:-crop_border]
    return first, second


def psnr_torch(
    images: torch.Tensor, references: torch.Tensor, crop_border: int = 0, y_channel: bool = False
) -> torch.Tensor:
    """`psnr` of each pair in a batch: float64 tensor (N,), inf where a pair is identical."""
    first, second = _prepare_torch(images, references, crop_border, y_channel)
    mse = ((first - second) ** 2).mean(dim=(1, 2, 3))
    return 10.0 * torch.log10(_L**2 / mse)


def ssim_torch(
    images: torch.Tensor, references: torch.Tensor, crop_border: int = 0, y_channel: bool = False
) -> torch.Tensor:
    """`ssim` of each pair in a batch: float64 tensor (N,), the mean over channels of the SSIM maps."""
    x, y = _prepare_torch(images, references, crop_border, y_channel)
    if min(x.shape[-2:]) < _WINDOW_SIZE:
        raise MetricError(f"SSIM needs at least {_WINDOW_SIZE}x{_WINDOW_SIZE} pixels, got {tuple(x.shape[-2:])}")
    channels = x.shape[1]
    g = torch.from_numpy(gaussian_window_1d()).to(x)
    window = torch.outer(g, g).expand(channels, 1, _WINDOW_SIZE, _WINDOW_SIZE)

    ssim_map, _ = _ssim_maps(x, y, lambda t: F.conv2d(t, window, groups=channels))
    return ssim_map.mean(dim=(2, 3)).mean(dim=1)
