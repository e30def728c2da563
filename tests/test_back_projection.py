"""Back-projection leaves consistent SR images alone and pulls others toward the LR."""

from __future__ import annotations

import numpy as np
import pytest

from esrgan.back_projection import back_project
from esrgan.errors import ConfigError
from esrgan.imaging.matlab_resize import imresize

RNG = np.random.default_rng(0)


def test_consistent_sr_is_a_fixed_point() -> None:
    sr = RNG.random((32, 24, 3)) * 255
    lr = imresize(sr, output_shape=(8, 6))
    np.testing.assert_allclose(back_project(sr, lr, iterations=3), sr, atol=1e-9)


def test_each_iteration_reduces_the_lr_error() -> None:
    hr = RNG.random((32, 32)) * 255
    lr = imresize(hr, output_shape=(8, 8))
    sr = np.full_like(hr, hr.mean())
    errors = [np.abs(imresize(back_project(sr, lr, n), output_shape=(8, 8)) - lr).mean() for n in range(4)]
    assert errors[0] > errors[1] > errors[2] > errors[3]


def test_integer_images_stay_integer() -> None:
    sr = RNG.integers(0, 255, (16, 16, 3)).astype(np.uint8)
    lr = RNG.integers(0, 255, (4, 4, 3)).astype(np.uint8)
    assert back_project(sr, lr, 2).dtype == np.uint8


def test_shapes_must_be_a_multiple() -> None:
    with pytest.raises(ConfigError):
        back_project(np.zeros((10, 10)), np.zeros((4, 4)), 1)
