"""The evaluation library on small synthetic folders: LR conventions, SR sources, metric conventions, and
failures that stay on their image while the others are scored."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io

from esrgan.back_projection import back_project
from esrgan.data.prepare import make_lr
from esrgan.errors import ConfigError, DatasetError
from esrgan.evaluation.evaluate import (
    BICUBIC,
    IMAGE_ERROR,
    METRICS,
    PIRM_CROP_BORDER,
    Dataset,
    EvaluationOptions,
    bicubic_upscaler,
    evaluate,
    mod_crop,
)
from esrgan.evaluation.metric_names import parse_metrics
from esrgan.imaging.io import read_image, write_image
from esrgan.imaging.matlab_resize import imresize, imresize_keeping_type
from esrgan.metrics.ma import MODEL_ENV
from esrgan.metrics.niqe import niqe
from esrgan.metrics.psnr_ssim import psnr, ssim


def textured(height: int, width: int, channels: int | None = 3) -> np.ndarray:
    """A uint8 image with structure at several scales (noise blurred by bicubic zoom), not flat anywhere;
    the same for the same size, whatever the order the tests run in."""
    rng = np.random.default_rng((height, width, channels or 1))
    depth = (channels,) if channels else ()
    coarse = rng.uniform(0, 1, (height // 4 + 1, width // 4 + 1) + depth)
    fine = imresize(coarse, scale=4)[:height, :width] + rng.normal(0, 0.05, (height, width) + depth)
    return np.clip(np.round(fine * 255), 0, 255).astype(np.uint8)


def folder(path: Path, images: dict[str, np.ndarray]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for name, image in images.items():
        write_image(path / name, image)
    return path


@pytest.fixture
def hr_dir(tmp_path: Path) -> Path:
    """Two colour images, one of them not a multiple of 4 in size, and a grey one."""
    return folder(tmp_path / "hr",
                  {"a.png": textured(40, 52), "b.png": textured(43, 50), "c.png": textured(36, 36, None)})


def bicubic_run(datasets: list[Dataset], **options) -> object:
    return evaluate(datasets, bicubic_upscaler(4), EvaluationOptions(scale=4, **options), method=BICUBIC)


def test_bicubic_keeps_the_dtype_and_integers_take_matlabs_integer_path() -> None:
    image = textured(16, 20)
    assert np.array_equal(imresize_keeping_type(image, 0.25), imresize(image, scale=0.25))
    wide = image.astype(np.uint16) * 257
    assert np.array_equal(imresize_keeping_type(wide, 0.25), imresize(wide, scale=0.25))
    assert imresize_keeping_type(wide, 0.25).dtype == np.uint16
    as_float = imresize_keeping_type(image.astype(np.float32) / 255, 4.0)
    assert as_float.dtype == np.float32 and as_float.min() >= 0 and as_float.max() <= 1


def test_scores_are_the_metrics_of_the_mod_cropped_hr_and_its_bicubic_round_trip(hr_dir: Path) -> None:
    result = bicubic_run([Dataset(hr_dir)]).datasets[0]
    assert [image.name for image in result.images] == ["a.png", "b.png", "c.png"]
    for image in result.images:
        hr = mod_crop(read_image(hr_dir / image.name), 4)
        sr = imresize(imresize(hr, scale=0.25), scale=4)
        assert image.errors == {}
        assert image.scores["psnr"] == psnr(sr, hr, crop_border=4, y_channel=True)
        assert image.scores["ssim"] == ssim(sr, hr, crop_border=4, y_channel=True)
    assert result.mean("psnr") == pytest.approx(np.mean([i.scores["psnr"] for i in result.images]))


def test_lr_rounding_once_is_the_float_convention_of_the_esrgan_release(hr_dir: Path) -> None:
    per_pass, once = (bicubic_run([Dataset(hr_dir)], metrics=("psnr",), lr_rounding=r).datasets[0]
                      for r in ("per_pass", "once"))
    hr = mod_crop(read_image(hr_dir / "a.png"), 4)
    assert once.images[0].scores["psnr"] == psnr(imresize(make_lr(hr, 4, "once"), scale=4), hr, 4, y_channel=True)
    assert once.images[0].scores != per_pass.images[0].scores and "rounded once" in once.source
    with pytest.raises(ConfigError, match="LR rounding"):
        EvaluationOptions(scale=4, lr_rounding="twice")


def test_rgb_option_scores_the_colour_channels(hr_dir: Path) -> None:
    image = bicubic_run([Dataset(hr_dir)], y_channel=False, metrics=("psnr",)).datasets[0].images[0]
    hr = mod_crop(read_image(hr_dir / "a.png"), 4)
    assert image.scores["psnr"] == psnr(imresize(imresize(hr, scale=0.25), scale=4), hr, 4, y_channel=False)


def test_lr_folder_of_matlab_uint8_lr_gives_the_same_scores_as_lr_made_on_the_fly(hr_dir: Path, tmp_path: Path) -> None:
    lr_images = {}
    for name in ("a", "b", "c"):
        hr = mod_crop(read_image(hr_dir / f"{name}.png"), 4)
        lr_images[f"{name}x4.png" if name != "c" else "c.png"] = imresize(hr, scale=0.25)  # both namings
    lr_dir = folder(tmp_path / "lr", lr_images)
    on_the_fly = bicubic_run([Dataset(hr_dir)]).datasets[0]
    from_folder = bicubic_run([Dataset(hr_dir, lr_dir=lr_dir)]).datasets[0]
    assert [i.scores for i in from_folder.images] == [i.scores for i in on_the_fly.images]
    assert "LR images from" in from_folder.source


def test_sr_folder_identical_to_hr_scores_perfectly_and_may_keep_the_full_hr_size(hr_dir: Path, tmp_path: Path) -> None:
    # b.png (43x50) is kept at its full size, the others mod-cropped: both are accepted.
    sr_dir = folder(tmp_path / "sr", {
        "a.png": mod_crop(read_image(hr_dir / "a.png"), 4),
        "b.png": read_image(hr_dir / "b.png"),
        "c.png": read_image(hr_dir / "c.png"),
    })
    result = evaluate([Dataset(hr_dir, sr_dir=sr_dir)], None, EvaluationOptions(scale=4)).datasets[0]
    assert all(image.scores == {"psnr": np.inf, "ssim": 1.0} for image in result.images)


def test_grey_image_is_scored_on_its_grey_plane_also_when_saved_as_rgb(hr_dir: Path, tmp_path: Path) -> None:
    hr = read_image(hr_dir / "c.png")
    assert hr.ndim == 2
    sr = imresize(imresize(hr, scale=0.25), scale=4)
    expected = psnr(sr, hr, crop_border=4)  # grey plane as it is: no 16..235 squeeze
    for stored in (sr, np.repeat(sr[..., None], 3, axis=2)):
        sr_dir = folder(tmp_path / f"sr{stored.ndim}", {"c.png": stored})
        grey_only = folder(tmp_path / f"hr{stored.ndim}", {"c.png": hr})
        image = evaluate([Dataset(grey_only, sr_dir=sr_dir)], None, EvaluationOptions(scale=4)).datasets[0].images[0]
        assert image.scores["psnr"] == pytest.approx(expected, abs=1e-12)


def test_bad_images_are_recorded_and_the_others_still_scored(hr_dir: Path, tmp_path: Path) -> None:
    (hr_dir / "d.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    sr_dir = folder(tmp_path / "sr", {
        "a.png": mod_crop(read_image(hr_dir / "a.png"), 4),
        "b.png": textured(20, 20),  # neither the HR size nor its mod-crop
        "c.png": textured(36, 36),  # colour SR of a grey HR
    })
    evaluation = evaluate([Dataset(hr_dir, sr_dir=sr_dir)], None, EvaluationOptions(scale=4))
    a, b, c, d = evaluation.datasets[0].images
    assert a.scores["psnr"] == np.inf and a.errors == {}
    assert b.scores == {} and "is 20x20, its HR image is 48x40" in b.errors[IMAGE_ERROR]
    assert c.scores == {} and "colour" in c.errors[IMAGE_ERROR]
    assert d.scores == {} and "d.png" in d.errors[IMAGE_ERROR]
    assert evaluation.failed and evaluation.datasets[0].mean("psnr") == np.inf


def test_lr_image_of_the_wrong_size_is_refused_before_the_network_runs(hr_dir: Path, tmp_path: Path) -> None:
    lr_dir = folder(tmp_path / "lr",
                    {"a.png": textured(10, 13), "b.png": textured(5, 5), "c.png": textured(9, 9, None)})
    calls = []

    def network(lr: np.ndarray) -> np.ndarray:
        calls.append(lr.shape)
        return imresize_keeping_type(lr, 4.0)

    result = evaluate([Dataset(hr_dir, lr_dir=lr_dir)], network, EvaluationOptions(scale=4)).datasets[0]
    assert calls == [(10, 13, 3), (9, 9)]
    assert "b.png is 5x5; x4 that is not 48x40" in result.images[1].errors[IMAGE_ERROR]
    assert "psnr" in result.images[0].scores and "psnr" in result.images[2].scores


def test_missing_lr_file_is_an_error_of_that_image(hr_dir: Path, tmp_path: Path) -> None:
    lr_dir = folder(tmp_path / "lr", {"a.png": imresize(mod_crop(read_image(hr_dir / "a.png"), 4), scale=0.25)})
    images = bicubic_run([Dataset(hr_dir, lr_dir=lr_dir)]).datasets[0].images
    assert images[0].errors == {}
    assert "no LR image named b.* or bx4.*" in images[1].errors[IMAGE_ERROR]


def test_empty_or_missing_dataset_stops_before_any_image_is_processed(hr_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    calls = []
    for bad in (tmp_path / "empty", tmp_path / "nowhere"):
        with pytest.raises(DatasetError, match="holds no images|does not exist"):
            evaluate([Dataset(hr_dir), Dataset(bad)], lambda lr: calls.append(lr), EvaluationOptions(scale=4))
    assert calls == []


def test_options_are_checked() -> None:
    assert parse_metrics("PSNR, ssim,psnr", METRICS) == ("psnr", "ssim")
    with pytest.raises(ConfigError, match="unknown metric lpips in 'psnr,lpips'; choose from psnr, ssim, niqe, ma, "
                                          "pi$"):
        parse_metrics("psnr,lpips", METRICS)
    with pytest.raises(ConfigError, match="back-projection"):
        EvaluationOptions(scale=4, back_projection=-1)
    with pytest.raises(ConfigError, match="needs a model"):
        evaluate([Dataset(Path("x"))], None, EvaluationOptions(scale=4))


def write_constant_ma_model(path: Path, ma: float) -> Path:
    """A model.mat in the authors' layout whose forests are single leaves: Ma = linear[0] for any image."""
    def leaf(value: float) -> dict:
        one = np.ones((1, 1))
        return {"lDau": 0 * one, "rDau": 0 * one, "mbest": 0 * one, "upper": 0 * one, "avnode": value * one,
                "nrnodes": 1.0, "ntree": 1.0}

    forests = np.empty((1, 3), dtype=object)
    for i in range(3):
        forests[0, i] = leaf(float(i))
    scipy.io.savemat(path, {"model": {"rf": forests, "linear": np.array([ma, 0.0, 0.0, 0.0])}})
    return path


