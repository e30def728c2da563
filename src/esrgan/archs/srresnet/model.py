"""SRResNet without batch norm (MSRResNet-style): the paper's lighter 16-block generator variant.

Each residual block is conv-ReLU-conv with no normalisation; upsampling uses sub-pixel convolution, and the
network learns a residual over a bilinear upscale of the input.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from esrgan.archs.rrdbnet.model import scaled_kaiming_init


class ResidualBlockNoBN(nn.Module):
    """conv-ReLU-conv plus identity; initialised small so that the untrained trunk is near identity."""

    def __init__(self, num_feat: int = 64) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.relu = nn.ReLU(inplace=True)
        scaled_kaiming_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.relu(self.conv1(x)))


class SRResNet(nn.Module):
    """16 residual blocks, pixel-shuffle upsampling (×2, ×3 or ×4), bilinear global skip."""

    SUPPORTED_SCALES = (2, 3, 4)

    def __init__(
        self, num_in_ch: int = 3, num_out_ch: int = 3, scale: int = 4, num_feat: int = 64, num_block: int = 16
    ) -> None:
        super().__init__()
        if scale not in self.SUPPORTED_SCALES:
            raise ValueError(f"SRResNet supports scales {self.SUPPORTED_SCALES}, not {scale}")
        self.scale = scale
        self.num_in_ch = num_in_ch
        self.num_out_ch = num_out_ch
        self.conv_first = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*(ResidualBlockNoBN(num_feat) for _ in range(num_block)))
        if scale == 4:
            self.upconv1 = nn.Conv2d(num_feat, num_feat * 4, 3, 1, 1)
            self.upconv2 = nn.Conv2d(num_feat, num_feat * 4, 3, 1, 1)
        else:
            self.upconv1 = nn.Conv2d(num_feat, num_feat * scale * scale, 3, 1, 1)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.1, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.lrelu(self.conv_first(x))
        out = self.body(feat)
        if self.scale == 4:
            out = self.lrelu(F.pixel_shuffle(self.upconv1(out), 2))
            out = self.lrelu(F.pixel_shuffle(self.upconv2(out), 2))
        else:
            out = self.lrelu(F.pixel_shuffle(self.upconv1(out), self.scale))
        out = self.conv_last(self.lrelu(self.conv_hr(out)))
        base = F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
        if self.num_out_ch != self.num_in_ch:
            return out
        return out + base
