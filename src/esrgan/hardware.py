"""Where a network runs and at what precision: one vocabulary for inference and training.

`auto` picks the fastest precision that does not trade quality on the hardware at hand: bf16 on CPUs with
native bf16 (AVX512-BF16 or AMX), bf16 on CUDA GPUs that have it and fp16 on the others, fp16 on MPS, fp32
elsewhere. Without native support bf16 is emulated and slower than fp32, so it is never picked there.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import torch

from esrgan.defaults import DEVICES, PRECISIONS
from esrgan.errors import ConfigError

_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """True where the CPU multiplies bf16 in hardware (x86 AVX512-BF16 / AMX-BF16 flags)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_device(name: str = "auto", index: int = 0) -> torch.device:
    """The device `name` stands for; `index` picks the GPU (a torchrun process passes its LOCAL_RANK)."""
    if name not in DEVICES:
        raise ConfigError(f"unknown device {name!r}; choose one of {', '.join(DEVICES)}")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", index)
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("device cuda asked for, but PyTorch sees no CUDA GPU here; use device cpu or auto")
        return torch.device("cuda", index)
    if name == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("device mps asked for, but this PyTorch build has no MPS device here")
    return torch.device(name)


def resolve_precision(name: str, device: torch.device) -> torch.dtype:
    """The dtype the network computes in on `device`; fp32 means no autocast at all."""
    if name not in PRECISIONS:
        raise ConfigError(f"unknown precision {name!r}; choose one of {', '.join(PRECISIONS)}")
    if name != "auto":
        return _DTYPES[name]
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    return torch.bfloat16 if cpu_has_native_bf16() else torch.float32


@contextlib.contextmanager
def autocast(device: torch.device, dtype: torch.dtype) -> Iterator[None]:
    """Mixed precision for convolutions and matrix products; a no-op for fp32."""
    if dtype == torch.float32:
        yield
        return
    with torch.autocast(device_type=device.type, dtype=dtype):
        yield
