"""SRResNet (MSRResNet-style), the paper's lighter 16-block generator, with or without batch norm.

Each residual block is conv-ReLU-conv; upsampling uses sub-pixel convolution, and the network learns a
residual over a bilinear upscale of the input. With `batch_norm` each convolution of a block is followed by
batch norm (conv-BN-ReLU-conv-BN), as in SRGAN's generator: the baseline of the paper's ablation, whose first
step is removing it (Sec. 3.1, Fig. 7). Everything else is the same network, so that this one switch is the
only difference; SRGAN's own generator also differs in details the ablation does not study (9×9 outer
convolutions, PReLU, no bilinear skip).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from esrgan.archs.rrdbnet.model import scaled_kaiming_init


class BatchNorm(nn.BatchNorm2d):
    """`nn.BatchNorm2d` without its `num_batches_tracked` counter, which only a momentum of None reads.

    The counter is an integer tensor; leaving it out keeps a generator's state dict to float tensors, which is
    what every checkpoint format here holds (and checks). A state dict that has it (BasicSR's) still loads.
    """

    def __init__(self, num_features: int) -> None:
        super().__init__(num_features)
        self.register_buffer("num_batches_tracked", None)

    def _load_from_state_dict(
        self, state_dict: dict[str, Any], prefix: str, local_metadata: dict[str, Any], strict: bool,
        missing_keys: list[str], unexpected_keys: list[str], error_msgs: list[str],
    ) -> None:
        state_dict.pop(prefix + "num_batches_tracked", None)
        # nn.Module's loader, not _NormBase's: that one adds the counter back to state dicts without a version.
        nn.Module._load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                                        unexpected_keys, error_msgs)


class ResidualBlock(nn.Module):
    """conv-ReLU-conv plus identity (conv-BN-ReLU-conv-BN with `batch_norm`); initialised small so that the
    untrained trunk is near identity."""

    def __init__(self, num_feat: int = 64, batch_norm: bool = False) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.relu = nn.ReLU(inplace=True)
        self.bn1: nn.Module = BatchNorm(num_feat) if batch_norm else nn.Identity()
        self.bn2: nn.Module = BatchNorm(num_feat) if batch_norm else nn.Identity()
        scaled_kaiming_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))


class SRResNet(nn.Module):
    """16 residual blocks, pixel-shuffle upsampling (×2, ×3 or ×4), bilinear global skip."""

    SUPPORTED_SCALES = (2, 3, 4)

    def __init__(
        self,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
        scale: int = 4,
        num_feat: int = 64,
        num_block: int = 16,
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        if scale not in self.SUPPORTED_SCALES:
            raise ValueError(f"SRResNet supports scales {self.SUPPORTED_SCALES}, not {scale}")
        self.scale = scale
        self.num_in_ch = num_in_ch
        self.num_out_ch = num_out_ch
        self.conv_first = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*(ResidualBlock(num_feat, batch_norm) for _ in range(num_block)))
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
