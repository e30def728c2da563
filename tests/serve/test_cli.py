"""`esrgan serve` on the command line: its options checked before anything starts, a warning when it listens
beyond this machine, and the zoo and the checkpoints given offered on the page."""

from __future__ import annotations

from pathlib import Path

import pytest

from esrgan.cli.main import main
from esrgan.serve import server
from esrgan.serve.catalogue import Catalogue
from tests.serve.harness import Pair


@pytest.fixture
def not_served(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """uvicorn's run replaced: the command does everything up to serving, and returns."""
    hosts: list[str] = []
    monkeypatch.setattr(server._Server, "run", lambda self, sockets: hosts.append(sockets[0].getsockname()[0]))
    return hosts


def test_it_listens_on_loopback_by_default_and_says_where(not_served: list[str],
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--port", "0"]) == 0
    out, err = capsys.readouterr()
    assert not_served == ["127.0.0.1"]
    assert out.startswith("esrgan serve: http://127.0.0.1:") and err == ""


def test_another_address_is_served_with_a_warning(not_served: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--host", "0.0.0.0", "--port", "0"]) == 0
    assert not_served == ["0.0.0.0"]
    assert "esrgan: warning: listening on 0.0.0.0, not only on this machine" in capsys.readouterr().err


@pytest.mark.parametrize("arguments, message", [
    (["--port", "70000"], "--port must lie in 0..65535"),
    (["--max-upload-mb", "0"], "--max-upload-mb must be a positive number"),
    (["--weights", "missing.pth"], "weights file not found: missing.pth"),
])
def test_bad_options_stop_it_in_one_line(arguments: list[str], message: str, not_served: list[str],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", *arguments]) == 2
    assert message in capsys.readouterr().err
    assert not_served == []


def test_a_port_in_use_is_one_line(not_served: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    taken = server.bind("127.0.0.1", 0)
    try:
        assert main(["serve", "--port", str(taken.getsockname()[1])]) == 2
    finally:
        taken.close()
    assert "choose another --port or --host" in capsys.readouterr().err


def test_the_page_offers_the_checkpoints_given_then_the_zoo_marked_by_availability(pair: Pair) -> None:
    listed = Catalogue([pair.psnr, Path(pair.gan)]).to_json()
    names = [m["name"] for m in listed["models"]]
    assert names[:2] == ["psnr.safetensors", "gan.safetensors"] and listed["default"] == "psnr.safetensors"
    sources = {m["name"]: m["source"] for m in listed["models"]}
    assert sources["esrgan-x4"] == "download" and sources["psnr.safetensors"] == "checkpoint"
    assert ["realesr-general-x4v3", "realesr-general-wdn-x4v3"] in listed["denoise_pairs"]
