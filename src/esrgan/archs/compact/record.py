"""The SRVGGNetCompact record: Real-ESRGAN's compact network, recognised by its PReLU slopes (`body.1.weight`)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from esrgan.archs.compact.model import SRVGGNetCompact
from esrgan.archs.ncnn_graph import NcnnGraph
from esrgan.archs.spec import ModelSpec, SpecError, StateDict


@dataclass(frozen=True)
class CompactSpec(ModelSpec):
    num_feat: int = 64
    num_conv: int = 16

    arch: ClassVar[str] = "compact"
    title: ClassVar[str] = "SRVGGNetCompact"
    supported_scales: ClassVar[tuple[int, ...]] = (1, 2, 3, 4, 8)
    layouts: ClassVar[tuple[str, ...]] = ("realesrgan-compact",)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.out_channels != self.in_channels and self.in_channels != 1:
            raise SpecError(
                f"SRVGGNetCompact adds the upsampled input to its output, so it maps {self.in_channels} channels "
                f"to {self.in_channels} (or 1 to any), not to {self.out_channels}"
            )

    @classmethod
    def recognise(cls, state: Mapping[str, torch.Tensor]) -> str | None:
        slopes = state.get("body.1.weight")
        has_conv = "body.0.weight" in state and "body.0.bias" in state
        return "realesrgan-compact" if has_conv and slopes is not None and slopes.ndim == 1 else None

    @classmethod
    def from_state_dict(cls, state: StateDict, layout: str) -> tuple[ModelSpec, StateDict]:
        indices = sorted({int(m[1]) for key in state if (m := re.match(r"body\.(\d+)\.", key))})
        last = indices[-1]
        if last % 2 or last < 2:
            raise SpecError(f"SRVGGNetCompact ends in a convolution at an even body index, not body.{last}")
        first = state["body.0.weight"]
        in_channels, num_feat = first.shape[1], first.shape[0]
        shuffled = state[f"body.{last}.weight"].shape[0]
        for out_channels in dict.fromkeys((in_channels, 3, 1, 4)):
            scale = math.isqrt(shuffled // out_channels)
            if shuffled == out_channels * scale * scale:
                return cls(scale, in_channels, out_channels, num_feat, (last - 2) // 2), dict(state)
        raise SpecError(f"SRVGGNetCompact's last convolution gives {shuffled} channels: no channels × scale² fits")

    def build(self) -> nn.Module:
        return SRVGGNetCompact(self.in_channels, self.out_channels, self.num_feat, self.num_conv, self.scale)

    def describe(self) -> str:
        return (f"SRVGGNetCompact x{self.scale} ({self.num_conv} convs, nf {self.num_feat}, "
                f"{self.in_channels}->{self.out_channels} channels)")

    def activation_bytes_per_input_pixel(self, element_size: int) -> int:
        """Two `num_feat` maps at input resolution, the shuffled output and the upsampled input at output size."""
        return (2 * self.num_feat + 2 * self.out_channels * self.scale**2) * element_size

    @classmethod
    def from_ncnn(cls, graph: NcnnGraph) -> tuple[ModelSpec, StateDict] | None:
        from esrgan.archs.compact.ncnn import compact_from_ncnn  # it builds specs of this class

        return compact_from_ncnn(graph)

    def to_ncnn(self, state: StateDict) -> NcnnGraph:
        if self.in_channels != self.out_channels:
            raise SpecError(f"{self.describe()}: a grey input added to a colour output has no NCNN form here")
        from esrgan.archs.compact.ncnn import compact_to_ncnn

        return compact_to_ncnn(state, self.num_conv, self.scale)
