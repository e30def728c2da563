"""Ma et al.'s score: the forest walk and linear stage on a synthetic model.mat, and feature properties."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io
from scipy.stats import gennorm

from esrgan.errors import MetricError
from esrgan.imaging.color import to_y_channel
from esrgan.imaging.io import read_image
from esrgan.metrics import load_ma_model, ma_score, perceptual_index
from esrgan.metrics.ma import (
    MODEL_ENV,
    generalized_gaussian_shape,
    global_gsm_features,
    local_frequency_features,
    nrqm_features,
    spatial_svd_features,
)
from esrgan.metrics.steerable_pyramid import steerable_pyramid
from tests.conftest import SHARED


@pytest.fixture(scope="module")
def luma() -> np.ndarray:
    """A 128x128 textured luma patch in [0, 255] (MATLAB's rounded Y of baboon)."""
    return to_y_channel(read_image(SHARED / "datasets" / "Set14" / "baboon.png"), rounded=True)[100:228, 200:328]


@pytest.fixture(scope="module")
def features(luma: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return nrqm_features(luma)


def forest(left, right, split, threshold, value, coef=(0.0, 0.0)) -> dict:
    """One forest in randomForest-matlab's struct layout; columns are trees, indices 1-based."""
    left = np.asarray(left, dtype=np.int32)
    return {
        "lDau": left,
        "rDau": np.asarray(right, dtype=np.int32),
        "nodestatus": np.where(left > 0, -3, -1).astype(np.int8),
        "nrnodes": float(left.shape[0]),
        "upper": np.asarray(threshold, dtype=np.float64),
        "avnode": np.asarray(value, dtype=np.float64),
        "mbest": np.asarray(split, dtype=np.int32),
        "ndtree": np.full((left.shape[1], 1), left.shape[0], dtype=np.int32),
        "ntree": float(left.shape[1]),
        "coef": np.asarray(coef, dtype=np.float64).reshape(2, 1),
    }


# Tree 1 of the first forest: node 1 splits on feature 1 at 0 -> node 2 (leaf 10) or node 3, which splits on
# feature 3 at 1 -> node 4 (leaf 20) or node 5 (leaf 30). Tree 2 is a single leaf of value 2.
FIRST = forest(
    left=[[2, 0], [0, 0], [4, 0], [0, 0], [0, 0]],
    right=[[3, 0], [0, 0], [5, 0], [0, 0], [0, 0]],
    split=[[1, 0], [0, 0], [3, 0], [0, 0], [0, 0]],
    threshold=[[0.0, 0], [0, 0], [1.0, 0], [0, 0], [0, 0]],
    value=[[0, 2.0], [10.0, 0], [0, 0], [20.0, 0], [30.0, 0]],
)
# One stump on feature 2 at 0.5 (leaves 1 and 3), with randomForest's bias correction 1 + 2 y.
SECOND = forest(left=[[2], [0], [0]], right=[[3], [0], [0]], split=[[2], [0], [0]], threshold=[[0.5], [0], [0]],
                value=[[0], [1.0], [3.0]], coef=(1.0, 2.0))
THIRD = forest(left=[[0]], right=[[0]], split=[[0]], threshold=[[0]], value=[[7.0]])
LINEAR = np.array([[0.5], [1.0], [-1.0], [2.0]])


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "model.mat"
    cell = np.empty((3, 1), dtype=object)
    cell[0, 0], cell[1, 0], cell[2, 0] = FIRST, SECOND, THIRD
    scipy.io.savemat(path, {"model": {"rf": cell, "linear": LINEAR}})
    return path


@pytest.mark.parametrize(
    ("x", "expected"),
    [
        ([-1.0, 0, 0], (10 + 2) / 2),
        ([0.0, 0, 5], (10 + 2) / 2),
        ([0.5, 0, 1.0], (20 + 2) / 2),
        ([0.5, 0, 1.5], (30 + 2) / 2),
    ],
)
def test_forest_walk_follows_less_or_equal_to_the_left(model_file: Path, x: list[float], expected: float) -> None:
    assert load_ma_model(model_file).forests[0].predict(np.array(x)) == pytest.approx(expected)


def test_bias_correction_and_linear_stage(model_file: Path) -> None:
    model = load_ma_model(model_file)
    assert model.forests[1].predict(np.array([0.0, 0.5])) == pytest.approx(1 + 2 * 1.0)
    assert model.forests[1].predict(np.array([0.0, 0.6])) == pytest.approx(1 + 2 * 3.0)
    features = (np.array([0.5, 0, 1.5]), np.array([0.0, 0.6]), np.zeros(4))
    assert model.predict(features) == pytest.approx(0.5 + 16.0 - 7.0 + 2 * 7.0)


def test_score_reads_the_model_named_by_the_environment(
    model_file: Path, luma: np.ndarray, features: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MODEL_ENV, str(model_file))
    image = np.repeat(luma.astype(np.uint8)[..., None], 3, axis=2)
    assert ma_score(image) == pytest.approx(load_ma_model(model_file).predict(features))


def test_missing_model_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(MODEL_ENV, raising=False)
    with pytest.raises(MetricError, match=MODEL_ENV):
        load_ma_model()
    with pytest.raises(MetricError, match="does not exist"):
        load_ma_model(tmp_path / "absent.mat")
    other = tmp_path / "other.mat"
    scipy.io.savemat(other, {"weights": np.zeros(3)})
    with pytest.raises(MetricError, match="rf"):
        load_ma_model(other)


def test_feature_vector_lengths(features: tuple) -> None:
    assert [f.shape for f in features] == [(18,), (45,), (75,)]
    assert all(np.isfinite(f).all() for f in features)


def test_feature_ranges(features: tuple) -> None:
    local, global_, spatial = features
    shapes = np.concatenate([local[0::6], local[1::6], global_[:18]])
    assert shapes.min() >= 0.03 and shapes.max() <= 10
    assert np.abs(global_[18:]).max() <= 1.0  # SSIM contrast-structure terms
    for level in spatial.reshape(3, 25):
        assert np.all(np.diff(level) <= 0) and level.min() >= 0


def test_shape_search_equals_matlabs_full_scan() -> None:
    rng = np.random.default_rng(0)
    samples = rng.standard_normal((300, 48)) * rng.random((300, 1)) ** 3
    shapes = np.linspace(0.03, 10.0, 9971)
    from scipy.special import gamma

    rho = gamma(1 / shapes) * gamma(3 / shapes) / gamma(2 / shapes) ** 2
    mean = samples.mean(axis=1, keepdims=True)
    rho_hat = samples.var(axis=1, ddof=1) / (np.abs(samples - mean).mean(axis=1) ** 2 + 1e-7)
    expected = shapes[np.argmin(np.abs(rho[None, :] - rho_hat[:, None]), axis=1)]
    np.testing.assert_array_equal(generalized_gaussian_shape(samples), expected)


@pytest.mark.parametrize("shape", [0.8, 1.0, 2.0])
def test_shape_of_a_generalised_gaussian_is_recovered(shape: float) -> None:
    samples = gennorm.rvs(shape, size=200_000, random_state=np.random.default_rng(1))
    assert float(generalized_gaussian_shape(samples)) == pytest.approx(shape, abs=0.05)


def test_spatial_features_scale_linearly_and_ignore_transposition(luma: np.ndarray) -> None:
    image = luma / 255.0
    reference = spatial_svd_features(image)
    np.testing.assert_allclose(spatial_svd_features(0.5 * image), 0.5 * reference, rtol=1e-10)
    np.testing.assert_allclose(spatial_svd_features(image.T), reference, rtol=1e-10)


def test_local_frequency_features_ignore_transposition(luma: np.ndarray) -> None:
    """Transposing swaps the two off-diagonal orientation groups and keeps every pooled statistic."""
    image = luma[:100, :110] / 255.0
    np.testing.assert_allclose(local_frequency_features(image.T), local_frequency_features(image), rtol=1e-9)


def test_global_features_ignore_a_brightness_offset(luma: np.ndarray) -> None:
    """The pyramid's bands hold no DC, so every band, and every feature, is blind to an offset."""
    np.testing.assert_allclose(global_gsm_features(luma + 20.0), global_gsm_features(luma), atol=1e-6)


def test_pyramid_bands_are_orientation_selective() -> None:
    """A grating varying along x (vertical stripes) at a finest-scale frequency lands in orientation 1."""
    columns = np.arange(64)
    grating = np.tile(np.cos(2 * np.pi * 0.3 * columns), (64, 1))
    pyramid = steerable_pyramid(grating)
    energy = [float(np.sum(band**2)) for band in pyramid.bands[0]]
    assert int(np.argmax(energy)) == 0
    assert energy[0] > 10 * energy[3]
    assert pyramid.highpass.shape == (64, 64) and pyramid.bands[1][0].shape == (32, 32)


def test_small_images_are_refused() -> None:
    with pytest.raises(MetricError):
        nrqm_features(np.random.default_rng(2).random((40, 40)) * 255)


def test_perceptual_index_is_pirms_formula() -> None:
    assert perceptual_index(ma=8.0, niqe=4.0) == pytest.approx(3.0)
    assert perceptual_index(ma=10.0, niqe=0.0) == 0.0
