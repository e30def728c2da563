"""Pick a tile size from the memory that is actually free, rather than a fixed guess."""

from __future__ import annotations

import math
import os

import torch

from esrgan.archs.spec import ModelSpec

MAX_AUTO_TILE = 512
MIN_AUTO_TILE = 64
MEMORY_FRACTION = 0.25
"""Share of the free memory a tile may use: leaves room for the image itself, its output and the OS."""


def available_memory_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 4 << 30


def bytes_per_input_pixel(spec: ModelSpec, element_size: int) -> int:
    """Peak activation memory per LR pixel: about four live `num_feat` maps at output resolution.

    The output-resolution stages dominate: nearest upsampling, the up-conv and the HR conv each hold a
    `num_feat`-channel map with scale² pixels per input pixel, plus the input of the next layer.
    """
    return 4 * spec.num_feat * spec.scale**2 * element_size + 8 * spec.num_feat * element_size


def auto_tile_size(spec: ModelSpec, device: torch.device, dtype: torch.dtype) -> int:
    """Largest tile side (LR pixels) whose activations fit the budget, within [64, 512]."""
    element_size = torch.finfo(dtype).bits // 8
    budget = available_memory_bytes(device) * MEMORY_FRACTION
    side = int(math.sqrt(budget / bytes_per_input_pixel(spec, element_size)))
    return max(MIN_AUTO_TILE, min(MAX_AUTO_TILE, side // 8 * 8))
