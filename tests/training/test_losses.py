import math

import pytest
import torch
from torch.nn import functional as F

from esrgan.archs.discriminator import VGGStyleDiscriminator
from esrgan.archs.vgg import VGG19, VGGFeatureExtractor
from esrgan.training.losses import (
    GeneratorLossWeights,
    PerceptualLoss,
    adversarial_generator_loss,
    discriminator_loss,
    generator_loss,
    l1_content_loss,
    relativistic_average_discriminator_loss,
    relativistic_average_generator_loss,
    standard_discriminator_loss,
    standard_generator_loss,
)

REAL = [1.0, -0.5, 2.0]
FAKE = [0.3, -1.2]


@pytest.fixture(autouse=True)
def _one_thread(one_thread: None) -> None:
    """Every test here runs on one intra-op thread (see `one_thread`)."""


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def hand_discriminator_loss(real: list[float], fake: list[float]) -> float:
    """Eq. (1), term by term with explicit sigmoid and log."""
    d_real = [sigmoid(r - mean(fake)) for r in real]
    d_fake = [sigmoid(f - mean(real)) for f in fake]
    return -mean([math.log(d) for d in d_real]) - mean([math.log(1 - d) for d in d_fake])


def hand_generator_loss(real: list[float], fake: list[float]) -> float:
    """Eq. (2), term by term with explicit sigmoid and log."""
    d_real = [sigmoid(r - mean(fake)) for r in real]
    d_fake = [sigmoid(f - mean(real)) for f in fake]
    return -mean([math.log(1 - d) for d in d_real]) - mean([math.log(d) for d in d_fake])


def explicit_torch_discriminator_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return -torch.log(torch.sigmoid(real - fake.mean())).mean() - torch.log(
        1 - torch.sigmoid(fake - real.mean())
    ).mean()


def explicit_torch_generator_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return -torch.log(1 - torch.sigmoid(real - fake.mean())).mean() - torch.log(
        torch.sigmoid(fake - real.mean())
    ).mean()


def logits(values: list[float], requires_grad: bool = False) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64).view(-1, 1).requires_grad_(requires_grad)


@pytest.fixture(scope="module")
def vgg() -> VGG19:
    torch.manual_seed(0)
    return VGG19()


def test_discriminator_loss_equals_eq_1_by_hand() -> None:
    got = relativistic_average_discriminator_loss(logits(REAL), logits(FAKE))
    assert got.item() == pytest.approx(hand_discriminator_loss(REAL, FAKE), rel=1e-12)


def test_generator_loss_equals_eq_2_by_hand() -> None:
    got = relativistic_average_generator_loss(logits(REAL), logits(FAKE))
    assert got.item() == pytest.approx(hand_generator_loss(REAL, FAKE), rel=1e-12)


def test_generator_loss_is_the_discriminator_loss_with_roles_swapped() -> None:
    real, fake = torch.randn(5, 1, dtype=torch.float64), torch.randn(4, 1, dtype=torch.float64)
    assert torch.allclose(
        relativistic_average_generator_loss(real, fake), relativistic_average_discriminator_loss(fake, real)
    )


def test_average_terms_halves_the_paper_sum() -> None:
    real, fake = logits(REAL), logits(FAKE)
    for loss in (relativistic_average_discriminator_loss, relativistic_average_generator_loss):
        assert loss(real, fake, average_terms=True).item() == pytest.approx(0.5 * loss(real, fake).item())


def test_losses_stay_finite_for_huge_logits() -> None:
    real = torch.tensor([[1e4], [-1e4]])
    fake = torch.tensor([[-1e4], [3e4]])
    for loss in (relativistic_average_discriminator_loss, relativistic_average_generator_loss):
        value = loss(real, fake)
        assert torch.isfinite(value) and value > 0


def test_confident_correct_discriminator_has_near_zero_loss() -> None:
    real, fake = torch.full((4, 1), 20.0), torch.full((4, 1), -20.0)
    assert relativistic_average_discriminator_loss(real, fake) < 1e-8
    assert relativistic_average_generator_loss(real, fake) > 70


def test_discriminator_gradient_is_the_exact_gradient_of_eq_1() -> None:
    real, fake = logits(REAL, True), logits(FAKE, True)
    relativistic_average_discriminator_loss(real, fake).backward()
    ref_real, ref_fake = logits(REAL, True), logits(FAKE, True)
    explicit_torch_discriminator_loss(ref_real, ref_fake).backward()
    assert torch.allclose(real.grad, ref_real.grad) and torch.allclose(fake.grad, ref_fake.grad)


