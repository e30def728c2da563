"""The perception–distortion sweep: network vs image interpolation across α (paper Sec. 3.4, Fig. 2 and 10).

For each α and each strategy the benchmark images are super-resolved and scored:

- network interpolation: the generator with weights (1 − α)·θ_PSNR + α·θ_GAN (eq. 4);
- image interpolation: (1 − α)·SR_PSNR + α·SR_GAN pixel-wise, from the two end models' outputs, which are
  computed once per image.

Each (dataset, strategy, α) is scored by `esrgan.evaluation.evaluate` with that strategy as its SR function,
so the conventions are those of `esrgan evaluate` (LR by MATLAB bicubic of the mod-cropped HR; PSNR/SSIM on
MATLAB's Y with `scale` border pixels cropped; NIQE, Ma and PI as PIRM computed them). RMSE, the distortion
axis of PIRM and of the paper's Fig. 2, is that of the same Y channel, 255 / 10^(PSNR / 20) per image.
Back-projection, when asked, is applied to the output of either strategy.

Both strategies give the end models' own images at α = 0 and α = 1, so their curves meet at the ends; in
between, the network curve is the paper's claim to a better trade-off.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path

import numpy as np
from tqdm import tqdm

from esrgan.api import build_generator, load_weights
from esrgan.atomic import atomic_write
from esrgan.back_projection import back_project
from esrgan.data.datasets import list_images
from esrgan.defaults import DEFAULT_MAX_PIXELS
from esrgan.errors import ConfigError, MetricError
from esrgan.evaluation.evaluate import Dataset, DatasetResult, EvaluationOptions, ImageResult, evaluate, mod_crop
from esrgan.evaluation.metric_names import ALL_METRICS
from esrgan.evaluation.report import error_lines
from esrgan.imaging.io import read_image
from esrgan.inference.upscaler import Upscaler
from esrgan.interpolation import check_alpha, image_interpolate, interpolate_specs, network_interpolate
from esrgan.metrics.ma import load_ma_model
from esrgan.options import UpscaleOptions

STRATEGIES: tuple[str, ...] = ("network", "image")
"""`network`: eq. (4) on the weights; `image`: the same blend of the two end models' output pixels."""

STRATEGY_LABELS = {"network": "network interpolation", "image": "image interpolation"}

METRICS = ALL_METRICS
"""psnr, ssim and rmse are on the Y channel against the HR image; niqe, ma and pi need no reference."""

LOWER_IS_BETTER = frozenset({"rmse", "niqe", "pi"})
NEEDS_MA_MODEL = frozenset({"ma", "pi"})
DEFAULT_ALPHAS = "0:1:0.2"
DEFAULT_CROP_SIZE = 128

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


def parse_alphas(text: str) -> tuple[float, ...]:
    """α values from `start:stop:step` (stop included when the steps reach it) or a comma list, ascending.

        >>> parse_alphas("0:1:0.25")
        (0.0, 0.25, 0.5, 0.75, 1.0)
        >>> parse_alphas("0.8, 0, 1")
        (0.0, 0.8, 1.0)
    """
    text = text.strip()
    hint = "write start:stop:step (e.g. 0:1:0.2) or a comma list (e.g. 0,0.5,0.8,1)"
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 3 or not all(re.fullmatch(_NUMBER, p.strip()) for p in parts):
            raise ConfigError(f"alphas {text!r}: {hint}")
        start, stop, step = (float(p) for p in parts)
        if step <= 0 or stop < start:
            raise ConfigError(f"alphas {text!r}: the step must be positive and stop >= start; {hint}")
        count = math.floor((stop - start) / step + 1e-9) + 1
        # Rounding keeps 0.6 from printing as 0.6000000000000001 (steps accumulate binary error).
        values = [round(start + i * step, 12) for i in range(count)]
    else:
        parts = [p.strip() for p in text.split(",")]
        if not all(re.fullmatch(_NUMBER, p) for p in parts):
            raise ConfigError(f"alphas {text!r}: {hint}")
        values = [float(p) for p in parts]
    if len(values) > 1000:
        raise ConfigError(f"alphas {text!r} gives {len(values)} values; choose a coarser step")
    return tuple(sorted(set(values)))


def default_metrics(with_ma_model: bool) -> tuple[str, ...]:
    """Everything that can be computed: Ma and PI only when Ma's model.mat is at hand."""
    return METRICS if with_ma_model else tuple(m for m in METRICS if m not in NEEDS_MA_MODEL)


