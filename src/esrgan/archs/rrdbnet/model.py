"""RRDBNet, the ESRGAN generator (paper Sec. 3.1, Fig. 3 and 4).

Parameter names follow the BasicSR/Real-ESRGAN layout (`conv_first`, `body.N.rdb1.conv1`, `conv_body`,
`conv_up1`, `conv_hr`, `conv_last`); that is this package's canonical layout and the other published
layouts are converted to it in `record.py`.

Two generalisations cover the checkpoints in circulation: the number of nearest ×2 + conv steps is
log2(scale × unshuffle), so 1×, 2×, 4×, 8× and 16× models with or without Real-ESRGAN's pixel-unshuffle
input all fit; and `plus` adds ESRGAN+'s 1×1 convolution inside each dense block (its training-time noise
is not part of inference).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

RESIDUAL_SCALE = 0.2
"""β in the paper: each residual is multiplied by it before being added back, for stability (Sec. 3.1); the
paper's study of deeper networks varies it, so every block takes it as an argument."""

LEAKY_SLOPE = 0.2
"""Negative slope of every LeakyReLU in RRDBNet."""

INIT_SCALE = 0.1
"""The paper's "smaller initialisation": Kaiming-normal weights scaled down by this factor (only the dense
blocks: the other convolutions keep PyTorch's default initialisation)."""


def scaled_kaiming_init(module: nn.Module, scale: float = INIT_SCALE) -> None:
    """Kaiming-normal init multiplied by `scale`, zero bias (paper Sec. 3.1, "smaller initialization")."""
    for conv in module.modules():
        # A module built on the `meta` device (to read its shapes) has no values to initialise.
        if isinstance(conv, nn.Conv2d) and not conv.weight.is_meta:
            nn.init.kaiming_normal_(conv.weight)
            conv.weight.data.mul_(scale)
            if conv.bias is not None:
                conv.bias.data.zero_()


class ResidualDenseBlock(nn.Module):
    """Five densely connected 3×3 convs; the fifth maps back to `num_feat` and is added with scale β."""

    def __init__(
        self,
        num_feat: int = 64,
        num_grow_ch: int = 32,
        plus: bool = False,
        residual_scale: float = RESIDUAL_SCALE,
        init_scale: float = INIT_SCALE,
    ) -> None:
        super().__init__()
        self.residual_scale = residual_scale
        self.conv1 = nn.Conv2d(num_feat, num_grow_ch, 3, 1, 1)
        self.conv2 = nn.Conv2d(num_feat + num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv3 = nn.Conv2d(num_feat + 2 * num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv4 = nn.Conv2d(num_feat + 3 * num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv5 = nn.Conv2d(num_feat + 4 * num_grow_ch, num_feat, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=LEAKY_SLOPE, inplace=True)
        # ESRGAN+ (Rakotonirina & Rasoanaivo, 2020): a 1×1 projection of x joins x2, and x2 joins x4.
        self.conv1x1 = nn.Conv2d(num_feat, num_grow_ch, 1, bias=False) if plus else None
        scaled_kaiming_init(self, init_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.lrelu(self.conv1(x))
        x2 = self.lrelu(self.conv2(torch.cat((x, x1), 1)))
        if self.conv1x1 is not None:
            x2 = x2 + self.conv1x1(x)
        x3 = self.lrelu(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = self.lrelu(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        if self.conv1x1 is not None:
            x4 = x4 + x2
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        return x5 * self.residual_scale + x


class RRDB(nn.Module):
    """Residual-in-Residual Dense Block: three dense blocks inside one more scaled residual (Fig. 4)."""

    def __init__(
        self,
        num_feat: int = 64,
        num_grow_ch: int = 32,
        plus: bool = False,
        residual_scale: float = RESIDUAL_SCALE,
        init_scale: float = INIT_SCALE,
    ) -> None:
        super().__init__()
        self.residual_scale = residual_scale
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch, plus, residual_scale, init_scale)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch, plus, residual_scale, init_scale)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch, plus, residual_scale, init_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.rdb3(self.rdb2(self.rdb1(x)))
        return out * self.residual_scale + x


def default_unshuffle(scale: int) -> int:
    """Real-ESRGAN's choice: ×1 and ×2 models pixel-unshuffle their input so they share the ×4 body."""
    return {1: 4, 2: 2}.get(scale, 1)


def upsampling_steps(scale: int, unshuffle: int) -> int:
    """Nearest ×2 + conv steps after the trunk: the network upsamples by scale × unshuffle in all."""
    steps = (scale * unshuffle).bit_length() - 1
    if scale * unshuffle != 1 << steps:
        raise ValueError(f"scale {scale} with a pixel-unshuffle by {unshuffle} is not a power-of-two upsampling")
    return steps


class RRDBNet(nn.Module):
    """The ESRGAN generator: conv, RRDB trunk with a long skip, nearest+conv upsampling, two output convs.

    Batch norm is absent on purpose (paper Sec. 3.1): it causes artefacts and hurts generalisation.
    """

    def __init__(
        self,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
        scale: int = 4,
        num_feat: int = 64,
        num_block: int = 23,
        num_grow_ch: int = 32,
        unshuffle: int | None = None,
        plus: bool = False,
        residual_scale: float = RESIDUAL_SCALE,
        init_scale: float = INIT_SCALE,
    ) -> None:
        super().__init__()
        self.scale = scale
        self.num_in_ch = num_in_ch
        self.num_out_ch = num_out_ch
        self.unshuffle = default_unshuffle(scale) if unshuffle is None else unshuffle
        self.plus = plus
        self.upsamplers = upsampling_steps(scale, self.unshuffle)
        self.conv_first = nn.Conv2d(num_in_ch * self.unshuffle**2, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*(RRDB(num_feat, num_grow_ch, plus, residual_scale, init_scale)
                                    for _ in range(num_block)))
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        for step in range(1, self.upsamplers + 1):
            setattr(self, f"conv_up{step}", nn.Conv2d(num_feat, num_feat, 3, 1, 1))
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=LEAKY_SLOPE, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = F.pixel_unshuffle(x, self.unshuffle) if self.unshuffle > 1 else x
        feat = self.conv_first(feat)
        feat = feat + self.conv_body(self.body(feat))
        for step in range(1, self.upsamplers + 1):
            conv = getattr(self, f"conv_up{step}")
            feat = self.lrelu(conv(F.interpolate(feat, scale_factor=2, mode="nearest")))
        return self.conv_last(self.lrelu(self.conv_hr(feat)))
