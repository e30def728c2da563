"""Training data: random HR patches with their aligned LR patches, flipped and rotated (paper Sec. 4.1).

A training set is a folder of HR images and, optionally, a folder of LR images with the same file stems
(`0001.png` or `0001x4.png`); either may be an LMDB database instead (`esrgan.data.lmdb_store`). Without
LR images the LR patch is made with MATLAB's bicubic (the `imresize` of `esrgan.imaging.matlab_resize`,
uint8 path) on the fly: the HR crop is taken with a margin of a few LR pixels, shrunk, and the margin cut
off, which gives exactly the pixels of the whole shrunk (mod-cropped) image at a fraction of the cost.

Randomness comes only from the key each sample is asked for: `TrainingSampler` yields `(index, seed,
position)` keys, the crop and the augmentation are drawn from `default_rng((seed, position))`. So the data
of iteration i is a function of (seed, i) alone, whatever the number of DataLoader workers, processes, or
restarts: this is what makes resume exact and a distributed run equal to a single-process one.

Every problem a folder can have (missing, empty, unreadable, images smaller than the patch, LR images that
do not match) is reported by `scan_training_folder` before training starts, as a `DatasetError`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset, Sampler

from esrgan.data.lmdb_store import is_lmdb, lmdb_contents, read_lmdb_image
from esrgan.errors import DatasetError, ImageReadError
from esrgan.imaging.io import IMAGE_SUFFIXES, read_image
from esrgan.imaging.matlab_resize import imresize

LR_MARGIN = 3
"""LR pixels of context around an LR crop: the ×1/s bicubic kernel reaches 2 LR pixels (4·s/2 HR pixels)."""

SampleKey = tuple[int, int, int]
"""(image index, seed, position in the sample stream): everything a training sample depends on."""


@dataclass(frozen=True)
class TrainingImage:
    hr: Path
    lr: Path | None
    width: int
    height: int


def list_images(folder: Path, what: str) -> list[Path]:
    """The image files directly in `folder`, sorted by name; `DatasetError` if there is none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{what} folder {folder} does not exist (check the path in the config)")
    images = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise DatasetError(f"{what} folder {folder} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return images


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) as `read_image` will return it (EXIF rotation applied), from the header only."""
    try:
        with Image.open(path) as image:
            width, height = image.size
            rotated = image.getexif().get(0x0112) in (5, 6, 7, 8)
    except (UnidentifiedImageError, OSError) as error:
        raise DatasetError(f"{path}: not a readable image ({error})") from None
    return (height, width) if rotated else (width, height)


def list_training_images(folder: Path, what: str) -> dict[Path, tuple[int, int]]:
    """{image: (width, height)} of a folder of images, or of an LMDB database (`folder/key` stands for an entry)."""
    if is_lmdb(folder):
        return {Path(folder) / key: size for key, size in sorted(lmdb_contents(folder).items())}
    return {path: image_size(path) for path in list_images(folder, what)}


def image_key(path: Path) -> str:
    """What pairs an HR image with its LR image: the file stem, or an LMDB entry's key (which has no suffix)."""
    return path.stem if path.suffix.lower() in IMAGE_SUFFIXES else path.name


def read_training_image(path: Path) -> np.ndarray:
    """A training image from a file, or from an LMDB database when `path` is `database/key`."""
    try:
        return read_lmdb_image(path.parent, path.name) if is_lmdb(path.parent) else read_image(path)
    except ImageReadError as error:
        raise DatasetError(str(error)) from None


