"""Read and write images as numpy arrays, keeping what the file had: 8 or 16 bits, alpha, grey.

Arrays are HxW (grey) or HxWxC with C = 3 (RGB) or 4 (RGBA), dtype uint8 or uint16. Pillow parses headers
and 8-bit data (with strict checks for truncation and decompression bombs); OpenCV decodes and encodes the
16-bit files that Pillow would reduce to 8 bits.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, TiffImagePlugin, UnidentifiedImageError

from esrgan.atomic import atomic_write
from esrgan.defaults import DEFAULT_MAX_PIXELS
from esrgan.errors import ImageReadError, ImageWriteError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".tga", ".ppm", ".pgm"})
SIXTEEN_BIT_SUFFIXES = frozenset({".png", ".tif", ".tiff"})

# Every failure is reported as one ImageReadError/ImageWriteError line; OpenCV's own log lines about the same
# failure (`[ERROR:0@0.02] global loadsave.cpp ...`) would only repeat it, less clearly.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)

# Our own limit (`max_pixels`, checked from the header before decoding) replaces Pillow's global one, which
# users could not change from the command line and which would warn on every large photo.
Image.MAX_IMAGE_PIXELS = None

_PIL_MODES_KEPT = {"L": "L", "RGB": "RGB", "RGBA": "RGBA", "LA": "LA", "P": "RGB", "PA": "RGBA",
                   "CMYK": "RGB", "YCbCr": "RGB", "1": "L", "I;16": None, "I;16B": None, "I;16L": None, "I": None}


def read_image(path: Path, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode `path`; raise `ImageReadError` naming the file and the reason when it cannot be used."""
    path = Path(path)
    if (reason := not_a_regular_file(path)) is not None:
        raise ImageReadError(reason)
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


def not_a_regular_file(path: Path) -> str | None:
    """Why `path` cannot be read as an image file (missing, a link loop, a folder, a FIFO), or None when it can.

    Only regular files are opened: reading a FIFO named `.png` would wait forever for a writer.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return f"{path}: a broken symbolic link" if os.path.islink(path) else f"{path}: no such file or folder"
    except OSError as error:
        return f"{path}: cannot be opened ({error.strerror or error})"
    if stat.S_ISDIR(mode):
        return f"{path}: is a folder, not an image"
    if not stat.S_ISREG(mode):
        return f"{path}: not a regular file (a FIFO, socket or device)"
    return None


def frame_count(path: Path) -> int:
    """Frames in an animated image (APNG, animated WebP, GIF); 1 for a still one or one Pillow cannot open."""
    try:
        with Image.open(path) as image:
            return int(getattr(image, "n_frames", 1))
    except (OSError, SyntaxError, ValueError):
        return 1


def _is_high_bit_depth(path: Path, image: Image.Image) -> bool:
    if image.mode.startswith("I"):
        return True
    if image.format == "PNG":
        with path.open("rb") as handle:
            header = handle.read(25)
        return len(header) == 25 and header[24] == 16
    if isinstance(image, TiffImagePlugin.TiffImageFile):
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


LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)
"""ITU-R BT.601 luma, the grey of a colour image (as Pillow's `convert("L")` and OpenCV's BGR2GRAY compute it)."""


def to_grey(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) colour or (H, W, 1) grey as an (H, W) grey image of the same dtype (integers rounded)."""
    if image.shape[2] == 1:
        return image[..., 0]
    grey = image.astype(np.float32) @ LUMA_WEIGHTS
    return grey.round().astype(image.dtype) if np.issubdtype(image.dtype, np.integer) else grey.astype(image.dtype)


ALPHA_SUFFIXES = frozenset({".png", ".webp", ".tif", ".tiff", ".tga"})
GREY_ONLY_SUFFIXES = frozenset({".pgm"})
COLOUR_ONLY_SUFFIXES = frozenset({".ppm"})


