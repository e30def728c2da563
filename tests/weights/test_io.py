"""Weight files are read safely: no code runs, broken files give one clear error."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch

from esrgan.archs.registry import spec_from_metadata
from esrgan.errors import CheckpointError
from esrgan.weights.io import read_weights_file, save_checkpoint
from esrgan.weights.layouts import load_checkpoint

MARKER_NAME = "code-ran.txt"


class CarriesCode:
    """Unpickling this calls os.system: a file that must be refused, not executed."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.marker}",))


def test_pickle_carrying_code_is_refused_and_never_run(tmp_path: Path) -> None:
    marker = tmp_path / MARKER_NAME
    path = tmp_path / "evil.pth"
    torch.save({"params": {"conv_first.weight": torch.zeros(1)}, "payload": CarriesCode(marker)}, path)
    with pytest.raises(CheckpointError, match="refused"):
        read_weights_file(path)
    assert not marker.exists()


def test_plain_pickle_with_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / MARKER_NAME
    path = tmp_path / "evil-plain.pth"
    path.write_bytes(pickle.dumps(CarriesCode(marker)))
    with pytest.raises(CheckpointError):
        read_weights_file(path)
    assert not marker.exists()


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_random_bytes_are_not_a_checkpoint(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"noise{suffix}"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(CheckpointError, match="noise"):
        read_weights_file(path)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_truncated_checkpoint_is_reported(tmp_path: Path, tiny_checkpoint: Path, suffix: str) -> None:
    spec, state = load_checkpoint(tiny_checkpoint)
    whole = tmp_path / f"whole{suffix}"
    save_checkpoint(whole, state, spec)
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(cut)


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        read_weights_file(tmp_path / "absent.pth")


def test_canonical_safetensors_keeps_the_spec(tmp_path: Path, tiny_checkpoint: Path) -> None:
    spec, state = load_checkpoint(tiny_checkpoint)
    _, metadata = read_weights_file(tiny_checkpoint)
    assert spec_from_metadata(metadata) == spec
    for key, value in read_weights_file(tiny_checkpoint)[0].items():
        assert torch.equal(value, state[key])


def test_wrappers_prefer_ema_weights(tmp_path: Path) -> None:
    path = tmp_path / "wrapped.pth"
    torch.save({"params": {"a": torch.zeros(1)}, "params_ema": {"a": torch.ones(1)}}, path)
    assert read_weights_file(path)[0]["a"].item() == 1.0


def test_a_file_written_before_the_records_still_loads(tmp_path: Path) -> None:
    """Metadata of the earlier single ModelSpec: SRResNet files carried an unused `num_grow_ch`."""
    from safetensors.torch import save_file

    from esrgan.archs import SRResNetSpec

    spec = SRResNetSpec(num_feat=8, num_block=2)
    old = {"esrgan.arch": "srresnet", "esrgan.scale": "4", "esrgan.in_channels": "3", "esrgan.out_channels": "3",
           "esrgan.num_feat": "8", "esrgan.num_block": "2", "esrgan.num_grow_ch": "32"}
    tensors = {k: v.contiguous() for k, v in spec.build().state_dict().items()}
    save_file(tensors, str(tmp_path / "old.safetensors"), metadata=old)
    assert load_checkpoint(tmp_path / "old.safetensors")[0] == spec
