"""Where the network runs: PyTorch (always available) or OpenVINO (optional), behind one small interface.

A backend takes a float32 (N, C, H, W) batch in [0, 1] and returns the network's float32 output clamped to
[0, 1], on the CPU or on the device the batch lives on. `auto` picks OpenVINO on the CPU where it is
installed, PyTorch everywhere else: see `choose_backend`.
"""

from __future__ import annotations

import importlib.util
from typing import Protocol

import torch
from torch import nn

from esrgan.archs.spec import ModelSpec
from esrgan.defaults import BACKENDS
from esrgan.errors import ConfigError


class Backend(Protocol):
    name: str

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        """The network's output for a float32 (N, C, H, W) batch in [0, 1], clamped to [0, 1]."""

    def reload(self) -> None:
        """Pick up weights that were changed in place in the torch module."""


def openvino_installed() -> bool:
    return importlib.util.find_spec("openvino") is not None


def choose_backend(name: str, device: torch.device) -> str:
    """The backend `name` stands for: `auto` is OpenVINO on a CPU where it is installed, else PyTorch.

    Measured on a 2-core Xeon with AMX-BF16 (`benchmarks/inference.py`, README "Performance"): OpenVINO's
    bf16 build of RRDBNet runs much closer to the bf16 matmul ceiling than PyTorch eager (bf16, channels-last),
    and keeps its speed when other processes share the cores.
    """
    if name not in BACKENDS:
        raise ConfigError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    if name == "openvino" and device.type != "cpu":
        raise ConfigError(f"the OpenVINO backend runs on the CPU, not on {device.type}; use --device cpu")
    if name == "auto":
        return "openvino" if device.type == "cpu" and openvino_installed() else "torch"
    return name


def create_backend(name: str, model: nn.Module, spec: ModelSpec, device: torch.device, dtype: torch.dtype) -> Backend:
    """A ready-to-run backend for `model` (an `nn.Module` it keeps using, or converts once)."""
    chosen = choose_backend(name, device)
    if chosen == "openvino":
        from esrgan.inference.backends.openvino import OpenVinoBackend

        return OpenVinoBackend(model, spec, dtype)
    from esrgan.inference.backends.pytorch import TorchBackend

    return TorchBackend(model, device, dtype)
