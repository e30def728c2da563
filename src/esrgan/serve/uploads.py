"""Uploaded images: each decoded by `imaging.io.read_image` with the pixel limit of `esrgan upscale` (its
decompression-bomb check, from the header, before decoding) and kept in memory under a random id.

The browser's file name is only a label: the file is received into a name this module makes, in the
server's own folder, and deleted once decoded.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from esrgan.errors import ConfigError, ImageReadError
from esrgan.imaging.io import read_image

KEPT_BYTES = 2**30
"""Decoded uploads kept in memory at most (the oldest are forgotten first; the newest is always kept)."""


class UploadTooLargeError(ImageReadError):
    """An upload has more bytes than the server accepts."""


@dataclass(frozen=True)
class Upload:
    id: str
    name: str
    image: np.ndarray

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])


class Uploads:
    """The images the page has uploaded, by id; thread-safe."""

    def __init__(self, folder: Path, max_bytes: int, max_pixels: int | None) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self.max_pixels = max_pixels
        self._kept: OrderedDict[str, Upload] = OrderedDict()
        self._lock = threading.Lock()

    def incoming(self) -> tuple[str, Path]:
        """A fresh id and the file its bytes are received into."""
        upload_id = secrets.token_hex(8)
        return upload_id, self.folder / f"incoming-{upload_id}"

    def too_large(self, name: str, size: int) -> UploadTooLargeError:
        return UploadTooLargeError(f"{name}: {size / 1e6:.1f} MB is over the upload limit of "
                                   f"{self.max_bytes / 1e6:.1f} MB (esrgan serve --max-upload-mb)")

    def add(self, upload_id: str, name: str, received: Path) -> Upload:
        """Decode the received file (deleted afterwards) and keep it; `ImageReadError` names `name`."""
        try:
            image = read_image(received, self.max_pixels)
        except ImageReadError as error:
            raise ImageReadError(str(error).replace(str(received), name)) from None
        finally:
            received.unlink(missing_ok=True)
        upload = Upload(upload_id, name, image)
        with self._lock:
            self._kept[upload_id] = upload
            while sum(u.image.nbytes for u in self._kept.values()) > KEPT_BYTES and len(self._kept) > 1:
                self._kept.popitem(last=False)
        return upload

    def get(self, upload_id: str) -> Upload:
        with self._lock:
            upload = self._kept.get(upload_id)
        if upload is None:
            raise KeyError(upload_id)
        return upload


_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\]")


def display_name(name: str) -> str:
    """The browser's file name as a label: its last component, without control characters, at most 200."""
    name = _UNSAFE.sub("_", name.replace("\\", "/").rsplit("/", 1)[-1]).strip()[:200]
    if not name or name in {".", ".."}:
        raise ConfigError("an upload needs a file name")
    return name
