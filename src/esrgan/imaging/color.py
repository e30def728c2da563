"""MATLAB's `rgb2ycbcr` / `ycbcr2rgb` (ITU-R BT.601, studio swing), for numpy arrays and torch tensors.

SR papers report PSNR and SSIM on the luma of MATLAB's conversion,

    Y  = 16  + ( 65.481 R + 128.553 G +  24.966 B)
    Cb = 128 + (-37.797 R -  74.203 G + 112.000 B)
    Cr = 128 + (112.000 R -  93.786 G -  18.214 B)      with R, G, B in [0, 1] and Y, Cb, Cr in [0, 255],

so Y spans [16, 235], not [0, 255]. The numbers differ from a full-range conversion (or OpenCV's), hence
this module.

Conventions, as in MATLAB: float images are RGB in [0, 1] (`im2double`) and convert to float in [0, 1]
(Y in [16/255, 235/255]) without rounding; uint8 and uint16 images convert to the same type, rounded once
(half away from zero) and saturated, which is what MATLAB returns for integer inputs.
"""

from __future__ import annotations

import numpy as np
import torch

from esrgan.errors import ConfigError

# BT.601 studio-swing matrix and offset of MATLAB's rgb2ycbcr (R, G, B in [0, 1] -> Y, Cb, Cr in [0, 255]).
_T = np.array(
    [
        [65.481, 128.553, 24.966],
        [-37.797, -74.203, 112.0],
        [112.0, -93.786, -18.214],
    ]
)
_OFFSET = np.array([16.0, 128.0, 128.0])

# MATLAB scales T and the offset per class so that inputs and outputs keep their class range; the factors
# are copied in this form (not simplified) so the float rounding matches MATLAB's to the last bit.
_FORWARD_SCALE = {"float": (1 / 255, 1 / 255), "uint8": (1 / 255, 1.0), "uint16": (257 / 65535, 257.0)}
_INVERSE_SCALE = {"float": (255.0, 1.0), "uint8": (255.0, 255.0), "uint16": (65535 / 257, 65535.0)}
_INTEGER_MAX = {"uint8": 255, "uint16": 65535}


def _class_of(image: np.ndarray) -> str:
    if image.dtype == np.uint8:
        return "uint8"
    if image.dtype == np.uint16:
        return "uint16"
    if np.issubdtype(image.dtype, np.floating):
        return "float"
    raise ConfigError(f"colour conversion takes uint8, uint16 or float images, got {image.dtype}")


def _check_rgb(image: np.ndarray, what: str) -> None:
    if image.ndim != 3 or image.shape[2] != 3:
        raise ConfigError(f"{what} expects an (H, W, 3) image, got shape {image.shape}")


def _lincomb(image: np.ndarray, matrix: np.ndarray, offset: np.ndarray, cls: str) -> np.ndarray:
    """`imlincomb(m1, c1, m2, c2, m3, c3, offset)` per output channel, cast back to the input class."""
    planes = image.astype(np.float64)
    out = np.empty(planes.shape, dtype=np.float64)
    for p in range(3):
        out[..., p] = (
            matrix[p, 0] * planes[..., 0] + matrix[p, 1] * planes[..., 1] + matrix[p, 2] * planes[..., 2]
        ) + offset[p]
    if cls == "float":
        return out
    return np.clip(np.floor(out + 0.5), 0, _INTEGER_MAX[cls]).astype(image.dtype)


def rgb2ycbcr(image: np.ndarray) -> np.ndarray:
    """MATLAB `rgb2ycbcr` of an (H, W, 3) RGB image; float in [0, 1] -> float64, uint8/uint16 -> same type."""
    _check_rgb(image, "rgb2ycbcr")
    cls = _class_of(image)
    t_scale, offset_scale = _FORWARD_SCALE[cls]
    return _lincomb(image, t_scale * _T, offset_scale * _OFFSET, cls)