def test_detached_expectations_drop_exactly_the_paths_through_the_means() -> None:
    real, fake = logits(REAL, True), logits(FAKE, True)
    value = relativistic_average_discriminator_loss(real, fake, detach_expectations=True)
    value.backward()
    assert value.item() == pytest.approx(hand_discriminator_loss(REAL, FAKE), rel=1e-12)
    # With E[·] constant: d/dr_i softplus(-(r_i - m_f))/n_r = -(1 - σ(r_i - m_f))/n_r, and
    # d/df_j softplus(f_j - m_r)/n_f = σ(f_j - m_r)/n_f.
    expected_real = [-(1 - sigmoid(r - mean(FAKE))) / len(REAL) for r in REAL]
    expected_fake = [sigmoid(f - mean(REAL)) / len(FAKE) for f in FAKE]
    assert real.grad.flatten().tolist() == pytest.approx(expected_real, rel=1e-12)
    assert fake.grad.flatten().tolist() == pytest.approx(expected_fake, rel=1e-12)


def test_generator_loss_differentiates_fake_logits_only() -> None:
    real, fake = logits(REAL, True), logits(FAKE, True)
    relativistic_average_generator_loss(real, fake).backward()
    assert real.grad is None
    ref_fake = logits(FAKE, True)
    explicit_torch_generator_loss(logits(REAL), ref_fake).backward()
    # Includes the path through E_{x_f}[C(x_f)] in the first term, which a per-term detach would lose.
    assert torch.allclose(fake.grad, ref_fake.grad)


def test_non_float_or_empty_logits_are_refused() -> None:
    with pytest.raises(ValueError, match="real_logits"):
        relativistic_average_discriminator_loss(torch.tensor([[1]]), torch.tensor([[0.5]]))
    with pytest.raises(ValueError, match="fake_logits"):
        relativistic_average_generator_loss(torch.ones(2, 1), torch.ones(0, 1))


def test_discriminator_step_trains_only_the_discriminator() -> None:
    torch.manual_seed(0)
    net_d = VGGStyleDiscriminator(num_feat=4)
    sr = torch.rand(2, 3, 128, 128, requires_grad=True)
    hr = torch.rand(2, 3, 128, 128)
    loss = relativistic_average_discriminator_loss(net_d(hr), net_d(sr.detach()))
    loss.backward()
    assert sr.grad is None
    assert net_d.conv0_0.weight.grad is not None and net_d.conv0_0.weight.grad.abs().sum() > 0


def test_l1_content_loss_is_the_mean_absolute_difference() -> None:
    sr, hr = torch.rand(2, 3, 4, 4), torch.rand(2, 3, 4, 4)
    assert torch.allclose(l1_content_loss(sr, hr), (sr - hr).abs().mean())
    with pytest.raises(ValueError, match="same shape"):
        l1_content_loss(sr, hr[:, :, :2])


def test_perceptual_loss_is_l1_between_conv5_4_features_by_default(vgg: VGG19) -> None:
    sr, hr = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    loss = PerceptualLoss(vgg)
    extractor = VGGFeatureExtractor(vgg, ["conv5_4"])
    expected = (extractor(sr)["conv5_4"] - extractor(hr)["conv5_4"]).abs().mean()
    assert torch.allclose(loss(sr, hr), expected)
    assert loss(hr, hr).item() == 0.0


def test_perceptual_loss_weights_layers_and_supports_mse(vgg: VGG19) -> None:
    sr, hr = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    extractor = VGGFeatureExtractor(vgg, ["conv3_4", "conv5_4"])
    f_sr, f_hr = extractor(sr), extractor(hr)
    loss = PerceptualLoss(vgg, {"conv3_4": 0.5, "conv5_4": 2.0}, criterion="mse")
    expected = 0.5 * F.mse_loss(f_sr["conv3_4"], f_hr["conv3_4"]) + 2.0 * F.mse_loss(f_sr["conv5_4"], f_hr["conv5_4"])
    assert torch.allclose(loss(sr, hr), expected)


def test_perceptual_loss_refuses_bad_settings(vgg: VGG19) -> None:
    with pytest.raises(ValueError, match="criterion"):
        PerceptualLoss(vgg, criterion="l2")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown VGG19 layers"):
        PerceptualLoss(vgg, {"conv6_1": 1.0})


def test_default_weights_are_those_of_eq_3() -> None:
    weights = GeneratorLossWeights()
    assert (weights.perceptual, weights.adversarial, weights.content) == (1.0, 5e-3, 1e-2)


def critic(images: torch.Tensor) -> torch.Tensor:
    """A differentiable stand-in for C(x) on small images (the real one needs 128×128 patches)."""
    return images.mean(dim=(1, 2, 3)).view(-1, 1) * 10 - 5 + images[:, :1, :2, :2].flatten(1).sum(1, keepdim=True)


