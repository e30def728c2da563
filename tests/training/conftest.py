"""Fixtures of the training tests: one intra-op thread, and generated training folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.training.helpers import write_images


@pytest.fixture(autouse=True)
def _one_thread(one_thread: None) -> None:
    """Every test here runs on one intra-op thread (see `one_thread`)."""


@pytest.fixture(scope="session")
def small_images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six 52x44 images: enough for 32-pixel patches (PSNR stage)."""
    return write_images(tmp_path_factory.mktemp("small") / "hr", 6, (52, 44))


@pytest.fixture(scope="session")
def gan_images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four 140x132 images: enough for the discriminator's 128-pixel patches."""
    return write_images(tmp_path_factory.mktemp("gan") / "hr", 4, (140, 132), seed=1)
