"""Ma et al.'s no-reference quality score for super-resolved images (NRQM, "Ma's score"), and PIRM's PI.

Ma, Yang, Yang & Yang, "Learning a no-reference quality metric for single-image super-resolution",
Computer Vision and Image Understanding 158 (2017) 1-16; MATLAB release github.com/chaoma99/sr-metric,
whose functions are named below so each step can be compared with the original.

Three groups of statistics, each mapped to a quality estimate by its own regression forest, then combined
linearly (`quality_predict.m`):

1. local frequency (`block_dct.m`), on a 3-level Gaussian pyramid of the image in [0, 1]: 7x7 DCT blocks
   every 3 pixels; per block the generalised-Gaussian shape of the AC coefficients, their coefficient of
   variation, and the variance of that coefficient over three orientation groups; pooled as the mean of the
   lowest 10 % or highest 10 % and the mean of all, 6 numbers per level, 18 in all;
2. global (`global_gsm.m`), on the image in [0, 255]: a 2-scale, 6-orientation steerable pyramid, each
   band divisively normalised by a Gaussian scale mixture over its 3x3 neighbourhood, its parent and its
   sibling orientations (`norm_sender_normalized.m`); features are the generalised-Gaussian shape of each
   band (12) and of each orientation across scales (6), and SSIM's contrast-structure term between each band
   and the high-pass residual (12) and between the orientations of the finest scale (15): 45 numbers;
3. spatial (`feature_all.m`): the 25 singular values of the matrix of non-overlapping 5x5 patches at each
   pyramid level, 75 numbers.

The trained model (`model.mat`: three forests of Liaw & Wiener's randomForest, MATLAB port by Jaiantilal,
and the robust-fit weights) is the authors' and is not shipped: pass its path, or set ESRGAN_MA_MODEL.

Perceptual index (Blau et al., "The 2018 PIRM challenge on perceptual image super-resolution"):
PI = ((10 - Ma) + NIQE) / 2, lower is better; PIRM computes both scores on MATLAB's rounded uint8 Y channel
after removing 4 pixels from every border (the scale factor), which `ma_score(..., crop_border=4)` and
`niqe(..., crop_border=4)` reproduce.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.fft import dctn
from scipy.io import loadmat
from scipy.ndimage import correlate
from scipy.special import gamma

from esrgan.errors import MetricError
from esrgan.imaging.color import to_y_channel
from esrgan.imaging.matlab_resize import imresize
from esrgan.metrics.psnr_ssim import ssim_plane
from esrgan.metrics.steerable_pyramid import SteerablePyramid, steerable_pyramid

MODEL_ENV = "ESRGAN_MA_MODEL"
_PYRAMID_LEVELS = 3
_DCT_STEP, _DCT_BORDER = 3, 2  # blkproc(im, [3 3], [2 2], ...): 7x7 blocks centred on a 3x3 grid
_PATCH = 5
_ORIENTATIONS, _SCALES = 6, 2
_GUARDBAND = 16


def _matlab_pinv(matrix: np.ndarray) -> np.ndarray:
    """MATLAB's pinv: singular values below max(size) * eps * largest are treated as zero."""
    return np.linalg.pinv(matrix, rcond=max(matrix.shape) * np.finfo(np.float64).eps)


# --------------------------------------------------------------------------------------------------------
# Generalised Gaussian shape (gama_gen_gauss.m)


@lru_cache(maxsize=1)
def _shape_table() -> tuple[np.ndarray, np.ndarray]:
    """Shapes 0.03:0.001:10 and rho(g) = Gamma(1/g) Gamma(3/g) / Gamma(2/g)^2, which decreases with g."""
    shapes = np.linspace(0.03, 10.0, 9971)
    rho = gamma(1.0 / shapes) * gamma(3.0 / shapes) / gamma(2.0 / shapes) ** 2
    return shapes, rho


