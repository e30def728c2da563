"""`imresize` against real MATLAB outputs, and the torch version against numpy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch

from esrgan.errors import ConfigError
from esrgan.imaging.io import read_image
from esrgan.imaging.matlab_resize import contributions, imresize, imresize_torch
from tests.conftest import SHARED

REFERENCE = SHARED / "reference" / "imresize"
CASES = json.loads((REFERENCE / "CASES.json").read_text())["cases"]


def case_input(name: str) -> np.ndarray:
    """The inputs CASES.json describes, rebuilt as it says."""
    if name == "square8":
        return np.arange(64, dtype=np.float64).reshape(8, 8)
    if name == "small4":
        return np.arange(16, dtype=np.float64).reshape(4, 4)
    if name == "sq15":
        return np.arange(225, dtype=np.float64).reshape(15, 15)
    if name in ("topleft", "bottomright"):
        image = np.zeros((4, 4))
        if name == "topleft":
            image[0, 0], image[1, 0], image[0, 1], image[0, 3] = 100, 10, 1, 100
        else:
            image[3, 3], image[2, 3], image[3, 2], image[3, 0] = 100, 10, 1, 100
        return image
    if name == "butterfly":
        return read_image(REFERENCE / "butterfly.png").astype(np.float64) / 255.0
    raise KeyError(name)


def round_once(image: np.ndarray) -> np.ndarray:
    """`uint8(round(x * 255))` of a float image in [0, 1], as imwrite does."""
    return np.clip(np.floor(image * 255.0 + 0.5), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("case", CASES, ids=[c["file"] for c in CASES])
def test_float_cases_match_matlab(case: dict) -> None:
    expected = scipy.io.loadmat(REFERENCE / case["file"])[Path(case["file"]).stem]
    result = imresize(case_input(case["input"]), output_shape=tuple(case["size"]), antialiasing=case["antialiasing"])
    assert result.shape == expected.shape
    assert np.max(np.abs(result - expected)) <= 1e-10


def test_uint8_path_rounds_after_each_pass_like_matlab() -> None:
    lena = read_image(REFERENCE / "lena_512x512.png")
    result = imresize(lena, output_shape=(123, 234))
    assert result.dtype == np.uint8
    np.testing.assert_array_equal(result, read_image(REFERENCE / "lena_123x234_uint8.png"))


def test_float_path_rounded_once_matches_matlab() -> None:
    lena = read_image(REFERENCE / "lena_512x512.png")
    result = round_once(imresize(lena / 255.0, output_shape=(123, 234)))
    np.testing.assert_array_equal(result, read_image(REFERENCE / "lena_123x234_double.png"))


def test_official_esrgan_lr_of_baboon_is_reproduced() -> None:
    baboon = read_image(SHARED / "datasets" / "Set14" / "baboon.png")
    result = round_once(imresize(baboon / 255.0, scale=0.25))
    np.testing.assert_array_equal(result, read_image(REFERENCE / "baboon_x4_official_lr.png"))


@pytest.mark.parametrize("name", ["baby", "bird", "butterfly", "head", "woman"])
def test_set5_benchmark_lr_files_are_reproduced(name: str) -> None:
    hr = read_image(SHARED / "datasets" / "Set5" / f"{name}.png")
    hr = hr[: hr.shape[0] // 4 * 4, : hr.shape[1] // 4 * 4]
    np.testing.assert_array_equal(imresize(hr, scale=0.25), read_image(REFERENCE / "set5_x4_u8" / f"{name}x4.png"))


def test_uint16_is_rounded_per_pass_too() -> None:
    """Mid-range values, so no pass saturates: the two roundings then stay within about one level."""
    image = np.random.default_rng(2).integers(10_000, 55_000, (33, 27, 3), dtype=np.uint16)
    result = imresize(image, scale=0.5)
    assert result.dtype == np.uint16
    difference = np.abs(result - imresize(image.astype(np.float64), scale=0.5))
    assert 0 < np.max(difference) <= 1.1


def test_uint8_passes_run_smaller_scale_first() -> None:
    """MATLAB orders the passes by scale, so transposing input and output sizes transposes the result,
    rounding included; a fixed rows-then-columns order would break this."""
    image = np.random.default_rng(1).integers(0, 256, (40, 30), dtype=np.uint8)
    wide = imresize(image, output_shape=(29, 9))
    tall = imresize(np.ascontiguousarray(image.T), output_shape=(9, 29))
    np.testing.assert_array_equal(wide, tall.T)


@pytest.mark.parametrize("scale", [0.25, 0.5, 1 / 3, 2.0, 3.0])
def test_weights_sum_to_one_and_constants_are_kept(scale: float) -> None:
    contrib = contributions(37, int(np.ceil(37 * scale)), scale)
    np.testing.assert_allclose(contrib.weights.sum(axis=1), 1.0, atol=1e-12)
    assert contrib.indices.min() >= 0 and contrib.indices.max() < 37
    flat = np.full((37, 23, 3), 0.7)
    np.testing.assert_allclose(imresize(flat, scale=scale), 0.7, atol=1e-12)


def test_scale_gives_ceil_of_scaled_size() -> None:
    assert imresize(np.zeros((11, 7)), scale=0.3).shape == (4, 3)
    assert imresize(np.zeros((11, 7, 2)), scale=2).shape == (22, 14, 2)


@pytest.mark.parametrize(
    "kwargs",
    [dict(scale=0.25), dict(scale=3), dict(output_shape=(20, 71)), dict(output_shape=(40, 10), antialiasing=False)],
)
def test_torch_matches_numpy(kwargs: dict) -> None:
    batch = np.random.default_rng(0).random((2, 3, 37, 53))
    result = imresize_torch(torch.from_numpy(batch), **kwargs).numpy()
    expected = np.stack([imresize(image.transpose(1, 2, 0), **kwargs).transpose(2, 0, 1) for image in batch])
    assert result.shape == expected.shape
    assert np.max(np.abs(result - expected)) <= 1e-12


def test_torch_float32_and_single_image() -> None:
    image = torch.rand(3, 16, 20)
    result = imresize_torch(image, scale=0.5)
    assert result.dtype == torch.float32 and result.shape == (3, 8, 10)
    expected = imresize(image.double().permute(1, 2, 0).numpy(), scale=0.5).transpose(2, 0, 1)
    assert np.max(np.abs(result.numpy() - expected)) < 1e-5


@pytest.mark.parametrize(
    "kwargs", [dict(), dict(scale=0.5, output_shape=(2, 2)), dict(scale=-1.0), dict(output_shape=(0, 3))]
)
def test_bad_arguments_raise_config_error(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        imresize(np.zeros((4, 4)), **kwargs)


def test_integer_tensors_are_refused() -> None:
    with pytest.raises(ConfigError, match="float"):
        imresize_torch(torch.zeros(1, 1, 4, 4, dtype=torch.uint8), scale=0.5)
