"""The training state: everything a checkpoint holds so that a resumed run continues exactly.

`TrainState.state_dict()` is the dictionary `esrgan.training.checkpoint.save_training_state` writes:

    iteration, config        where the run is, and the resolved config it was started with
    generator, optimizer_g   G and its Adam moments
    schedulers               the MultiStepLR state of G (and C), in that order
    scaler                   the fp16 loss scale (empty when loss scaling is off)
    rng                      PyTorch's random generators (CPU, and CUDA where present)
    discriminator, optimizer_d   C and its Adam (GAN stage only)
    ema                      the moving average of G's weights (when `training.ema_decay` > 0)

Data order needs no entry: it is a function of (seed, iteration).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.optim.lr_scheduler import LRScheduler, MultiStepLR
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from esrgan.errors import CheckpointError
from esrgan.training.config import TrainConfig, config_to_dict


@dataclass(frozen=True)
class Critic:
    """The GAN stage's discriminator C (unwrapped) and the Adam that trains it: present together or not at all."""

    network: nn.Module
    optimizer: torch.optim.Optimizer


@dataclass
class TrainState:
    config: dict[str, Any]
    """The resolved config (`config_to_dict`), saved so that a resume can refuse settings that changed."""
    generator: nn.Module
    optimizer_g: torch.optim.Optimizer
    schedulers: list[LRScheduler]
    """G's schedule, then (GAN stage) C's."""
    scaler: torch.amp.GradScaler
    critic: Critic | None = None
    """None in the PSNR stage."""
    ema: AveragedModel | None = None
    iteration: int = 0

    @classmethod
    def start(
        cls, config: TrainConfig, generator: nn.Module, discriminator: nn.Module | None, scaler: torch.amp.GradScaler
    ) -> TrainState:
        """Iteration 0: Adam for G (and C), their learning-rate schedules, and the EMA of G when it is on."""
        optim = config.optim
        optimizer_g = torch.optim.Adam(generator.parameters(), optim.lr_g, betas=optim.betas)
        schedulers: list[LRScheduler] = [MultiStepLR(optimizer_g, list(optim.milestones), optim.gamma)]
        critic = None
        if discriminator is not None:
            critic = Critic(discriminator, torch.optim.Adam(discriminator.parameters(), optim.lr_d, betas=optim.betas))
            schedulers.append(MultiStepLR(critic.optimizer, list(optim.milestones), optim.gamma))
        decay = config.training.ema_decay
        ema = (AveragedModel(generator, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
               if decay > 0 else None)
        return cls(config_to_dict(config), generator, optimizer_g, schedulers, scaler, critic, ema)

    @property
    def release(self) -> nn.Module:
        """The generator that validation sees and checkpoints publish: the EMA one when EMA is on."""
        return self.ema.module if self.ema is not None else self.generator

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "iteration": self.iteration,
            "config": self.config,
            "generator": self.generator.state_dict(),
            "optimizer_g": self.optimizer_g.state_dict(),
            "schedulers": [scheduler.state_dict() for scheduler in self.schedulers],
            "scaler": self.scaler.state_dict(),
            "rng": {"torch": torch.get_rng_state()},
        }
        if torch.cuda.is_available():
            state["rng"]["cuda"] = torch.cuda.get_rng_state_all()
        if self.critic is not None:
            state["discriminator"] = self.critic.network.state_dict()
            state["optimizer_d"] = self.critic.optimizer.state_dict()
        if self.ema is not None:
            state["ema"] = self.ema.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any], source: Path) -> None:
        """Continue from `state`, read from the checkpoint `source`; `CheckpointError` when it does not fit."""
        wanted = ["generator", "optimizer_g"] + (["discriminator", "optimizer_d"] if self.critic is not None else [])
        missing = [key for key in wanted + (["ema"] if self.ema is not None else []) if key not in state]
        if missing:
            raise CheckpointError(
                f"{source} lacks {', '.join(missing)}: it was written with a different stage or EMA setting; "
                "resume with the config of that run, or start a new run"
            )
        try:
            self.generator.load_state_dict(state["generator"])
            self.optimizer_g.load_state_dict(state["optimizer_g"])
            if self.critic is not None:
                self.critic.network.load_state_dict(state["discriminator"])
                self.critic.optimizer.load_state_dict(state["optimizer_d"])
            for scheduler, saved in zip(self.schedulers, state["schedulers"], strict=True):
                scheduler.load_state_dict(saved)
            if self.ema is not None:
                self.ema.load_state_dict(state["ema"])
        except (RuntimeError, ValueError, KeyError) as error:
            raise CheckpointError(f"{source} does not fit the networks of this config: {error}") from None
        self.scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["rng"]["torch"])
        if "cuda" in state["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        self.iteration = int(state["iteration"])