def generalized_gaussian_shape(samples: np.ndarray) -> np.ndarray:
    """Moment-matched shape of a generalised Gaussian fitted to each row of `samples` (last axis).

    rho_hat = var / (E|x - mean|^2 + 1e-7), and the shape is the table value whose rho is nearest, the
    smaller shape winning a tie as MATLAB's `min` returns the first index. The table is monotone, so a
    binary search replaces MATLAB's scan over all 9971 entries.
    """
    mean = samples.mean(axis=-1, keepdims=True)
    variance = samples.var(axis=-1, ddof=1)
    mean_abs = np.abs(samples - mean).mean(axis=-1) ** 2
    rho_hat = variance / (mean_abs + 1e-7)
    shapes, rho = _shape_table()
    increasing = rho[::-1]
    upper = np.clip(np.searchsorted(increasing, rho_hat), 1, rho.size - 1)
    # Candidates in the original (decreasing) order: index i_hi = n-1-upper has rho >= rho_hat.
    i_hi = rho.size - 1 - upper
    i_lo = i_hi + 1
    pick_hi = np.abs(rho[i_hi] - rho_hat) <= np.abs(rho[i_lo] - rho_hat)
    index = np.where(pick_hi, i_hi, i_lo)
    index = np.where(np.isnan(rho_hat), 0, index)
    return shapes[index]


def _coefficient_of_variation(samples: np.ndarray, eps: float) -> np.ndarray:
    """std(|x|) / (mean(|x|) + eps) along the last axis (coeff_var_gen_gauss.m and oriented*_dct_rho)."""
    magnitude = np.abs(samples)
    return magnitude.std(axis=-1, ddof=1) / (magnitude.mean(axis=-1) + eps)


# --------------------------------------------------------------------------------------------------------
# Group 1: local frequency features (block_dct.m)


def gaussian_pyramid(image: np.ndarray, levels: int = _PYRAMID_LEVELS) -> list[np.ndarray]:
    """The image and its 3x3 Gaussian (sigma 0.5), zero-padded, 2x-decimated reductions (feature_all.m)."""
    x = np.arange(3, dtype=np.float64) - 1.0
    kernel = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * 0.5**2))
    kernel /= kernel.sum()
    pyramid = [image]
    for _ in range(levels - 1):
        pyramid.append(correlate(pyramid[-1], kernel, mode="constant")[1::2, 1::2])
    return pyramid


def _dct_blocks(image: np.ndarray) -> np.ndarray:
    """(num_blocks, 7, 7) orthonormal 2-D DCTs of `blkproc`'s blocks: zero-padded to whole 3x3 cells,
    each cell extended by 2 pixels of its neighbours (or zeros) on every side."""
    rows, cols = math.ceil(image.shape[0] / _DCT_STEP), math.ceil(image.shape[1] / _DCT_STEP)
    padded = np.zeros((rows * _DCT_STEP + 2 * _DCT_BORDER, cols * _DCT_STEP + 2 * _DCT_BORDER))
    padded[_DCT_BORDER : _DCT_BORDER + image.shape[0], _DCT_BORDER : _DCT_BORDER + image.shape[1]] = image
    size = _DCT_STEP + 2 * _DCT_BORDER
    windows = np.lib.stride_tricks.sliding_window_view(padded, (size, size))[::_DCT_STEP, ::_DCT_STEP]
    return dctn(windows.reshape(-1, size, size), type=2, norm="ortho", axes=(-2, -1))


