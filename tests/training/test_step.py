"""`train_step`: the PSNR stage minimises η·L_1 alone, the GAN stage logs the terms of eq. (1)-(3), a warm-up
step leaves G alone, and mixed precision enters a fresh autocast for each of its `with` blocks."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from functools import partial

import torch

from esrgan.archs.discriminator import VGGStyleDiscriminator
from esrgan.archs.vgg import VGG19
from esrgan.hardware import autocast
from esrgan.training.losses import GanType, GeneratorLossWeights, PerceptualLoss, standard_discriminator_loss
from esrgan.training.step import GanParts, StepParts, train_step
from tests.conftest import tiny_rrdbnet


def psnr_parts(pixel_weight: float = 0.5) -> StepParts:
    generator = tiny_rrdbnet()
    return StepParts(generator, torch.optim.Adam(generator.parameters(), 1e-3), torch.amp.GradScaler("cpu",
                     enabled=False), pixel_weight)


def gan_parts(gan_type: GanType = "relativistic_average") -> StepParts:
    parts = psnr_parts()
    torch.manual_seed(1)
    critic = VGGStyleDiscriminator(3, 4, 128)
    perceptual = PerceptualLoss(VGG19(), {"conv1_2": 1.0})
    gan = GanParts(critic, critic, torch.optim.Adam(critic.parameters(), 1e-3), GeneratorLossWeights(),
                   perceptual, average_gan_terms=False, gan_type=gan_type)
    return StepParts(parts.generator, parts.optimizer, parts.scaler, parts.pixel_weight, gan)


def batch(size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(2)
    return torch.rand(2, 3, size // 4, size // 4), torch.rand(2, 3, size, size)


def test_the_psnr_step_logs_and_minimises_eta_l1_alone() -> None:
    parts = psnr_parts(pixel_weight=0.5)
    lr, hr = batch()
    with torch.no_grad():
        expected = 0.5 * (parts.generator(lr) - hr).abs().mean()
    before = copy.deepcopy(parts.generator.state_dict())
    logs = train_step(lr, hr, parts, contextlib.nullcontext)
    assert logs.keys() == {"l_g_pix"} and torch.equal(logs["l_g_pix"], expected)
    assert any(not torch.equal(value, before[key]) for key, value in parts.generator.state_dict().items())


def test_fp32_autocast_is_no_autocast_at_all() -> None:
    """`esrgan.hardware.autocast` at fp32 gives the very step without any autocast context: the same bits."""
    results = []
    for context in (contextlib.nullcontext, partial(autocast, torch.device("cpu"), torch.float32)):
        parts = psnr_parts()
        logs = train_step(*batch(), parts, context)
        results.append((logs["l_g_pix"], parts.generator.state_dict()))
    (loss_a, weights_a), (loss_b, weights_b) = results
    assert torch.equal(loss_a, loss_b)
    assert all(torch.equal(weights_a[key], weights_b[key]) for key in weights_a)


def test_a_gan_step_logs_every_term_of_eq_1_to_3_and_enters_a_fresh_autocast_for_g_and_for_c() -> None:
    """The mixed-precision context is made anew for each block (a generator-based context manager, such as
    `esrgan.hardware.autocast`, cannot be entered twice)."""
    entered = []

    @contextlib.contextmanager
    def counted() -> Iterator[None]:
        entered.append(True)
        with autocast(torch.device("cpu"), torch.float32):
            yield

    logs = train_step(*batch(128), gan_parts(), counted)
    assert len(entered) == 2
    assert logs.keys() == {"l_g_total", "l_g_percep", "l_g_gan", "l_g_pix", "l_d", "out_d_real", "out_d_fake"}
    assert all(torch.isfinite(value) and value.dtype == torch.float32 for value in logs.values())


def test_a_warm_up_step_updates_the_discriminator_only() -> None:
    parts = gan_parts()
    assert parts.gan is not None
    generator, critic = copy.deepcopy(parts.generator.state_dict()), copy.deepcopy(parts.gan.critic.state_dict())
    logs = train_step(*batch(128), parts, contextlib.nullcontext, update_generator=False)
    assert logs.keys() == {"l_d", "out_d_real", "out_d_fake"}
    assert all(torch.equal(value, generator[key]) for key, value in parts.generator.state_dict().items())
    assert any(not torch.equal(value, critic[key]) for key, value in parts.gan.critic.state_dict().items())


def test_a_standard_gan_step_updates_d_with_srgans_loss_and_spares_g_a_pass_of_c_over_hr() -> None:
    """L_G of the standard GAN reads only C(G(x)): C runs once in G's update (on SR) and twice in D's (HR, SR),
    where RaGAN runs it on HR and SR in both; L_D is SRGAN's, on the pre-update generator's output."""
    calls: dict[str, int] = {}
    for gan_type in ("relativistic_average", "standard"):
        parts = gan_parts(gan_type)
        assert parts.gan is not None
        lr, hr = batch(128)
        generator, critic = copy.deepcopy(parts.generator), copy.deepcopy(parts.gan.critic)
        calls[gan_type] = 0

        def count(*_: object, gan_type: str = gan_type) -> None:
            calls[gan_type] += 1

        parts.gan.critic.register_forward_hook(count)
        logs = train_step(lr, hr, parts, contextlib.nullcontext)
        if gan_type == "standard":
            with torch.no_grad():
                expected = standard_discriminator_loss(critic(hr), critic(generator(lr)))
            assert torch.allclose(logs["l_d"], expected)
    assert calls == {"relativistic_average": 4, "standard": 3}
