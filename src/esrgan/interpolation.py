"""Network interpolation (paper eq. 4) and the pixel-wise image interpolation it is compared with (Fig. 10).

θ_G^INTERP = (1 − α)·θ_G^PSNR + α·θ_G^GAN: one generator whose output slides between the PSNR model's
smoothness and the GAN model's detail, without the noise that blending their output images leaves.
"""

from __future__ import annotations

import numpy as np
import torch

from esrgan.archs.spec import ModelSpec
from esrgan.errors import CheckpointError, ConfigError

StateDict = dict[str, torch.Tensor]


def check_alpha(alpha: float) -> float:
    """α outside [0, 1] extrapolates; allowed, as some users want it, but never NaN or infinite."""
    if not np.isfinite(alpha):
        raise ConfigError(f"alpha must be a finite number, not {alpha}")
    return float(alpha)


def network_interpolate(state_a: StateDict, state_b: StateDict, alpha: float) -> StateDict:
    """Eq. (4) on every parameter: (1 − α)·θ_A + α·θ_B; α = 0 gives A and α = 1 gives B exactly."""
    alpha = check_alpha(alpha)
    if state_a.keys() != state_b.keys():
        only = sorted(state_a.keys() ^ state_b.keys())
        raise CheckpointError(f"the two networks have different parameters (e.g. {', '.join(only[:3])})")
    blended = {}
    for key, a in state_a.items():
        b = state_b[key]
        if a.shape != b.shape:
            raise CheckpointError(f"parameter {key} has shape {tuple(a.shape)} in one network, {tuple(b.shape)} "
                                  "in the other")
        blended[key] = (1.0 - alpha) * a + alpha * b if a.is_floating_point() else a.clone()
    return blended


def interpolate_specs(spec_a: ModelSpec, spec_b: ModelSpec) -> ModelSpec:
    """The common architecture of two networks, or an error naming both when they differ."""
    if spec_a != spec_b:
        raise CheckpointError(f"cannot interpolate different architectures: {spec_a.describe()} vs "
                              f"{spec_b.describe()}")
    return spec_a


def image_interpolate(image_a: np.ndarray, image_b: np.ndarray, alpha: float) -> np.ndarray:
    """Pixel-wise (1 − α)·A + α·B in float, rounded back to the inputs' integer type (Fig. 10's baseline)."""
    alpha = check_alpha(alpha)
    if image_a.shape != image_b.shape or image_a.dtype != image_b.dtype:
        raise ConfigError(f"images differ: {image_a.shape} {image_a.dtype} vs {image_b.shape} {image_b.dtype}")
    blended = (1.0 - alpha) * image_a.astype(np.float64) + alpha * image_b.astype(np.float64)
    if np.issubdtype(image_a.dtype, np.integer):
        info = np.iinfo(image_a.dtype)
        return np.clip(np.round(blended), info.min, info.max).astype(image_a.dtype)
    return blended.astype(image_a.dtype)
