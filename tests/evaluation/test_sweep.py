"""The perception–distortion sweep on two tiny random RRDBNets and two small crops of Set14.

Properties: α parsing; the α = 0 and α = 1 rows are the end models' own `evaluate` scores for both
strategies; in between, each strategy's row is the score of that strategy's image (eq. 4 network, or the
pixel blend); RMSE is the PSNR's; back-projection is applied to the output of either strategy; errors name
the problem.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from esrgan.api import load_model
from esrgan.archs import ModelSpec, RRDBNetSpec
from esrgan.errors import CheckpointError, ConfigError, DatasetError
from esrgan.evaluation.evaluate import Dataset, EvaluationOptions, evaluate, mod_crop
from esrgan.evaluation.metric_names import parse_metrics
from esrgan.evaluation.sweep import (
    STRATEGIES,
    CropChoice,
    SweepConfig,
    SweepResult,
    most_detailed_window,
    parse_alphas,
    rmse_from_psnr,
    run_sweep,
    write_csv,
    write_json,
)
from esrgan.imaging.io import read_image, write_image
from esrgan.imaging.matlab_resize import imresize_keeping_type
from esrgan.inference.upscaler import Upscaler
from esrgan.interpolation import image_interpolate
from esrgan.metrics.psnr_ssim import psnr
from esrgan.options import UpscaleOptions
from esrgan.weights.io import save_checkpoint
from tests.conftest import SHARED, TINY, tiny_rrdbnet
from tests.metrics.test_ma import model_file  # noqa: F401  (a fixture: a small Ma model.mat)

FP32_WHOLE = UpscaleOptions(tile=0, precision="fp32", device="cpu", backend="torch")
ALPHAS = (0.0, 0.5, 1.0)
METRICS = ("psnr", "ssim", "rmse", "niqe")


@pytest.fixture(autouse=True)
def _one_thread(one_thread: None) -> None:
    """Every test here runs on one intra-op thread (see `one_thread`)."""


def textured_checkpoint(path: Path, seed: int, spec: ModelSpec = TINY) -> Path:
    """A random tiny RRDBNet whose output sits around mid-grey with visible texture, so NIQE is defined
    (a freshly initialised one outputs nearly black, flat images)."""
    model = tiny_rrdbnet(spec, seed)
    with torch.no_grad():
        model.conv_last.bias.fill_(0.5)
        model.conv_last.weight.mul_(4.0)
    save_checkpoint(path, model.state_dict(), spec)
    return path


def make_dataset(folder: Path) -> Path:
    """Two 200x104 crops of Set14: baboon (colour) and bridge (grey), big enough for two NIQE blocks."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("baboon", "bridge"):
        image = read_image(SHARED / "datasets" / "Set14" / f"{name}.png")
        write_image(folder / f"{name}.png", image[100:204, 150:350])
    return folder


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("sweep")
    return (textured_checkpoint(root / "psnr.safetensors", 1), textured_checkpoint(root / "gan.safetensors", 2),
            make_dataset(root / "Tiny"))


def sweep(setup: tuple[Path, Path, Path], **overrides) -> SweepResult:
    a, b, data = setup
    options = {"psnr_model": str(a), "gan_model": str(b), "datasets": (data,), "alphas": ALPHAS, "metrics": METRICS,
               "crop": CropChoice(size=64), "runtime": FP32_WHOLE, **overrides}
    return run_sweep(SweepConfig(**options))


@pytest.fixture(scope="module")
def result(setup: tuple[Path, Path, Path]) -> SweepResult:
    torch.set_num_threads(1)
    return sweep(setup)


def upscaler(model: Path, **options) -> Upscaler:
    """The same runtime as the sweeps below, so that outputs can be compared exactly."""
    return load_model(model, options=FP32_WHOLE, **options)


def row(result: SweepResult, strategy: str, alpha: float):
    return next(r for r in result.rows if r.strategy == strategy and r.alpha == alpha)


def evaluate_model(model, data: Path, metrics=("psnr", "ssim", "niqe"), back_projection: int = 0):
    """What `esrgan evaluate` reports for one SR function, image by image."""
    options = EvaluationOptions(scale=4, metrics=metrics, back_projection=back_projection)
    evaluation = evaluate([Dataset(data)], model, options)
    return {image.name: image.scores for image in evaluation.datasets[0].images}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0:1:0.2", (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)),
        ("0:1:0.3", (0.0, 0.3, 0.6, 0.9)),
        ("0.5:0.5:0.1", (0.5,)),
        (" 1, 0 ,0.8,0.8 ", (0.0, 0.8, 1.0)),
        ("0.7", (0.7,)),
        ("-0.5:1.5:0.5", (-0.5, 0.0, 0.5, 1.0, 1.5)),
    ],
)
def test_alpha_specs(text: str, expected: tuple[float, ...]) -> None:
    assert parse_alphas(text) == expected