def fit_for_format(image: np.ndarray, suffix: str) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """`image` converted to what a `suffix` file can hold, as other tools do, and (what the format cannot hold,
    what was done) for each change: 16 bits reduced to 8, alpha composited onto white, colour made grey."""
    suffix = suffix.lower()
    notes = []
    if image.dtype == np.uint16 and suffix not in SIXTEEN_BIT_SUFFIXES:
        image = ((image.astype(np.uint32) + 128) // 257).astype(np.uint8)
        notes.append((f"{suffix} cannot hold 16-bit data", "reduced to 8 bits (.png and .tif keep 16)"))
    channels = 1 if image.ndim == 2 else image.shape[2]
    if channels in (2, 4) and suffix not in ALPHA_SUFFIXES:
        peak = float(np.iinfo(image.dtype).max)
        colour, alpha = image[..., :-1].astype(np.float32), image[..., -1:].astype(np.float32) / peak
        image = (colour * alpha + peak * (1 - alpha)).round().astype(image.dtype)
        image = image[..., 0] if image.shape[2] == 1 else image
        notes.append((f"{suffix} cannot hold the alpha channel", "composited onto white (.png, .webp, .tif keep it)"))
    if suffix in GREY_ONLY_SUFFIXES and image.ndim == 3:
        image = to_grey(image)
        notes.append((f"{suffix} cannot hold colour", "converted to grey"))
    if suffix in COLOUR_ONLY_SUFFIXES and (image.ndim == 2 or image.shape[2] == 2):
        image = np.repeat((image if image.ndim == 2 else image[..., 0])[..., None], 3, axis=2)
    if image.ndim == 3 and image.shape[2] == 2 and (suffix == ".webp" or image.dtype == np.uint16):
        # Grey + alpha as RGBA, the same pixels: WebP and OpenCV's 16-bit writers have no grey+alpha form.
        image = np.concatenate([np.repeat(image[..., :1], 3, axis=2), image[..., 1:]], axis=2)
    return image, notes


def write_image(path: Path, image: np.ndarray, *, overwrite: bool = False, quality: int = 95) -> None:
    """Encode `image` by the suffix of `path`, atomically; never replaces a file unless `overwrite`.

    A lossy change to fit the format (`fit_for_format`) is refused here: the caller decides and says so. Lossless
    re-arrangements (grey + alpha as RGBA for WebP) are made.
    """
    path = Path(path)
    if not overwrite and path.exists():
        raise ImageWriteError(f"{path}: exists; pass --overwrite to replace it")
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise ImageWriteError(f"{path}: cannot write {suffix or 'files without a suffix'}; use one of "
                              f"{', '.join(sorted(IMAGE_SUFFIXES))}")
    fitted, notes = fit_for_format(image, suffix)
    if notes:  # a lossy change is the caller's decision (the CLI makes it and says so), never made here
        raise ImageWriteError(f"{path}: {notes[0][0]}")
    try:
        atomic_write(path, _encoder(fitted, suffix, quality, path), overwrite=overwrite)
    except FileExistsError:
        raise ImageWriteError(f"{path}: exists; pass --overwrite to replace it") from None
    except OSError as error:
        raise ImageWriteError(f"{path}: cannot write ({error.strerror or error})") from None


def _encoder(image: np.ndarray, suffix: str, quality: int, path: Path) -> Callable[[Path], None]:
    """A function writing the encoded image to a (temporary) path; encoding happens now, so that a format
    problem is reported before anything is written."""
    if suffix == ".tga" or image.ndim == 3 and image.shape[2] == 2:
        # OpenCV has no TGA encoder and no grey+alpha form; Pillow writes both (8 bits).
        pil_format = {".tga": "TGA", ".png": "PNG", ".tif": "TIFF", ".tiff": "TIFF"}[suffix]
        picture = Image.fromarray(image[..., 0] if image.ndim == 3 and image.shape[2] == 1 else image)
        return lambda temp: picture.save(temp, format=pil_format)
    if image.ndim == 3:
        code = cv2.COLOR_RGBA2BGRA if image.shape[2] == 4 else cv2.COLOR_RGB2BGR
        image = cv2.cvtColor(image, code)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if suffix in {".jpg", ".jpeg"} else []
    if suffix == ".webp":
        params = [cv2.IMWRITE_WEBP_QUALITY, quality]
    ok, encoded = cv2.imencode(suffix, image, params)
    if not ok:
        raise ImageWriteError(f"{path}: OpenCV cannot encode this image as {suffix}")
    return encoded.tofile
