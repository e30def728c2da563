"""Tiny training set-ups: generated image folders and configs small enough to train in a second."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from esrgan.training.config import TrainConfig, config_from_dict


def write_images(folder: Path, count: int, size: tuple[int, int], seed: int = 0) -> Path:
    """`count` smooth random RGB PNGs of size (width, height): gradients plus blobs, so crops differ."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    width, height = size
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    for index in range(count):
        channels = [np.sin(rng.uniform(2, 12) * x + rng.uniform(0, 6)) * np.cos(rng.uniform(2, 12) * y)
                    for _ in range(3)]
        image = (np.stack(channels, axis=2) * 100 + 128 + rng.normal(0, 8, (height, width, 3))).clip(0, 255)
        Image.fromarray(image.astype(np.uint8)).save(folder / f"img{index:02d}.png")
    return folder


def merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    result = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge(result[key], value)
        else:
            result[key] = value
    return result


def tiny_raw_config(output_dir: Path, train_hr: Path, stage: str = "psnr", **changes: Any) -> dict[str, Any]:
    """A config as plain data: an RRDBNet with nf 8 and one block; GAN stage with a 4-wide C and VGG conv1_2."""
    raw: dict[str, Any] = {
        "name": "run", "output_dir": str(output_dir), "stage": stage, "device": "cpu", "seed": 3,
        "generator": {"num_feat": 8, "num_block": 1, "num_grow_ch": 4},
        "discriminator": {"num_feat": 4},
        "data": {"train_hr": str(train_hr), "patch_size": 128 if stage == "gan" else 32, "batch_size": 2,
                 "workers": 0},
        "loss": {"pixel_weight": 1.0 if stage == "psnr" else 1e-2, "perceptual_layers": {"conv1_2": 1.0},
                 "vgg_weights": "random"},
        "optim": {"lr_g": 1e-3, "lr_d": 1e-3, "milestones": [3]},
        "training": {"iterations": 4},
        "checkpoint": {"every": 2, "keep_last": 10},
        "logging": {"every": 1, "progress_bar": False, "tensorboard": False},
    }
    return merge(raw, changes)


def tiny_config(output_dir: Path, train_hr: Path, stage: str = "psnr", **changes: Any) -> TrainConfig:
    return config_from_dict(tiny_raw_config(output_dir, train_hr, stage, **changes))
