"""Offline dataset preparation: mod-cropped HR / bicubic LR pairs, and sub-images for training.

Pairs. Benchmark and training LR images are made from the HR image cropped (top-left kept) to a multiple
of the scale, shrunk with MATLAB's `imresize(hr, 1/scale, 'bicubic')`. Two conventions are in use and give
LR images differing by about one level in a few percent of the pixels:

- ``"once"``: `uint8(round(imresize(im2double(hr), 1/s) * 255))`, float arithmetic rounded once at the
  end; the LR images published with the original ESRGAN code were made this way;
- ``"per_pass"``: `imresize(hr_uint8, 1/s)`, which MATLAB rounds to uint8 after each 1-D pass; the LR
  files of the common EDSR-style benchmark packs (and BasicSR's DIV2K scripts) were made this way.

Sub-images. Training on DIV2K reads crops of its 2K images; extracting them once, as BasicSR's
`extract_subimages.py` does (crop 480, step 240, threshold 0 for HR; the same divided by the scale for LR),
makes reading cheap. Crops start every `step` pixels; one more, flush with the far edge, is added when more
than `thresh_size` pixels would otherwise be left over. Sub-images are written as lossless PNG named
``{stem}_s{index:03d}.png``, numbered from 1 row by row.

Work is spread over processes (one image per task) with a tqdm progress bar.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import TypeVar

import numpy as np
from tqdm import tqdm

from esrgan.data.datasets import image_size, list_images
from esrgan.errors import ConfigError, DatasetError
from esrgan.imaging.io import read_image, write_image
from esrgan.imaging.matlab_resize import ROUNDINGS, Rounding, imresize_keeping_type

_Item = TypeVar("_Item")


def mod_crop(image: np.ndarray, scale: int) -> np.ndarray:
    """The top-left part whose height and width are multiples of `scale` (MATLAB `modcrop`)."""
    height, width = image.shape[0] - image.shape[0] % scale, image.shape[1] - image.shape[1] % scale
    return image[:height, :width]


def make_lr(hr: np.ndarray, scale: int, rounding: Rounding = "once") -> np.ndarray:
    """MATLAB-bicubic LR image of a mod-cropped uint8 or uint16 HR image, of the same type (see
    `imresize_keeping_type` for the two roundings)."""
    if hr.dtype not in (np.uint8, np.uint16):
        raise ConfigError(f"make_lr takes uint8 or uint16 images, got {hr.dtype}")
    if hr.shape[0] % scale or hr.shape[1] % scale:
        raise ConfigError(f"HR size {hr.shape[:2]} is not a multiple of the scale {scale}; mod_crop it first")
    return imresize_keeping_type(hr, 1.0 / scale, rounding)


def _run(work: Callable[[_Item], int], items: list[_Item], workers: int | None, desc: str, progress: bool) -> int:
    """Sum of `work(item)` over `items`, on `workers` processes (all cores when None, inline when 1)."""
    workers = min(workers or os.cpu_count() or 1, len(items))
    total = 0
    with tqdm(total=len(items), desc=desc, unit="image", disable=not progress) as bar, ExitStack() as stack:
        mapper = map if workers <= 1 else stack.enter_context(ProcessPoolExecutor(max_workers=workers)).map
        for result in mapper(work, items):
            total += result
            bar.update(1)
    return total


def _prepare_one(path: Path, out_hr: Path, out_lr: Path, scale: int, rounding: Rounding, overwrite: bool) -> int:
    hr = mod_crop(read_image(path), scale)
    write_image(out_hr / f"{path.stem}.png", hr, overwrite=overwrite)
    write_image(out_lr / f"{path.stem}.png", make_lr(hr, scale, rounding), overwrite=overwrite)
    return 1


def prepare_pairs(
    hr_folder: Path,
    out_hr: Path,
    out_lr: Path,
    scale: int = 4,
    rounding: Rounding = "once",
    workers: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> int:
    """Write `{stem}.png` mod-cropped HR images to `out_hr` and their LR images to `out_lr`; returns the count."""
    if scale < 1:
        raise ConfigError(f"scale must be a positive integer, got {scale}")
    if rounding not in ROUNDINGS:
        raise ConfigError(f"rounding must be one of {ROUNDINGS}, got {rounding!r}")
    paths = list_images(Path(hr_folder), "HR")
    Path(out_hr).mkdir(parents=True, exist_ok=True)
    Path(out_lr).mkdir(parents=True, exist_ok=True)
    work = partial(
        _prepare_one, out_hr=Path(out_hr), out_lr=Path(out_lr), scale=scale, rounding=rounding, overwrite=overwrite
    )
    return _run(work, paths, workers, f"HR/LR x{scale}", progress)


def crop_positions(length: int, crop_size: int, step: int, thresh_size: int) -> list[int]:
    """Start offsets of the crops along one side, BasicSR's rule: every `step`, plus one flush with the end
    when more than `thresh_size` pixels are left over."""
    if length < crop_size:
        return []
    positions = list(range(0, length - crop_size + 1, step))
    if length - (positions[-1] + crop_size) > thresh_size:
        positions.append(length - crop_size)
    return positions


def _extract_one(path: Path, output: Path, crop_size: int, step: int, thresh_size: int, overwrite: bool) -> int:
    image = read_image(path)
    rows = crop_positions(image.shape[0], crop_size, step, thresh_size)
    cols = crop_positions(image.shape[1], crop_size, step, thresh_size)
    if not rows or not cols:
        raise DatasetError(
            f"{path}: {image.shape[1]}x{image.shape[0]} is smaller than the crop size {crop_size}; "
            "use a smaller crop size or remove the image"
        )
    index = 0
    for top in rows:
        for left in cols:
            index += 1
            crop = image[top : top + crop_size, left : left + crop_size]
            write_image(output / f"{path.stem}_s{index:03d}.png", crop, overwrite=overwrite)
    return index


def extract_subimages(
    folder: Path,
    output: Path,
    crop_size: int = 480,
    step: int = 240,
    thresh_size: int = 0,
    workers: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> int:
    """Cut every image of `folder` into overlapping `crop_size` squares in `output`; returns how many."""
    if crop_size < 1 or step < 1 or thresh_size < 0:
        raise ConfigError(
            f"crop_size and step must be positive and thresh_size >= 0, got {crop_size}, {step}, {thresh_size}"
        )
    paths = list_images(Path(folder), "input")
    Path(output).mkdir(parents=True, exist_ok=True)
    work = partial(
        _extract_one, output=Path(output), crop_size=crop_size, step=step, thresh_size=thresh_size, overwrite=overwrite
    )
    return _run(work, paths, workers, f"sub-images {crop_size}px", progress)


def extract_subimage_pairs(
    hr_folder: Path,
    lr_folder: Path,
    out_hr: Path,
    out_lr: Path,
    scale: int,
    crop_size: int = 480,
    step: int = 240,
    thresh_size: int = 0,
    workers: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> int:
    """Sub-images of an HR folder and of its LR folder (same stems, sizes divided by `scale`), cut at the
    same places: the LR crop size, step and threshold are the HR ones divided by the scale."""
    if crop_size % scale or step % scale or thresh_size % scale:
        raise ConfigError(
            f"crop_size {crop_size}, step {step} and thresh_size {thresh_size} must be multiples of the scale {scale}"
        )
    hr_paths, lr_paths = list_images(Path(hr_folder), "HR"), list_images(Path(lr_folder), "LR")
    if [p.stem for p in hr_paths] != [p.stem for p in lr_paths]:
        raise DatasetError(f"{hr_folder} and {lr_folder} must hold images with the same names (stems)")
    for hr_path, lr_path in zip(hr_paths, lr_paths):
        (hr_w, hr_h), (lr_w, lr_h) = image_size(hr_path), image_size(lr_path)
        if (hr_w, hr_h) != (lr_w * scale, lr_h * scale):
            raise DatasetError(
                f"{lr_path} is {lr_w}x{lr_h} but {hr_path} is {hr_w}x{hr_h}, not {scale} times larger; "
                "mod-crop the HR images (prepare_pairs does)"
            )
    count = extract_subimages(hr_folder, out_hr, crop_size, step, thresh_size, workers, overwrite, progress)
    extract_subimages(
        lr_folder, out_lr, crop_size // scale, step // scale, thresh_size // scale, workers, overwrite, progress
    )
    return count
