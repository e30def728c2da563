"""SRVGGNetCompact, Real-ESRGAN's compact network (realesr-animevideov3, realesr-general-x4v3).

A plain VGG-style stack at input resolution — conv + PReLU, `num_conv` times conv + PReLU, a last conv to
out_channels × scale² — then a pixel shuffle, plus the input upsampled by nearest neighbour, so the
network only learns the residual. No dense connections and no upsampling convolutions: several times
cheaper than RRDBNet, which is what video upscaling wants. Parameter names follow Real-ESRGAN
(`body.0` conv, `body.1` PReLU, ...), which is the only layout it is published in.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class SRVGGNetCompact(nn.Module):
    def __init__(
        self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64, num_conv: int = 16, upscale: int = 4
    ) -> None:
        super().__init__()
        self.num_in_ch = num_in_ch
        self.num_out_ch = num_out_ch
        self.upscale = upscale
        layers: list[nn.Module] = [nn.Conv2d(num_in_ch, num_feat, 3, 1, 1), nn.PReLU(num_parameters=num_feat)]
        for _ in range(num_conv):
            layers += [nn.Conv2d(num_feat, num_feat, 3, 1, 1), nn.PReLU(num_parameters=num_feat)]
        layers.append(nn.Conv2d(num_feat, num_out_ch * upscale * upscale, 3, 1, 1))
        self.body = nn.ModuleList(layers)
        self.upsampler = nn.PixelShuffle(upscale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for layer in self.body:
            out = layer(out)
        out = self.upsampler(out)
        # A grey input broadcasts over every output channel.
        return out + F.interpolate(x, scale_factor=self.upscale, mode="nearest")