@dataclass(frozen=True)
class CropChoice:
    """The region shown in the grid, in pixels of the HR (= SR) image; None fields are chosen automatically."""

    image: str | None = None
    x: int | None = None
    y: int | None = None
    size: int = DEFAULT_CROP_SIZE

    @classmethod
    def parse(cls, image: str | None, crop: str | None) -> CropChoice:
        """From `--crop-image NAME` and `--crop x,y,size` (or just `size`)."""
        if crop is None:
            return cls(image)
        parts = [p.strip() for p in crop.split(",")]
        if len(parts) not in (1, 3) or not all(p.isdigit() for p in parts) or int(parts[-1]) == 0:
            raise ConfigError(f"crop {crop!r}: write x,y,size in HR pixels (e.g. 100,60,128) or just a size")
        if len(parts) == 1:
            return cls(image, size=int(parts[0]))
        return cls(image, int(parts[0]), int(parts[1]), int(parts[2]))


@dataclass(frozen=True)
class SweepConfig:
    psnr_model: str
    gan_model: str
    datasets: tuple[Path, ...]
    alphas: tuple[float, ...] = parse_alphas(DEFAULT_ALPHAS)
    metrics: tuple[str, ...] = default_metrics(False)
    ma_model: Path | None = None
    back_projection: int = 0
    crop: CropChoice = CropChoice()
    runtime: UpscaleOptions = field(default_factory=UpscaleOptions)
    max_pixels: int | None = DEFAULT_MAX_PIXELS

    def __post_init__(self) -> None:
        if not self.datasets:
            raise ConfigError("the sweep needs at least one dataset folder of HR images")
        if not self.alphas:
            raise ConfigError("the sweep needs at least one alpha")
        for alpha in self.alphas:
            check_alpha(alpha)
        if self.back_projection < 0:
            raise ConfigError(f"back-projection iterations must be >= 0, not {self.back_projection}")
        if not self.metrics or set(self.metrics) - set(METRICS):
            raise ConfigError(f"metrics {self.metrics}: choose from {', '.join(METRICS)}")
        names = [dataset_name(d) for d in self.datasets]
        if len(set(names)) != len(names):
            raise ConfigError(f"two dataset folders share a name ({', '.join(names)}); rows are labelled by it")


@dataclass(frozen=True)
class SweepRow:
    """Mean scores of one strategy at one α over one dataset, and the per-image scores they average."""

    dataset: str
    strategy: str
    alpha: float
    mean: dict[str, float]
    images: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class GridCrops:
    """One crop of one image across α for both strategies: `crops[strategy][i]` belongs to `alphas[i]`."""

    dataset: str
    image: str
    x: int
    y: int
    size: int
    alphas: tuple[float, ...]
    crops: dict[str, list[np.ndarray]]


@dataclass(frozen=True)
class SweepResult:
    config: SweepConfig
    rows: list[SweepRow]
    grid: GridCrops

    def curve(self, dataset: str, strategy: str, metric: str) -> list[float]:
        """`metric` of `strategy` on `dataset` at each α of the config, in order."""
        by_alpha = {r.alpha: r.mean[metric] for r in self.rows if r.dataset == dataset and r.strategy == strategy}
        return [by_alpha[a] for a in self.config.alphas]

    @property
    def dataset_names(self) -> list[str]:
        return [dataset_name(d) for d in self.config.datasets]


def dataset_name(folder: Path) -> str:
    """Rows are labelled by the folder's name (`Set14`), also for `.` or a path with a trailing slash."""
    return Path(folder).resolve().name


def rmse_from_psnr(psnr_db: float) -> float:
    """The RMSE on the [0, 255] scale that a PSNR stands for: 255 / 10^(PSNR / 20) (same pixels, same MSE)."""
    return 255.0 * 10.0 ** (-psnr_db / 20.0)


