"""ESRGAN: Enhanced Super-Resolution GAN; inference, evaluation and training as the paper describes them.

    >>> import esrgan
    >>> upscaler = esrgan.load_model("realesrgan-x4plus")   # or a path to any ESRGAN checkpoint
    >>> big = upscaler.upscale(numpy_or_pil_image)

The names below are imported on first use (PEP 562), so that `import esrgan.cli` (and `esrgan --help`) does
not pay for PyTorch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from esrgan.api import load_model
    from esrgan.inference.upscaler import Upscaler
    from esrgan.options import UpscaleOptions

__all__ = ["load_model", "Upscaler", "UpscaleOptions"]
_HOMES = {"load_model": "esrgan.api", "Upscaler": "esrgan.inference.upscaler",
          "UpscaleOptions": "esrgan.options"}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'esrgan' has no attribute {name!r}")
