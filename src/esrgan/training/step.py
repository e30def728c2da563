"""One training iteration of ESRGAN: a generator update, then (GAN stage) a discriminator update.

    PSNR stage (Sec. 4.1):  L = η·L_1                                   G update only
    GAN stage:              L_G = L_percep + λ·L_G^Ra + η·L_1   (eq. 2, 3)   G update
                            L_D^Ra                                (eq. 1)      D update

With `gan_type="standard"` (SRGAN, the ablation's baseline) SRGAN's L_G and L_D take the place of L_G^Ra
and L_D^Ra; then G's update does not run C on the HR batch, which its loss does not read.

Everything the step needs arrives as arguments; the loop owns scheduling, EMA, logging and checkpoints. What
only the GAN stage has is one `GanParts`, present or absent as a whole.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

import torch
from torch import nn

from esrgan.training.losses import (
    GanType,
    GeneratorLossWeights,
    PerceptualLoss,
    discriminator_loss,
    generator_loss,
    l1_content_loss,
)

Autocast = Callable[[], AbstractContextManager[None]]
"""A fresh mixed-precision context for each `with` (see `esrgan.hardware.autocast`)."""


@dataclass(frozen=True)
class GanParts:
    """The GAN stage's additions to the step: C, its optimiser, and the terms of eq. (3) beyond L_1."""

    discriminator: nn.Module
    """C for the D update, wrapped in DistributedDataParallel in a distributed run."""
    critic: nn.Module
    """The same C unwrapped, frozen during the G update: it passes gradients to G and syncs nothing itself."""
    optimizer: torch.optim.Optimizer
    """C's optimiser."""
    weights: GeneratorLossWeights
    """The weights of eq. (3); `weights.content` is η."""
    perceptual: PerceptualLoss
    average_gan_terms: bool
    """Halve L_D^Ra and L_G^Ra as the authors' code does (see `esrgan.training.losses`)."""
    gan_type: GanType = "relativistic_average"
    """The game: ESRGAN's relativistic average GAN, or SRGAN's standard one."""


@dataclass(frozen=True)
class StepParts:
    """What one step updates and with what: G and its optimiser, the loss scaler, and the GAN stage's parts."""

    generator: nn.Module
    """G, wrapped in DistributedDataParallel in a distributed run."""
    optimizer: torch.optim.Optimizer
    """G's optimiser."""
    scaler: torch.amp.GradScaler
    """Loss scaling for fp16; a pass-through otherwise."""
    pixel_weight: float
    """η, the weight of L_1, the only loss of the PSNR stage."""
    gan: GanParts | None = None
    """None in the PSNR stage."""


def train_step(
    lr: torch.Tensor,
    hr: torch.Tensor,
    parts: StepParts,
    autocast: Autocast,
    *,
    update_generator: bool = True,
) -> dict[str, torch.Tensor]:
    """Update G (and D) once on the batch (x = lr, y = hr); return the detached loss terms for logging.

    `update_generator=False` updates only D, on G's current output: the discriminator warm-up.
    """
    scaler, gan = parts.scaler, parts.gan
    logs: dict[str, torch.Tensor] = {}

    # Generator update.
    if not update_generator:
        with torch.no_grad(), autocast():
            sr = parts.generator(lr)
    else:
        with autocast():
            sr = parts.generator(lr)
            if gan is None:
                loss_g = parts.pixel_weight * l1_content_loss(sr, hr)
                logs = {"l_g_pix": loss_g}
            else:
                gan.critic.requires_grad_(False)
                hr_logits = gan.critic(hr) if gan.gan_type == "relativistic_average" else None
                terms = generator_loss(  # L_percep + λ·L_G^Ra + η·L_1
                    sr, hr, real_logits=hr_logits, fake_logits=gan.critic(sr), perceptual_loss=gan.perceptual,
                    weights=gan.weights, gan_type=gan.gan_type, average_gan_terms=gan.average_gan_terms,
                )
                loss_g = terms.total
                logs = {"l_g_total": loss_g, "l_g_percep": terms.perceptual, "l_g_gan": terms.adversarial,
                        "l_g_pix": terms.content}
        parts.optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss_g).backward()
        scaler.step(parts.optimizer)

    # Discriminator update: L_D^Ra (or SRGAN's L_D) on real HR and the generator's detached output.
    if gan is not None:
        gan.critic.requires_grad_(True)
        with autocast():
            real_logits, fake_logits = gan.discriminator(hr), gan.discriminator(sr.detach())
            loss_d = discriminator_loss(gan.gan_type, real_logits, fake_logits, average_terms=gan.average_gan_terms)
        gan.optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss_d).backward()
        scaler.step(gan.optimizer)
        logs |= {"l_d": loss_d, "out_d_real": real_logits.mean(), "out_d_fake": fake_logits.mean()}

    scaler.update()
    return {name: value.detach().float() for name, value in logs.items()}