class _EndOutputs:
    """SR_PSNR and SR_GAN of each LR image, computed on first use and kept for every α of image interpolation."""

    def __init__(self, model_a: Upscaler, model_b: Upscaler) -> None:
        self.models = (model_a, model_b)
        self.outputs: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}

    def __call__(self, lr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        key = hashlib.blake2b(repr((lr.shape, lr.dtype.str)).encode() + lr.tobytes(), digest_size=16).digest()
        if key not in self.outputs:
            self.outputs[key] = (self.models[0].upscale_array(lr), self.models[1].upscale_array(lr))
        return self.outputs[key]


class _Recorded:
    """An SR function that keeps its latest output: `evaluate` names an image only after scoring it, and the
    grid crop is taken then."""

    def __init__(self, function: Callable[[np.ndarray], np.ndarray]) -> None:
        self.function = function
        self.latest = np.zeros(0, dtype=np.uint8)

    def __call__(self, lr: np.ndarray) -> np.ndarray:
        self.latest = self.function(lr)
        return self.latest


def run_sweep(config: SweepConfig, progress: bool = False) -> SweepResult:
    """Score both strategies at every α on every dataset with `esrgan evaluate`'s conventions.

    Each (dataset, strategy, α) is one `evaluate` run whose SR function is that strategy at that α; so the
    α = 0 and α = 1 rows are exactly what `esrgan evaluate` reports for the end models.
    """
    spec_a, state_a = load_weights(config.psnr_model, progress)
    spec_b, state_b = load_weights(config.gan_model, progress)
    spec = interpolate_specs(spec_a, spec_b)
    listings = {dataset_name(folder): list_images(Path(folder), f"dataset {folder}") for folder in config.datasets}
    crop_dataset, crop_path, (x, y, size) = _choose_crop(config.crop, listings, spec.scale, config.max_pixels)
    if NEEDS_MA_MODEL & set(config.metrics):
        load_ma_model(config.ma_model)  # a missing or unreadable model.mat stops the sweep before any work

    # Three copies of the network: the two ends (their outputs feed image interpolation) and one whose
    # weights are replaced by each blend in turn. They share one tile size (automatic tiling reads the free
    # memory, which changes), so that both strategies give the very same pixels at α = 0 and α = 1.
    end_a = Upscaler(build_generator(spec, state_a), spec, config.runtime)
    same_tiles = replace(config.runtime, tile=end_a.tile)
    end_b, blended = (Upscaler(build_generator(spec, state), spec, same_tiles) for state in (state_b, state_a))
    ends = _EndOutputs(end_a, end_b)
    scored = [m for m in config.metrics if m != "rmse"]
    if "rmse" in config.metrics and "psnr" not in scored:
        scored.insert(0, "psnr")
    options = EvaluationOptions(spec.scale, tuple(scored), ma_model=config.ma_model, max_pixels=config.max_pixels)

    def super_resolve(lr: np.ndarray, strategy: str, alpha: float) -> np.ndarray:
        """One strategy's output at α (`blended` holds the blend for α), back-projected when asked."""
        sr = blended.upscale_array(lr) if strategy == "network" else image_interpolate(*ends(lr), alpha)
        return back_project(sr, lr, config.back_projection) if config.back_projection else sr

    rows: list[SweepRow] = []
    crops: dict[str, list[np.ndarray]] = {s: [] for s in STRATEGIES}

    def image_done(image: ImageResult, _total: int, dataset: str, strategy: str, run: _Recorded) -> None:
        bar.update()
        if (dataset, image.name) == (crop_dataset, crop_path.name) and not image.errors:
            crops[strategy].append(run.latest[y : y + size, x : x + size].copy())

    total = sum(len(paths) for paths in listings.values()) * len(STRATEGIES) * len(config.alphas)
    with tqdm(total=total, desc="sweep", unit="img", disable=not progress) as bar:
        for folder, name in zip(config.datasets, listings):
            for alpha in config.alphas:
                blended.load_state_dict(network_interpolate(state_a, state_b, alpha))
                for strategy in STRATEGIES:
                    bar.set_postfix_str(f"{name} {strategy} α={alpha:g}", refresh=False)
                    run = _Recorded(partial(super_resolve, strategy=strategy, alpha=alpha))
                    on_image = partial(image_done, dataset=name, strategy=strategy, run=run)
                    evaluation = evaluate([Dataset(Path(folder))], run, options, on_image=on_image)
                    failures = error_lines(evaluation)
                    if failures:
                        more = f" (and {len(failures) - 1} more problems)" if len(failures) > 1 else ""
                        raise MetricError(f"the sweep needs every score of every image: {failures[0]}{more}")
                    rows.append(_row(name, strategy, alpha, evaluation.datasets[0], config.metrics))
            ends.outputs.clear()
    grid = GridCrops(crop_dataset, crop_path.name, x, y, size, config.alphas, crops)
    return SweepResult(config, rows, grid)


def _row(dataset: str, strategy: str, alpha: float, result: DatasetResult, metrics: Sequence[str]) -> SweepRow:
    images = {}
    for image in result.images:
        scores = dict(image.scores)
        if "rmse" in metrics:
            scores["rmse"] = rmse_from_psnr(scores["psnr"])
        images[image.name] = {m: scores[m] for m in metrics}
    mean = {m: float(np.mean([scores[m] for scores in images.values()])) for m in metrics}
    return SweepRow(dataset, strategy, alpha, mean, images)


def _choose_crop(
    choice: CropChoice, listings: dict[str, list[Path]], scale: int, max_pixels: int | None
) -> tuple[str, Path, tuple[int, int, int]]:
    """(dataset, HR file, (x, y, size)) of the grid crop; by default the most detailed window of the first
    image, where the PSNR model's smoothing and the GAN model's texture differ most."""
    if choice.image is None:
        dataset, path = next(iter(listings.items()))[0], next(iter(listings.values()))[0]
    else:
        matches = [(d, p) for d, paths in listings.items() for p in paths if choice.image in (p.name, p.stem)]
        if not matches:
            names = ", ".join(p.stem for paths in listings.values() for p in paths)
            raise ConfigError(f"crop image {choice.image!r} is in none of the datasets; they hold: {names}")
        dataset, path = matches[0]
    hr = mod_crop(read_image(path, max_pixels), scale)
    height, width = hr.shape[:2]
    size = min(choice.size, height, width)
    if choice.x is None or choice.y is None:
        x, y = most_detailed_window(hr, size)
    else:
        x, y = choice.x, choice.y
        if x + size > width or y + size > height:
            raise ConfigError(
                f"crop {x},{y},{size} does not fit in {path.name} ({width}x{height} after cropping to the scale)"
            )
    return dataset, path, (x, y, size)


def most_detailed_window(image: np.ndarray, size: int) -> tuple[int, int]:
    """(x, y) of the `size`-pixel square with the largest gradient energy, on a grid of `size / 4` steps."""
    grey = image.astype(np.float64).reshape(image.shape[0], image.shape[1], -1).mean(axis=2)
    energy = np.zeros_like(grey)
    energy[:, 1:] += np.diff(grey, axis=1) ** 2
    energy[1:, :] += np.diff(grey, axis=0) ** 2
    summed = np.pad(energy.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    stride = max(size // 4, 1)
    best, where = -1.0, (0, 0)
    for y in range(0, image.shape[0] - size + 1, stride):
        for x in range(0, image.shape[1] - size + 1, stride):
            total = summed[y + size, x + size] - summed[y, x + size] - summed[y + size, x] + summed[y, x]
            if total > best:
                best, where = total, (x, y)
    return where


def write_csv(result: SweepResult, path: Path) -> None:
    """One line per (dataset, strategy, α) with the mean of each metric over the dataset's images."""
    metrics = list(result.config.metrics)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["dataset", "strategy", "alpha", "images", *metrics])
    for row in result.rows:
        means = (repr(row.mean[m]) for m in metrics)
        writer.writerow([row.dataset, row.strategy, f"{row.alpha:g}", len(row.images), *means])
    atomic_write(Path(path), lambda temp: temp.write_text(buffer.getvalue(), encoding="utf-8"))


def _finite(value: object) -> object:
    """JSON has no inf / nan (PSNR of an exact reconstruction is inf): they are written as strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def write_json(result: SweepResult, path: Path) -> None:
    """The configuration, the grid crop, and per (dataset, strategy, α) the means and every image's scores."""
    config, grid = result.config, result.grid
    document = {
        "psnr_model": str(config.psnr_model),
        "gan_model": str(config.gan_model),
        "datasets": [str(d) for d in config.datasets],
        "alphas": list(config.alphas),
        "metrics": list(config.metrics),
        "back_projection": config.back_projection,
        "runtime": asdict(config.runtime),
        "grid": {"dataset": grid.dataset, "image": grid.image, "x": grid.x, "y": grid.y, "size": grid.size},
        "rows": [asdict(row) for row in result.rows],
    }
    text = json.dumps(_finite(document), indent=1, allow_nan=False) + "\n"
    atomic_write(Path(path), lambda temp: temp.write_text(text, encoding="utf-8"))