def test_generator_loss_total_is_the_weighted_sum_of_its_terms(vgg: VGG19) -> None:
    torch.manual_seed(1)
    sr, hr = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    weights = GeneratorLossWeights(perceptual=0.7, adversarial=0.3, content=0.2)
    terms = generator_loss(sr, hr, critic(hr), critic(sr), PerceptualLoss(vgg), weights)
    assert torch.allclose(terms.total, 0.7 * terms.perceptual + 0.3 * terms.adversarial + 0.2 * terms.content)
    assert torch.allclose(terms.adversarial, relativistic_average_generator_loss(critic(hr), critic(sr)))
    assert torch.allclose(terms.content, (sr - hr).abs().mean())
    assert set(terms.as_floats()) == {"total", "perceptual", "adversarial", "content"}


def test_gradients_reach_the_generator_output_through_every_term_and_never_the_vgg(vgg: VGG19) -> None:
    torch.manual_seed(2)
    hr = torch.rand(2, 3, 16, 16)
    perceptual = PerceptualLoss(vgg)
    for term in ("perceptual", "adversarial", "content", "total"):
        sr = torch.rand(2, 3, 16, 16, requires_grad=True)
        terms = generator_loss(sr, hr, critic(hr), critic(sr), perceptual)
        getattr(terms, term).backward()
        assert sr.grad is not None and sr.grad.abs().sum() > 0, term
    assert all(p.grad is None and not p.requires_grad for p in vgg.features.parameters())


# --- SRGAN's standard GAN, the ablation's baseline ------------------------------------------------------------


def test_standard_discriminator_loss_equals_srgans_by_hand() -> None:
    """L_D = −E[log D(x_r)] − E[log(1 − D(x_f))] with D = σ(C): each logit on its own, no batch means inside."""
    expected = -mean([math.log(sigmoid(r)) for r in REAL]) - mean([math.log(1 - sigmoid(f)) for f in FAKE])
    assert standard_discriminator_loss(logits(REAL), logits(FAKE)).item() == pytest.approx(expected, rel=1e-12)
    halved = standard_discriminator_loss(logits(REAL), logits(FAKE), average_terms=True)
    assert halved.item() == pytest.approx(expected / 2, rel=1e-12)


def test_standard_generator_loss_equals_srgans_by_hand_and_ignores_the_real_images() -> None:
    """L_G = −E[log D(x_f)], with gradient −(1 − σ(f_j)) / n on each fake logit and none on the real ones."""
    fake = logits(FAKE, True)
    value = standard_generator_loss(fake)
    assert value.item() == pytest.approx(-mean([math.log(sigmoid(f)) for f in FAKE]), rel=1e-12)
    value.backward()
    assert fake.grad.flatten().tolist() == pytest.approx([-(1 - sigmoid(f)) / len(FAKE) for f in FAKE], rel=1e-12)
    real = logits(REAL, True)
    assert torch.equal(adversarial_generator_loss("standard", real, logits(FAKE)), standard_generator_loss(
        logits(FAKE)))
    assert adversarial_generator_loss("standard", None, logits(FAKE)).item() == pytest.approx(value.item())


def test_the_gan_type_chooses_the_pair_of_losses() -> None:
    real, fake = logits(REAL), logits(FAKE)
    assert torch.equal(discriminator_loss("relativistic_average", real, fake, average_terms=True),
                       relativistic_average_discriminator_loss(real, fake, average_terms=True))
    assert torch.equal(discriminator_loss("standard", real, fake), standard_discriminator_loss(real, fake))
    assert torch.equal(adversarial_generator_loss("relativistic_average", real, fake),
                       relativistic_average_generator_loss(real, fake))
    with pytest.raises(ValueError, match="needs the logits of the real images"):
        adversarial_generator_loss("relativistic_average", None, fake)
    with pytest.raises(ValueError, match="fake_logits"):
        standard_generator_loss(torch.ones(0, 1))


def test_standard_losses_stay_finite_for_huge_logits() -> None:
    real, fake = torch.tensor([[1e4], [-1e4]]), torch.tensor([[-1e4], [3e4]])
    assert torch.isfinite(standard_discriminator_loss(real, fake)) and torch.isfinite(standard_generator_loss(fake))


def test_generator_loss_with_the_standard_gan_needs_no_real_logits(vgg: VGG19) -> None:
    torch.manual_seed(3)
    sr, hr = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    terms = generator_loss(sr, hr, None, critic(sr), PerceptualLoss(vgg), gan_type="standard")
    assert torch.allclose(terms.adversarial, standard_generator_loss(critic(sr)))


def test_perceptual_loss_after_the_activation_is_on_relu_of_the_conv_features(vgg: VGG19) -> None:
    """SRGAN's relu5_4 = ReLU(conv5_4): the same distance, taken on the rectified features."""
    sr, hr = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    conv = VGGFeatureExtractor(vgg, ["conv5_4"])
    expected = (conv(sr)["conv5_4"].relu() - conv(hr)["conv5_4"].relu()).abs().mean()
    after, before = PerceptualLoss(vgg, {"relu5_4": 1.0})(sr, hr), PerceptualLoss(vgg, {"conv5_4": 1.0})(sr, hr)
    assert torch.allclose(after, expected) and not torch.allclose(after, before)