def _oriented_groups(dct: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three orientation groups of 7x7 DCT coefficients (oriented{1,2,3}_dct_rho_config3.m, nn = 7):
    above the diagonal, around it, and below it (the transpose of the first)."""
    upper = np.concatenate([dct[:, 0, 1:], dct[:, 1, 2:], dct[:, 2, 4:], dct[:, 3, 5:]], axis=1)
    diagonal = np.concatenate(
        [dct[:, 1, 1:2], dct[:, 2, 2:4], dct[:, 3, 2:5], dct[:, 4, 3:], dct[:, 5, 4:], dct[:, 6, 4:]], axis=1
    )
    lower = np.concatenate([dct[:, 1:, 0], dct[:, 2:, 1], dct[:, 4:, 2], dct[:, 5:, 3]], axis=1)
    return upper, diagonal, lower


def _mean_lowest_tenth(values: np.ndarray) -> float:
    ordered = np.sort(values)
    return float(ordered[: math.ceil(ordered.size * 0.1)].mean())


def _mean_highest_tenth(values: np.ndarray) -> float:
    ordered = np.sort(values)
    return float(ordered[max(int(ordered.size * 0.9), 1) - 1 :].mean())


def local_frequency_features(image: np.ndarray) -> np.ndarray:
    """The 6 DCT-domain statistics of one pyramid level in [0, 1] (block_dct.m)."""
    dct = _dct_blocks(image)
    ac = dct.reshape(dct.shape[0], -1)[:, 1:]
    shape = generalized_gaussian_shape(ac)
    variation = _coefficient_of_variation(ac, 1e-7)
    orientation = np.var(np.stack([_coefficient_of_variation(g, 1e-8) for g in _oriented_groups(dct)]), axis=0, ddof=1)
    return np.array(
        [
            _mean_lowest_tenth(shape),
            float(shape.mean()),
            _mean_highest_tenth(variation),
            float(variation.mean()),
            _mean_highest_tenth(orientation),
            float(orientation.mean()),
        ]
    )


# --------------------------------------------------------------------------------------------------------
# Group 2: global GSM features on a steerable pyramid (`steerable_pyramid`; norm_sender_normalized.m, global_gsm.m)


def _normalised_band(pyramid: SteerablePyramid, scale: int, orientation: int) -> np.ndarray:
    """Divisive normalisation of one band by its GSM multiplier estimate (norm_sender_normalized.m).

    Each coefficient's neighbourhood vector Y (3x3 spatial neighbours, the parent coefficient where the
    original has one, the 5 other orientations) gives z = sqrt(Y C^-1 Y^T / N), C the covariance of Y; the
    band divided by z is close to Gaussian for natural images. The original's quirks are kept: only bands
    numbered below Nband - Nor (all finest-scale orientations but the last) get a parent, N counts the
    spatial neighbours and the parent but not the siblings, and a guard band of 16 / 2^scale is cut off.
    """
    band = pyramid.bands[scale][orientation]
    rows, cols = band.shape[0] - 2, band.shape[1] - 2
    inner = (slice(1, 1 + rows), slice(1, 1 + cols))
    columns = [band[1 - dy : 1 - dy + rows, 1 - dx : 1 - dx + cols] for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    band_number = scale * _ORIENTATIONS + orientation + 2  # MATLAB's 1-based index, high-pass being 1
    has_parent = band_number < (_SCALES * _ORIENTATIONS + 1) - _ORIENTATIONS
    if has_parent:
        parent = imresize(pyramid.bands[scale + 1][orientation], scale=2.0)[: band.shape[0], : band.shape[1]]
        columns.append(parent[inner])
    columns += [pyramid.bands[scale][other][inner] for other in range(_ORIENTATIONS) if other != orientation]
    neighbours = np.stack([c.ravel() for c in columns], axis=1)
    count = 9 + int(has_parent)

    covariance = neighbours.T @ neighbours / neighbours.shape[0]
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    positive = eigenvalues * (eigenvalues > 0)
    # Drop negative eigenvalues while keeping the total variance (the trace).
    positive = positive * eigenvalues.sum() / (positive.sum() + (positive.sum() == 0))
    covariance = (eigenvectors * positive) @ eigenvectors.T

    z = np.sqrt(np.sum((neighbours @ _matlab_pinv(covariance)) * neighbours, axis=1) / count)
    if np.any(z == 0):
        raise MetricError("Ma's score is undefined for this image: a steerable-pyramid band is locally flat")
    centre = band[inner].ravel()
    normalised = ((centre - centre.mean()) / z).reshape(rows, cols)
    guard = _GUARDBAND >> scale
    normalised = normalised[guard:-guard, guard:-guard]
    if min(normalised.shape) < 11:
        raise MetricError(f"Ma's score needs a larger image: a normalised band is only {normalised.shape}")
    return normalised - normalised.mean()


def global_gsm_features(luma: np.ndarray) -> np.ndarray:
    """The 45 steerable-pyramid statistics of a luma image in [0, 255] (global_gsm.m)."""
    pyramid = steerable_pyramid(luma, _SCALES, _ORIENTATIONS)
    normalised = [
        [_normalised_band(pyramid, s, o) for o in range(_ORIENTATIONS)] for s in range(_SCALES)
    ]
    flat = [band.ravel() for level in normalised for band in level]
    shapes = [float(generalized_gaussian_shape(b)) for b in flat]
    across_scales = [
        float(generalized_gaussian_shape(np.concatenate([normalised[0][o].ravel(), normalised[1][o].ravel()])))
        for o in range(_ORIENTATIONS)
    ]
    highpass = pyramid.highpass
    with_highpass = [
        ssim_plane(imresize(band, output_shape=highpass.shape), highpass)[1]
        for level in pyramid.bands
        for band in level
    ]
    between_orientations = [
        ssim_plane(normalised[0][i], normalised[0][j])[1]
        for i in range(_ORIENTATIONS)
        for j in range(i + 1, _ORIENTATIONS)
    ]
    return np.array(shapes + across_scales + with_highpass + between_orientations)


# --------------------------------------------------------------------------------------------------------
# Group 3: spatial features (feature_all.m)


def spatial_svd_features(image: np.ndarray) -> np.ndarray:
    """The 25 singular values (descending) of the 25 x n matrix of distinct 5x5 patches, zero-padded at the
    bottom and right as MATLAB's `im2col(im, [5 5], 'distinct')`."""
    rows, cols = math.ceil(image.shape[0] / _PATCH), math.ceil(image.shape[1] / _PATCH)
    if rows * cols < _PATCH * _PATCH:
        raise MetricError(f"Ma's score needs a larger image: a {image.shape} pyramid level has < 25 patches")
    padded = np.zeros((rows * _PATCH, cols * _PATCH))
    padded[: image.shape[0], : image.shape[1]] = image
    patches = padded.reshape(rows, _PATCH, cols, _PATCH).transpose(0, 2, 1, 3).reshape(-1, _PATCH * _PATCH)
    return np.linalg.svd(patches, compute_uv=False)


