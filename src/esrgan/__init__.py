"""ESRGAN: Enhanced Super-Resolution GAN; inference, evaluation and training as the paper describes them.

    >>> import esrgan
    >>> upscaler = esrgan.load_model("realesrgan-x4plus")   # or a path to any ESRGAN checkpoint
    >>> big = upscaler.upscale(numpy_or_pil_image)
"""

from esrgan.api import load_model
from esrgan.inference.upscaler import UpscaleOptions, Upscaler

__all__ = ["load_model", "Upscaler", "UpscaleOptions"]
