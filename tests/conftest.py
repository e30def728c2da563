"""Shared fixtures: tiny generators and their checkpoints, and where the read-only shared data lives."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from esrgan.archs import ModelSpec, RRDBNet, RRDBNetSpec
from esrgan.weights.io import save_checkpoint

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT / ".." / "shared"

TINY = RRDBNetSpec(scale=4, num_feat=8, num_block=2, num_grow_ch=4)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or fills the user's real model cache."""
    monkeypatch.setenv("ESRGAN_HOME", str(tmp_path_factory.mktemp("esrgan-home")))


def tiny_rrdbnet(spec: ModelSpec = TINY, seed: int = 0) -> RRDBNet:
    torch.manual_seed(seed)
    return RRDBNet(spec.in_channels, spec.out_channels, spec.scale, spec.num_feat, spec.num_block, spec.num_grow_ch)


@pytest.fixture
def one_thread() -> Iterator[None]:
    """One intra-op thread: tiny convolutions are fastest so, and threads of several test processes sharing
    two cores spin against each other (seen 20x slower); also makes float sums independent of the core count."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def tiny_checkpoint(tmp_path: Path) -> Path:
    """A small random RRDBNet ×4 saved in the canonical form."""
    path = tmp_path / "tiny.safetensors"
    save_checkpoint(path, tiny_rrdbnet().state_dict(), TINY)
    return path
