"""The ESRGAN discriminator C(x): a VGG-style network that maps an HR patch to one raw logit.

The relativistic discriminator of the paper (Sec. 3.2, eq. 1-2) is D_Ra(x_r, x_f) = σ(C(x_r) − E[C(x_f)]);
this module is C, the non-transformed output, and applies no sigmoid. The sigmoid and the batch average live
in `esrgan.training.losses`.

Parameter names follow BasicSR's `VGGStyleDiscriminator` (`conv0_0`, `conv0_1`, `bn0_1`, ..., `linear1`,
`linear2`), so a BasicSR `net_d` checkpoint loads without conversion.
"""

from __future__ import annotations

import torch
from torch import nn


class VGGStyleDiscriminator(nn.Module):
    """Stride-2 conv stages that halve the patch and double the width (up to 8·num_feat), then two linears.

    Stage 0 is conv 3×3 (with bias) + LeakyReLU, then conv 4×4 stride 2 + BN + LeakyReLU. Every later stage i
    is conv 3×3 + BN + LeakyReLU, then conv 4×4 stride 2 + BN + LeakyReLU, widening to num_feat·min(2^i, 8).
    A 128×128 input passes five stages and a 256×256 input six, so both reach 4×4×8·num_feat before
    linear1 (→ 100) and linear2 (→ 1). The linear head fixes the input size: anything else is refused.
    """

    SUPPORTED_INPUT_SIZES = (128, 256)
    NEGATIVE_SLOPE = 0.2
    HIDDEN_FEATURES = 100

    def __init__(self, num_in_ch: int = 3, num_feat: int = 64, input_size: int = 128) -> None:
        super().__init__()
        if input_size not in self.SUPPORTED_INPUT_SIZES:
            raise ValueError(
                f"VGGStyleDiscriminator supports input sizes {self.SUPPORTED_INPUT_SIZES}, not {input_size}"
            )
        self.num_in_ch = num_in_ch
        self.input_size = input_size
        self.num_stages = 5 if input_size == 128 else 6

        self.conv0_0 = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1, bias=True)
        self.conv0_1 = nn.Conv2d(num_feat, num_feat, 4, 2, 1, bias=False)
        self.bn0_1 = nn.BatchNorm2d(num_feat, affine=True)
        width = num_feat
        for stage in range(1, self.num_stages):
            out_width = num_feat * min(2**stage, 8)
            setattr(self, f"conv{stage}_0", nn.Conv2d(width, out_width, 3, 1, 1, bias=False))
            setattr(self, f"bn{stage}_0", nn.BatchNorm2d(out_width, affine=True))
            setattr(self, f"conv{stage}_1", nn.Conv2d(out_width, out_width, 4, 2, 1, bias=False))
            setattr(self, f"bn{stage}_1", nn.BatchNorm2d(out_width, affine=True))
            width = out_width

        final_side = input_size // 2**self.num_stages
        self.linear1 = nn.Linear(width * final_side * final_side, self.HIDDEN_FEATURES)
        self.linear2 = nn.Linear(self.HIDDEN_FEATURES, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=self.NEGATIVE_SLOPE, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Raw logits C(x) of shape (N, 1) for an (N, num_in_ch, input_size, input_size) batch."""
        expected = (self.num_in_ch, self.input_size, self.input_size)
        if x.dim() != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(
                f"the discriminator takes (N, {self.num_in_ch}, {self.input_size}, {self.input_size}) patches, "
                f"got shape {tuple(x.shape)}; crop or resize the HR patches to {self.input_size}×{self.input_size}"
            )
        feat = self.lrelu(self.conv0_0(x))
        feat = self.lrelu(self.bn0_1(self.conv0_1(feat)))
        for stage in range(1, self.num_stages):
            for half in (0, 1):
                conv = getattr(self, f"conv{stage}_{half}")
                norm = getattr(self, f"bn{stage}_{half}")
                feat = self.lrelu(norm(conv(feat)))
        feat = self.lrelu(self.linear1(feat.flatten(1)))
        return self.linear2(feat)
