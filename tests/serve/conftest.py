"""Two tiny random RRDBNets of one architecture saved as checkpoints (a "PSNR" and a "GAN" one) and the
catalogue that offers them beside the zoo."""

from __future__ import annotations

import pytest

from esrgan.serve.catalogue import Catalogue
from esrgan.weights.io import save_checkpoint
from tests.conftest import TINY, tiny_rrdbnet
from tests.serve.harness import Pair


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    folder = tmp_path_factory.mktemp("pair")
    paths = Pair(folder / "psnr.safetensors", folder / "gan.safetensors")
    save_checkpoint(paths.psnr, tiny_rrdbnet(seed=0).state_dict(), TINY)
    save_checkpoint(paths.gan, tiny_rrdbnet(seed=1).state_dict(), TINY)
    return paths


@pytest.fixture(scope="module")
def catalogue(pair: Pair) -> Catalogue:
    return Catalogue([pair.psnr, pair.gan])
