"""Hostile checkpoints: lying metadata, broken numbers, garbage bytes. One line each, no traceback, and no
model is built before its size is checked against the tensors in the file."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from esrgan.archs import RRDBNetSpec
from esrgan.cli.main import main

SPEC = RRDBNetSpec(num_feat=8, num_block=1, num_grow_ch=4)


def tensors() -> dict[str, torch.Tensor]:
    return {key: value.contiguous() for key, value in SPEC.build().state_dict().items()}


def lying(path: Path, **metadata: str) -> Path:
    save_file(tensors(), str(path), metadata=SPEC.as_metadata() | {f"esrgan.{k}": v for k, v in metadata.items()})
    return path


def upscale_with(tmp_path: Path, weights: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    source = tmp_path / "a.png"
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(source)
    code = main(["upscale", "--quiet", "--backend", "torch", str(source), "-o", str(tmp_path / "out"),
                 "--weights", str(weights)])
    return code, [line for line in capsys.readouterr().err.splitlines() if line.strip()]


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"num_block": "1000000"}, "its metadata describes RRDBNet x4 (1000000 blocks"),
        ({"num_feat": "200000"}, "its metadata describes RRDBNet x4 (1 blocks, nf 200000"),
        ({"scale": "four"}, "its metadata is invalid: metadata: scale must be an integer, not 'four'"),
        ({"scale": "3"}, "its metadata is invalid: RRDBNet supports scales 1, 2, 4, 8, 16, not 3"),
        ({"arch": "evil"}, "its metadata is invalid: unknown architecture 'evil'"),
    ],
)
def test_metadata_only_confirms_the_tensors(tmp_path: Path, metadata: dict[str, str], message: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    code, err = upscale_with(tmp_path, lying(tmp_path / "m.safetensors", **metadata), capsys)
    assert code == 2 and len(err) == 1 and message in err[0]
    assert not (tmp_path / "out").exists()


def test_a_million_block_claim_is_refused_within_a_small_memory_limit(tmp_path: Path) -> None:
    """Under an address-space limit of what the process already has plus 256 MB, the file is refused with its
    one line (it once built the claimed model: 10 GB and minutes), and an honest file still loads."""
    evil = lying(tmp_path / "evil.safetensors", num_block="1000000")
    honest = lying(tmp_path / "honest.safetensors")
    script = textwrap.dedent(f"""
        import resource, sys
        from esrgan.errors import CheckpointError
        from esrgan.weights.layouts import load_checkpoint
        status = open("/proc/self/status").read()
        size = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmSize"))) * 1024
        resource.setrlimit(resource.RLIMIT_AS, (size + (256 << 20), resource.RLIM_INFINITY))
        load_checkpoint({str(honest)!r})
        try:
            load_checkpoint({str(evil)!r})
        except CheckpointError as error:
            print(error)
            sys.exit(0)
        sys.exit(1)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "metadata describes RRDBNet x4 (1000000 blocks" in result.stdout


@pytest.mark.parametrize(
    ("value", "message"),
    [(float("nan"), "holds NaN or infinite values"), (float("inf"), "holds NaN or infinite values")],
)
def test_non_finite_weights_are_refused_naming_the_tensor(tmp_path: Path, value: float, message: str,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    state = tensors()
    state["conv_last.bias"] = torch.full_like(state["conv_last.bias"], value)
    torch.save(state, tmp_path / "broken.pth")
    code, err = upscale_with(tmp_path, tmp_path / "broken.pth", capsys)
    assert code == 2 and len(err) == 1 and f"tensor conv_last.bias {message}" in err[0]
    assert main(["convert", str(tmp_path / "broken.pth"), "-o", str(tmp_path / "c.safetensors")]) == 2
    assert not (tmp_path / "c.safetensors").exists()


@pytest.mark.parametrize("dtype", [torch.int32, torch.bool, torch.complex64])
def test_tensors_of_the_right_shape_but_no_float_type_are_refused(tmp_path: Path, dtype: torch.dtype,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    state = tensors()
    state["conv_first.weight"] = state["conv_first.weight"].to(dtype)
    torch.save(state, tmp_path / "typed.pth")
    code, err = upscale_with(tmp_path, tmp_path / "typed.pth", capsys)
    assert code == 2 and len(err) == 1 and f"tensor conv_first.weight holds {dtype} values" in err[0]


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (np.random.default_rng(1).bytes(300), "noise.pth", "not a readable PyTorch checkpoint"),
        (b"", "empty.pth", "the file is empty (0 bytes)"),
        (b"", "empty.safetensors", "not a readable safetensors file"),
        (b"\x80\x02}q\x00.", "truncated.pth", "not a readable PyTorch checkpoint"),
    ],
)
def test_garbage_files_are_named_for_what_they_are(tmp_path: Path, content: bytes, name: str, message: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / name).write_bytes(content)
    code, err = upscale_with(tmp_path, tmp_path / name, capsys)
    assert code == 2 and len(err) == 1 and message in err[0]
    assert "could run code" not in err[0] and not err[0].rstrip().endswith(":")


def test_nan_weights_in_an_ncnn_model_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from esrgan.weights.ncnn import write_ncnn

    state = tensors()
    state["conv_hr.weight"][0, 0, 0, 0] = float("nan")
    write_ncnn(tmp_path / "nan.param", SPEC, state, fp16=False)
    code, err = upscale_with(tmp_path, tmp_path / "nan.param", capsys)
    assert code == 2 and len(err) == 1 and "tensor conv_hr.weight holds NaN or infinite values" in err[0]
    assert main(["convert", str(tmp_path / "nan.param"), "-o", str(tmp_path / "c.safetensors")]) == 2
    assert not (tmp_path / "c.safetensors").exists()