def ycbcr2rgb(image: np.ndarray) -> np.ndarray:
    """MATLAB `ycbcr2rgb`, the inverse of `rgb2ycbcr` with the same class conventions."""
    _check_rgb(image, "ycbcr2rgb")
    cls = _class_of(image)
    t_scale, offset_scale = _INVERSE_SCALE[cls]
    inverse = np.linalg.inv(_T)
    return _lincomb(image, t_scale * inverse, -(offset_scale * inverse @ _OFFSET), cls)


def to_y_channel(image: np.ndarray, rounded: bool = False) -> np.ndarray:
    """Luma in [0, 255] as float64, (H, W), the input of every Y-channel metric.

    - (H, W, 3) RGB: MATLAB's Y, i.e. 16 + 65.481 R + 128.553 G + 24.966 B with R, G, B in [0, 1], so
      the values lie in [16, 235]. uint8 is read as n / 255, uint16 as n / 65535, float as already in [0, 1].
    - (H, W) or (H, W, 1) grey: the grey level itself scaled to [0, 255], not squeezed into [16, 235]; this
      is what evaluation scripts do for grey images (e.g. Set14's bridge), which have no RGB to convert.

    `rounded=True` rounds Y to integers as MATLAB's uint8 `rgb2ycbcr` does; for uint8 input it is exactly
    `double(rgb2ycbcr(img)(:, :, 1))`, which is what NIQE and Ma's score were computed on by PIRM.
    Unrounded float Y is the convention of the PSNR/SSIM tables.
    """
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    cls = _class_of(image)
    if image.ndim == 2:
        scale = 255.0 / _INTEGER_MAX[cls] if cls != "float" else 255.0
        luma = image.astype(np.float64) * scale
        return np.floor(luma + 0.5) if rounded else luma
    _check_rgb(image, "to_y_channel")
    if rounded and cls == "uint8":
        return rgb2ycbcr(image)[..., 0].astype(np.float64)
    unit = image.astype(np.float64) / _INTEGER_MAX[cls] if cls != "float" else image.astype(np.float64)
    luma = rgb2ycbcr(unit)[..., 0] * 255.0
    return np.floor(luma + 0.5) if rounded else luma


def _check_batch(images: torch.Tensor, what: str) -> None:
    if images.ndim != 4 or images.shape[1] != 3 or not images.is_floating_point():
        raise ConfigError(f"{what} expects a float (N, 3, H, W) tensor, got {images.dtype} {tuple(images.shape)}")


def _apply_torch(images: torch.Tensor, matrix: np.ndarray, offset: np.ndarray) -> torch.Tensor:
    weight = torch.as_tensor(matrix, dtype=images.dtype, device=images.device)
    bias = torch.as_tensor(offset, dtype=images.dtype, device=images.device)
    return torch.einsum("pc,nchw->nphw", weight, images) + bias[None, :, None, None]


def rgb2ycbcr_torch(images: torch.Tensor) -> torch.Tensor:
    """Float path of `rgb2ycbcr` for a batch (N, 3, H, W) in [0, 1]; output in [0, 1] like MATLAB's float."""
    _check_batch(images, "rgb2ycbcr_torch")
    t_scale, offset_scale = _FORWARD_SCALE["float"]
    return _apply_torch(images, t_scale * _T, offset_scale * _OFFSET)


def ycbcr2rgb_torch(images: torch.Tensor) -> torch.Tensor:
    """Float path of `ycbcr2rgb` for a batch (N, 3, H, W) in [0, 1]."""
    _check_batch(images, "ycbcr2rgb_torch")
    t_scale, offset_scale = _INVERSE_SCALE["float"]
    inverse = np.linalg.inv(_T)
    return _apply_torch(images, t_scale * inverse, -(offset_scale * inverse @ _OFFSET))


def to_y_channel_torch(images: torch.Tensor) -> torch.Tensor:
    """Unrounded Y in [0, 255] of a float batch in [0, 1], shaped (N, 1, H, W); grey (N, 1, H, W) is scaled only."""
    if images.ndim == 4 and images.shape[1] == 1 and images.is_floating_point():
        return images * 255.0
    return rgb2ycbcr_torch(images)[:, :1] * 255.0