def nrqm_features(luma: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three feature vectors (18 local-frequency, 45 global, 75 spatial) of a luma image in [0, 255]."""
    pyramid = gaussian_pyramid(luma.astype(np.float64) / 255.0)
    local = np.concatenate([local_frequency_features(level) for level in pyramid])
    spatial = np.concatenate([spatial_svd_features(level) for level in pyramid])
    return local, global_gsm_features(luma.astype(np.float64)), spatial


# --------------------------------------------------------------------------------------------------------
# Regression: three random forests and a linear combination (quality_predict.m)


@dataclass(frozen=True)
class RegressionForest:
    """A regression forest in randomForest-matlab's layout: (nodes, trees) arrays, 1-based indices.

    A node is a leaf when its left daughter is 0. (The mex also writes `nodestatus`, but as C chars packed
    into a MATLAB char array, which does not survive a .mat round trip reliably; the daughters say the same.)
    """

    left: np.ndarray
    right: np.ndarray
    split_variable: np.ndarray
    threshold: np.ndarray
    value: np.ndarray
    bias_correction: tuple[float, float] | None = None

    def predict(self, features: np.ndarray) -> float:
        """Mean over the trees of the leaf reached by `x[var] <= threshold ? left : right` (regRF_predict.m)."""
        needed = int(self.split_variable.max())
        if needed > features.size:
            raise MetricError(f"the Ma model splits on feature {needed}, but only {features.size} were computed")
        trees = np.arange(self.left.shape[1])
        node = np.zeros(trees.size, dtype=np.int64)
        for _ in range(self.left.shape[0]):  # no path is longer than the node count
            inner = self.left[node, trees] != 0
            if not inner.any():
                break
            variable = np.maximum(self.split_variable[node, trees] - 1, 0)
            go_left = features[variable] <= self.threshold[node, trees]
            child = np.where(go_left, self.left[node, trees], self.right[node, trees]) - 1
            node = np.where(inner, child, node)
        prediction = float(self.value[node, trees].mean())
        if self.bias_correction is not None:
            prediction = self.bias_correction[0] + self.bias_correction[1] * prediction
        return prediction


@dataclass(frozen=True)
class MaModel:
    """The three forests (local frequency, global, spatial) and the weights of [1, s1, s2, s3]."""

    forests: tuple[RegressionForest, RegressionForest, RegressionForest]
    linear: np.ndarray

    def predict(self, features: tuple[np.ndarray, np.ndarray, np.ndarray]) -> float:
        scores = [forest.predict(f) for forest, f in zip(self.forests, features)]
        return float(np.dot(np.concatenate([[1.0], scores]), self.linear))


def _struct_fields(value: object) -> dict[str, np.ndarray] | None:
    """Fields of one MATLAB struct as scipy reads it (a cell entry, a 1x1 struct array or a record), or None."""
    while isinstance(value, np.ndarray) and value.size == 1 and (value.dtype == object or value.dtype.names):
        value = value.ravel()[0]
    if isinstance(value, np.void) and value.dtype.names:
        return {name: value[name] for name in value.dtype.names}
    return None


def _forest_from_struct(fields: dict[str, np.ndarray], where: str) -> RegressionForest:
    missing = {"lDau", "rDau", "upper", "avnode", "mbest"} - set(fields)
    if missing:
        raise MetricError(f"{where}: the forest lacks the fields {sorted(missing)}; is this Ma et al.'s model.mat?")
    left = np.atleast_2d(fields["lDau"])
    trees = int(np.ravel(fields["ntree"])[0]) if "ntree" in fields else left.shape[1]

    def table(name: str, dtype: type) -> np.ndarray:
        return np.atleast_2d(np.asarray(fields[name], dtype=dtype))[:, :trees]

    coef = np.asarray(fields.get("coef", np.zeros(0)), dtype=np.float64).ravel()
    return RegressionForest(
        left=table("lDau", np.int64),
        right=table("rDau", np.int64),
        split_variable=table("mbest", np.int64),
        threshold=table("upper", np.float64),
        value=table("avnode", np.float64),
        bias_correction=(float(coef[0]), float(coef[1])) if coef.size == 2 and np.any(coef != 0) else None,
    )


@lru_cache(maxsize=2)
def _load_model_cached(path: str, mtime: float) -> MaModel:
    try:
        content = loadmat(path)
    except NotImplementedError:
        raise MetricError(
            f"{path}: MATLAB v7.3 files are not readable here; re-save it with save(..., '-v7')"
        ) from None
    except (OSError, ValueError) as error:
        raise MetricError(f"{path}: not a readable .mat file ({error})") from None
    model = _struct_fields(content.get("model"))
    if model is None or "rf" not in model or "linear" not in model:
        raise MetricError(f"{path}: expected a struct `model` with fields `rf` and `linear` (Ma et al.'s model.mat)")
    # `rf` is a cell of three structs in the authors' file; a 1x3 struct array reads the same way.
    forests = [_struct_fields(entry) for entry in model["rf"].ravel()]
    linear = np.asarray(model["linear"], dtype=np.float64).ravel()
    if len(forests) != 3 or any(f is None for f in forests) or linear.size != 4:
        raise MetricError(f"{path}: expected 3 forests and 4 linear weights, got {len(forests)} and {linear.size}")
    first, second, third = (_forest_from_struct(f, f"{path} rf{{{i + 1}}}") for i, f in enumerate(forests) if f)
    return MaModel(forests=(first, second, third), linear=linear)


def load_ma_model(path: str | os.PathLike[str] | None = None) -> MaModel:
    """Read the authors' `model.mat` from `path`, or from $ESRGAN_MA_MODEL when `path` is None."""
    chosen = path if path is not None else os.environ.get(MODEL_ENV)
    if not chosen:
        raise MetricError(
            "Ma's score needs the authors' trained model.mat (github.com/chaoma99/sr-metric), which is not "
            f"shipped with this package: pass its path or set {MODEL_ENV}"
        )
    resolved = Path(chosen).expanduser().resolve()
    if not resolved.is_file():
        raise MetricError(f"Ma model file {resolved} does not exist (from {'argument' if path else MODEL_ENV})")
    return _load_model_cached(str(resolved), resolved.stat().st_mtime)


def ma_score(
    image: np.ndarray, crop_border: int = 0, model: MaModel | str | os.PathLike[str] | None = None
) -> float:
    """Ma et al.'s score (higher is better, about 0-10) of an RGB or grey image on MATLAB's rounded Y.

    Float images are taken in [0, 1]; `model` is a loaded `MaModel`, a path to model.mat, or None for
    $ESRGAN_MA_MODEL.
    """
    loaded = model if isinstance(model, MaModel) else load_ma_model(model)
    luma = to_y_channel(image, rounded=True)
    if crop_border:
        luma = luma[crop_border:-crop_border, crop_border:-crop_border]
    return loaded.predict(nrqm_features(luma))


def perceptual_index(ma: float, niqe: float) -> float:
    """PIRM 2018's perceptual index, ((10 - Ma) + NIQE) / 2; lower is better."""
    return ((10.0 - ma) + niqe) / 2.0
