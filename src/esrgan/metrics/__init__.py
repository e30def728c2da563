"""Image-quality metrics as the ESRGAN paper and the PIRM 2018 challenge compute them.

Full-reference: `psnr`, `ssim` (numpy reference) and `psnr_torch`, `ssim_torch` (batches, any device).
No-reference: `niqe` (Mittal et al.), `ma_score` (Ma et al.; needs the authors' model.mat) and
`perceptual_index` = ((10 - Ma) + NIQE) / 2.
"""

from esrgan.metrics.ma import MaModel, load_ma_model, ma_score, perceptual_index
from esrgan.metrics.niqe import niqe
from esrgan.metrics.psnr_ssim import psnr, psnr_torch, ssim, ssim_torch

__all__ = [
    "MaModel",
    "load_ma_model",
    "ma_score",
    "niqe",
    "perceptual_index",
    "psnr",
    "psnr_torch",
    "ssim",
    "ssim_torch",
]
