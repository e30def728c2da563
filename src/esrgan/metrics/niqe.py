"""NIQE, the Natural Image Quality Evaluator, as in the authors' MATLAB release.

Mittal, Soundararajan & Bovik, "Making a 'completely blind' image quality analyzer", IEEE Signal
Processing Letters 20(3), 2013. The score is the distance between a multivariate Gaussian (MVG) fitted to
natural-scene statistics of the test image and one fitted to pristine images (eq. 10):

    D = sqrt((nu1 - nu2)^T ((Sigma1 + Sigma2) / 2)^+ (nu1 - nu2)).

Steps of `computequality.m`, reproduced here:
1. crop the image to whole 96x96 blocks (top-left kept);
2. at each of two scales (the image, then MATLAB `imresize(im, 0.5)` of it), compute MSCN coefficients
   (eq. 1) with a 7x7 Gaussian window of sigma 7/6 and 'replicate' borders, and C = 1;
3. per block (96 px at scale 1, 48 px at scale 2), fit an asymmetric generalised Gaussian (AGGD) to the
   MSCN coefficients and to their products with four neighbours (horizontal, vertical, both diagonals),
   giving 18 features per scale: shape and mean variance of the MSCN AGGD, then shape, mean, left and
   right scale of each product AGGD; the shape comes from a grid search over 0.2:0.001:10 (eq. 7-9);
4. fit the MVG to the 36-D block features (blocks with a NaN feature dropped, as `nancov` does) and take
   the distance above to the published pristine model (`data/niqe_pris_params.npz`).

The input is a luma image in [0, 255]. PIRM and the ESRGAN paper compute NIQE on MATLAB's uint8
`rgb2ycbcr` Y (rounded), which `niqe` does by default for RGB input (`to_y_channel(rounded=True)`).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np
from scipy.ndimage import correlate
from scipy.special import gamma

from esrgan.errors import MetricError
from esrgan.imaging.color import to_y_channel
from esrgan.imaging.matlab_resize import imresize

BLOCK_SIZE = 96
_NUM_SCALES = 2
# Neighbour offsets of MATLAB's `circshift(structdis, shift)` for the paired products (eq. 4-5).
_SHIFTS = ((0, 1), (1, 0), (1, 1), (-1, 1))


@lru_cache(maxsize=1)
def pristine_model() -> tuple[np.ndarray, np.ndarray]:
    """Mean (36,) and covariance (36, 36) of the published pristine model (`modelparameters.mat`)."""
    with resources.files("esrgan.metrics").joinpath("data/niqe_pris_params.npz").open("rb") as handle:
        params = np.load(handle)
        return params["mu_pris_param"].ravel().astype(np.float64), params["cov_pris_param"].astype(np.float64)


def gaussian_window(size: int = 7, sigma: float = 7.0 / 6.0) -> np.ndarray:
    """MATLAB `fspecial('gaussian', size, sigma)`, normalised to sum 1."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    window = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2.0 * sigma**2))
    return window / window.sum()


