"""VGG19 weights for the perceptual loss: torchvision's published ImageNet file, fetched once into the cache,
or a user's file in the same layout (a material-recognition VGG19, as the paper's MINC variant).

torchvision publishes `vgg19-dcbb9e9d.pth` with only the first 8 hex digits of its sha256 in the name; the
download is checked against that prefix (as torch.hub checks it), and the file then lives in the same cache
as the generators (`esrgan.weights.cache`), so training never downloads it twice.
"""

from __future__ import annotations

import os
from pathlib import Path

from esrgan.archs.vgg import VGG19, load_vgg19_state_dict
from esrgan.weights.cache import cache_dir
from esrgan.weights.download import download
from esrgan.weights.io import read_weights_file
from esrgan.weights.resolve import MIRROR_VARIABLE

IMAGENET = "imagenet"
"""The name that stands for torchvision's ImageNet VGG19 wherever a VGG19 weights file is asked for."""
IMAGENET_FILE = "vgg19-dcbb9e9d.pth"
IMAGENET_URL = f"https://download.pytorch.org/models/{IMAGENET_FILE}"
IMAGENET_SHA256_PREFIX = "dcbb9e9d"
"""All torchvision publishes of the file's sha256 (its name carries it)."""


def resolve_vgg19_weights(source: str | Path, progress: bool = True, *, mirror: str | None = None) -> Path:
    """A local VGG19 weights file: `source` itself, or for `imagenet` the cached (or now fetched) torchvision file.

    `mirror` (default `$ESRGAN_MIRROR`) is a base URL serving the file under its published name.
    """
    if str(source) != IMAGENET:
        return Path(source).expanduser()
    cached = cache_dir() / IMAGENET_FILE
    if cached.is_file():
        return cached
    mirror = os.environ.get(MIRROR_VARIABLE) if mirror is None else mirror
    url = f"{mirror.rstrip('/')}/{IMAGENET_FILE}" if mirror else IMAGENET_URL
    return download(url, cached, IMAGENET_SHA256_PREFIX, progress)


def load_vgg19_weights(vgg: VGG19, source: str | Path, progress: bool = True) -> None:
    """Load torchvision's `vgg19-*.pth` (or the same keys in a `.safetensors` file, or `imagenet`) into `vgg`.

    The file is read with `torch.load(weights_only=True)`, so a pickle carrying code is refused, and nested
    checkpoints (`{"state_dict": ...}`, `{"model": ...}`) are unwrapped; see `load_vgg19_state_dict` for the keys.
    """
    path = resolve_vgg19_weights(source, progress)
    state_dict, _ = read_weights_file(path)
    load_vgg19_state_dict(vgg, state_dict, source=str(path))
