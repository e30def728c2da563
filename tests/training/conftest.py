"""Fixtures of the training tests: one intra-op thread, and generated training folders."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from tests.training.helpers import write_images


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Intra-op threads on a shared 2-core machine spin against each other; one is faster and deterministic."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def small_images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six 52x44 images: enough for 32-pixel patches (PSNR stage)."""
    return write_images(tmp_path_factory.mktemp("small") / "hr", 6, (52, 44))


@pytest.fixture(scope="session")
def gan_images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four 140x132 images: enough for the discriminator's 128-pixel patches."""
    return write_images(tmp_path_factory.mktemp("gan") / "hr", 4, (140, 132), seed=1)