@pytest.mark.parametrize("text", ["", "0:1", "0:1:0", "1:0:0.1", "0:1:-0.2", "a:b:c", "0,,1", "nan", "0:1:1e-6"])
def test_bad_alpha_specs_are_refused_with_the_syntax(text: str) -> None:
    with pytest.raises(ConfigError, match="alphas"):
        parse_alphas(text)


def test_metric_names() -> None:
    assert parse_metrics("NIQE, psnr,rmse") == ("psnr", "rmse", "niqe")
    with pytest.raises(ConfigError, match="choose from psnr, ssim, rmse, niqe, ma, pi"):
        parse_metrics("psnr,lpips")


def test_one_row_per_dataset_strategy_and_alpha(result: SweepResult) -> None:
    assert [(r.dataset, r.strategy, r.alpha) for r in result.rows] == [
        ("Tiny", s, a) for a in ALPHAS for s in STRATEGIES
    ]
    assert all(set(r.images) == {"baboon.png", "bridge.png"} for r in result.rows)
    assert all(tuple(r.mean) == METRICS for r in result.rows)


def test_ends_are_the_end_models_own_scores_for_both_strategies(setup, result: SweepResult) -> None:
    a, b, data = setup
    for alpha, model in ((0.0, a), (1.0, b)):
        own = evaluate_model(upscaler(model).upscale, data)
        for strategy in STRATEGIES:
            images = row(result, strategy, alpha).images
            for name, scores in own.items():
                for metric, value in scores.items():
                    assert images[name][metric] == pytest.approx(value, rel=1e-12), (strategy, alpha, name, metric)


def test_strategies_agree_at_the_ends_and_differ_between(result: SweepResult) -> None:
    for alpha in (0.0, 1.0):
        assert row(result, "network", alpha).images == row(result, "image", alpha).images
    assert row(result, "network", 0.5).mean["psnr"] != pytest.approx(row(result, "image", 0.5).mean["psnr"], abs=1e-3)


def test_network_row_is_the_blended_generator(setup, result: SweepResult) -> None:
    a, b, data = setup
    blended = upscaler(a, blend_with=b, alpha=0.5)
    own = evaluate_model(blended.upscale, data, metrics=("psnr", "niqe"))
    images = row(result, "network", 0.5).images
    for name, scores in own.items():
        assert images[name]["psnr"] == pytest.approx(scores["psnr"], rel=1e-12)
        assert images[name]["niqe"] == pytest.approx(scores["niqe"], rel=1e-12)


def test_blends_reach_a_backend_that_compiles_the_weights(setup) -> None:
    """OpenVINO (the CPU default where installed) bakes the weights into its graph; each blend must reach it."""
    pytest.importorskip("openvino")
    a, b, data = setup
    result = sweep(setup, alphas=(0.0, 0.5), metrics=("psnr",), runtime=UpscaleOptions(tile=0, precision="fp32",
                                                                                         backend="openvino"))
    blended = load_model(a, blend_with=b, alpha=0.5,
                         options=UpscaleOptions(tile=0, precision="fp32", backend="openvino"))
    own = evaluate_model(blended.upscale, data, metrics=("psnr",))
    assert {n: s["psnr"] for n, s in row(result, "network", 0.5).images.items()} == pytest.approx(
        {n: s["psnr"] for n, s in own.items()}, rel=1e-6)


def test_image_row_is_the_pixel_blend_of_the_end_outputs(setup, result: SweepResult) -> None:
    a, b, data = setup
    hr = mod_crop(read_image(data / "baboon.png"), 4)
    lr = imresize_keeping_type(hr, 0.25)
    outputs = [upscaler(m).upscale(lr) for m in (a, b)]
    blend = image_interpolate(outputs[0], outputs[1], 0.5)
    expected = psnr(blend, hr, crop_border=4, y_channel=True)
    assert row(result, "image", 0.5).images["baboon.png"]["psnr"] == pytest.approx(expected, rel=1e-12)


def test_rmse_is_that_of_the_psnr_and_means_are_over_images(result: SweepResult) -> None:
    for r in result.rows:
        for scores in r.images.values():
            mse = 255.0**2 / 10 ** (scores["psnr"] / 10)
            assert scores["rmse"] == pytest.approx(math.sqrt(mse), rel=1e-12)
        assert r.mean["rmse"] == pytest.approx(np.mean([s["rmse"] for s in r.images.values()]))
    assert rmse_from_psnr(20 * math.log10(255 / 3)) == pytest.approx(3.0)


def test_grid_holds_one_crop_per_alpha_and_strategy(result: SweepResult) -> None:
    grid = result.grid
    assert (grid.dataset, grid.image, grid.size, grid.alphas) == ("Tiny", "baboon.png", 64, ALPHAS)
    for strategy in STRATEGIES:
        assert [c.shape for c in grid.crops[strategy]] == [(64, 64, 3)] * len(ALPHAS)
    assert np.array_equal(grid.crops["network"][0], grid.crops["image"][0])
    assert np.array_equal(grid.crops["network"][-1], grid.crops["image"][-1])


