"""`TrainState`: the checkpoint's keys are fixed (old checkpoints resume), a state restores exactly what it
saved, and a checkpoint of another stage or shape is refused naming the file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from esrgan.archs.discriminator import VGGStyleDiscriminator
from esrgan.errors import CheckpointError
from esrgan.training.config import TrainConfig, config_to_dict
from esrgan.training.state import TrainState
from tests.training.helpers import tiny_config
from tests.training.test_loop import assert_states_equal

PSNR_KEYS = {"iteration", "config", "generator", "optimizer_g", "schedulers", "scaler", "rng"}


def new_state(config: TrainConfig, seed: int = 0) -> TrainState:
    torch.manual_seed(seed)
    discriminator = (VGGStyleDiscriminator(3, config.discriminator.num_feat, config.data.patch_size)
                     if config.stage == "gan" else None)
    return TrainState.start(config, config.generator_spec.build(), discriminator, torch.amp.GradScaler("cpu"))


def take_a_step(state: TrainState) -> None:
    """One update of every network, schedule and average, so that every part of the state is non-trivial."""
    state.generator(torch.rand(2, 3, 8, 8)).mean().backward()
    state.optimizer_g.step()
    if state.critic is not None:
        state.critic.network(torch.rand(2, 3, 128, 128)).mean().backward()
        state.critic.optimizer.step()
    for scheduler in state.schedulers:
        scheduler.step()
    if state.ema is not None:
        state.ema.update_parameters(state.generator)
    state.iteration += 1


@pytest.mark.parametrize(("stage", "ema_decay", "keys"), [
    ("psnr", 0.0, PSNR_KEYS),
    ("gan", 0.5, PSNR_KEYS | {"discriminator", "optimizer_d", "ema"}),
])
def test_the_checkpoint_keys_are_those_of_every_earlier_checkpoint(
    tmp_path: Path, stage: str, ema_decay: float, keys: set[str]
) -> None:
    config = tiny_config(tmp_path, tmp_path / "hr", stage, training={"ema_decay": ema_decay})
    state = new_state(config).state_dict()
    assert state.keys() == keys and state["iteration"] == 0 and state["config"] == config_to_dict(config)
    assert len(state["schedulers"]) == (2 if stage == "gan" else 1)


def test_a_state_restores_exactly_what_it_saved(tmp_path: Path) -> None:
    """Weights of G, C and the EMA, both Adams, both schedules, the iteration and the RNG: all of it."""
    config = tiny_config(tmp_path, tmp_path / "hr", "gan", training={"ema_decay": 0.5})
    trained = new_state(config)
    take_a_step(trained)
    saved = trained.state_dict()
    restored = new_state(config, seed=1)
    restored.load_state_dict(saved, tmp_path / "iter_00000001.pt")
    assert restored.iteration == 1
    assert_states_equal(restored.state_dict(), saved)  # the RNG state included


def test_a_checkpoint_of_another_stage_or_ema_setting_is_refused(tmp_path: Path) -> None:
    psnr = new_state(tiny_config(tmp_path, tmp_path / "hr")).state_dict()
    gan = new_state(tiny_config(tmp_path, tmp_path / "hr", "gan", training={"ema_decay": 0.5}))
    source = tmp_path / "iter_00000002.pt"
    expected = f"^{re.escape(str(source))} lacks discriminator, optimizer_d, ema: it was written with a different stage"
    with pytest.raises(CheckpointError, match=expected + " or EMA setting; resume with the config of that run"):
        gan.load_state_dict(psnr, source)


def test_a_checkpoint_of_other_networks_is_refused(tmp_path: Path) -> None:
    narrow = new_state(tiny_config(tmp_path, tmp_path / "hr")).state_dict()
    wide = new_state(tiny_config(tmp_path, tmp_path / "hr", generator={"num_feat": 16}))
    source = tmp_path / "iter_00000002.pt"
    with pytest.raises(CheckpointError, match=f"^{re.escape(str(source))} does not fit the networks of this config: "):
        wide.load_state_dict(narrow, source)
