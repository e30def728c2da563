"""The PyTorch backend: eager mode, channels-last, autocast to the chosen precision.

Channels-last (NHWC) is the layout oneDNN's convolutions (CPU, AMX/AVX-512) and cuDNN's tensor-core kernels
work in; with the default NCHW every convolution reorders its input and output. Eager mode, not
`torch.compile`: compiling this network takes about a minute and gains little, and inductor's `freezing`
path was seen to give wrong fp32 results on AMX CPUs (`tests/inference/test_backends.py` checks every path
we run against a plain fp32 forward pass).
"""

from __future__ import annotations

import torch
from torch import nn

from esrgan.hardware import autocast


def memory_format_for(device: torch.device) -> torch.memory_format:
    """Channels-last where the convolution libraries prefer it (oneDNN, cuDNN); NCHW elsewhere (MPS)."""
    return torch.channels_last if device.type in ("cpu", "cuda") else torch.contiguous_format


class TorchBackend:
    name = "torch"

    def __init__(self, model: nn.Module, device: torch.device, dtype: torch.dtype) -> None:
        self.device = device
        self.dtype = dtype
        self.memory_format = memory_format_for(device)
        # Module.to takes memory_format at run time (documented), but its type stub does not list it.
        self.model = model.eval().to(device, memory_format=self.memory_format)  # type: ignore[call-overload]
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)

    @torch.inference_mode()
    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        batch = batch.to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format)
        with autocast(self.device, self.dtype):
            output = self.model(batch)
        return output.float().clamp_(0, 1)

    def reload(self) -> None:
        """Nothing to do: the module itself runs, so weights loaded into it in place are used as they are."""
