"""Read and write images as numpy arrays, keeping what the file had: 8 or 16 bits, alpha, grey.

Arrays are HxW (grey) or HxWxC with C = 3 (RGB) or 4 (RGBA), dtype uint8 or uint16. Pillow parses headers
and 8-bit data (with strict checks for truncation and decompression bombs); OpenCV decodes and encodes the
16-bit files that Pillow would reduce to 8 bits.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from esrgan.atomic import atomic_write
from esrgan.errors import ImageReadError, ImageWriteError

DEFAULT_MAX_PIXELS = 100_000_000
"""Larger inputs are refused unless the caller raises the limit: an ×4 upscale of one needs 1.6 G pixels."""

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".tga", ".ppm", ".pgm"})
SIXTEEN_BIT_SUFFIXES = frozenset({".png", ".tif", ".tiff"})

# Our own limit (`max_pixels`, checked from the header before decoding) replaces Pillow's global one, which
# users could not change from the command line and which would warn on every large photo.
Image.MAX_IMAGE_PIXELS = None

_PIL_MODES_KEPT = {"L": "L", "RGB": "RGB", "RGBA": "RGBA", "LA": "RGBA", "P": "RGB", "PA": "RGBA",
                   "CMYK": "RGB", "YCbCr": "RGB", "1": "L", "I;16": None, "I;16B": None, "I;16L": None, "I": None}


def read_image(path: Path, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode `path`; raise `ImageReadError` naming the file and the reason when it cannot be used."""
    path = Path(path)
    try:
        with Image.open(path) as image:
            width, height = image.size
            if max_pixels is not None and width * height > max_pixels:
                raise ImageReadError(
                    f"{path}: {width}x{height} is {width * height / 1e6:.0f} M pixels, over the limit of "
                    f"{max_pixels / 1e6:.0f} M (a decompression bomb?); pass --max-pixels to allow it"
                )
            if _is_high_bit_depth(path, image):
                return _read_with_opencv(path)
            image.load()
            return pil_to_array(ImageOps.exif_transpose(image) or image)
    except ImageReadError:
        raise
    except FileNotFoundError:
        raise ImageReadError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImageReadError(f"{path}: is a folder, not an image") from None
    except UnidentifiedImageError:
        raise ImageReadError(f"{path}: not an image file (unrecognised format)") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise ImageReadError(f"{path}: cannot decode ({error}); the file may be truncated or corrupt") from None


def _is_high_bit_depth(path: Path, image: Image.Image) -> bool:
    if image.mode.startswith("I"):
        return True
    if image.format == "PNG":
        with path.open("rb") as handle:
            header = handle.read(25)
        return len(header) == 25 and header[24] == 16
    if image.format == "TIFF":
        bits = image.tag_v2.get(258, (8,))
        return max(bits if isinstance(bits, tuple) else (bits,)) > 8
    return False


def _read_with_opencv(path: Path) -> np.ndarray:
    image = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ImageReadError(f"{path}: cannot decode this high-bit-depth image; the file may be truncated")
    if image.dtype not in (np.uint8, np.uint16):
        raise ImageReadError(f"{path}: pixel type {image.dtype} is not supported (8 or 16 bits per channel)")
    if image.ndim == 3:
        code = cv2.COLOR_BGRA2RGBA if image.shape[2] == 4 else cv2.COLOR_BGR2RGB
        image = cv2.cvtColor(image, code)
    return np.ascontiguousarray(image)


def pil_to_array(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode == "P" and "transparency" in image.info:
        mode = "PA"
    target = _PIL_MODES_KEPT.get(mode, "RGB") or "RGB"
    return np.asarray(image.convert(target) if image.mode != target else image).copy()


def write_image(path: Path, image: np.ndarray, *, overwrite: bool = False, quality: int = 95) -> None:
    """Encode `image` by the suffix of `path`, atomically; never replaces a file unless `overwrite`."""
    path = Path(path)
    if not overwrite and path.exists():
        raise ImageWriteError(f"{path}: exists; pass --overwrite to replace it")
    suffix = path.suffix.lower()
    if image.dtype == np.uint16 and suffix not in SIXTEEN_BIT_SUFFIXES:
        raise ImageWriteError(f"{path}: {suffix} cannot hold 16-bit data; use .png or .tif")
    if image.ndim == 3 and image.shape[2] == 4 and suffix in {".jpg", ".jpeg", ".bmp"}:
        raise ImageWriteError(f"{path}: {suffix} cannot hold the alpha channel; use .png, .webp or .tif")
    if image.ndim == 3:
        code = cv2.COLOR_RGBA2BGRA if image.shape[2] == 4 else cv2.COLOR_RGB2BGR
        image = cv2.cvtColor(image, code)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if suffix in {".jpg", ".jpeg"} else []
    if suffix == ".webp":
        params = [cv2.IMWRITE_WEBP_QUALITY, quality]
    ok, encoded = cv2.imencode(suffix, image, params)
    if not ok:
        raise ImageWriteError(f"{path}: OpenCV cannot encode {suffix} images")
    try:
        atomic_write(path, encoded.tofile, overwrite=overwrite)
    except FileExistsError:
        raise ImageWriteError(f"{path}: exists; pass --overwrite to replace it") from None
    except OSError as error:
        raise ImageWriteError(f"{path}: cannot write ({error.strerror or error})") from None

