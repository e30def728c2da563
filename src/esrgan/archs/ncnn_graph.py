"""NCNN graphs as plain data: the layers of a `.param` with their weights, walked backwards or built forwards.

Pure and I/O-free. `esrgan.weights.ncnn` reads and writes the files; each architecture's `ncnn.py` matches a
graph against its forward pass (import) or emits one from its weights (export), with the helpers here:

- `GraphMatcher` walks from a blob back to the layer producing it, seeing through `Split` (NCNN's explicit
  fan-out), and records which layers a pattern used, so a graph with anything extra is not accepted.
- `GraphBuilder` appends layers in forward order and inserts the `Split`s NCNN needs when it finishes.

NCNN facts used (ncnn's layer docs): a Convolution's activation may be fused into it (9=activation_type: 1
ReLU, 2 leaky ReLU with the slope in array 10); `Eltwise` 0=1 sums with optional coefficients (array 1);
`BinaryOp` 0=0 adds, 0=2 multiplies (1=1 with the scalar in 2); `Interp` 0=resize type (1 nearest, 2 bilinear,
3 bicubic) with 1/2 the height/width scales; `Reorg` and `PixelShuffle` take 0=factor and 1=mode, mode 0 being
PyTorch's channel order.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import torch

ParamValue = int | float | tuple[int | float, ...]

INPUT_BLOB = "data"
OUTPUT_BLOB = "output"
"""Blob names Real-ESRGAN's NCNN tools feed and extract (`ex.input("data")`, `ex.extract("output")`)."""

NEAREST, BILINEAR, BICUBIC = 1, 2, 3
"""`Interp` resize types."""
LEAKY_RELU = 2
"""Convolution activation_type of a fused leaky ReLU."""


class NcnnMismatch(ValueError):
    """A graph that looks like an architecture's NCNN form but does not compute its forward pass."""


@dataclass(frozen=True)
class NcnnLayer:
    """One line of a `.param` file, and the weights its layer reads from the `.bin`."""

    type: str
    name: str
    bottoms: tuple[str, ...]
    tops: tuple[str, ...]
    params: Mapping[int, ParamValue] = field(default_factory=dict)
    weights: tuple[torch.Tensor, ...] = ()
    """float32, in `.bin` order: Convolution (OIHW weight, bias), PReLU (slopes,)."""

    def integer(self, key: int, default: int) -> int:
        return int(self.number(key, default))

    def number(self, key: int, default: float) -> float:
        value = self.params.get(key, default)
        if isinstance(value, tuple):
            raise NcnnMismatch(f"layer {self.name}: parameter {key} is an array, not a number")
        return float(value)

    def array(self, key: int, default: tuple[float, ...]) -> tuple[float, ...]:
        value = self.params.get(key, default)
        return tuple(float(v) for v in value) if isinstance(value, tuple) else (float(value),)


@dataclass(frozen=True)
class NcnnGraph:
    """The layers of one network, in file order (producers before consumers, as NCNN requires)."""

    layers: tuple[NcnnLayer, ...]

    @property
    def types(self) -> frozenset[str]:
        return frozenset(layer.type for layer in self.layers)


def phase_major_to_channel_major(tensor: torch.Tensor, channels: int, factor: int, dim: int) -> torch.Tensor:
    """Reorder `dim` from NCNN's mode-1 order `(i*f + j)*C + c` to PyTorch's `c*f*f + i*f + j`.

    Mode 1 of `Reorg` (space-to-depth) and `PixelShuffle` (depth-to-space) is the ONNX/TensorFlow order; the
    convolution next to it absorbs the permutation, so the network becomes the PyTorch one.
    """
    shape = tensor.shape
    grouped = tensor.reshape(*shape[:dim], factor * factor, channels, *shape[dim + 1 :])
    return grouped.transpose(dim, dim + 1).reshape(shape).contiguous()


@dataclass(frozen=True)
class Conv:
    """A convolution found in a graph (`GraphMatcher.conv`), the activation after it, and its input blob."""

    layer: NcnnLayer
    slopes: torch.Tensor | None
    """Negative slopes of the activation after it: None when there is none, one value for a leaky ReLU
    (0 for ReLU), one per channel for a PReLU."""
    source: str

    @property
    def weight(self) -> torch.Tensor:
        return self.layer.weights[0]

    @property
    def bias(self) -> torch.Tensor:
        return self.layer.weights[1]

    @property
    def in_channels(self) -> int:
        return self.weight.shape[1]

    @property
    def out_channels(self) -> int:
        return self.weight.shape[0]


