"""MATLAB rgb2ycbcr / ycbcr2rgb and the Y channel used by every metric."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from esrgan.errors import ConfigError
from esrgan.imaging.color import (
    rgb2ycbcr,
    rgb2ycbcr_torch,
    to_y_channel,
    to_y_channel_torch,
    ycbcr2rgb,
    ycbcr2rgb_torch,
)


def random_rgb(seed: int = 0, shape: tuple[int, int] = (9, 11)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)


def test_documented_values_of_matlab() -> None:
    """MATLAB: rgb2ycbcr(uint8([255 0 0])) = [81 90 240]; black -> [16 128 128]; white -> [235 128 128]."""
    pixels = np.array([[[255, 0, 0], [0, 0, 0], [255, 255, 255]]], dtype=np.uint8)
    np.testing.assert_array_equal(rgb2ycbcr(pixels)[0], [[81, 90, 240], [16, 128, 128], [235, 128, 128]])


def test_float_form_is_the_bt601_formula() -> None:
    rgb = random_rgb().astype(np.float64) / 255.0
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    expected_y = (16 + 65.481 * r + 128.553 * g + 24.966 * b) / 255
    expected_cb = (128 - 37.797 * r - 74.203 * g + 112.0 * b) / 255
    expected_cr = (128 + 112.0 * r - 93.786 * g - 18.214 * b) / 255
    np.testing.assert_allclose(rgb2ycbcr(rgb), np.stack([expected_y, expected_cb, expected_cr], -1), atol=1e-14)


def test_integer_forms_are_the_float_form_rounded() -> None:
    rgb8 = random_rgb(1, (64, 64))
    exact = rgb2ycbcr(rgb8 / 255.0) * 255.0
    result = rgb2ycbcr(rgb8)
    assert result.dtype == np.uint8
    assert np.max(np.abs(result - exact)) <= 0.5 + 1e-9
    rgb16 = rgb8.astype(np.uint16) * 257
    result16 = rgb2ycbcr(rgb16)
    assert result16.dtype == np.uint16
    assert np.max(np.abs(result16 - exact * 257)) <= 0.5 + 1e-6


def test_inverse_round_trips() -> None:
    rgb = random_rgb(2).astype(np.float64) / 255.0
    np.testing.assert_allclose(ycbcr2rgb(rgb2ycbcr(rgb)), rgb, atol=1e-12)
    rgb8 = random_rgb(3)
    assert np.max(np.abs(ycbcr2rgb(rgb2ycbcr(rgb8)).astype(int) - rgb8)) <= 2


def test_y_channel_is_independent_of_the_storage_type() -> None:
    rgb8 = random_rgb(4)
    y = to_y_channel(rgb8)
    assert y.dtype == np.float64 and y.shape == rgb8.shape[:2]
    assert 16 <= y.min() and y.max() <= 235
    np.testing.assert_allclose(to_y_channel(rgb8.astype(np.uint16) * 257), y, atol=1e-9)
    np.testing.assert_allclose(to_y_channel(rgb8 / 255.0), y, atol=1e-9)


def test_rounded_y_of_uint8_is_matlabs_uint8_y() -> None:
    rgb8 = random_rgb(5)
    np.testing.assert_array_equal(to_y_channel(rgb8, rounded=True), rgb2ycbcr(rgb8)[..., 0])
    assert np.max(np.abs(to_y_channel(rgb8, rounded=True) - to_y_channel(rgb8))) <= 0.5


def test_grey_is_scaled_not_converted() -> None:
    grey = np.arange(256, dtype=np.uint8).reshape(16, 16)
    np.testing.assert_array_equal(to_y_channel(grey), grey.astype(np.float64))
    np.testing.assert_array_equal(to_y_channel(grey[..., None]), grey.astype(np.float64))
    np.testing.assert_allclose(to_y_channel(grey / 255.0), grey, atol=1e-12)


def test_torch_matches_numpy() -> None:
    rgb = random_rgb(6).astype(np.float64) / 255.0
    batch = torch.from_numpy(rgb.transpose(2, 0, 1).copy())[None]
    np.testing.assert_allclose(rgb2ycbcr_torch(batch)[0].numpy().transpose(1, 2, 0), rgb2ycbcr(rgb), atol=1e-14)
    np.testing.assert_allclose(ycbcr2rgb_torch(rgb2ycbcr_torch(batch)).numpy(), batch.numpy(), atol=1e-12)
    np.testing.assert_allclose(to_y_channel_torch(batch)[0, 0].numpy(), to_y_channel(rgb), atol=1e-12)


@pytest.mark.parametrize("bad", [np.zeros((4, 4, 4)), np.zeros((4, 4, 3), dtype=np.int32)])
def test_unsupported_inputs_raise(bad: np.ndarray) -> None:
    with pytest.raises(ConfigError):
        rgb2ycbcr(bad)
