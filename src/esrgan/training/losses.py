"""The losses of ESRGAN (paper Sec. 3.2-3.4): relativistic average GAN, perceptual and L1 content loss; and
SRGAN's standard GAN, the baseline the paper's ablation replaces (`gan_type="standard"`).

Notation of the paper: C(x) is the discriminator's raw logit, E_{x_f}[·] the average over the fake (SR)
images of a mini-batch, E_{x_r}[·] the average over the real (HR) ones, and

    D_Ra(x_r, x_f) = σ(C(x_r) − E_{x_f}[C(x_f)])                                           (paper, Sec. 3.2)
    L_D^Ra = −E_{x_r}[log D_Ra(x_r, x_f)] − E_{x_f}[log(1 − D_Ra(x_f, x_r))]                        (eq. 1)
    L_G^Ra = −E_{x_r}[log(1 − D_Ra(x_r, x_f))] − E_{x_f}[log D_Ra(x_f, x_r)]                       (eq. 2)
    L_G = L_percep + λ·L_G^Ra + η·L_1,   λ = 5e-3, η = 1e-2                                       (eq. 3)

The standard GAN of SRGAN, with D(x) = σ(C(x)):

    L_D = −E_{x_r}[log D(x_r)] − E_{x_f}[log(1 − D(x_f))]
    L_G = −E_{x_f}[log D(x_f)]                  (the non-saturating generator loss SRGAN trains with)

Every log σ is computed from logits with `binary_cross_entropy_with_logits` (−log σ(z) = softplus(−z)),
which stays finite for logits of any size.

Sum or average of the two RaGAN terms: the paper writes a sum, and this module computes the sum. The
authors' released training code and BasicSR multiply the sum by 0.5 (for both L_D^Ra and L_G^Ra), which
halves the effective λ of eq. 3; pass `average_terms=True` to reproduce that behaviour exactly. For the
standard GAN the same switch halves L_D, its one two-term sum.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from esrgan.archs.vgg import VGG19, VGGFeatureExtractor

PAPER_ADVERSARIAL_WEIGHT = 5e-3
"""λ of eq. (3)."""

PAPER_CONTENT_WEIGHT = 1e-2
"""η of eq. (3)."""

GanType = Literal["relativistic_average", "standard"]
"""The adversarial game: ESRGAN's relativistic average GAN (eq. 1-2) or SRGAN's standard GAN."""

Criterion = Literal["l1", "mse"]
"""The distance between VGG features in L_percep."""


def _neg_log_sigmoid(logits: torch.Tensor) -> torch.Tensor:
    """−E[log σ(z)], stably."""
    return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))


def _neg_log_one_minus_sigmoid(logits: torch.Tensor) -> torch.Tensor:
    """−E[log(1 − σ(z))], stably."""
    return F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits))


def _check_logits(real_logits: torch.Tensor | None, fake_logits: torch.Tensor) -> None:
    for name, logits in (("real_logits", real_logits), ("fake_logits", fake_logits)):
        if logits is not None and (not logits.is_floating_point() or logits.numel() == 0):
            raise ValueError(
                f"{name} must be a non-empty floating-point tensor, got {logits.dtype} {tuple(logits.shape)}"
            )


def relativistic_average_discriminator_loss(
    real_logits: torch.Tensor,
    fake_logits: torch.Tensor,
    *,
    detach_expectations: bool = False,
    average_terms: bool = False,
) -> torch.Tensor:
    """L_D^Ra of eq. (1) from the logits C(x_r) of HR images and C(x_f) of SR images.

    E[·] is the mean over every element of the other tensor (the mini-batch, and the patches if C is a
    patch discriminator). The caller computes `fake_logits` from a detached SR batch, `C(G(x).detach())`, so
    that this loss trains only the discriminator.

    What is differentiated: by default everything, so the gradient is the exact gradient of eq. (1),
    including the paths through E_{x_f}[C(x_f)] in the first term and E_{x_r}[C(x_r)] in the second (the
    authors' released code does this). `detach_expectations=True` treats both averages as constants, as
    BasicSR's ESRGANModel does (it back-propagates the real and the fake term separately to save memory);
    the loss value is the same, only the gradient differs.

    `average_terms=True` returns half the sum, as the authors' code and BasicSR do; the paper sums.
    """
    _check_logits(real_logits, fake_logits)
    fake_mean = fake_logits.mean()
    real_mean = real_logits.mean()
    if detach_expectations:
        fake_mean, real_mean = fake_mean.detach(), real_mean.detach()
    loss = _neg_log_sigmoid(real_logits - fake_mean) + _neg_log_one_minus_sigmoid(fake_logits - real_mean)
    return 0.5 * loss if average_terms else loss


def relativistic_average_generator_loss(
    real_logits: torch.Tensor, fake_logits: torch.Tensor, *, average_terms: bool = False
) -> torch.Tensor:
    """L_G^Ra of eq. (2): the discriminator's loss with the labels swapped.

    What is differentiated: `fake_logits` = C(G(x)), through both terms. The first term reaches them
    through E_{x_f}[C(x_f)]; this is the paper's point that the generator "benefits from the gradients of
    both generated and real data". `real_logits` are detached here: C(x_r) does not depend on the generator,
    and detaching keeps the generator step from leaving gradients in the discriminator's parameters.

    `average_terms=True` returns half the sum, as the authors' code and BasicSR do; the paper sums.
    """
    _check_logits(real_logits, fake_logits)
    real_logits = real_logits.detach()
    loss = _neg_log_one_minus_sigmoid(real_logits - fake_logits.mean()) + _neg_log_sigmoid(
        fake_logits - real_logits.mean()
    )
    return 0.5 * loss if average_terms else loss


def standard_discriminator_loss(
    real_logits: torch.Tensor, fake_logits: torch.Tensor, *, average_terms: bool = False
) -> torch.Tensor:
    """SRGAN's L_D = −E[log D(x_r)] − E[log(1 − D(x_f))], D(x) = σ(C(x)): each image judged on its own, where
    the relativistic discriminator judges it against the average of the other kind.

    `fake_logits` come from a detached SR batch, as for `relativistic_average_discriminator_loss`.
    `average_terms=True` returns half the sum.
    """
    _check_logits(real_logits, fake_logits)
    loss = _neg_log_sigmoid(real_logits) + _neg_log_one_minus_sigmoid(fake_logits)
    return 0.5 * loss if average_terms else loss


def standard_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """SRGAN's L_G = −E[log D(x_f)]: only the generated images, so the real ones give G no gradient."""
    _check_logits(None, fake_logits)
    return _neg_log_sigmoid(fake_logits)


def discriminator_loss(
    gan_type: GanType, real_logits: torch.Tensor, fake_logits: torch.Tensor, *, average_terms: bool = False
) -> torch.Tensor:
    """L_D of the chosen game: L_D^Ra (eq. 1) or SRGAN's standard L_D."""
    if gan_type == "standard":
        return standard_discriminator_loss(real_logits, fake_logits, average_terms=average_terms)
    return relativistic_average_discriminator_loss(real_logits, fake_logits, average_terms=average_terms)


def adversarial_generator_loss(
    gan_type: GanType, real_logits: torch.Tensor | None, fake_logits: torch.Tensor, *, average_terms: bool = False
) -> torch.Tensor:
    """G's adversarial term of the chosen game: L_G^Ra (eq. 2), which needs C(x_r), or SRGAN's standard L_G,
    which ignores `real_logits` (pass None: the caller then need not run C on the HR batch)."""
    if gan_type == "standard":
        return standard_generator_loss(fake_logits)
    if real_logits is None:
        raise ValueError("the relativistic average generator loss needs the logits of the real images")
    return relativistic_average_generator_loss(real_logits, fake_logits, average_terms=average_terms)


def _check_same_shape(sr: torch.Tensor, hr: torch.Tensor) -> None:
    if sr.shape != hr.shape:
        raise ValueError(f"SR and HR batches must have the same shape, got {tuple(sr.shape)} and {tuple(hr.shape)}")


def l1_content_loss(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """L_1 = E_{x_i} ||G(x_i) − y||_1, as the mean absolute difference per pixel and channel.

    The only loss of the PSNR-oriented stage, and the η-weighted content term of eq. (3).
    """
    _check_same_shape(sr, hr)
    return F.l1_loss(sr, hr)


class PerceptualLoss(nn.Module):
    """L_percep: distance between VGG19 features of SR and HR, before activation (paper Sec. 3.3).

    L_percep = Σ_k w_k · mean |φ_k(SR) − φ_k(HR)| over the chosen layers k (default conv5_4 with weight 1),
    with the L1 distance by default, as the authors' code uses, or the squared distance with
    `criterion="mse"`. A `reluB_I` layer takes the features after the activation instead, as SRGAN does
    (relu5_4, its "VGG54"). `vgg` should carry pre-trained weights (see `esrgan.weights.vgg.load_vgg19_weights`);
    it is frozen by this loss. The HR features are computed without a graph: they are a fixed target.
    """

    def __init__(
        self,
        vgg: VGG19,
        layer_weights: Mapping[str, float] | None = None,
        *,
        criterion: Criterion = "l1",
    ) -> None:
        super().__init__()
        weights = dict(layer_weights) if layer_weights is not None else {"conv5_4": 1.0}
        if criterion not in ("l1", "mse"):
            raise ValueError(f"perceptual criterion must be 'l1' or 'mse', not {criterion!r}")
        self.layer_weights = weights
        self.criterion = criterion
        self.extractor = VGGFeatureExtractor(vgg, list(weights))

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        """Weighted feature distance; differentiable with respect to `sr` only."""
        _check_same_shape(sr, hr)
        distance = F.l1_loss if self.criterion == "l1" else F.mse_loss
        sr_features = self.extractor(sr)
        with torch.no_grad():
            hr_features = self.extractor(hr)
        return sum(  # type: ignore[return-value]
            weight * distance(sr_features[name], hr_features[name]) for name, weight in self.layer_weights.items()
        )


@dataclass(frozen=True)
class GeneratorLossWeights:
    """Weights of eq. (3): L_G = perceptual·L_percep + adversarial·L_G^Ra + content·L_1."""

    perceptual: float = 1.0
    adversarial: float = PAPER_ADVERSARIAL_WEIGHT
    content: float = PAPER_CONTENT_WEIGHT


@dataclass(frozen=True)
class GeneratorLoss:
    """L_G of eq. (3) and its three unweighted terms; `total` is the one to back-propagate."""

    total: torch.Tensor
    perceptual: torch.Tensor
    adversarial: torch.Tensor
    content: torch.Tensor

    def as_floats(self) -> dict[str, float]:
        """Plain numbers for logging (this synchronises with the device)."""
        return {
            "total": self.total.item(),
            "perceptual": self.perceptual.item(),
            "adversarial": self.adversarial.item(),
            "content": self.content.item(),
        }


def generator_loss(
    sr: torch.Tensor,
    hr: torch.Tensor,
    real_logits: torch.Tensor | None,
    fake_logits: torch.Tensor,
    perceptual_loss: PerceptualLoss,
    weights: GeneratorLossWeights = GeneratorLossWeights(),
    *,
    gan_type: GanType = "relativistic_average",
    average_gan_terms: bool = False,
) -> GeneratorLoss:
    """L_G = L_percep + λ·L_G^Ra + η·L_1 (eq. 3) for one mini-batch (SRGAN's L_G in place of L_G^Ra with
    `gan_type="standard"`).

    `sr` = G(x_i) with its graph, `hr` = y; `fake_logits` = C(sr) with its graph and `real_logits` = C(hr)
    (detached inside, see `relativistic_average_generator_loss`; None for the standard GAN). Gradients reach
    `sr` through all three terms and never reach the VGG.
    """
    perceptual = perceptual_loss(sr, hr)
    adversarial = adversarial_generator_loss(gan_type, real_logits, fake_logits, average_terms=average_gan_terms)
    content = l1_content_loss(sr, hr)
    total = weights.perceptual * perceptual + weights.adversarial * adversarial + weights.content * content
    return GeneratorLoss(total=total, perceptual=perceptual, adversarial=adversarial, content=content)