def test_no_reference_metrics_follow_pirm(tmp_path: Path) -> None:
    hr_dir = folder(tmp_path / "hr", {"big.png": textured(112, 208)})
    model = write_constant_ma_model(tmp_path / "model.mat", 7.0)
    options = EvaluationOptions(scale=4, metrics=("niqe", "ma", "pi"), y_channel=False, ma_model=model)
    image = evaluate([Dataset(hr_dir)], bicubic_upscaler(4), options).datasets[0].images[0]
    hr = read_image(hr_dir / "big.png")
    expected_niqe = niqe(imresize(imresize(hr, scale=0.25), scale=4), crop_border=PIRM_CROP_BORDER)
    assert image.errors == {}
    assert image.scores == {"niqe": expected_niqe, "ma": 7.0, "pi": ((10 - 7.0) + expected_niqe) / 2}


def test_missing_ma_model_fails_ma_and_pi_on_every_image_but_not_the_other_metrics(
    hr_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(MODEL_ENV, raising=False)
    images = bicubic_run([Dataset(hr_dir)], metrics=("psnr", "ma", "pi")).datasets[0].images
    for image in images:
        assert set(image.scores) == {"psnr"}
        assert set(image.errors) == {"ma", "pi"} and MODEL_ENV in image.errors["ma"]


def test_save_sr_writes_what_was_scored_including_back_projection(hr_dir: Path, tmp_path: Path) -> None:
    options = EvaluationOptions(scale=4, metrics=("psnr",), back_projection=2, save_sr=tmp_path / "out")
    result = evaluate([Dataset(hr_dir, name="Tiny")], bicubic_upscaler(4), options).datasets[0]
    for image in result.images:
        hr = mod_crop(read_image(hr_dir / image.name), 4)
        lr = imresize(hr, scale=0.25)
        saved = read_image(tmp_path / "out" / "Tiny" / image.name)
        assert np.array_equal(saved, back_project(imresize(lr, scale=4), lr, 2))
        assert image.scores["psnr"] == psnr(saved, hr, crop_border=4, y_channel=True)
    again = evaluate([Dataset(hr_dir, name="Tiny")], bicubic_upscaler(4), options).datasets[0]
    assert all("exists" in image.errors["save-sr"] and "psnr" in image.scores for image in again.images)
