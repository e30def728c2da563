"""Pick tile size and tiles per batch from the memory that is actually free, rather than a fixed guess.

Larger tiles are faster per pixel (the pad, computed twice at every seam, is a smaller share of each tile),
so the tile is the largest whose activations fit the budget, up to `MAX_AUTO_TILE`: past that side the pad
costs a few percent and the memory keeps growing with its square.
"""

from __future__ import annotations

import math
import os

import torch

from esrgan.archs.spec import ModelSpec

MAX_AUTO_TILE = 1024
MIN_AUTO_TILE = 64
MAX_AUTO_BATCH = 16
CPU_BATCH = 1
"""Inputs per network call on a CPU. Batches of whole 128² images ran slower than one image at a time on an
idle CPU, for the compact network and RRDBNet alike, and faster only while other processes kept the cores
busy (`benchmarks/batching.py`); on such a shared machine `--batch` asks for them."""
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


def _budget(device: torch.device) -> float:
    return available_memory_bytes(device) * MEMORY_FRACTION


def auto_tile_size(spec: ModelSpec, device: torch.device, dtype: torch.dtype) -> int:
    """Largest tile side (LR pixels) whose activations fit the budget, within [64, 1024]."""
    element_size = torch.finfo(dtype).bits // 8
    side = int(math.sqrt(_budget(device) / spec.activation_bytes_per_input_pixel(element_size)))
    return max(MIN_AUTO_TILE, min(MAX_AUTO_TILE, side // 8 * 8))


def auto_batch_size(spec: ModelSpec, device: torch.device, dtype: torch.dtype, height: int, width: int) -> int:
    """Network inputs of `height`×`width` (padded tiles, or whole images) per call: on a GPU as many as fit
    the memory budget, up to `MAX_AUTO_BATCH`; on a CPU `CPU_BATCH`.

    A GPU needs many pixels in flight to fill its cores, so small inputs are stacked. Two to a few dozen CPU
    cores are already busy with one input of a hundred pixels a side, and a batch there multiplies the
    activation memory, whose growth out of the caches costs more per pixel than it saves (`CPU_BATCH`).
    """
    if device.type == "cpu":
        return CPU_BATCH
    element_size = torch.finfo(dtype).bits // 8
    per_input = spec.activation_bytes_per_input_pixel(element_size) * height * width
    return max(1, min(MAX_AUTO_BATCH, int(_budget(device) // per_input)))
