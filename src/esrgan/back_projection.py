"""Iterative back-projection: make an SR image consistent with its LR input (post-processing).

SR ← SR + upsample(LR − downsample(SR)), repeated, with MATLAB bicubic both ways (the degradation the LR
was made with). The challenge entry of the paper used it to trade a little perceptual quality for PSNR.
"""

from __future__ import annotations

import numpy as np

from esrgan.errors import ConfigError
from esrgan.imaging.matlab_resize import imresize


def back_project(sr: np.ndarray, lr: np.ndarray, iterations: int = 1) -> np.ndarray:
    """Return `sr` corrected toward `lr` by `iterations` back-projection steps, in the dtype of `sr`.

    An SR image whose bicubic downscale already equals `lr` is a fixed point: the error term is zero.
    """
    if iterations < 0:
        raise ConfigError(f"back-projection iterations must be >= 0, not {iterations}")
    if sr.ndim != lr.ndim or sr.shape[2:] != lr.shape[2:]:
        raise ConfigError(f"SR {sr.shape} and LR {lr.shape} differ in channels")
    scale = sr.shape[0] // lr.shape[0]
    if scale < 1 or sr.shape[:2] != (lr.shape[0] * scale, lr.shape[1] * scale):
        raise ConfigError(f"SR {sr.shape[:2]} is not an integer multiple of LR {lr.shape[:2]}")
    result = sr.astype(np.float64)
    target = lr.astype(np.float64)
    for _ in range(iterations):
        error = target - imresize(result, output_shape=lr.shape[:2])
        result = result + imresize(error, output_shape=sr.shape[:2])
    if np.issubdtype(sr.dtype, np.integer):
        info = np.iinfo(sr.dtype)
        return np.clip(np.round(result), info.min, info.max).astype(sr.dtype)
    return result.astype(sr.dtype)
