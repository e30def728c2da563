"""How to run a network: the run options that the library, the command line and the evaluators share.

One frozen value, built by keyword and checked when it is built, travels whole from the command line to
`esrgan.load_model(name, options=...)` and into the `Upscaler`. It imports no PyTorch, so the command line
can build and check it before the seconds of PyTorch's start-up; messages name the command-line option.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from esrgan.defaults import BACKENDS, DEFAULT_TILE_PAD, DEVICES, PRECISIONS, BackendName, Device, Precision
from esrgan.errors import ConfigError

MAX_OUTSCALE = 64.0
"""Larger final scales are refused: at ×100000 one pixel becomes 10^10."""


@dataclass(frozen=True, kw_only=True)
class UpscaleOptions:
    """How to run the network on each image.

    `tile`: LR pixels per tile side; None = chosen from free memory, 0 = whole image in one pass.
    `tile_pad`: context pixels around each tile. `batch`: tiles per network call, None = chosen from free
    memory (GPU) or 1 (CPU). `precision`, `device`: see `esrgan.hardware`; `device_index` picks the GPU (a
    worker process per GPU, or a torchrun process's LOCAL_RANK). `backend`: `torch`, `openvino` or `auto`
    (see `esrgan.inference.backends`).
    """

    tile: int | None = None
    tile_pad: int = DEFAULT_TILE_PAD
    precision: Precision = "auto"
    device: Device = "auto"
    device_index: int = 0
    backend: BackendName = "auto"
    batch: int | None = None

    def __post_init__(self) -> None:
        if self.tile is not None and self.tile < 0:
            raise ConfigError(f"--tile must be >= 0 (0 = whole image), not {self.tile}")
        if self.tile_pad < 0:
            raise ConfigError(f"--tile-pad must be >= 0, not {self.tile_pad}")
        if self.device_index < 0:
            raise ConfigError(f"a device index is >= 0, not {self.device_index}")
        if self.batch is not None and self.batch < 1:
            raise ConfigError(f"--batch must be >= 1, not {self.batch}")
        for option, value, choices in (("--precision", self.precision, PRECISIONS), ("--device", self.device, DEVICES),
                                       ("--backend", self.backend, BACKENDS)):
            if value not in choices:
                raise ConfigError(f"{option} {value!r}: choose one of {', '.join(choices)}")


def check_outscale(outscale: float | None) -> float | None:
    """`outscale` itself when it is a final scale the `Upscaler` can produce (None = the network's own)."""
    if outscale is not None and not (math.isfinite(outscale) and 0 < outscale <= MAX_OUTSCALE):
        raise ConfigError(f"--outscale must be a number in (0, {MAX_OUTSCALE:g}], not {outscale}")
    return outscale


def check_back_projection(iterations: int) -> int:
    """`iterations` itself when it is a usable number of back-projection steps (0 = none)."""
    if iterations < 0:
        raise ConfigError(f"--back-projection takes a number of iterations >= 0, not {iterations}")
    return iterations