class GraphMatcher:
    """Walks a graph from its output back to its input for one architecture, failing with `NcnnMismatch`."""

    def __init__(self, graph: NcnnGraph, title: str) -> None:
        self.graph = graph
        self.title = title
        self.alias: dict[str, str] = {}
        self.producers: dict[str, NcnnLayer] = {}
        for layer in graph.layers:
            for top in layer.tops:
                if layer.type == "Split":
                    self.alias[top] = self.resolve(layer.bottoms[0])
                else:
                    self.producers[top] = layer
        self.used: set[str] = set()

    def resolve(self, blob: str) -> str:
        """The blob a Split output copies, or `blob` itself."""
        return self.alias.get(blob, blob)

    def producer(self, blob: str) -> NcnnLayer:
        layer = self.producers.get(self.resolve(blob))
        if layer is None:
            raise NcnnMismatch(f"blob {blob!r} is produced by no layer")
        return layer

    def take(self, layer: NcnnLayer) -> NcnnLayer:
        if layer.name in self.used:
            raise NcnnMismatch(f"layer {layer.name} is reached twice")
        self.used.add(layer.name)
        return layer

    def output_blob(self) -> str:
        consumed = {self.resolve(blob) for layer in self.graph.layers for blob in layer.bottoms}
        outputs = [top for layer in self.graph.layers if layer.type != "Split" for top in layer.tops
                   if top not in consumed]
        if len(outputs) != 1:
            raise NcnnMismatch(f"expected one output blob, found {len(outputs)} ({', '.join(outputs[:4])})")
        return outputs[0]

    def is_input(self, blob: str) -> bool:
        return self.producer(blob).type == "Input"

    def check_all_used(self) -> None:
        unused = [layer.name for layer in self.graph.layers
                  if layer.type not in ("Split", "Input") and layer.name not in self.used]
        if unused:
            raise NcnnMismatch(f"layers outside the {self.title} pattern: {', '.join(unused[:5])}")

    def conv(self, blob: str, stride: int = 1) -> Conv:
        """The convolution producing `blob`, seeing through a separate ReLU or PReLU after it.

        It must be a 3×3 convolution on a grid of `stride`: kernel 3·stride, stride and padding `stride` (with
        stride 1 the plain 3×3, padding 1 convolution of every network here).
        """
        layer = self.producer(blob)
        slopes: torch.Tensor | None = None
        if layer.type == "PReLU":
            slopes = layer.weights[0]
        elif layer.type == "ReLU":
            slopes = torch.tensor([layer.number(0, 0.0)])
        if slopes is not None:
            self.take(layer)
            layer = self.producer(layer.bottoms[0])
        if layer.type != "Convolution":
            raise NcnnMismatch(f"expected a Convolution before blob {blob!r}, found {layer.type} {layer.name}")
        self.take(layer)
        activation = layer.integer(9, 0)
        if activation and slopes is not None:
            raise NcnnMismatch(f"convolution {layer.name} has two activations")
        if activation == 1:
            slopes = torch.zeros(1)
        elif activation == LEAKY_RELU:
            slopes = torch.tensor(layer.array(10, (0.0,))[:1])
        elif activation:
            raise NcnnMismatch(f"convolution {layer.name} has activation type {activation}, not a (leaky) ReLU")
        if _geometry(layer) != (3 * stride, 3 * stride, 1, 1, stride, stride, stride, stride, stride, stride):
            wanted = f"kernel {3 * stride}, stride {stride}, padding {stride}"
            raise NcnnMismatch(f"convolution {layer.name} is not a plain convolution with {wanted}")
        return Conv(layer, slopes, layer.bottoms[0])

    def plain_sum(self, blob: str) -> tuple[str, str]:
        """Both inputs of the unweighted addition producing `blob`."""
        layer = self.producer(blob)
        if layer.type == "Eltwise" and len(layer.bottoms) == 2 and layer.integer(0, 0) == 1:
            if all(math.isclose(c, 1.0) for c in layer.array(1, (1.0, 1.0))):
                self.take(layer)
                return layer.bottoms[0], layer.bottoms[1]
        if layer.type == "BinaryOp" and len(layer.bottoms) == 2 and layer.integer(0, 0) == 0:
            self.take(layer)
            return layer.bottoms[0], layer.bottoms[1]
        raise NcnnMismatch(f"expected an addition before blob {blob!r}, found {layer.type} {layer.name}")

    def nearest(self, blob: str) -> tuple[str, int]:
        """Input blob and integer scale of the nearest-neighbour Interp producing `blob`."""
        layer = self.producer(blob)
        height, width = layer.number(1, 1.0), layer.number(2, 1.0)
        fixed_size = layer.integer(3, 0) or layer.integer(4, 0)
        if layer.type != "Interp" or layer.integer(0, 0) != NEAREST or height != width \
                or not height.is_integer() or height < 1 or fixed_size:
            raise NcnnMismatch(f"expected a nearest-neighbour upsampling before blob {blob!r}, "
                            f"found {layer.type} {layer.name}")
        self.take(layer)
        return layer.bottoms[0], int(height)


