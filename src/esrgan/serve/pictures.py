"""Images as the page shows them: 8-bit PNG bytes, thumbnails, and the bicubic "before" view.

The results themselves are written by `imaging.io.write_image`, as `esrgan upscale` writes them; these are
only for the screen, where 16 bits and alpha need not survive exactly.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image

from esrgan.imaging.io import fit_for_format

THUMBNAIL_SIDE = 160


def display_png(image: np.ndarray) -> bytes:
    """`image` as 8-bit PNG bytes (grey, RGB or RGBA), compressed lightly: it is sent once, over loopback."""
    # WebP's limits are the screen's: 8 bits, alpha kept, grey + alpha as RGBA.
    image, _ = fit_for_format(image, ".webp")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def thumbnail(image: np.ndarray) -> bytes:
    height, width = image.shape[:2]
    shrink = min(1.0, THUMBNAIL_SIDE / max(height, width))
    size = (max(1, round(width * shrink)), max(1, round(height * shrink)))
    return display_png(_resized(image, size, cv2.INTER_AREA))


def bicubic(image: np.ndarray, width: int, height: int) -> bytes:
    """The input enlarged to `width`×`height` by bicubic interpolation: what super-resolution is compared with."""
    return display_png(_resized(image, (width, height), cv2.INTER_CUBIC))


def _resized(image: np.ndarray, size: tuple[int, int], interpolation: int) -> np.ndarray:
    resized = cv2.resize(image, size, interpolation=interpolation)
    return resized if resized.ndim == image.ndim else resized[..., None]
