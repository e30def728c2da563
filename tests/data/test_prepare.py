"""Dataset preparation: LR images equal to the published ones, and BasicSR's sub-image grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from esrgan.data.prepare import (
    crop_positions,
    extract_subimage_pairs,
    extract_subimages,
    make_lr,
    mod_crop,
    prepare_pairs,
)
from esrgan.errors import ConfigError, DatasetError, ImageWriteError
from esrgan.imaging.io import read_image, write_image
from tests.conftest import SHARED

REFERENCE = SHARED / "reference" / "imresize"


def test_mod_crop_keeps_the_top_left_multiple() -> None:
    image = np.arange(11 * 14).reshape(11, 14)
    cropped = mod_crop(image, 4)
    assert cropped.shape == (8, 12)
    np.testing.assert_array_equal(cropped, image[:8, :12])


def test_round_once_reproduces_the_official_esrgan_lr() -> None:
    hr = mod_crop(read_image(SHARED / "datasets" / "Set14" / "baboon.png"), 4)
    np.testing.assert_array_equal(make_lr(hr, 4, "once"), read_image(REFERENCE / "baboon_x4_official_lr.png"))


def test_per_pass_reproduces_the_benchmark_pack_lr() -> None:
    hr = mod_crop(read_image(SHARED / "datasets" / "Set5" / "bird.png"), 4)
    np.testing.assert_array_equal(make_lr(hr, 4, "per_pass"), read_image(REFERENCE / "set5_x4_u8" / "birdx4.png"))


def test_make_lr_refuses_uncropped_or_unknown_input() -> None:
    with pytest.raises(ConfigError, match="mod_crop"):
        make_lr(np.zeros((10, 12, 3), np.uint8), 4)
    with pytest.raises(ConfigError, match="rounding"):
        make_lr(np.zeros((8, 12, 3), np.uint8), 4, "twice")  # type: ignore[arg-type]


@pytest.fixture
def hr_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "hr"
    folder.mkdir()
    rng = np.random.default_rng(0)
    write_image(folder / "a.png", rng.integers(0, 256, (50, 61, 3), dtype=np.uint8))
    write_image(folder / "b.png", rng.integers(0, 256, (45, 40), dtype=np.uint8))
    return folder


def test_prepare_pairs_writes_mod_cropped_hr_and_its_lr(hr_folder: Path, tmp_path: Path) -> None:
    count = prepare_pairs(hr_folder, tmp_path / "HR", tmp_path / "LR", scale=4, workers=1, progress=False)
    assert count == 2
    for name in ("a.png", "b.png"):
        hr = read_image(tmp_path / "HR" / name)
        np.testing.assert_array_equal(hr, mod_crop(read_image(hr_folder / name), 4))
        np.testing.assert_array_equal(read_image(tmp_path / "LR" / name), make_lr(hr, 4, "once"))
    with pytest.raises(ImageWriteError, match="exists"):
        prepare_pairs(hr_folder, tmp_path / "HR", tmp_path / "LR", scale=4, workers=1, progress=False)


def test_parallel_run_writes_the_same_files(hr_folder: Path, tmp_path: Path) -> None:
    prepare_pairs(hr_folder, tmp_path / "one" / "HR", tmp_path / "one" / "LR", 2, "per_pass", workers=1, progress=False)
    prepare_pairs(hr_folder, tmp_path / "two" / "HR", tmp_path / "two" / "LR", 2, "per_pass", workers=2, progress=False)
    for sub in ("HR/a.png", "HR/b.png", "LR/a.png", "LR/b.png"):
        np.testing.assert_array_equal(read_image(tmp_path / "one" / sub), read_image(tmp_path / "two" / sub))


@pytest.mark.parametrize(
    ("length", "thresh", "expected"),
    [(10, 0, [0, 3, 6]), (11, 0, [0, 3, 6, 7]), (11, 1, [0, 3, 6]), (12, 1, [0, 3, 6, 8]), (3, 0, [])],
)
def test_crop_positions_follow_basicsr(length: int, thresh: int, expected: list[int]) -> None:
    assert crop_positions(length, crop_size=4, step=3, thresh_size=thresh) == expected


def test_subimages_are_the_crops_in_row_order(tmp_path: Path) -> None:
    image = np.random.default_rng(1).integers(0, 256, (11, 10, 3), dtype=np.uint8)
    (tmp_path / "in").mkdir()
    write_image(tmp_path / "in" / "img.png", image)
    count = extract_subimages(tmp_path / "in", tmp_path / "out", crop_size=4, step=3, workers=1, progress=False)
    rows, cols = [0, 3, 6, 7], [0, 3, 6]
    assert count == len(rows) * len(cols) == len(list((tmp_path / "out").iterdir()))
    index = 0
    for top in rows:
        for left in cols:
            index += 1
            crop = read_image(tmp_path / "out" / f"img_s{index:03d}.png")
            np.testing.assert_array_equal(crop, image[top : top + 4, left : left + 4])


def test_subimage_pairs_stay_aligned(hr_folder: Path, tmp_path: Path) -> None:
    prepare_pairs(hr_folder, tmp_path / "HR", tmp_path / "LR", scale=4, workers=1, progress=False)
    count = extract_subimage_pairs(
        tmp_path / "HR", tmp_path / "LR", tmp_path / "HRsub", tmp_path / "LRsub", 4, 24, 12, 4, 1, progress=False
    )
    hr_files = sorted(p.name for p in (tmp_path / "HRsub").iterdir())
    assert count == len(hr_files) and hr_files == sorted(p.name for p in (tmp_path / "LRsub").iterdir())
    lr = read_image(tmp_path / "LR" / "a.png")
    # a.png is 48x60 after the mod crop: rows at 0, 12, 24; columns at 0, 12, 24, 36; the 5th crop is (12, 0).
    np.testing.assert_array_equal(read_image(tmp_path / "LRsub" / "a_s005.png"), lr[3:9, 0:6])


def test_pair_extraction_checks_scale_and_sizes(hr_folder: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="multiples"):
        extract_subimage_pairs(hr_folder, hr_folder, tmp_path / "x", tmp_path / "y", 4, crop_size=30)
    with pytest.raises(DatasetError, match="not 4 times larger"):
        extract_subimage_pairs(hr_folder, hr_folder, tmp_path / "x", tmp_path / "y", 4, 24, 12, progress=False)


def test_empty_or_missing_folders_are_dataset_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError):
        prepare_pairs(tmp_path / "empty", tmp_path / "a", tmp_path / "b", progress=False)
    with pytest.raises(DatasetError):
        extract_subimages(tmp_path / "missing", tmp_path / "c", progress=False)


def test_images_smaller_than_the_crop_are_reported(hr_folder: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="smaller than the crop size"):
        extract_subimages(hr_folder, tmp_path / "out", crop_size=48, step=24, workers=1, progress=False)
