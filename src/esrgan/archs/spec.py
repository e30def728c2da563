"""Typed description of a generator: what callers need to know without inspecting the module.

A `ModelSpec` is what layout detection returns from a bare state dict, what canonical checkpoints store as
metadata, and what `build_model` turns back into an `nn.Module`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from torch import nn

from esrgan.archs.rrdbnet import RRDBNet, unshuffle_factor
from esrgan.archs.srresnet import SRResNet

ArchName = Literal["rrdbnet", "srresnet"]


@dataclass(frozen=True)
class ModelSpec:
    """Architecture and hyper-parameters of a generator; equal specs mean interchangeable weights."""

    arch: ArchName = "rrdbnet"
    scale: int = 4
    in_channels: int = 3
    out_channels: int = 3
    num_feat: int = 64
    num_block: int = 23
    num_grow_ch: int = 32

    def as_metadata(self) -> dict[str, str]:
        """String-only form, as safetensors metadata requires."""
        return {f"esrgan.{key}": str(value) for key, value in asdict(self).items()}

    @classmethod
    def from_metadata(cls, metadata: dict[str, str]) -> "ModelSpec | None":
        """Inverse of `as_metadata`; None when the metadata does not describe a spec."""
        if "esrgan.arch" not in metadata:
            return None
        values: dict[str, object] = {}
        for key, default in asdict(cls()).items():
            raw = metadata.get(f"esrgan.{key}")
            if raw is not None:
                values[key] = raw if isinstance(default, str) else int(raw)
        return cls(**values)  # type: ignore[arg-type]

    @property
    def input_multiple(self) -> int:
        """Input height and width must be multiples of this: RRDBNet ×1 and ×2 pixel-unshuffle their input."""
        return unshuffle_factor(self.scale) if self.arch == "rrdbnet" else 1

    def describe(self) -> str:
        if self.arch == "rrdbnet":
            return (
                f"RRDBNet x{self.scale} ({self.num_block} blocks, nf {self.num_feat}, gc {self.num_grow_ch}, "
                f"{self.in_channels}->{self.out_channels} channels)"
            )
        return f"SRResNet x{self.scale} ({self.num_block} blocks, nf {self.num_feat})"


def build_model(spec: ModelSpec) -> nn.Module:
    """A freshly initialised generator for `spec`."""
    if spec.arch == "rrdbnet":
        return RRDBNet(
            spec.in_channels, spec.out_channels, spec.scale, spec.num_feat, spec.num_block, spec.num_grow_ch
        )
    if spec.arch == "srresnet":
        return SRResNet(spec.in_channels, spec.out_channels, spec.scale, spec.num_feat, spec.num_block)
    raise ValueError(f"unknown architecture {spec.arch!r}")
