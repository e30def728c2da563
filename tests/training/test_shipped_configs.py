"""Every shipped config validates and trains (2 iterations, shrunk); the ablation's columns (paper Fig. 7)
differ from one another in exactly the switch each one adds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from esrgan.training.config import config_to_dict, load_config, packaged_config_names
from esrgan.training.loop import train
from tests.training.helpers import write_images

ABLATION = ("srgan_x4", "ablation_x4_bn_removed", "ablation_x4_ragan", "ablation_x4_percep_before",
            "ablation_x4_rrdb")
"""The paper's columns, left to right."""

SMALL_GENERATORS = {"rrdbnet": ["num_feat=8", "num_block=1", "num_grow_ch=4"], "srresnet": ["num_feat=8",
                                                                                              "num_block=1"]}


def flat(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and key != "perceptual_layers":
            out |= flat(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def differences(first: str, second: str) -> set[str]:
    """Keys whose values differ between two shipped configs, leaving out where the run goes and its weights."""
    a, b = (flat(config_to_dict(load_config(name))) for name in (first, second))
    return {key for key in a.keys() | b.keys() if a.get(key) != b.get(key)} - {"name", "generator.pretrained"}


def test_each_ablation_column_adds_exactly_its_switch() -> None:
    assert set(ABLATION) <= set(packaged_config_names())
    steps = [differences(a, b) for a, b in zip(ABLATION, ABLATION[1:])]
    assert steps[0] == {"generator.batch_norm"}
    assert steps[1] == {"loss.gan_type"}
    assert steps[2] == {"loss.perceptual_layers"}
    assert {key.split(".")[0] for key in steps[3]} == {"generator"}  # SRResNet -> RRDBNet, nothing else
    srgan = config_to_dict(load_config("srgan_x4"))
    assert (srgan["generator"]["batch_norm"], srgan["loss"]["gan_type"], srgan["loss"]["perceptual_layers"]) == (
        True, "standard", {"relu5_4": 1.0})
    assert differences("ablation_x4_rrdb", "esrgan_x4_gan") == set()
    assert differences("srgan_x4_psnr", "srresnet_x4_psnr") == {"generator.batch_norm"}


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_images(tmp_path_factory.mktemp("shipped") / "hr", 2, (132, 132), seed=4)


@pytest.mark.parametrize("name", packaged_config_names())
def test_every_shipped_config_validates_and_trains_two_iterations(name: str, images: Path, tmp_path: Path) -> None:
    """As shipped but small: a tiny generator of its arch, tiny C, batches of one, random VGG19, no stage-1
    weights; the losses and the optimiser are the shipped ones."""
    config = load_config(name)
    shrink = [f"output_dir={tmp_path}", f"data.train_hr={images}", "data.batch_size=1", "data.workers=0",
              "device=cpu", "training.iterations=2", "training.max_minutes=null", "training.discriminator_warmup=0",
              "validation.folder=null", "checkpoint.every=2", "logging.tensorboard=false",
              "logging.progress_bar=false", "discriminator.num_feat=4", "loss.vgg_weights=random",
              "generator.pretrained=null"]
    shrink += [f"generator.{option}" for option in SMALL_GENERATORS[config.generator.arch]]
    if config.stage == "psnr":
        shrink.append("data.patch_size=32")
    small = load_config(name, shrink)
    assert (small.loss, small.stage, small.optim) == (
        load_config(name, ["loss.vgg_weights=random"]).loss, config.stage, config.optim)
    result = train(small)
    assert result.iteration == 2 and result.checkpoint is not None