def scan_training_folder(hr_folder: Path, lr_folder: Path | None, scale: int, patch_size: int) -> list[TrainingImage]:
    """Check every image of a training set against the patch size and pair it with its LR image."""
    hr_sizes = list_training_images(hr_folder, "training HR")
    hr_paths = list(hr_sizes)
    lr_sizes = list_training_images(lr_folder, "training LR") if lr_folder is not None else {}
    lr_by_stem = {image_key(p): p for p in lr_sizes}
    images: list[TrainingImage] = []
    small: list[str] = []
    unpaired: list[str] = []
    mismatched: list[str] = []
    for hr in hr_paths:
        width, height = hr_sizes[hr]
        if min(width, height) < patch_size:
            small.append(f"{hr.name} ({width}x{height})")
        lr = None
        if lr_folder is not None:
            key = image_key(hr)
            lr = lr_by_stem.get(key) or lr_by_stem.get(f"{key}x{scale}")
            if lr is None:
                unpaired.append(hr.name)
            elif lr_sizes[lr] != (width // scale, height // scale):
                lr_w, lr_h = lr_sizes[lr]
                mismatched.append(f"{lr.name} is {lr_w}x{lr_h}, expected {width // scale}x{height // scale}")
        images.append(TrainingImage(hr, lr, width, height))
    if small:
        raise DatasetError(
            f"{len(small)} of {len(hr_paths)} images in {hr_folder} are smaller than the {patch_size}-pixel HR "
            f"patch: {_preview(small)}; remove them or lower data.patch_size"
        )
    if unpaired:
        raise DatasetError(
            f"{len(unpaired)} HR images have no LR image in {lr_folder} (looked for the same stem, or the stem "
            f"+ 'x{scale}'): {_preview(unpaired)}"
        )
    if mismatched:
        raise DatasetError(f"LR images in {lr_folder} do not match HR size / {scale}: {_preview(mismatched)}")
    return images


def _preview(items: list[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown if len(items) <= limit else f"{shown} and {len(items) - limit} more"


def as_rgb(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 or uint16: grey is repeated, alpha is dropped."""
    if image.ndim == 2:
        image = image[..., None]
    if image.shape[2] == 1:
        return np.repeat(image, 3, axis=2)
    return image[..., :3]


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 / uint16 → float32 (3, H, W) in [0, 1]."""
    peak = np.float32(65535.0 if image.dtype == np.uint16 else 255.0)
    # numpy rather than torch: torch's intra-op threads cost more than they save on a patch this small.
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32) / peak)


def bicubic_lr_crop(hr: np.ndarray, scale: int, top: int, left: int, size: int) -> np.ndarray:
    """LR pixels [top, top+size) × [left, left+size) of `imresize(mod-cropped hr, 1/scale)`, computed from
    an HR crop with `LR_MARGIN` LR pixels of context (less at the image border, where the whole-image
    resize mirrors the same edge)."""
    lr_h, lr_w = hr.shape[0] // scale, hr.shape[1] // scale
    y0, x0 = max(top - LR_MARGIN, 0), max(left - LR_MARGIN, 0)
    y1, x1 = min(top + size + LR_MARGIN, lr_h), min(left + size + LR_MARGIN, lr_w)
    lr = imresize(hr[y0 * scale : y1 * scale, x0 * scale : x1 * scale], scale=1.0 / scale)
    return lr[top - y0 : top - y0 + size, left - x0 : left - x0 + size]


def augment(rng: np.random.Generator, flip: bool, rotate: bool, *images: np.ndarray) -> list[np.ndarray]:
    """The same random horizontal flip, vertical flip and 90° rotation (transpose) for each image."""
    hflip, vflip, transpose = rng.random(3) < 0.5
    out = []
    for image in images:
        if flip and hflip:
            image = image[:, ::-1]
        if flip and vflip:
            image = image[::-1]
        if rotate and transpose:
            image = image.transpose(1, 0, 2)
        out.append(image)
    return out


class PatchDataset(Dataset):
    """Aligned (LR, HR) patch pairs: `dataset[(index, seed, position)]` → (lr (3, p/s, p/s), hr (3, p, p))."""

    def __init__(
        self,
        images: list[TrainingImage],
        scale: int,
        patch_size: int,
        *,
        flip: bool = True,
        rotate: bool = True,
        cache_images: bool = False,
    ) -> None:
        self.images = images
        self.scale = scale
        self.patch_size = patch_size
        self.flip = flip
        self.rotate = rotate
        self.cache_images = cache_images
        self._cache: dict[int, tuple[np.ndarray, np.ndarray | None]] = {}

    def __len__(self) -> int:
        return len(self.images)

    def _load(self, index: int) -> tuple[np.ndarray, np.ndarray | None]:
        if index in self._cache:
            return self._cache[index]
        entry = self.images[index]
        hr = as_rgb(read_training_image(entry.hr))
        lr = as_rgb(read_training_image(entry.lr)) if entry.lr is not None else None
        if self.cache_images:
            if lr is None:  # shrink the whole image once rather than every crop
                s = self.scale
                lr = imresize(hr[: hr.shape[0] - hr.shape[0] % s, : hr.shape[1] - hr.shape[1] % s], scale=1.0 / s)
            self._cache[index] = (hr, lr)
        return hr, lr

    def __getitem__(self, key: SampleKey | int) -> tuple[torch.Tensor, torch.Tensor]:
        index, seed, position = (key, 0, key) if isinstance(key, int) else key
        rng = np.random.default_rng((seed, position))
        hr, lr = self._load(index)
        s, size = self.scale, self.patch_size // self.scale
        top = int(rng.integers(0, hr.shape[0] // s - size + 1))
        left = int(rng.integers(0, hr.shape[1] // s - size + 1))
        hr_patch = hr[top * s : (top + size) * s, left * s : (left + size) * s]
        if lr is None:
            lr_patch = bicubic_lr_crop(hr, s, top, left, size)
        else:
            lr_patch = lr[top : top + size, left : left + size]
        lr_patch, hr_patch = augment(rng, self.flip, self.rotate, lr_patch, hr_patch)
        return to_tensor(lr_patch), to_tensor(hr_patch)


class TrainingSampler(Sampler[SampleKey]):
    """An endless stream of sample keys, shuffled anew each epoch, sharded over processes.

    The stream is the concatenation of permutations of the data set, epoch e being `randperm` seeded with
    (seed, e). Iteration i uses positions [i·B, (i+1)·B) of the stream, B the global batch; process `rank`
    of `world_size` takes every world_size-th of them, as torch's DistributedSampler shards an epoch. So
    the union of the processes' batches is the single-process batch, and starting at `start_iteration`
    continues the data order of an interrupted run exactly.
    """

    def __init__(
        self, num_images: int, global_batch: int, seed: int, *, rank: int = 0, world_size: int = 1,
        start_iteration: int = 0,
    ) -> None:
        if global_batch % world_size:
            raise DatasetError(f"the batch size {global_batch} does not split evenly over {world_size} processes")
        self.num_images = num_images
        self.global_batch = global_batch
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.start_iteration = start_iteration

    def _permutation(self, epoch: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(self.num_images, generator=generator)

    def __iter__(self) -> Iterator[SampleKey]:
        position = self.start_iteration * self.global_batch + self.rank
        epoch, permutation = -1, torch.empty(0, dtype=torch.long)
        while True:
            if position // self.num_images != epoch:
                epoch = position // self.num_images
                permutation = self._permutation(epoch)
            yield int(permutation[position % self.num_images]), self.seed, position
            position += self.world_size