def _geometry(layer: NcnnLayer) -> tuple[int, ...]:
    """Kernel h/w, dilation h/w, stride h/w, padding left/top/right/bottom, with NCNN's defaults; int8
    convolutions (8=1) and padding values (18) do not fit any network here, so they spoil the tuple."""
    kernel, dilation, stride = layer.integer(1, 0), layer.integer(2, 1), layer.integer(3, 1)
    left = layer.integer(4, 0)
    top = layer.integer(14, left)
    pads = (left, top, layer.integer(15, left), layer.integer(16, top))
    if layer.integer(8, 0) or layer.number(18, 0.0) or layer.integer(19, 0):
        return ()
    return (layer.integer(11, kernel), kernel, layer.integer(12, dilation), dilation,
            layer.integer(13, stride), stride, *pads)


class GraphBuilder:
    """Builds a graph in forward order; `finish` names the output and fans out shared blobs through Splits."""

    def __init__(self) -> None:
        self.layers: list[NcnnLayer] = [NcnnLayer("Input", INPUT_BLOB, (), (INPUT_BLOB,))]

    def add(self, kind: str, name: str, bottoms: Sequence[str], params: Mapping[int, ParamValue] | None = None,
            weights: tuple[torch.Tensor, ...] = ()) -> str:
        """Append a layer named `name` whose one output blob is also called `name`; returns that blob."""
        self.layers.append(NcnnLayer(kind, name, tuple(bottoms), (name,), dict(params or {}), weights))
        return name

    def conv(self, name: str, blob: str, weight: torch.Tensor, bias: torch.Tensor,
             leaky_slope: float | None = None, stride: int = 1) -> str:
        """A 3×3 convolution on a grid of `stride` (kernel 3·stride, padding `stride`; see `GraphMatcher.conv`),
        with a leaky ReLU fused into it (as ncnnoptimize does) when asked."""
        params: dict[int, ParamValue] = {0: weight.shape[0], 1: weight.shape[-1]}
        params |= ({3: stride} if stride > 1 else {}) | {4: stride, 5: 1, 6: weight.numel()}
        if leaky_slope is not None:
            params |= {9: LEAKY_RELU, 10: (float(leaky_slope),)}
        tensors = (weight.detach().float().contiguous(), bias.detach().float().contiguous())
        return self.add("Convolution", name, [blob], params, tensors)

    def finish(self, output: str) -> NcnnGraph:
        uses: dict[str, int] = {}
        for layer in self.layers:
            for blob in layer.bottoms:
                uses[blob] = uses.get(blob, 0) + 1
        taken: dict[str, int] = {}

        def bottom(blob: str) -> str:
            if uses[blob] == 1:
                return OUTPUT_BLOB if blob == output else blob
            taken[blob] = taken.get(blob, 0) + 1
            return f"{blob}_splitncnn_{taken[blob] - 1}"

        layers: list[NcnnLayer] = []
        for layer in self.layers:
            tops = tuple(OUTPUT_BLOB if top == output else top for top in layer.tops)
            layers.append(NcnnLayer(layer.type, layer.name, tuple(bottom(b) for b in layer.bottoms), tops,
                                    layer.params, layer.weights))
            layers += _splits(layer.tops, uses)
        return NcnnGraph(tuple(layers))


def _splits(tops: Iterable[str], uses: Mapping[str, int]) -> list[NcnnLayer]:
    return [NcnnLayer("Split", f"splitncnn_{top}", (top,), tuple(f"{top}_splitncnn_{i}" for i in range(uses[top])))
            for top in tops if uses.get(top, 0) > 1]
