"""PSNR and SSIM: reference values, invariances, the torch batch form, and the paper's bicubic baseline."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from esrgan.errors import MetricError
from esrgan.imaging.color import to_y_channel
from esrgan.imaging.io import read_image
from esrgan.imaging.matlab_resize import imresize
from esrgan.metrics import psnr, psnr_torch, ssim, ssim_torch
from tests.conftest import SHARED


def noisy_pair(seed: int, shape: tuple[int, ...], sigma: float = 12.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    clean = rng.integers(30, 226, shape).astype(np.uint8)
    noisy = np.clip(clean + rng.normal(0, sigma, shape), 0, 255).round().astype(np.uint8)
    return noisy, clean


def direct_ssim(x: np.ndarray, y: np.ndarray) -> float:
    """Wang et al.'s SSIM written out position by position: an explicit 11x11 Gaussian (sigma 1.5)
    weighting the window at every place it fits, eq. (13) there, averaged."""
    offsets = np.arange(11) - 5
    weights = np.array([[math.exp(-(i * i + j * j) / (2 * 1.5**2)) for j in offsets] for i in offsets])
    weights /= weights.sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    values = []
    for top in range(x.shape[0] - 10):
        for left in range(x.shape[1] - 10):
            a = x[top : top + 11, left : left + 11].astype(np.float64)
            b = y[top : top + 11, left : left + 11].astype(np.float64)
            mu_a, mu_b = np.sum(weights * a), np.sum(weights * b)
            var_a = np.sum(weights * (a - mu_a) ** 2)
            var_b = np.sum(weights * (b - mu_b) ** 2)
            cov = np.sum(weights * (a - mu_a) * (b - mu_b))
            values.append(((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)))
    return float(np.mean(values))


def to_batch(*images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.stack([im.transpose(2, 0, 1) / 255.0 for im in images]))


def test_identical_images_score_inf_and_one() -> None:
    image, _ = noisy_pair(0, (20, 24, 3))
    assert psnr(image, image) == math.inf
    assert ssim(image, image) == pytest.approx(1.0, abs=1e-12)
    batch = to_batch(image)
    assert torch.isinf(psnr_torch(batch, batch)).all()
    assert ssim_torch(batch, batch).item() == pytest.approx(1.0, abs=1e-12)


def test_psnr_of_a_uniform_error() -> None:
    reference = np.full((8, 8), 100, dtype=np.uint8)
    assert psnr(reference + 5, reference) == pytest.approx(20 * math.log10(255 / 5), abs=1e-12)


@pytest.mark.parametrize("shape", [(17, 19), (16, 18, 3)])
def test_ssim_equals_a_direct_computation(shape: tuple[int, ...]) -> None:
    image, reference = noisy_pair(1, shape, sigma=25)
    if len(shape) == 2:
        expected = direct_ssim(image, reference)
    else:
        expected = float(np.mean([direct_ssim(image[..., c], reference[..., c]) for c in range(3)]))
    assert ssim(image, reference) == pytest.approx(expected, abs=1e-12)


def test_ssim_is_symmetric_and_falls_with_noise() -> None:
    rng = np.random.default_rng(2)
    clean = (rng.random((32, 32)) * 200 + 20).round().astype(np.uint8)
    scores = []
    for sigma in (2, 8, 32):
        noisy = np.clip(clean + rng.normal(0, sigma, clean.shape), 0, 255).round().astype(np.uint8)
        assert ssim(noisy, clean) == pytest.approx(ssim(clean, noisy), abs=1e-12)
        scores.append(ssim(noisy, clean))
    assert scores[0] > scores[1] > scores[2]


@pytest.mark.parametrize("metric", [psnr, ssim])
def test_border_differences_do_not_count(metric) -> None:
    image, reference = noisy_pair(3, (30, 28, 3))
    touched = image.copy()
    touched[:4] = 0
    touched[:, -4:] = 255
    assert metric(touched, reference, crop_border=4) == metric(image, reference, crop_border=4)
    inside = image.copy()
    inside[10, 10] = 255 - inside[10, 10]
    assert metric(inside, reference, crop_border=4) != metric(image, reference, crop_border=4)


@pytest.mark.parametrize("metric", [psnr, ssim])
def test_y_channel_scores_matlabs_float_y(metric) -> None:
    image, reference = noisy_pair(4, (24, 26, 3))
    y_image = np.stack([to_y_channel(image)], -1) / 255.0
    y_reference = np.stack([to_y_channel(reference)], -1) / 255.0
    assert metric(image, reference, crop_border=2, y_channel=True) == pytest.approx(
        metric(y_image, y_reference, crop_border=2), abs=1e-12
    )


def test_storage_types_agree() -> None:
    image, reference = noisy_pair(5, (20, 20, 3))
    as_float = psnr(image / 255.0, reference / 255.0)
    assert psnr(image, reference) == pytest.approx(as_float, abs=1e-9)
    assert psnr(image.astype(np.uint16) * 257, reference.astype(np.uint16) * 257) == pytest.approx(as_float, abs=1e-9)


@pytest.mark.parametrize("metric", [psnr, ssim])
def test_size_mismatch_names_both_sizes(metric) -> None:
    with pytest.raises(MetricError, match=r"\(20, 21, 3\).*\(20, 20, 3\)"):
        metric(np.zeros((20, 21, 3), np.uint8), np.zeros((20, 20, 3), np.uint8))
    with pytest.raises(MetricError, match="differs"):
        psnr_torch(torch.zeros(1, 3, 20, 21), torch.zeros(1, 3, 20, 20))


@pytest.mark.parametrize("y_channel", [False, True])
def test_torch_batch_matches_numpy(y_channel: bool) -> None:
    pairs = [noisy_pair(seed, (26, 30, 3), sigma=5 + 10 * seed) for seed in range(3)]
    images, references = to_batch(*[p[0] for p in pairs]), to_batch(*[p[1] for p in pairs])
    expected_psnr = [psnr(a, b, crop_border=3, y_channel=y_channel) for a, b in pairs]
    expected_ssim = [ssim(a, b, crop_border=3, y_channel=y_channel) for a, b in pairs]
    np.testing.assert_allclose(psnr_torch(images, references, 3, y_channel).numpy(), expected_psnr, atol=1e-10)
    np.testing.assert_allclose(ssim_torch(images, references, 3, y_channel).numpy(), expected_ssim, atol=1e-12)


def test_bicubic_x4_on_set5_gives_the_published_baseline() -> None:
    """Bicubic x4 on Set5, Y channel, 4-pixel crop: 28.42 dB as published (to two decimals)."""
    scores = []
    for name in ("baby", "bird", "butterfly", "head", "woman"):
        hr = read_image(SHARED / "datasets" / "Set5" / f"{name}.png")
        hr = hr[: hr.shape[0] // 4 * 4, : hr.shape[1] // 4 * 4]
        lr = read_image(SHARED / "reference" / "imresize" / "set5_x4_u8" / f"{name}x4.png")
        scores.append(psnr(imresize(lr, scale=4), hr, crop_border=4, y_channel=True))
    assert abs(np.mean(scores) - 28.42) < 0.01