def mscn(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean-subtracted contrast-normalised coefficients (eq. 1, C = 1) and the local deviation sigma."""
    window = gaussian_window()
    mu = correlate(image, window, mode="nearest")
    sigma = np.sqrt(np.abs(correlate(image * image, window, mode="nearest") - mu * mu))
    return (image - mu) / (sigma + 1.0), sigma


@lru_cache(maxsize=1)
def _shape_grid() -> tuple[np.ndarray, np.ndarray]:
    """The alpha grid 0.2:0.001:10 and the generalised Gaussian ratio Gamma(2/a)^2 / (Gamma(1/a) Gamma(3/a))."""
    alpha = np.linspace(0.2, 10.0, 9801)
    ratio = gamma(2.0 / alpha) ** 2 / (gamma(1.0 / alpha) * gamma(3.0 / alpha))
    return alpha, ratio


def fit_aggd(values: np.ndarray) -> tuple[float, float, float]:
    """Shape alpha and left/right scales of an asymmetric generalised Gaussian (`estimateaggdparam.m`).

    Moment matching (Lasmar et al. 2009): gamma_hat = sigma_l / sigma_r, r_hat = E|x|^2 / E[x^2],
    R_hat = r_hat (gamma_hat^3 + 1)(gamma_hat + 1) / (gamma_hat^2 + 1)^2, and alpha is the grid value whose
    ratio is nearest to R_hat. A side with no samples gives NaN, as in MATLAB.
    """
    values = values.ravel()
    with np.errstate(invalid="ignore", divide="ignore"):
        left = values[values < 0]
        right = values[values > 0]
        left_std = np.sqrt(np.mean(left * left)) if left.size else np.nan
        right_std = np.sqrt(np.mean(right * right)) if right.size else np.nan
        gamma_hat = left_std / right_std
        r_hat = np.mean(np.abs(values)) ** 2 / np.mean(values * values)
        r_hat_norm = r_hat * (gamma_hat**3 + 1) * (gamma_hat + 1) / (gamma_hat**2 + 1) ** 2
    alpha_grid, ratio = _shape_grid()
    # With a NaN ratio every distance is NaN; numpy's argmin then gives the first index, as MATLAB's min does.
    alpha = float(alpha_grid[np.argmin((ratio - r_hat_norm) ** 2)])
    spread = np.sqrt(gamma(1.0 / alpha) / gamma(3.0 / alpha))
    return alpha, float(left_std * spread), float(right_std * spread)


def block_features(block: np.ndarray) -> np.ndarray:
    """The 18 features of one block of MSCN coefficients (`computefeature.m`)."""
    alpha, beta_left, beta_right = fit_aggd(block)
    features = [alpha, (beta_left + beta_right) / 2.0]
    for shift in _SHIFTS:
        pair = block * np.roll(block, shift, axis=(0, 1))
        alpha, beta_left, beta_right = fit_aggd(pair)
        mean = (beta_right - beta_left) * gamma(2.0 / alpha) / gamma(1.0 / alpha)
        features.extend([alpha, mean, beta_left, beta_right])
    return np.asarray(features, dtype=np.float64)


def _scale_features(coefficients: np.ndarray, block: int) -> np.ndarray:
    """(num_blocks, 18) features; blocks in MATLAB's `blkproc` order (down each block column first)."""
    rows, cols = coefficients.shape[0] // block, coefficients.shape[1] // block
    return np.stack(
        [
            block_features(coefficients[r * block : (r + 1) * block, c * block : (c + 1) * block])
            for c in range(cols)
            for r in range(rows)
        ]
    )


def niqe_features(luma: np.ndarray, block_size: int = BLOCK_SIZE) -> np.ndarray:
    """(num_blocks, 36) NIQE features of a luma image in [0, 255] cropped to whole blocks."""
    rows, cols = luma.shape[0] // block_size, luma.shape[1] // block_size
    if rows == 0 or cols == 0:
        raise MetricError(
            f"NIQE needs an image of at least {block_size}x{block_size} pixels, got {luma.shape[0]}x{luma.shape[1]}"
        )
    image = luma[: rows * block_size, : cols * block_size].astype(np.float64)
    per_scale = []
    for scale in range(1, _NUM_SCALES + 1):
        coefficients, _ = mscn(image)
        per_scale.append(_scale_features(coefficients, block_size // scale))
        image = imresize(image, scale=0.5)
    return np.concatenate(per_scale, axis=1)


def niqe_from_luma(luma: np.ndarray, block_size: int = BLOCK_SIZE) -> float:
    """NIQE (eq. 10) of a luma image (H, W) in [0, 255]; lower means more natural."""
    features = niqe_features(luma, block_size)
    complete = features[~np.isnan(features).any(axis=1)]
    if complete.shape[0] < 2:
        raise MetricError(
            f"NIQE needs at least two textured {block_size}x{block_size} blocks, the image has {complete.shape[0]}"
        )
    mu_pristine, cov_pristine = pristine_model()
    mu_test = complete.mean(axis=0)
    cov_test = np.cov(complete, rowvar=False)
    diff = mu_pristine - mu_test
    return float(np.sqrt(diff @ np.linalg.pinv((cov_pristine + cov_test) / 2.0) @ diff))


def niqe(image: np.ndarray, crop_border: int = 0) -> float:
    """NIQE of an RGB or grey image (uint8, uint16, or float in [0, 1]), on MATLAB's rounded uint8 Y.

    `crop_border` pixels are removed from every side first (PIRM uses 4 for x4 SR; the reference figure
    for baboon.png, 5.72957, is without crop).
    """
    luma = to_y_channel(image, rounded=True)
    if crop_border:
        luma = luma[crop_border:-crop_border, crop_border:-crop_border]
    return niqe_from_luma(luma)
