"""Validation during training: PSNR / SSIM on the Y channel (and optionally NIQE) of a folder of HR images.

The LR inputs are made as the benchmarks make them: the HR image is cropped to a multiple of the scale
and shrunk with MATLAB's bicubic (uint8 path). The SR output is rounded to uint8, as a saved image would
be, and compared with the HR image after removing `scale` pixels from each border. Grey images are
repeated to RGB, since the generator takes three channels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from esrgan.data.datasets import as_rgb, list_images, to_tensor
from esrgan.errors import DatasetError, ImageReadError
from esrgan.imaging.io import read_image
from esrgan.imaging.matlab_resize import imresize
from esrgan.metrics.psnr_ssim import psnr, ssim


@dataclass(frozen=True)
class ValidationImage:
    name: str
    lr: np.ndarray
    hr: np.ndarray
    """uint8 (H, W, 3), mod-cropped to a multiple of the scale."""


def load_validation_set(folder: Path, scale: int) -> list[ValidationImage]:
    """Every HR image of `folder` with its MATLAB-bicubic LR input; `DatasetError` when one is unusable."""
    images = []
    for path in list_images(folder, "validation"):
        try:
            hr = as_rgb(read_image(path))
        except ImageReadError as error:
            raise DatasetError(str(error)) from None
        if hr.dtype != np.uint8:
            hr = np.round(hr / 257.0).astype(np.uint8)
        hr = hr[: hr.shape[0] - hr.shape[0] % scale, : hr.shape[1] - hr.shape[1] % scale]
        if min(hr.shape[:2]) < 2 * scale + 11:
            raise DatasetError(f"validation image {path} is too small ({hr.shape[1]}x{hr.shape[0]}) for SSIM")
        images.append(ValidationImage(path.stem, imresize(hr, scale=1.0 / scale), hr))
    return images


@torch.no_grad()
def super_resolve(model: nn.Module, lr: np.ndarray, device: torch.device) -> np.ndarray:
    """uint8 (sH, sW, 3) output of `model` for a uint8 (H, W, 3) input."""
    sr = model(to_tensor(lr).unsqueeze(0).to(device)).float().clamp_(0, 1)
    return (sr[0].permute(1, 2, 0).cpu().numpy() * 255.0).round().astype(np.uint8)


def validate(
    model: nn.Module, images: list[ValidationImage], scale: int, device: torch.device, *, with_niqe: bool = False
) -> tuple[dict[str, float], list[np.ndarray]]:
    """Mean metrics over `images` ({"psnr_y", "ssim_y"[, "niqe"]}) and the SR images, in eval mode."""
    was_training = model.training
    model.eval()
    outputs = [super_resolve(model, image.lr, device) for image in images]
    model.train(was_training)
    metrics = {
        "psnr_y": float(np.mean([psnr(sr, im.hr, scale, y_channel=True) for sr, im in zip(outputs, images)])),
        "ssim_y": float(np.mean([ssim(sr, im.hr, scale, y_channel=True) for sr, im in zip(outputs, images)])),
    }
    if with_niqe:
        from esrgan.metrics.niqe import niqe  # imported only when asked: it loads the pristine model

        metrics["niqe"] = float(np.mean([niqe(sr, crop_border=scale) for sr in outputs]))
    return metrics, outputs
