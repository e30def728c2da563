"""SRVGGNetCompact's NCNN form: match a graph against the forward pass (import), or emit the graph (export).

The forward pass in NCNN terms (as in Real-ESRGAN's realesr-animevideov3 files): Convolution + PReLU pairs,
a last Convolution, `PixelShuffle`, plus the input upsampled by a nearest `Interp`, added by a `BinaryOp`.
Accepted variants, as ncnnoptimize or other converters leave them: a one-slope PReLU, a ReLU layer or an
activation fused into the convolution in place of the PReLU (all read as per-channel slopes); the skip as
an `Eltwise` sum; `PixelShuffle` mode 1 (ONNX's DCR order), absorbed into the last convolution's outputs.
Real-ESRGAN's -x2/-x3 files append a bicubic downscale to the x4 network; that resize is no part of this
network, so such a graph is refused with what to do instead.
"""

from __future__ import annotations

import torch

from esrgan.archs.compact.record import CompactSpec
from esrgan.archs.ncnn_graph import (
    BICUBIC,
    BILINEAR,
    INPUT_BLOB,
    NEAREST,
    Conv,
    GraphBuilder,
    GraphMatcher,
    NcnnGraph,
    NcnnLayer,
    NcnnMismatch,
    phase_major_to_channel_major,
)
from esrgan.archs.spec import StateDict


def compact_from_ncnn(graph: NcnnGraph) -> tuple[CompactSpec, StateDict] | None:
    """The SRVGGNetCompact `graph` holds; None without a PixelShuffle, its signature among our networks."""
    if "PixelShuffle" not in graph.types:
        return None
    return _CompactMatcher(graph).match()


def compact_to_ncnn(state: StateDict, num_conv: int, scale: int) -> NcnnGraph:
    """The NCNN graph of an SRVGGNetCompact, layer for layer the form Real-ESRGAN ships."""
    graph = GraphBuilder()
    blob = INPUT_BLOB
    for index in range(0, 2 * num_conv + 2, 2):
        blob = graph.conv(f"body.{index}", blob, state[f"body.{index}.weight"], state[f"body.{index}.bias"])
        slopes = state[f"body.{index + 1}.weight"].detach().float().contiguous()
        blob = graph.add("PReLU", f"body.{index + 1}", [blob], {0: slopes.numel()}, (slopes,))
    last = f"body.{2 * num_conv + 2}"
    blob = graph.conv(last, blob, state[f"{last}.weight"], state[f"{last}.bias"])
    shuffled = graph.add("PixelShuffle", "upsampler", [blob], {0: scale})
    skip = graph.add("Interp", "nearest_input", [INPUT_BLOB], {0: NEAREST, 1: float(scale), 2: float(scale)})
    return graph.finish(graph.add("BinaryOp", "residual", [shuffled, skip], {0: 0}))


class _CompactMatcher(GraphMatcher):
    """SRVGGNetCompact's forward pass, read backwards through the graph."""

    def __init__(self, graph: NcnnGraph) -> None:
        super().__init__(graph, "SRVGGNetCompact")

    def match(self) -> tuple[CompactSpec, StateDict]:
        output = self.output_blob()
        resized: NcnnLayer | None = None
        if (tail := self.producer(output)).type == "Interp" and tail.integer(0, 0) != NEAREST:
            resized = self.take(tail)
            output = resized.bottoms[0]
        shuffled, skip = self.plain_sum(output)
        if self.producer(shuffled).type != "PixelShuffle":
            shuffled, skip = skip, shuffled
        shuffle = self.take(self.producer(shuffled))
        if shuffle.type != "PixelShuffle":
            raise NcnnMismatch("neither input of the final addition is a PixelShuffle")
        scale, mode = shuffle.integer(0, 1), shuffle.integer(1, 0)
        source, skip_scale = self.nearest(skip)
        if not self.is_input(source) or skip_scale != scale or mode not in (0, 1):
            raise NcnnMismatch(f"the skip is not the input upsampled x{scale} to match PixelShuffle {shuffle.name}")
        last = self.conv(shuffle.bottoms[0])
        if last.slopes is not None:
            raise NcnnMismatch(f"the last convolution {last.layer.name} has an activation")
        body: list[Conv] = []
        blob = last.source
        while not self.is_input(blob):
            body.insert(0, self.conv(blob))
            blob = body[0].source
        self.check_all_used()
        if not body:
            raise NcnnMismatch("no convolution + PReLU before the last convolution")
        num_feat = body[0].out_channels
        out_channels, remainder = divmod(last.out_channels, scale * scale)
        if remainder:
            raise NcnnMismatch(f"{last.out_channels} channels cannot be shuffled by {scale}")
        state: StateDict = {}
        for position, conv in enumerate(body):
            state[f"body.{2 * position}.weight"], state[f"body.{2 * position}.bias"] = conv.weight, conv.bias
            state[f"body.{2 * position + 1}.weight"] = self.prelu_slopes(conv, num_feat)
        weight, bias = last.weight, last.bias
        if mode == 1:
            weight = phase_major_to_channel_major(weight, out_channels, scale, dim=0)
            bias = phase_major_to_channel_major(bias, out_channels, scale, dim=0)
        state[f"body.{2 * len(body)}.weight"], state[f"body.{2 * len(body)}.bias"] = weight, bias
        if resized is not None:
            raise self.output_resized(resized, scale)
        spec = CompactSpec(scale, body[0].in_channels, out_channels, num_feat, len(body) - 1)
        return spec, state

    def prelu_slopes(self, conv: Conv, num_feat: int) -> torch.Tensor:
        """The PReLU slopes after `conv`, one per channel; a shared slope (ReLU, leaky ReLU) is repeated."""
        if conv.slopes is None:
            raise NcnnMismatch(f"convolution {conv.layer.name} is not followed by a PReLU")
        if conv.out_channels != num_feat or conv.slopes.numel() not in (1, num_feat):
            raise NcnnMismatch(f"convolution {conv.layer.name} and its activation do not have {num_feat} channels")
        return conv.slopes.expand(num_feat).clone()

    def output_resized(self, layer: NcnnLayer, scale: int) -> NcnnMismatch:
        """Real-ESRGAN's realesr-animevideov3-x2/-x3 are the x4 network followed by a bicubic downscale."""
        kind = {BICUBIC: "bicubic", BILINEAR: "bilinear"}.get(layer.integer(0, 0), "non-nearest")
        factor = layer.number(1, 1.0)
        return NcnnMismatch(
            f"the x{scale} network's output goes through a {kind} resize by {factor:g} ({layer.name}), which is no "
            f"part of the network; use the un-resized x{scale} model (realesr-animevideov3-x4 for Real-ESRGAN's "
            f"-x2/-x3 files) with --outscale {scale * factor:g}"
        )
