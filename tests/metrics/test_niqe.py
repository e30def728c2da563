"""NIQE against MATLAB's figure for baboon.png, and its building blocks on known distributions."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io
from scipy.stats import gennorm

from esrgan.errors import MetricError
from esrgan.imaging.color import to_y_channel
from esrgan.imaging.io import read_image
from esrgan.metrics import niqe
from esrgan.metrics.niqe import (
    BLOCK_SIZE,
    fit_aggd,
    gaussian_window,
    niqe_features,
    niqe_from_luma,
    pristine_model,
)
from tests.conftest import SHARED

NIQE_REFERENCE = SHARED / "reference" / "niqe"


def test_baboon_matches_matlab() -> None:
    """MATLAB R2021a: computequality(Y of rgb2ycbcr(uint8 baboon)) = 5.72957338, no border crop."""
    assert niqe(read_image(NIQE_REFERENCE / "baboon.png")) == pytest.approx(5.72957338, abs=1e-3)


def test_packaged_parameters_are_the_published_ones() -> None:
    published = scipy.io.loadmat(NIQE_REFERENCE / "niqe_modelparameters_pirm.mat")
    mu, cov = pristine_model()
    np.testing.assert_array_equal(mu, published["mu_prisparam"].ravel())
    np.testing.assert_array_equal(cov, published["cov_prisparam"])


def test_window_is_matlabs_fspecial() -> None:
    expected = np.load(NIQE_REFERENCE / "niqe_pris_params.npz")["gaussian_window"]
    np.testing.assert_allclose(gaussian_window(), expected, atol=1e-15)


@pytest.mark.parametrize("shape_parameter", [1.0, 2.0])
def test_aggd_fit_recovers_a_symmetric_generalised_gaussian(shape_parameter: float) -> None:
    samples = gennorm.rvs(shape_parameter, scale=0.7, size=200_000, random_state=np.random.default_rng(0))
    alpha, left, right = fit_aggd(samples)
    assert alpha == pytest.approx(shape_parameter, abs=0.03)
    assert left == pytest.approx(0.7, rel=0.03) and right == pytest.approx(0.7, rel=0.03)


def test_aggd_fit_sees_asymmetry() -> None:
    rng = np.random.default_rng(1)
    # An AGGD puts mass beta_l / (beta_l + beta_r) on the left: 1/4 here.
    samples = np.concatenate([-np.abs(rng.normal(0, 0.5, 50_000)), np.abs(rng.normal(0, 1.5, 150_000))])
    alpha, left, right = fit_aggd(samples)
    assert alpha == pytest.approx(2.0, abs=0.05)
    assert right / left == pytest.approx(3.0, rel=0.03)


def test_features_per_block_and_crop_to_whole_blocks() -> None:
    luma = np.random.default_rng(2).random((2 * BLOCK_SIZE + 50, 3 * BLOCK_SIZE + 7)) * 255
    features = niqe_features(luma)
    assert features.shape == (6, 36)
    np.testing.assert_array_equal(features, niqe_features(luma[: 2 * BLOCK_SIZE, : 3 * BLOCK_SIZE]))


def test_blurring_raises_niqe() -> None:
    """NIQE measures distance from natural statistics; destroying detail must move away from them."""
    image = read_image(NIQE_REFERENCE / "baboon.png")
    luma = to_y_channel(image, rounded=True)
    from esrgan.imaging.matlab_resize import imresize

    blurred = imresize(imresize(luma, scale=0.25), output_shape=luma.shape)
    assert niqe_from_luma(blurred) > niqe_from_luma(luma) + 1.0


def test_flat_blocks_are_left_out_like_nancov() -> None:
    luma = np.random.default_rng(3).random((2 * BLOCK_SIZE, 3 * BLOCK_SIZE)) * 255
    with_flat = luma.copy()
    # Flat beyond the first block by the reach of the MSCN window and of the 0.5 resize at scale 2.
    with_flat[: BLOCK_SIZE + 16, : BLOCK_SIZE + 16] = 128.0
    features = niqe_features(with_flat)
    assert np.isnan(features[0]).any() and not np.isnan(features[1:]).any()
    assert np.isfinite(niqe_from_luma(with_flat))


def test_crop_border_removes_pixels_first() -> None:
    image = read_image(NIQE_REFERENCE / "baboon.png")
    assert niqe(image, crop_border=4) == pytest.approx(niqe_from_luma(to_y_channel(image, rounded=True)[4:-4, 4:-4]))


def test_small_images_are_refused() -> None:
    with pytest.raises(MetricError, match="96x96"):
        niqe(np.zeros((95, 400), dtype=np.uint8))
