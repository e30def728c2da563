"""Independent forward passes of the generators, written from the papers with `F.conv2d` on a bare weight
dict in canonical names: no module of the package is involved, so tests of key conversion, NCNN import and
the modules themselves are checked against something other than themselves."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.nn import functional as F

Weights = dict[str, torch.Tensor]


def rrdbnet_forward(w: Weights, x: torch.Tensor, front: Callable[[torch.Tensor], torch.Tensor] | None = None
                    ) -> torch.Tensor:
    """ESRGAN's generator (Fig. 4), with ESRGAN+'s 1×1 path where its weights exist; `front` is applied to the
    input first (a pixel-unshuffle, or NCNN's Reorg)."""

    def conv(name: str, t: torch.Tensor) -> torch.Tensor:
        weight = w[f"{name}.weight"]
        return F.conv2d(t, weight, w.get(f"{name}.bias"), padding=weight.shape[-1] // 2)

    def lrelu(t: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(t, 0.2)

    feat = conv("conv_first", x if front is None else front(x))
    trunk, block = feat, 0
    while f"body.{block}.rdb1.conv1.weight" in w:
        block_in = trunk
        for rdb in (1, 2, 3):
            prefix = f"body.{block}.rdb{rdb}"
            features = [trunk]
            for k in (1, 2, 3, 4):
                y = lrelu(conv(f"{prefix}.conv{k}", torch.cat(features, 1)))
                if f"{prefix}.conv1x1.weight" in w and k == 2:
                    y = y + conv(f"{prefix}.conv1x1", trunk)
                if f"{prefix}.conv1x1.weight" in w and k == 4:
                    y = y + features[2]
                features.append(y)
            trunk = trunk + 0.2 * conv(f"{prefix}.conv5", torch.cat(features, 1))
        trunk = block_in + 0.2 * trunk
        block += 1
    feat = feat + conv("conv_body", trunk)
    step = 1
    while f"conv_up{step}.weight" in w:
        feat = lrelu(conv(f"conv_up{step}", feat.repeat_interleave(2, 2).repeat_interleave(2, 3)))
        step += 1
    return conv("conv_last", lrelu(conv("conv_hr", feat)))


def compact_forward(w: Weights, x: torch.Tensor, scale: int,
                    shuffle: Callable[[torch.Tensor, int], torch.Tensor] = F.pixel_shuffle) -> torch.Tensor:
    """Real-ESRGAN's SRVGGNetCompact: conv + PReLU pairs, a last conv, a pixel shuffle (`shuffle`, e.g. NCNN's
    own channel order), plus the nearest-upsampled input."""
    out, index = x, 0
    while f"body.{index}.weight" in w:
        out = F.conv2d(out, w[f"body.{index}.weight"], w[f"body.{index}.bias"], padding=1)
        if f"body.{index + 1}.weight" in w:
            slope = w[f"body.{index + 1}.weight"].view(1, -1, 1, 1)
            out = torch.where(out >= 0, out, out * slope)
        index += 2
    return shuffle(out, scale) + x.repeat_interleave(scale, 2).repeat_interleave(scale, 3)
