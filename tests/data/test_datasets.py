"""Training patches: LR aligned with HR and equal to the whole-image MATLAB bicubic, reproducible by key,
sharded over processes without changing the global batch, and folder problems reported up front."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from esrgan.data.datasets import (
    PatchDataset,
    TrainingSampler,
    bicubic_lr_crop,
    scan_training_folder,
)
from esrgan.errors import DatasetError
from esrgan.imaging.matlab_resize import imresize


def write(folder: Path, name: str, array: np.ndarray) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(folder / name)
    return folder / name


def random_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_lr_crop_equals_the_crop_of_the_whole_shrunk_image(scale: int) -> None:
    hr = random_image(23 * scale + scale - 1, 19 * scale + 1, seed=scale)  # not multiples of the scale: mod-crop
    whole = imresize(hr[: 23 * scale, : 19 * scale], scale=1.0 / scale)
    for top, left, size in [(0, 0, 6), (17, 13, 6), (5, 0, 9), (0, 7, 12), (9, 4, 5)]:
        crop = bicubic_lr_crop(hr, scale, top, left, size)
        np.testing.assert_array_equal(crop, whole[top : top + size, left : left + size])


def test_patches_are_aligned_reproducible_and_augmented(tmp_path: Path) -> None:
    hr = random_image(60, 72)
    write(tmp_path / "hr", "a.png", hr)
    images = scan_training_folder(tmp_path / "hr", None, 4, 32)
    on_the_fly = PatchDataset(images, 4, 32)
    cached = PatchDataset(images, 4, 32, cache_images=True)
    whole_lr = imresize(hr, scale=0.25)
    seen = set()
    for position in range(24):
        lr, hr_patch = on_the_fly[(0, 7, position)]
        assert lr.shape == (3, 8, 8) and hr_patch.shape == (3, 32, 32) and lr.dtype == torch.float32
        torch.testing.assert_close(cached[(0, 7, position)], (lr, hr_patch), rtol=0, atol=0)
        torch.testing.assert_close(on_the_fly[(0, 7, position)], (lr, hr_patch), rtol=0, atol=0)
        # The HR patch, flipped / rotated back, is a crop of the image at a multiple of the scale, and the LR
        # patch is the same transform of the whole-image LR at that place.
        hr_np = (hr_patch.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        lr_np = (lr.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        matches = [
            (t, y, x)
            for t in range(8)
            for y in range(0, 60 - 32 + 1, 4)
            for x in range(0, 72 - 32 + 1, 4)
            if np.array_equal(undo(hr_np, t), hr[y : y + 32, x : x + 32])
        ]
        assert len(matches) == 1
        t, y, x = matches[0]
        np.testing.assert_array_equal(undo(lr_np, t), whole_lr[y // 4 : y // 4 + 8, x // 4 : x // 4 + 8])
        seen.add(t)
    assert len(seen) >= 5, "flips and rotations should all occur"


def undo(image: np.ndarray, transform: int) -> np.ndarray:
    """Inverse of augment's (hflip, vflip, transpose) combination number `transform`."""
    if transform & 4:
        image = image.transpose(1, 0, 2)
    if transform & 2:
        image = image[::-1]
    if transform & 1:
        image = image[:, ::-1]
    return image


def test_paired_folders_give_the_lr_images_crops(tmp_path: Path) -> None:
    hr = random_image(64, 48, seed=2)
    lr = random_image(16, 12, seed=3)  # any LR image: the dataset must crop it, not recompute it
    write(tmp_path / "hr", "0001.png", hr)
    write(tmp_path / "lr", "0001x4.png", lr)
    dataset = PatchDataset(scan_training_folder(tmp_path / "hr", tmp_path / "lr", 4, 32), 4, 32, flip=False,
                           rotate=False)
    for position in range(10):
        lr_patch, hr_patch = dataset[(0, 0, position)]
        hr_np = (hr_patch.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        y, x = next((y, x) for y in range(0, 33, 4) for x in range(0, 17, 4)
                    if np.array_equal(hr[y : y + 32, x : x + 32], hr_np))
        expected = torch.from_numpy(lr[y // 4 : y // 4 + 8, x // 4 : x // 4 + 8].transpose(2, 0, 1) / 255.0).float()
        torch.testing.assert_close(lr_patch, expected)


def test_grey_and_rgba_images_become_rgb(tmp_path: Path) -> None:
    write(tmp_path / "hr", "grey.png", random_image(40, 40)[..., 0])
    write(tmp_path / "hr", "rgba.png", np.dstack([random_image(40, 40), np.full((40, 40), 128, np.uint8)]))
    dataset = PatchDataset(scan_training_folder(tmp_path / "hr", None, 4, 32), 4, 32)
    lr, hr = dataset[(0, 0, 0)]
    assert hr.shape == (3, 32, 32) and torch.equal(hr[0], hr[1])
    assert dataset[(1, 0, 0)][1].shape == (3, 32, 32)


def test_folder_problems_are_reported_before_training(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="training HR folder .*absent does not exist"):
        scan_training_folder(tmp_path / "absent", None, 4, 32)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="holds no images"):
        scan_training_folder(tmp_path / "empty", None, 4, 32)
    write(tmp_path / "hr", "big.png", random_image(64, 64))
    write(tmp_path / "hr", "tiny.png", random_image(40, 20))
    with pytest.raises(DatasetError, match=r"1 of 2 images .* smaller than the 32-pixel HR patch: tiny.png \(20x40\)"):
        scan_training_folder(tmp_path / "hr", None, 4, 32)
    write(tmp_path / "hr2", "a.png", random_image(64, 64))
    write(tmp_path / "lr2", "a.png", random_image(15, 16))
    with pytest.raises(DatasetError, match=r"a.png is 16x15, expected 16x16"):
        scan_training_folder(tmp_path / "hr2", tmp_path / "lr2", 4, 32)
    write(tmp_path / "lr3", "other.png", random_image(16, 16))
    with pytest.raises(DatasetError, match="have no LR image"):
        scan_training_folder(tmp_path / "hr2", tmp_path / "lr3", 4, 32)


def batches(sampler: TrainingSampler, per_rank: int, count: int) -> list[list[tuple[int, int, int]]]:
    stream = iter(sampler)
    return [[next(stream) for _ in range(per_rank)] for _ in range(count)]


def test_sampler_shards_the_global_batch_and_resumes_the_order() -> None:
    single = batches(TrainingSampler(10, 4, seed=5), 4, 12)
    ranks = [batches(TrainingSampler(10, 4, seed=5, rank=r, world_size=2), 2, 12) for r in range(2)]
    for step in range(12):
        assert sorted(ranks[0][step] + ranks[1][step]) == sorted(single[step])
    resumed = batches(TrainingSampler(10, 4, seed=5, start_iteration=7), 4, 5)
    assert resumed == single[7:]
    # Each epoch visits every image once.
    stream = [key for batch in single for key in batch]
    for epoch in range(4):
        assert sorted(index for index, _, _ in stream[epoch * 10 : (epoch + 1) * 10]) == list(range(10))
    assert [index for index, _, _ in stream[:10]] != [index for index, _, _ in stream[10:20]]
    with pytest.raises(DatasetError, match="does not split evenly over 3 processes"):
        TrainingSampler(10, 4, seed=0, world_size=3)
