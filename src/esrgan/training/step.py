"""One training iteration of ESRGAN: a generator update, then (GAN stage) a discriminator update.

    PSNR stage (Sec. 4.1):  L = η·L_1                                   G update only
    GAN stage:              L_G = L_percep + λ·L_G^Ra + η·L_1   (eq. 2, 3)   G update
                            L_D^Ra                                (eq. 1)      D update

Everything the step needs arrives as arguments; the loop owns scheduling, EMA, logging and checkpoints.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass

import torch
from torch import nn

from esrgan.training.losses import (
    GeneratorLossWeights,
    PerceptualLoss,
    generator_loss,
    l1_content_loss,
    relativistic_average_discriminator_loss,
)


@dataclass
class Networks:
    generator: nn.Module
    """G, wrapped in DistributedDataParallel in a distributed run."""
    discriminator: nn.Module | None = None
    """C for the D update (wrapped like G); None in the PSNR stage."""
    critic: nn.Module | None = None
    """The same C unwrapped, frozen during the G update: it passes gradients to G and syncs nothing itself."""


@dataclass
class Objective:
    pixel_weight: float
    """η of eq. (3); the weight of the only loss, L_1, in the PSNR stage."""
    gan_weights: GeneratorLossWeights | None = None
    perceptual: PerceptualLoss | None = None
    average_gan_terms: bool = False


@dataclass
class Optimizers:
    generator: torch.optim.Optimizer
    discriminator: torch.optim.Optimizer | None
    scaler: torch.amp.GradScaler
    """Loss scaling for fp16; a pass-through otherwise."""


def train_step(
    lr: torch.Tensor,
    hr: torch.Tensor,
    nets: Networks,
    objective: Objective,
    optim: Optimizers,
    autocast: AbstractContextManager,
    *,
    update_generator: bool = True,
) -> dict[str, torch.Tensor]:
    """Update G (and D) once on the batch (x = lr, y = hr); return the detached loss terms for logging.

    `update_generator=False` updates only D, on G's current output: the discriminator warm-up.
    """
    scaler = optim.scaler
    logs: dict[str, torch.Tensor] = {}

    # Generator update.
    if not update_generator:
        with torch.no_grad(), autocast:
            sr = nets.generator(lr)
    else:
        with autocast:
            sr = nets.generator(lr)
            if nets.discriminator is None:
                loss_g = objective.pixel_weight * l1_content_loss(sr, hr)
                logs = {"l_g_pix": loss_g}
            else:
                nets.critic.requires_grad_(False)
                terms = generator_loss(  # L_percep + λ·L_G^Ra + η·L_1
                    sr, hr, real_logits=nets.critic(hr), fake_logits=nets.critic(sr),
                    perceptual_loss=objective.perceptual, weights=objective.gan_weights,
                    average_gan_terms=objective.average_gan_terms,
                )
                loss_g = terms.total
                logs = {"l_g_total": loss_g, "l_g_percep": terms.perceptual, "l_g_gan": terms.adversarial,
                        "l_g_pix": terms.content}
        optim.generator.zero_grad(set_to_none=True)
        scaler.scale(loss_g).backward()
        scaler.step(optim.generator)

    # Discriminator update: L_D^Ra on real HR and the generator's detached output.
    if nets.discriminator is not None:
        nets.critic.requires_grad_(True)
        with autocast:
            real_logits, fake_logits = nets.discriminator(hr), nets.discriminator(sr.detach())
            loss_d = relativistic_average_discriminator_loss(
                real_logits, fake_logits, average_terms=objective.average_gan_terms
            )
        optim.discriminator.zero_grad(set_to_none=True)
        scaler.scale(loss_d).backward()
        scaler.step(optim.discriminator)
        logs |= {"l_d": loss_d, "out_d_real": real_logits.mean(), "out_d_fake": fake_logits.mean()}

    scaler.update()
    return {name: value.detach().float() for name, value in logs.items()}
