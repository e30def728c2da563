"""Figures of the sweep: the perception–distortion plane (paper Fig. 2) and the α grid of one crop (Fig. 10).

matplotlib is imported only here and only when a figure is drawn, so the rest of the package works without
it. Figures are built with `matplotlib.figure.Figure` directly (no pyplot), leaving no global state behind.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from esrgan.errors import ConfigError
from esrgan.evaluation.sweep import LOWER_IS_BETTER, STRATEGIES, STRATEGY_LABELS, GridCrops, SweepResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DISTORTION_AXES: tuple[str, ...] = ("rmse", "psnr")
PERCEPTION_AXES: tuple[str, ...] = ("pi", "niqe")
AXIS_LABELS = {"rmse": "RMSE (Y)", "psnr": "PSNR-Y (dB)", "niqe": "NIQE", "pi": "perceptual index"}
_COLOURS = {"network": "tab:red", "image": "tab:blue"}
_MARKERS = {"network": "o", "image": "s"}


def choose_axes(metrics: tuple[str, ...], x: str | None = None, y: str | None = None) -> tuple[str, str] | None:
    """The (distortion, perception) metrics to plot: the ones asked, else RMSE and PI, else PSNR and NIQE;
    None when the sweep has no metric of one kind. An asked metric that was not computed is an error."""
    for asked, allowed in ((x, DISTORTION_AXES), (y, PERCEPTION_AXES)):
        if asked is not None and asked not in allowed:
            raise ConfigError(f"plot axis {asked!r}: choose from {', '.join(allowed)}")
        if asked is not None and asked not in metrics:
            raise ConfigError(f"plot axis {asked!r} is not among the computed metrics ({', '.join(metrics)})")
    x = x or next((m for m in DISTORTION_AXES if m in metrics), None)
    y = y or next((m for m in PERCEPTION_AXES if m in metrics), None)
    return (x, y) if x and y else None


def require_matplotlib() -> None:
    """Fail before a long sweep, not after it, when the figures cannot be drawn."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ConfigError("the sweep's figures need matplotlib: pip install matplotlib, or pass --no-plots") from None


def _new_figure(width_px: float, height_px: float, dpi: int = 100) -> Figure:
    require_matplotlib()
    from matplotlib.figure import Figure

    return Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)


def _save(figure: Figure, path: Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=figure.dpi, pil_kwargs={"optimize": True})


def plot_perception_distortion(result: SweepResult, path: Path, x: str, y: str) -> None:
    """One panel per dataset: `y` (perception) against `x` (distortion), one curve per strategy, each point
    labelled with its α. The better corner is lower left for RMSE, lower right for PSNR."""
    datasets = result.dataset_names
    figure = _new_figure(520 * len(datasets), 460)
    alphas = result.config.alphas
    for index, dataset in enumerate(datasets):
        axes = figure.add_subplot(1, len(datasets), index + 1)
        for strategy in STRATEGIES:
            xs, ys = result.curve(dataset, strategy, x), result.curve(dataset, strategy, y)
            axes.plot(xs, ys, marker=_MARKERS[strategy], color=_COLOURS[strategy], label=STRATEGY_LABELS[strategy],
                      linewidth=1.5, markersize=5)
            # Labels sit on opposite sides of the two curves so that they do not collide at the shared ends.
            offset = (6, 6) if strategy == "network" else (6, -12)
            for alpha, px, py in zip(alphas, xs, ys):
                axes.annotate(f"{alpha:g}", (px, py), textcoords="offset points", xytext=offset, fontsize=8,
                              color=_COLOURS[strategy])
        axes.set_xlabel(AXIS_LABELS[x] + (" — lower is better" if x in LOWER_IS_BETTER else " — higher is better"))
        axes.set_ylabel(AXIS_LABELS[y] + " — lower is better")
        axes.set_title(f"{dataset}: perception–distortion, α from PSNR (0) to GAN (1)", fontsize=10)
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize=8)
        axes.margins(0.12)
    figure.tight_layout()
    _save(figure, path)


def plot_alpha_grid(grid: GridCrops, path: Path, title: str | None = None) -> None:
    """Rows = strategies, columns = α, each cell the same crop shown pixel for pixel (Fig. 10 of the paper)."""
    size = max(grid.size, 96)  # very small crops are magnified so that the labels still fit
    left, top, bottom, gap = 150, 56, 8, 6
    columns = len(grid.alphas)
    width = left + columns * size + (columns - 1) * gap + gap
    height = top + len(STRATEGIES) * (size + gap) + bottom
    figure = _new_figure(width, height)
    figure.suptitle(title or f"{grid.dataset}/{grid.image}, crop x={grid.x} y={grid.y} size={grid.size} (HR pixels)",
                    x=0.5, y=1 - 8 / height, fontsize=10, va="top")
    for row, strategy in enumerate(STRATEGIES):
        y0 = height - top - (row + 1) * size - row * gap
        for column, (alpha, crop) in enumerate(zip(grid.alphas, grid.crops[strategy])):
            x0 = left + column * (size + gap)
            axes = figure.add_axes((x0 / width, y0 / height, size / width, size / height))
            axes.imshow(crop, interpolation="nearest", cmap="gray" if crop.ndim == 2 else None, vmin=0, vmax=255)
            axes.set_xticks([])
            axes.set_yticks([])
            if row == 0:
                axes.set_title(f"α = {alpha:g}", fontsize=9, pad=3)
            if column == 0:
                axes.set_ylabel(STRATEGY_LABELS[strategy].replace(" ", "\n", 1), fontsize=9, rotation=0,
                                ha="right", va="center", labelpad=8)
    _save(figure, path)
