"""Simoncelli & Freeman's real steerable pyramid, built in the Fourier domain as matlabPyrTools' buildSFpyr.

Ma's score (`esrgan.metrics.ma`) takes its global statistics from the bands of this pyramid; it is kept
apart because it is a transform of its own, checked on its own (a grating lands in the band of its
orientation, `tests/metrics/test_ma.py`), and its MATLAB original (matlabPyrTools) is a separate library.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from esrgan.errors import MetricError


def _point_op(values: np.ndarray, table: np.ndarray, origin: float, increment: float) -> np.ndarray:
    """matlabPyrTools' pointOp: piecewise-linear lookup, extrapolated from the end segments."""
    position = (values - origin) / increment
    index = np.clip(np.trunc(position), 0, table.size - 2).astype(np.int64)
    return table[index] + (table[index + 1] - table[index]) * (position - index)


def _raised_cosine() -> tuple[np.ndarray, np.ndarray]:
    """rcosFn(1, -0.5, [0 1]): a cos^2 transition from 0 to 1 over one octave ending at log2 radius 0."""
    size = 256
    x = np.pi * np.arange(-size - 1, 2) / (2 * size)
    y = np.cos(x) ** 2
    y[0] = y[1]
    y[size + 2] = y[size + 1]
    return -0.5 + (2 / np.pi) * (x + np.pi / 4), y


@dataclass(frozen=True)
class SteerablePyramid:
    """Bands of a real steerable pyramid: the high-pass residual and, per scale, one band per orientation."""

    highpass: np.ndarray
    bands: list[list[np.ndarray]]


def steerable_pyramid(image: np.ndarray, scales: int = 2, orientations: int = 6) -> SteerablePyramid:
    """Simoncelli & Freeman's steerable pyramid built in the Fourier domain, as matlabPyrTools' buildSFpyr
    with order = orientations - 1 and transition width 1 (octave-wide radial bands, cos^order angular
    windows); the low-pass residual is not needed here and is not computed."""
    if math.floor(math.log2(min(image.shape))) - 2 < scales:
        raise MetricError(f"a {scales}-scale steerable pyramid needs a larger image than {image.shape}")
    dims = np.array(image.shape)
    centre = np.ceil((dims + 0.5) / 2).astype(int)  # 1-based, as MATLAB
    xramp, yramp = np.meshgrid(
        (np.arange(1, dims[1] + 1) - centre[1]) / (dims[1] / 2), (np.arange(1, dims[0] + 1) - centre[0]) / (dims[0] / 2)
    )
    angle = np.arctan2(yramp, xramp)
    radius = np.sqrt(xramp**2 + yramp**2)
    radius[centre[0] - 1, centre[1] - 1] = radius[centre[0] - 1, centre[1] - 2]
    log_rad = np.log2(radius)

    x_rcos, y_rcos = _raised_cosine()
    y_rcos = np.sqrt(y_rcos)
    y_irc = np.sqrt(1.0 - y_rcos**2)
    step = x_rcos[1] - x_rcos[0]
    spectrum = np.fft.fftshift(np.fft.fft2(image))
    highpass = np.real(np.fft.ifft2(np.fft.ifftshift(spectrum * _point_op(log_rad, y_rcos, x_rcos[0], step))))
    lowpass = spectrum * _point_op(log_rad, y_irc, x_rcos[0], step)

    order = orientations - 1
    lut_size = 1024
    x_cos = np.pi * np.arange(-(2 * lut_size + 1), lut_size + 2) / lut_size
    const = 2 ** (2 * order) * math.factorial(order) ** 2 / (orientations * math.factorial(2 * order))
    y_cos = math.sqrt(const) * np.cos(x_cos) ** order
    bands: list[list[np.ndarray]] = []
    for _ in range(scales):
        x_rcos = x_rcos - 1.0  # one octave lower
        himask = _point_op(log_rad, y_rcos, x_rcos[0], step)
        level = []
        for b in range(orientations):
            anglemask = _point_op(angle, y_cos, x_cos[0] + np.pi * b / orientations, x_cos[1] - x_cos[0])
            band_dft = ((-1j) ** order) * lowpass * anglemask * himask
            level.append(np.real(np.fft.ifft2(np.fft.ifftshift(band_dft))))
        bands.append(level)
        dims = np.array(lowpass.shape)
        centre = np.ceil((dims + 0.5) / 2).astype(int)
        lodims = np.ceil((dims - 0.5) / 2).astype(int)
        start = centre - np.ceil((lodims + 0.5) / 2).astype(int)
        crop = (slice(start[0], start[0] + lodims[0]), slice(start[1], start[1] + lodims[1]))
        log_rad, angle = log_rad[crop], angle[crop]
        lowpass = lowpass[crop] * _point_op(log_rad, np.abs(np.sqrt(1.0 - y_rcos**2)), x_rcos[0], step)
    return SteerablePyramid(highpass=highpass, bands=bands)
