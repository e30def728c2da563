"""Score super-resolution on benchmark folders the way the paper's tables and PIRM 2018 were scored.

For every HR image of a dataset folder:

1. the HR image is mod-cropped to a multiple of the scale (bottom and right rows dropped), so that
   HR = scale x LR exactly;
2. its LR image is MATLAB's bicubic `imresize(HR, 1/scale)`, by default on the uint8 path (rounded after
   each 1-D pass), which is how the Set5/Set14/BSD100/Urban100 LR packs were made (`lr_rounding="once"`
   is the float convention of the original ESRGAN release), or the file of the same stem (or stem +
   "x<scale>") in an LR folder;
3. the SR image is the network's output for that LR image, or MATLAB's bicubic upscale of it (the `bicubic`
   baseline, no network), or an existing result of the same stem in an SR folder;
4. metrics, each on the conventions of the figures they are compared with:
   - PSNR and SSIM on MATLAB's unrounded Y channel (or on RGB), with `scale` pixels cropped from each border
     (the convention of ESRGAN's Table 1 and of SRCNN/EDSR/BasicSR);
   - NIQE, Ma's score and PI = ((10 - Ma) + NIQE) / 2 on MATLAB's rounded uint8 Y with 4 pixels cropped
     (PIRM 2018's `evaluate_results.m`), whatever `--rgb` says.

A grey image is scored on its grey plane, which plays the part of Y. Whatever goes wrong with one image
(unreadable, no LR/SR file, sizes that do not fit, a metric that cannot be computed, such as Ma's score
without its model file) is recorded on that image and the others are still scored; an empty or missing
dataset folder is a `DatasetError` before anything runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from esrgan.back_projection import back_project
from esrgan.data.datasets import list_images
from esrgan.data.prepare import make_lr, mod_crop
from esrgan.defaults import DEFAULT_MAX_PIXELS
from esrgan.errors import ConfigError, DatasetError, EsrganError, MetricError
from esrgan.evaluation.metric_names import ALL_METRICS, parse_metrics
from esrgan.imaging.io import read_image, write_image
from esrgan.imaging.matlab_resize import ROUNDINGS, Rounding, imresize_keeping_type
from esrgan.metrics.ma import MaModel, load_ma_model, ma_score, perceptual_index
from esrgan.metrics.niqe import niqe
from esrgan.metrics.psnr_ssim import psnr, ssim

METRICS: tuple[str, ...] = tuple(m for m in ALL_METRICS if m != "rmse")
"""What `evaluate` reports (RMSE is the sweep's distortion axis)."""
DEFAULT_METRICS: tuple[str, ...] = ("psnr", "ssim")
FULL_REFERENCE: frozenset[str] = frozenset({"psnr", "ssim"})
PIRM_CROP_BORDER = 4
"""Pixels PIRM 2018 removes from each border before NIQE and Ma's score (its `shave_width`)."""

BICUBIC = "bicubic"
"""The method name of the baseline: MATLAB bicubic upscaling of the LR image."""

IMAGE_ERROR = "image"
"""Key of the error that stopped a whole image (as opposed to one metric of it)."""

SuperResolve = Callable[[np.ndarray], np.ndarray]
"""LR image (H, W[, C]) → SR image (scale·H, scale·W[, C]) of the same dtype."""

ImageCallback = Callable[["ImageResult", int], None]
"""Called after each image with its result and the number of images in all datasets."""


def bicubic_upscaler(scale: int) -> SuperResolve:
    """The `bicubic` baseline: MATLAB bicubic upscaling by `scale`, no network."""
    return lambda lr: imresize_keeping_type(lr, float(scale))


@dataclass(frozen=True)
class Dataset:
    """A folder of HR images and, optionally, the folder its LR inputs or its SR results come from."""

    hr_dir: Path
    lr_dir: Path | None = None
    sr_dir: Path | None = None
    name: str = ""

    @property
    def label(self) -> str:
        return self.name or Path(self.hr_dir).name


@dataclass(frozen=True)
class EvaluationOptions:
    """What to compute and how; validated on construction."""

    scale: int
    metrics: tuple[str, ...] = DEFAULT_METRICS
    y_channel: bool = True
    back_projection: int = 0
    save_sr: Path | None = None
    overwrite: bool = False
    ma_model: Path | None = None
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    lr_rounding: Rounding = "per_pass"
    """How LR images made here are rounded (see `esrgan.data.prepare.make_lr`); "per_pass" is MATLAB's uint8
    `imresize`, which made the benchmark LR packs."""

    def __post_init__(self) -> None:
        if self.scale < 1:
            raise ConfigError(f"scale must be a positive integer, not {self.scale}")
        parse_metrics(",".join(self.metrics), METRICS)
        if self.back_projection < 0:
            raise ConfigError(f"back-projection iterations must be >= 0, not {self.back_projection}")
        if self.lr_rounding not in ROUNDINGS:
            raise ConfigError(f"LR rounding must be one of {', '.join(ROUNDINGS)}, not {self.lr_rounding!r}")


@dataclass
class ImageResult:
    """Scores of one image; `errors` maps a metric (or `IMAGE_ERROR`, or "save-sr") to what went wrong."""

    name: str
    scores: dict[str, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


@dataclass
class DatasetResult:
    name: str
    hr_dir: Path
    source: str
    """Where the SR images came from, in words: the LR convention, an LR folder, or an SR folder."""
    images: list[ImageResult] = field(default_factory=list)

    def values(self, metric: str) -> list[float]:
        return [image.scores[metric] for image in self.images if metric in image.scores]

    def mean(self, metric: str) -> float | None:
        """Mean over the images that have this score; None when none has it."""
        values = self.values(metric)
        return float(np.mean(values)) if values else None

    @property
    def errors(self) -> list[tuple[str, str, str]]:
        """(image, metric or `IMAGE_ERROR`, message) for everything that failed."""
        return [(image.name, key, message) for image in self.images for key, message in image.errors.items()]


@dataclass
class Evaluation:
    method: str
    options: EvaluationOptions
    datasets: list[DatasetResult] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(dataset.errors for dataset in self.datasets)


class _Scorer:
    """Computes the requested metrics of one SR image, each failure recorded on its own.

    Ma's model is loaded once; when it cannot be, Ma and PI fail on every image with that reason while
    PSNR, SSIM and NIQE go on.
    """

    def __init__(self, options: EvaluationOptions) -> None:
        self.options = options
        self.ma_model: MaModel | MetricError | None = None
        if {"ma", "pi"} & set(options.metrics):
            try:
                self.ma_model = load_ma_model(options.ma_model)
            except MetricError as error:
                self.ma_model = error

    def score(self, sr: np.ndarray, hr: np.ndarray, result: ImageResult) -> None:
        wanted = self.options.metrics
        needed = set(wanted) | ({"ma", "niqe"} if "pi" in wanted else set())
        values: dict[str, float | EsrganError] = {}
        for metric in METRICS:  # in this order PI comes after the two scores it combines
            if metric in needed:
                try:
                    values[metric] = self._compute(metric, sr, hr, values)
                except EsrganError as error:
                    values[metric] = error
        for metric in wanted:
            value = values[metric]
            if isinstance(value, EsrganError):
                result.errors[metric] = str(value)
            else:
                result.scores[metric] = value

    def _compute(self, metric: str, sr: np.ndarray, hr: np.ndarray, done: dict[str, float | EsrganError]) -> float:
        options = self.options
        if metric in FULL_REFERENCE:
            function = psnr if metric == "psnr" else ssim
            return function(sr, hr, crop_border=options.scale, y_channel=options.y_channel)
        if metric == "niqe":
            return niqe(sr, crop_border=PIRM_CROP_BORDER)
        if metric == "ma":
            if isinstance(self.ma_model, MetricError):
                raise self.ma_model
            return ma_score(sr, crop_border=PIRM_CROP_BORDER, model=self.ma_model)
        assert metric == "pi", metric
        ma, niqe_value = done["ma"], done["niqe"]
        if isinstance(ma, EsrganError):
            raise ma
        if isinstance(niqe_value, EsrganError):
            raise niqe_value
        return perceptual_index(ma, niqe_value)


def _colour_planes(image: np.ndarray) -> np.ndarray:
    """Drop alpha (benchmarks score colour only) and make a one-channel image (H, W)."""
    if image.ndim == 3 and image.shape[2] in (2, 4):
        image = image[..., :-1]
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    return image


def _match_grey(sr: np.ndarray, hr: np.ndarray) -> np.ndarray:
    """SR of a grey HR image saved as RGB with equal channels is the grey image it shows."""
    if hr.ndim == 2 and sr.ndim == 3:
        if sr.shape[2] == 3 and np.array_equal(sr[..., 0], sr[..., 1]) and np.array_equal(sr[..., 0], sr[..., 2]):
            return sr[..., 0]
        raise MetricError("the SR image is in colour but its HR image is grey")
    if hr.ndim == 3 and sr.ndim == 2:
        raise MetricError("the SR image is grey but its HR image is in colour")
    return sr


def _size(image: np.ndarray) -> str:
    return f"{image.shape[1]}x{image.shape[0]}"


def find_by_stem(paths: Sequence[Path], stem: str, scale: int) -> Path | None:
    """The file named `stem` or `stem` + "x<scale>" (DIV2K's LR naming), whatever its image suffix."""
    by_stem = {path.stem: path for path in paths}
    return by_stem.get(stem) or by_stem.get(f"{stem}x{scale}")


class _DatasetRun:
    """Evaluation of one dataset folder: the listing is done (and checked) on construction."""

    def __init__(self, dataset: Dataset, options: EvaluationOptions) -> None:
        if dataset.lr_dir is not None and dataset.sr_dir is not None:
            raise ConfigError(f"{dataset.label}: give an LR folder or an SR folder, not both")
        self.dataset = dataset
        self.options = options
        self.hr_paths = list_images(Path(dataset.hr_dir), f"{dataset.label} HR")
        self.lr_paths = list_images(Path(dataset.lr_dir), f"{dataset.label} LR") if dataset.lr_dir else []
        self.sr_paths = list_images(Path(dataset.sr_dir), f"{dataset.label} SR") if dataset.sr_dir else []

    @property
    def source(self) -> str:
        if self.dataset.sr_dir is not None:
            return f"SR images from {self.dataset.sr_dir}"
        if self.dataset.lr_dir is not None:
            return f"LR images from {self.dataset.lr_dir}"
        rounding = {"per_pass": "uint8 path, rounded per pass", "once": "float, rounded once"}[self.options.lr_rounding]
        return f"LR = MATLAB bicubic x1/{self.options.scale} of the mod-cropped HR ({rounding})"

    def read(self, path: Path) -> np.ndarray:
        return _colour_planes(read_image(path, max_pixels=self.options.max_pixels))

    def sr_image(
        self, hr_path: Path, full_hr: np.ndarray, hr: np.ndarray, super_resolve: SuperResolve | None
    ) -> np.ndarray:
        """The SR image for `hr` (already mod-cropped; `full_hr` is before cropping), checked against its size."""
        scale = self.options.scale
        if self.dataset.sr_dir is not None:
            path = find_by_stem(self.sr_paths, hr_path.stem, scale)
            if path is None:
                raise DatasetError(f"no SR image named {hr_path.stem}.* in {self.dataset.sr_dir}")
            sr = self.read(path)
            if sr.shape[:2] == full_hr.shape[:2]:
                sr = mod_crop(sr, scale)  # a result kept at the full HR size: crop it as the HR was cropped
            if sr.shape[:2] != hr.shape[:2]:
                raise DatasetError(
                    f"SR image {path.name} is {_size(sr)}, its HR image is {_size(hr)} after mod-crop to {scale}"
                )
            return _match_grey(sr, hr)
        assert super_resolve is not None, "checked by evaluate()"
        if self.dataset.lr_dir is not None:
            path = find_by_stem(self.lr_paths, hr_path.stem, scale)
            if path is None:
                raise DatasetError(
                    f"no LR image named {hr_path.stem}.* or {hr_path.stem}x{scale}.* in {self.dataset.lr_dir}"
                )
            lr = self.read(path)
            if (lr.shape[0] * scale, lr.shape[1] * scale) != hr.shape[:2]:
                raise DatasetError(
                    f"LR image {path.name} is {_size(lr)}; x{scale} that is not {_size(hr)}, "
                    f"the size of its HR image after mod-crop"
                )
        else:
            lr = make_lr(hr, scale, self.options.lr_rounding)
        sr = super_resolve(lr)
        if self.options.back_projection:
            sr = back_project(sr, lr, self.options.back_projection)
        return _match_grey(_colour_planes(sr), hr)

    def save(self, hr_path: Path, sr: np.ndarray, result: ImageResult) -> None:
        if self.options.save_sr is None or self.dataset.sr_dir is not None:
            return
        target = Path(self.options.save_sr) / self.dataset.label / f"{hr_path.stem}.png"
        try:
            write_image(target, sr, overwrite=self.options.overwrite)
        except EsrganError as error:
            result.errors["save-sr"] = str(error)


def evaluate(
    datasets: Sequence[Dataset],
    super_resolve: SuperResolve | None,
    options: EvaluationOptions,
    method: str = "",
    on_image: ImageCallback | None = None,
) -> Evaluation:
    """Score `super_resolve` (None when every dataset has an SR folder) on every dataset.

    All folders are listed first, so that a missing or empty one stops the run before any work is done.
    `on_image(result, total)` is called after each image, e.g. to advance a progress bar.
    """
    if not datasets:
        raise ConfigError("no dataset to evaluate; name at least one HR folder")
    if super_resolve is None and any(dataset.sr_dir is None for dataset in datasets):
        raise ConfigError("a dataset without an SR folder needs a model (or the bicubic baseline) to make SR images")
    labels = [dataset.label for dataset in datasets]
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates and options.save_sr is not None:
        raise ConfigError(f"two datasets are named {duplicates[0]}; their saved SR images would mix")
    runs = [_DatasetRun(dataset, options) for dataset in datasets]
    total = sum(len(run.hr_paths) for run in runs)
    scorer = _Scorer(options)
    evaluation = Evaluation(method=method, options=options)
    for run in runs:
        result = DatasetResult(run.dataset.label, Path(run.dataset.hr_dir), run.source)
        for hr_path in run.hr_paths:
            image = ImageResult(hr_path.name)
            try:
                full_hr = run.read(hr_path)
                hr = mod_crop(full_hr, options.scale)
                sr = run.sr_image(hr_path, full_hr, hr, super_resolve)
            except EsrganError as error:
                image.errors[IMAGE_ERROR] = str(error)
            else:
                run.save(hr_path, sr, image)
                scorer.score(sr, hr, image)
            result.images.append(image)
            if on_image is not None:
                on_image(image, total)
        evaluation.datasets.append(result)
    return evaluation

