"""Tiling, every backend, ONNX export, evaluate, interpolate and sweep work with every architecture and scale.

The specs cover what the records add beyond the paper's ×4 RRDBNet: a 16× and a 1× (pixel-unshuffle)
RRDBNet, ESRGAN+ dense blocks, RGBA 4→4, SRResNet ×3 and SRVGGNetCompact ×4 and ×3. Each path is held
against the module's own fp32 eager output.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from esrgan.archs import CompactSpec, ModelSpec, RRDBNetSpec, SRResNetSpec
from esrgan.cli.main import main
from esrgan.inference.backends import create_backend
from esrgan.inference.upscaler import UpscaleOptions, Upscaler
from esrgan.weights.io import save_checkpoint

SPECS = [
    RRDBNetSpec(scale=16, num_feat=8, num_block=1, num_grow_ch=4, unshuffle=1),
    RRDBNetSpec(scale=1, num_feat=8, num_block=1, num_grow_ch=4),
    RRDBNetSpec(scale=4, num_feat=8, num_block=1, num_grow_ch=4, plus=True),
    RRDBNetSpec(scale=2, in_channels=4, out_channels=4, num_feat=8, num_block=1, num_grow_ch=4, unshuffle=1),
    SRResNetSpec(scale=3, num_feat=8, num_block=2),
    CompactSpec(scale=4, num_feat=8, num_conv=3),
    CompactSpec(scale=3, num_feat=8, num_conv=2),
]
IDS = [spec.describe() for spec in SPECS]
SET5 = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets" / "Set5"
try:
    import openvino  # noqa: F401

    HAS_OPENVINO = True
except ImportError:
    HAS_OPENVINO = False


@pytest.fixture(autouse=True)
def _one_thread(one_thread: None) -> None:
    """Every test here runs on one intra-op thread (see `one_thread`)."""


def random_model(spec: ModelSpec, seed: int = 0) -> torch.nn.Module:
    """A network whose biases are not zero (a zero-bias net hides mistakes in the tail) and whose output
    stays mostly inside [0, 1] (the backends clamp)."""
    torch.manual_seed(seed)
    model = spec.build().eval()
    with torch.no_grad():
        for name, tensor in model.named_parameters():
            if name.endswith("bias"):
                tensor.uniform_(-0.05, 0.05)
            else:
                tensor.mul_(0.5)
    return model


def eager(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x).clamp(0, 1)


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_tiled_equals_whole_image(spec: ModelSpec) -> None:
    model = random_model(spec)
    image = np.random.default_rng(0).random((20, 28, spec.in_channels)).astype(np.float32)
    whole = Upscaler(model, spec, UpscaleOptions(tile=0, precision="fp32", device="cpu", backend="torch"))
    tiled = Upscaler(model, spec, UpscaleOptions(tile=8, tile_pad=32, precision="fp32", device="cpu",
                                                  backend="torch"))
    expected = whole.upscale_array(image)
    assert expected.shape[:2] == (20 * spec.scale, 28 * spec.scale)
    assert np.abs(tiled.upscale_array(image) - expected).max() <= 1e-5


@pytest.mark.skipif(not HAS_OPENVINO, reason="openvino not installed (optional backend)")
@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_openvino_fp32_equals_eager(spec: ModelSpec) -> None:
    model = random_model(spec, seed=1)
    x = torch.rand(1, spec.in_channels, 8, 12)
    run = create_backend("openvino", model, spec, torch.device("cpu"), torch.float32)
    assert (run(x) - eager(model, x)).abs().max() <= 1e-4


@pytest.mark.parametrize("spec", [SPECS[0], SPECS[1], SPECS[2], SPECS[5]], ids=[IDS[0], IDS[1], IDS[2], IDS[5]])
def test_onnx_export_equals_torch(spec: ModelSpec, tmp_path: Path) -> None:
    pytest.importorskip("onnxscript")
    onnxruntime = pytest.importorskip("onnxruntime")
    from esrgan.inference.onnx_export import export_onnx

    model = random_model(spec, seed=2)
    path = export_onnx(model, spec, tmp_path / "m.onnx")
    x = torch.rand(2, spec.in_channels, 12, 16)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    actual = session.run(None, {"input": x.numpy()})[0]
    with torch.no_grad():
        expected = model(x).numpy()
    assert actual.shape == expected.shape
    assert np.abs(actual - expected).max() <= 1e-4


def saved(spec: ModelSpec, path: Path, seed: int) -> Path:
    save_checkpoint(path, random_model(spec, seed).state_dict(), spec)
    return path


@pytest.mark.skipif(not SET5.is_dir(), reason="needs ../shared/datasets/Set5")
@pytest.mark.parametrize("spec", [SPECS[1], SPECS[5]], ids=[IDS[1], IDS[5]])
def test_evaluate_interpolate_and_sweep_take_any_architecture(spec: ModelSpec, tmp_path: Path) -> None:
    a, b = saved(spec, tmp_path / "a.safetensors", 3), saved(spec, tmp_path / "b.safetensors", 4)
    hr = tmp_path / "hr"
    hr.mkdir()
    for name in ("baby.png", "bird.png"):
        (hr / name).symlink_to((SET5 / name).resolve())
    common = ["--device", "cpu", "--precision", "fp32", "--quiet"]
    assert main(["evaluate", "--dataset", str(hr), "--weights", str(a), "--metrics", "psnr,ssim",
                 "--json", str(tmp_path / "scores.json"), *common]) == 0
    assert (tmp_path / "scores.json").is_file()
    assert main(["interpolate", str(a), str(b), "--alpha", "0.5", "-o", str(tmp_path / "mid.safetensors")]) == 0
    assert main(["sweep", "--psnr", str(a), "--gan", str(b), "--alphas", "0,1", "--dataset", str(hr),
                 "-o", str(tmp_path / "sweep"), "--metrics", "psnr", "--no-plots", *common]) == 0
    assert (tmp_path / "sweep" / "sweep.csv").is_file()
