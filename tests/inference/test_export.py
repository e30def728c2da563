"""ONNX export: dynamic batch/height/width, the same numbers as PyTorch, and clear refusals.

The exporter needs onnxscript and the check needs onnxruntime; both are optional, so these tests skip
without them (except the one that checks the error a user without them gets).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from esrgan.archs import RRDBNetSpec
from esrgan.cli.main import main
from esrgan.errors import ExportError
from esrgan.inference.onnx_export import export_onnx, onnx_difference
from esrgan.weights.io import save_checkpoint
from tests.conftest import SHARED, tiny_rrdbnet

HAS_EXPORTER = all(importlib.util.find_spec(name) for name in ("onnxscript", "onnx", "onnxruntime"))
needs_exporter = pytest.mark.skipif(not HAS_EXPORTER, reason="onnxscript/onnxruntime not installed (optional)")
BABY = SHARED / "datasets" / "Set5" / "baby.png"


@pytest.fixture(autouse=True)
def _one_thread(one_thread: None) -> None:
    """Every test here runs on one intra-op thread (see `one_thread`)."""


@needs_exporter
@pytest.mark.parametrize("scale", [4, 2])
def test_export_runs_any_size_and_matches_torch(tmp_path: Path, scale: int) -> None:
    """Exported at one size, run at another size and batch: ONNX Runtime gives PyTorch's output."""
    import onnxruntime

    spec = RRDBNetSpec(scale=scale, num_feat=8, num_block=2, num_grow_ch=4)
    model = tiny_rrdbnet(spec, seed=1)
    path = export_onnx(model, spec, tmp_path / "tiny.onnx")
    x = torch.rand(3, 3, 26, 38)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    actual = session.run(None, {"input": x.numpy()})[0]
    with torch.no_grad():
        expected = model(x).numpy()
    assert actual.shape == (3, 3, 26 * scale, 38 * scale)
    assert np.abs(actual - expected).max() <= 1e-5


@needs_exporter
@pytest.mark.skipif(not BABY.is_file(), reason="needs ../shared/datasets/Set5")
def test_cli_exports_and_verifies_on_a_real_image(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = RRDBNetSpec(scale=4, num_feat=8, num_block=2, num_grow_ch=4)
    weights = tmp_path / "tiny.safetensors"
    save_checkpoint(weights, tiny_rrdbnet(spec, seed=2).state_dict(), spec)
    output = tmp_path / "tiny.onnx"
    assert main(["export", "--weights", str(weights), "-o", str(output), "--verify-image", str(BABY)]) == 0
    printed = capsys.readouterr().out
    assert output.is_file() and "opset 18" in printed
    difference = float(printed.split("max |ONNX Runtime - PyTorch| = ")[1].split()[0])
    assert difference <= 1e-4
    assert main(["export", "--weights", str(weights), "-o", str(output), "--no-verify"]) == 2
    assert "exists" in capsys.readouterr().err


@needs_exporter
def test_difference_is_measured_not_assumed(tmp_path: Path) -> None:
    """Checking an export against a different network reports the difference, so a bad export is caught."""
    spec = RRDBNetSpec(scale=4, num_feat=8, num_block=1, num_grow_ch=4)
    path = export_onnx(tiny_rrdbnet(spec, seed=1), spec, tmp_path / "a.onnx")
    image = np.random.default_rng(0).integers(0, 255, (17, 21, 3)).astype(np.uint8)
    assert onnx_difference(path, tiny_rrdbnet(spec, seed=1), spec, image) <= 1e-5
    assert onnx_difference(path, tiny_rrdbnet(spec, seed=9), spec, image) > 1e-3


def test_missing_exporter_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxscript", None)
    spec = RRDBNetSpec(scale=4, num_feat=8, num_block=1, num_grow_ch=4)
    with pytest.raises(ExportError, match="pip install onnxscript"):
        export_onnx(tiny_rrdbnet(spec), spec, tmp_path / "a.onnx")
