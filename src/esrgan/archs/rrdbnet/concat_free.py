"""RRDBNet rewritten without the dense blocks' concatenations, for inference runtimes that copy them.

A dense block's k-th conv reads the concatenation of `x` and every earlier feature. A convolution is linear
in its input channels, so conv(cat(f0, f1, …)) = conv₀(f0) + conv₁(f1) + … where convᵢ holds the weight
columns of fᵢ; summed that way, nothing is concatenated. OpenVINO runs each concatenation as a separate copy
(its reference kernel) and fuses each addition into the convolution that follows it (oneDNN's sum post-op),
so the rewritten graph does the same arithmetic with less memory traffic (README, "Performance", has the
measured gain).

The residual scales are folded into the last conv of each block, and so is the block's own skip connection:
s·x is a 3×3 convolution of x whose kernel is s·I at the centre tap and zero elsewhere, so it joins the
weights of the last conv's x-piece (the piece that reads x anyway). A dense block then needs no addition of
its own, and an RRDB only its outer one: out = β·(β·c₅ + y) + x = (β²·c₅ + β·y) + x, with the block's own β
(0.2 in the paper). Without the fold, OpenVINO runs the 69 skip additions as separate passes over memory;
what the fold saves, and that bf16 quality is unchanged, is measured by
`benchmarks/layer_profile.py --compare-unfolded` (figures in README).

The rewrite is exact in real arithmetic; in fp32 it differs from the original by rounding only (tested).
It is for inference graphs: training and checkpoints keep the canonical module.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn import functional as F

from esrgan.archs.rrdbnet.model import LEAKY_SLOPE, RRDB, ResidualDenseBlock, RRDBNet


class SplitInputConv(nn.Module):
    """`conv` applied to a concatenation, computed as one convolution per concatenated piece, summed."""

    def __init__(self, conv: nn.Conv2d, widths: list[int], output_scale: float = 1.0) -> None:
        super().__init__()
        pieces = torch.split(conv.weight.detach() * output_scale, widths, dim=1)
        padding = conv.padding if isinstance(conv.padding, str) else _pair(conv.padding)
        self.parts = nn.ModuleList()
        for index, weight in enumerate(pieces):
            bias = conv.bias if index == 0 else None  # added once, with the first piece
            part = nn.Conv2d(weight.shape[1], weight.shape[0], _pair(conv.kernel_size), _pair(conv.stride), padding,
                             bias=bias is not None)
            part.weight.data.copy_(weight)
            if bias is not None and part.bias is not None:
                part.bias.data.copy_(bias.detach() * output_scale)
            self.parts.append(part)

    def first_part(self) -> nn.Conv2d:
        """The convolution of the first concatenated piece (the one that reads x), which carries the bias."""
        part = self.parts[0]
        assert isinstance(part, nn.Conv2d)
        return part

    def forward(self, pieces: list[torch.Tensor]) -> torch.Tensor:
        out = self.parts[0](pieces[0])
        for part, piece in zip(self.parts[1:], pieces[1:], strict=True):
            out = out + part(piece)
        return out


class ConcatFreeDenseBlock(nn.Module):
    """A `ResidualDenseBlock` as `output_scale`·conv₅(…) + `skip_scale`·x, without concatenations; with
    `fold_skip` (the default) without additions of its own either: the skip is folded into conv₅'s weights."""

    def __init__(
        self, block: ResidualDenseBlock, output_scale: float, skip_scale: float, fold_skip: bool = True
    ) -> None:
        super().__init__()
        num_feat, num_grow_ch = block.conv1.in_channels, block.conv1.out_channels
        convs = [block.conv1, block.conv2, block.conv3, block.conv4, block.conv5]
        split = [SplitInputConv(conv, [num_feat] + [num_grow_ch] * index, output_scale if index == 4 else 1.0)
                 for index, conv in enumerate(convs)]
        if fold_skip:
            _add_identity(split[-1].first_part(), skip_scale)
        self.convs = nn.ModuleList(split)
        self.added_skip_scale = None if fold_skip else skip_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for conv in self.convs[:-1]:
            features.append(F.leaky_relu(conv(features), LEAKY_SLOPE))
        out = self.convs[-1](features)
        return out if self.added_skip_scale is None else out + self.added_skip_scale * x


def _pair(values: tuple[int, ...]) -> tuple[int, int]:
    """A 2-D convolution's (rows, columns) setting, as its constructor's type asks for."""
    rows, columns = values
    return rows, columns


def _add_identity(conv: nn.Conv2d, scale: float) -> None:
    """Make `conv(x)` compute `conv(x) + scale·x`: scale·I added to the centre tap (same-padded odd kernel)."""
    rows, columns = conv.kernel_size
    assert conv.in_channels == conv.out_channels and rows % 2 == 1 and columns % 2 == 1
    assert conv.padding == (rows // 2, columns // 2) and conv.stride == (1, 1)
    with torch.no_grad():
        conv.weight[:, :, rows // 2, columns // 2] += scale * torch.eye(conv.out_channels)


class ConcatFreeRRDB(nn.Module):
    def __init__(self, rrdb: RRDB, fold_skip: bool = True) -> None:
        super().__init__()
        beta = rrdb.residual_scale
        self.rdb1 = ConcatFreeDenseBlock(rrdb.rdb1, beta, 1.0, fold_skip)
        self.rdb2 = ConcatFreeDenseBlock(rrdb.rdb2, beta, 1.0, fold_skip)
        self.rdb3 = ConcatFreeDenseBlock(rrdb.rdb3, beta * beta, beta, fold_skip)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) + x


def without_concatenation(model: RRDBNet, fold_skip: bool = True) -> RRDBNet:
    """A copy of `model` computing the same function with concatenation-free RRDBs (the input is untouched).

    `fold_skip=False` keeps each dense block's skip as an addition (for measuring what the fold gains).
    """
    rewritten = copy.deepcopy(model)
    rewritten.body = nn.Sequential(*(ConcatFreeRRDB(_rrdb(block), fold_skip) for block in model.body))
    return rewritten.eval()


def _rrdb(block: nn.Module) -> RRDB:
    assert isinstance(block, RRDB), f"an RRDBNet trunk holds RRDBs, not {type(block).__name__}"
    return block