def test_chosen_crop_is_taken_where_asked(setup) -> None:
    result = sweep(setup, alphas=(0.0,), metrics=("psnr",), crop=CropChoice("bridge", 8, 4, 32))
    a, _, data = setup
    lr = imresize_keeping_type(mod_crop(read_image(data / "bridge.png"), 4), 0.25)
    expected = upscaler(a).upscale(lr)[4:36, 8:40]
    assert (result.grid.image, result.grid.x, result.grid.y) == ("bridge.png", 8, 4)
    assert np.array_equal(result.grid.crops["network"][0], expected)


def test_default_crop_is_the_most_detailed_window() -> None:
    image = np.full((100, 160, 3), 128, dtype=np.uint8)
    image[40:80, 100:140] = np.random.default_rng(0).integers(0, 256, (40, 40, 3))
    assert most_detailed_window(image, 40) == (100, 40)


def test_back_projection_applies_to_both_strategies(setup) -> None:
    a, _, data = setup
    result = sweep(setup, alphas=(0.0,), metrics=("psnr",), back_projection=2)
    own = evaluate_model(upscaler(a).upscale, data, ("psnr",), 2)
    plain = sweep(setup, alphas=(0.0,), metrics=("psnr",))
    for strategy in STRATEGIES:
        images = row(result, strategy, 0.0).images
        assert {n: s["psnr"] for n, s in images.items()} == pytest.approx({n: s["psnr"] for n, s in own.items()})
        # Back-projection makes the output consistent with its LR input, which raises its PSNR.
        assert row(result, strategy, 0.0).mean["psnr"] > row(plain, strategy, 0.0).mean["psnr"]


def test_ma_and_perceptual_index(setup, model_file: Path) -> None:  # noqa: F811
    result = sweep(setup, alphas=(0.0, 1.0), metrics=("niqe", "ma", "pi"), ma_model=model_file)
    for r in result.rows:
        for scores in r.images.values():
            assert scores["pi"] == pytest.approx(((10 - scores["ma"]) + scores["niqe"]) / 2)
    assert row(result, "network", 1.0).images == row(result, "image", 1.0).images


def test_tables_are_written(result: SweepResult, tmp_path: Path) -> None:
    write_csv(result, tmp_path / "sweep.csv")
    write_json(result, tmp_path / "sweep.json")
    with open(tmp_path / "sweep.csv", newline="") as handle:
        lines = list(csv.DictReader(handle))
    assert len(lines) == len(STRATEGIES) * len(ALPHAS)
    assert lines[0].keys() == {"dataset", "strategy", "alpha", "images", *METRICS}
    assert float(lines[0]["psnr"]) == row(result, lines[0]["strategy"], float(lines[0]["alpha"])).mean["psnr"]
    document = json.loads((tmp_path / "sweep.json").read_text())
    assert document["alphas"] == list(ALPHAS) and len(document["rows"]) == len(lines)
    assert document["rows"][0]["images"]["baboon.png"] == result.rows[0].images["baboon.png"]
    assert document["grid"]["image"] == "baboon.png"


def test_different_architectures_are_refused(setup, tmp_path: Path) -> None:
    deeper = RRDBNetSpec(scale=4, num_feat=8, num_block=3, num_grow_ch=4)
    other = textured_checkpoint(tmp_path / "deeper.safetensors", 3, deeper)
    with pytest.raises(CheckpointError, match="different architectures.*2 blocks.*3 blocks"):
        sweep(setup, gan_model=str(other))


def test_empty_or_missing_dataset_is_refused(setup, tmp_path: Path) -> None:
    (tmp_path / "Empty").mkdir()
    (tmp_path / "Empty" / "notes.txt").write_text("no images here")
    with pytest.raises(DatasetError, match="holds no images"):
        sweep(setup, datasets=(tmp_path / "Empty",))
    with pytest.raises(DatasetError, match="does not exist"):
        sweep(setup, datasets=(tmp_path / "Nowhere",))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"datasets": ()}, "at least one dataset"),
        ({"alphas": ()}, "at least one alpha"),
        ({"alphas": (0.0, math.nan)}, "finite"),
        ({"back_projection": -1}, ">= 0"),
        ({"metrics": ("psnr", "lpips")}, "choose from"),
        ({"crop": CropChoice("lenna")}, "crop image 'lenna' is in none of the datasets; they hold: baboon, bridge"),
        ({"crop": CropChoice("baboon", 180, 0, 64)}, "does not fit in baboon.png"),
    ],
)
def test_bad_configurations_are_named(setup, overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        sweep(setup, **overrides)


def test_two_datasets_with_one_name_are_refused(setup, tmp_path: Path) -> None:
    a, b, data = setup
    twin = make_dataset(tmp_path / "Tiny")
    with pytest.raises(ConfigError, match="share a name"):
        SweepConfig(str(a), str(b), (data, twin))
