"""Training images packed in an LMDB database (optional, `pip install lmdb`), in BasicSR's layout.

Millions of small sub-images read from a network or spinning disk cost a file open each; one memory-mapped
LMDB file does not. The layout is BasicSR's, so databases made by its `create_lmdb.py` load here and ours
load there: a folder `NAME.lmdb` holding `data.mdb` (key: the image's file stem, value: the image encoded as
PNG by OpenCV, so in BGR order) and `meta_info.txt` (a line per image: `stem.png (h,w,c) compression`).

Sizes come from `meta_info.txt`, so checking a training set against the patch size reads no pixels. The
database is opened read-only, lazily, once per process: DataLoader workers each open their own handle after
the fork, as LMDB requires.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from esrgan.errors import DatasetError, ImageReadError
from esrgan.imaging.io import read_image

META_INFO = "meta_info.txt"
MAP_SIZE = 1 << 40
"""The most a database may grow to: address space only (py-lmdb: no cost on 64-bit systems), so that JPEG
inputs re-encoded as PNG, many times their file size, never fill it."""
_META_LINE = re.compile(r"(?P<name>\S+) \((?P<h>\d+),(?P<w>\d+),(?P<c>\d+)\) (?P<level>\d+)")
_open_databases: dict[Path, tuple[int, Any]] = {}
"""Folder → (process id, open environment)."""


def _import_lmdb() -> Any:
    try:
        import lmdb
    except ImportError as error:
        raise DatasetError("LMDB training data needs the lmdb package: pip install lmdb") from error
    return lmdb


def is_lmdb(folder: Path) -> bool:
    return (Path(folder) / "data.mdb").is_file()


def lmdb_contents(folder: Path) -> dict[str, tuple[int, int]]:
    """{key: (width, height)} of every image in the database, from its `meta_info.txt`."""
    meta = Path(folder) / META_INFO
    if not meta.is_file():
        raise DatasetError(f"{folder} is an LMDB database without {META_INFO} (the image list BasicSR writes)")
    contents: dict[str, tuple[int, int]] = {}
    for number, line in enumerate(meta.read_text().splitlines(), 1):
        if not line.strip():
            continue
        match = _META_LINE.fullmatch(line.strip())
        if match is None:
            raise DatasetError(f"{meta}:{number}: expected `name.png (h,w,c) level`, got {line!r}")
        contents[Path(match["name"]).stem] = (int(match["w"]), int(match["h"]))
    if not contents:
        raise DatasetError(f"{meta} lists no images")
    return contents


def _database(folder: Path) -> Any:
    """This process's read-only handle on `folder`.

    A DataLoader worker forked after the parent opened the database inherits the parent's handle, which LMDB
    forbids using in the child (and py-lmdb refuses to open the same path twice): the child closes its copy
    of the inherited handle, which leaves the parent's alone, and opens its own.
    """
    folder = folder.resolve()
    handle = _open_databases.get(folder)
    if handle is not None and handle[0] == os.getpid():
        return handle[1]
    if handle is not None:
        handle[1].close()
    environment = _import_lmdb().open(str(folder), readonly=True, lock=False, readahead=False)
    _open_databases[folder] = (os.getpid(), environment)
    return environment


def read_lmdb_image(folder: Path, key: str) -> np.ndarray:
    """The image stored under `key`, RGB (H, W, 3) or grey (H, W), uint8 or uint16."""
    with _database(Path(folder)).begin(write=False) as transaction:
        encoded = transaction.get(key.encode("utf-8"))
    if encoded is None:
        raise DatasetError(f"{folder}: no image under the key {key!r} (is {META_INFO} out of date?)")
    image = cv2.imdecode(np.frombuffer(encoded, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise DatasetError(f"{folder}: the value under {key!r} is not an encoded image")
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA if image.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    return image


def write_lmdb(
    images: Iterable[Path], destination: Path, compression: int = 1,
    on_image: Callable[[Path], object] | None = None,
) -> int:
    """Pack `images` (keyed by file stem) into the LMDB folder `destination`, which must not exist yet.

    PNG `compression` 1 as BasicSR: decoding speed matters more than size for training reads.
    """
    lmdb = _import_lmdb()
    destination = Path(destination)
    if destination.exists():
        raise DatasetError(f"{destination} exists; remove it or choose another name")
    paths = sorted(Path(p) for p in images)
    stems = [p.stem for p in paths]
    if len(set(stems)) != len(stems):
        raise DatasetError(f"two images share a file stem in {destination.name}'s input; keys must be unique")
    lines = []
    # Written beside the destination and renamed into place: a failure leaves no half-filled database.
    partial = destination.with_name(f".part-{destination.name}")
    shutil.rmtree(partial, ignore_errors=True)
    environment = lmdb.open(str(partial), map_size=MAP_SIZE)
    try:
        with environment.begin(write=True) as transaction:
            for path in paths:
                try:
                    image = read_image(path)
                except ImageReadError as error:
                    raise DatasetError(str(error)) from None
                bgr = image if image.ndim == 2 else cv2.cvtColor(
                    image, cv2.COLOR_RGBA2BGRA if image.shape[2] == 4 else cv2.COLOR_RGB2BGR)
                ok, encoded = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, compression])
                if not ok:
                    raise DatasetError(f"{path}: could not be encoded as PNG")
                transaction.put(path.stem.encode("utf-8"), encoded.tobytes())
                channels = 1 if image.ndim == 2 else image.shape[2]
                lines.append(f"{path.stem}.png ({image.shape[0]},{image.shape[1]},{channels}) {compression}")
                if on_image is not None:
                    on_image(path)
        (partial / META_INFO).write_text("\n".join(lines) + "\n")
    except BaseException:
        environment.close()
        shutil.rmtree(partial, ignore_errors=True)
        raise
    environment.close()
    partial.rename(destination)
    return len(paths)
