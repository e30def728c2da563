"""The SRResNet record: the paper's lighter generator (BasicSR's MSRResNet layout, which is also ours), and
with batch norm in its blocks SRGAN's generator, the baseline of the paper's ablation (`body.N.bn1.*`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from esrgan.archs.spec import ModelSpec, SpecError, StateDict
from esrgan.archs.srresnet.model import SRResNet


@dataclass(frozen=True)
class SRResNetSpec(ModelSpec):
    num_feat: int = 64
    num_block: int = 16
    batch_norm: bool = False

    arch: ClassVar[str] = "srresnet"
    title: ClassVar[str] = "SRResNet"
    supported_scales: ClassVar[tuple[int, ...]] = SRResNet.SUPPORTED_SCALES
    layouts: ClassVar[tuple[str, ...]] = ("srresnet",)

    @classmethod
    def recognise(cls, state: Mapping[str, torch.Tensor]) -> str | None:
        return "srresnet" if "body.0.conv1.weight" in state and "upconv1.weight" in state else None

    @classmethod
    def from_state_dict(cls, state: StateDict, layout: str) -> tuple[ModelSpec, StateDict]:
        try:
            first, last, up1 = state["conv_first.weight"], state["conv_last.weight"], state["upconv1.weight"]
        except KeyError as error:
            raise SpecError(f"an SRResNet checkpoint lacks {error.args[0]!r}") from None
        scale = 4 if "upconv2.weight" in state else round((up1.shape[0] // first.shape[0]) ** 0.5)
        blocks = len({m[1] for key in state if (m := re.match(r"body\.(\d+)\.conv1\.weight$", key))})
        batch_norm = "body.0.bn1.weight" in state
        # BatchNorm's integer step counter is not a weight (and only a momentum of None reads it): dropped.
        canonical = {key: value for key, value in state.items() if not key.endswith(".num_batches_tracked")}
        return cls(scale, first.shape[1], last.shape[0], first.shape[0], blocks, batch_norm), canonical

    def build(self) -> nn.Module:
        return SRResNet(self.in_channels, self.out_channels, self.scale, self.num_feat, self.num_block,
                        self.batch_norm)

    def describe(self) -> str:
        return (f"SRResNet x{self.scale} ({self.num_block} blocks, nf {self.num_feat}, "
                f"{'batch norm, ' if self.batch_norm else ''}{self.in_channels}->{self.out_channels} channels)")

    def activation_bytes_per_input_pixel(self, element_size: int) -> int:
        """Two `num_feat` maps at output resolution (after the last pixel shuffle) and the trunk's few."""
        return (2 * self.num_feat * self.scale**2 + 6 * self.num_feat) * element_size
