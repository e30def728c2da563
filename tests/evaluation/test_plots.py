"""The sweep's figures from a hand-made result: valid PNGs of the planned size, crops shown pixel for pixel,
axes chosen from the computed metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from esrgan.errors import ConfigError
from esrgan.evaluation.sweep import STRATEGIES, GridCrops, SweepConfig, SweepResult, SweepRow

pytest.importorskip("matplotlib")
from esrgan.evaluation.plots import choose_axes, plot_alpha_grid, plot_perception_distortion

ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)


def fake_result(datasets: tuple[str, ...] = ("Set5",), crop_size: int = 100) -> SweepResult:
    """Network interpolation bending below the straight line of image interpolation, as in the paper."""
    rng = np.random.default_rng(0)
    rows = []
    for dataset in datasets:
        for alpha in ALPHAS:
            for strategy in STRATEGIES:
                bend = 0.8 * alpha * (1 - alpha) if strategy == "network" else 0.0
                mean = {"psnr": 30 - 3 * alpha, "rmse": 8 + 4 * alpha, "niqe": 7 - 4 * alpha - bend}
                rows.append(SweepRow(dataset, strategy, alpha, mean))
    crops = {s: [rng.integers(0, 256, (crop_size, crop_size, 3), dtype=np.uint8) for _ in ALPHAS] for s in STRATEGIES}
    config = SweepConfig("psnr.pth", "gan.pth", tuple(Path(d) for d in datasets), ALPHAS, ("psnr", "rmse", "niqe"))
    return SweepResult(config, rows, GridCrops(datasets[0], "bird.png", 10, 20, crop_size, ALPHAS, crops))


def open_png(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("RGB"))


def test_perception_distortion_plot_is_a_sane_png(tmp_path: Path) -> None:
    plot_perception_distortion(fake_result(("Set5", "Set14")), tmp_path / "pd.png", "rmse", "niqe")
    pixels = open_png(tmp_path / "pd.png")
    assert pixels.shape == (460, 1040, 3)  # one 520x460 panel per dataset
    assert pixels.std() > 10  # not blank
    reds = (pixels[..., 0] > 180) & (pixels[..., 1] < 80) & (pixels[..., 2] < 80)
    blues = (pixels[..., 2] > 150) & (pixels[..., 0] < 80)
    assert reds.sum() > 200 and blues.sum() > 200  # both curves are drawn
    assert (tmp_path / "pd.png").stat().st_size < 300_000


def test_grid_shows_each_crop_pixel_for_pixel(tmp_path: Path) -> None:
    result = fake_result()
    plot_alpha_grid(result.grid, tmp_path / "grid.png")
    pixels = open_png(tmp_path / "grid.png")
    left, top, gap, size = 150, 56, 6, 100
    assert pixels.shape == (top + 2 * (size + gap) + 8, left + len(ALPHAS) * (size + gap), 3)
    for row, strategy in enumerate(STRATEGIES):
        for column, crop in enumerate(result.grid.crops[strategy]):
            y0, x0 = top + row * (size + gap), left + column * (size + gap)
            # The inner pixels, away from the one-pixel frame matplotlib draws around each cell.
            shown = pixels[y0 + 2 : y0 + size - 2, x0 + 2 : x0 + size - 2]
            assert np.array_equal(shown, crop[2:-2, 2:-2]), (strategy, column)


def test_grey_crops_are_drawn_grey(tmp_path: Path) -> None:
    result = fake_result(crop_size=64)
    grey = {s: [c[..., 0] for c in crops] for s, crops in result.grid.crops.items()}
    grid = GridCrops("Set5", "bridge.png", 0, 0, 64, ALPHAS, grey)
    plot_alpha_grid(grid, tmp_path / "grid.png")
    pixels = open_png(tmp_path / "grid.png")
    cell = pixels[56 + 2 : 56 + 94, 150 + 2 : 150 + 94]  # 64-px crops are magnified to 96-px cells
    assert np.array_equal(cell[..., 0], cell[..., 1]) and np.array_equal(cell[..., 1], cell[..., 2])


def test_axes_follow_the_computed_metrics() -> None:
    assert choose_axes(("psnr", "ssim", "rmse", "niqe")) == ("rmse", "niqe")
    assert choose_axes(("psnr", "niqe", "ma", "pi")) == ("psnr", "pi")
    assert choose_axes(("psnr", "rmse", "niqe", "pi"), x="psnr", y="niqe") == ("psnr", "niqe")
    assert choose_axes(("psnr", "ssim")) is None
    with pytest.raises(ConfigError, match="not among the computed metrics"):
        choose_axes(("psnr", "niqe"), y="pi")
    with pytest.raises(ConfigError, match="choose from rmse, psnr"):
        choose_axes(("psnr", "niqe"), x="ssim")
