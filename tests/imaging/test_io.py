"""Images keep their bit depth, alpha and greyness through read and write; bad files give clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from esrgan.errors import ImageReadError, ImageWriteError
from esrgan.imaging.io import read_image, write_image

RNG = np.random.default_rng(0)


@pytest.mark.parametrize(
    ("shape", "dtype", "suffix"),
    [((9, 7, 3), np.uint8, ".png"), ((9, 7, 4), np.uint8, ".png"), ((9, 7), np.uint8, ".png"),
     ((9, 7, 3), np.uint16, ".png"), ((9, 7, 4), np.uint16, ".png"), ((9, 7), np.uint16, ".png"),
     ((9, 7, 3), np.uint16, ".tif"), ((9, 7, 3), np.uint8, ".bmp"), ((9, 7, 4), np.uint8, ".webp")],
)
def test_lossless_round_trip(tmp_path: Path, shape: tuple[int, ...], dtype: type, suffix: str) -> None:
    image = RNG.integers(0, np.iinfo(dtype).max, size=shape, dtype=dtype)
    path = tmp_path / f"image{suffix}"
    write_image(path, image) if suffix != ".webp" else Image.fromarray(image).save(path, lossless=True)
    loaded = read_image(path)
    assert loaded.dtype == dtype
    np.testing.assert_array_equal(loaded, image)


def test_channel_order_is_rgb(tmp_path: Path) -> None:
    red = np.zeros((4, 4, 3), np.uint8)
    red[..., 0] = 255
    write_image(tmp_path / "red.png", red)
    assert Image.open(tmp_path / "red.png").getpixel((0, 0)) == (255, 0, 0)
    Image.fromarray(red).save(tmp_path / "red-pil.png")
    np.testing.assert_array_equal(read_image(tmp_path / "red-pil.png"), red)


def test_palette_with_transparency_reads_as_rgba(tmp_path: Path) -> None:
    image = Image.new("P", (4, 4), 1)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.save(tmp_path / "palette.png", transparency=0)
    assert read_image(tmp_path / "palette.png").shape == (4, 4, 4)


def test_non_image_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("not a picture")
    with pytest.raises(ImageReadError, match="notes.png: not an image"):
        read_image(path)


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_truncated_file(tmp_path: Path, suffix: str) -> None:
    whole = tmp_path / f"whole{suffix}"
    Image.fromarray(RNG.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(whole)
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(ImageReadError, match="truncated"):
        read_image(cut)


def test_decompression_bomb_refused_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    Image.new("L", (4000, 3000)).save(path)
    with pytest.raises(ImageReadError, match="12 M pixels.*--max-pixels"):
        read_image(path, max_pixels=10_000_000)
    assert read_image(path, max_pixels=None).shape == (3000, 4000)


def test_existing_output_is_never_replaced_silently(tmp_path: Path) -> None:
    path = tmp_path / "out.png"
    path.write_bytes(b"precious")
    with pytest.raises(ImageWriteError, match="--overwrite"):
        write_image(path, np.zeros((2, 2, 3), np.uint8))
    assert path.read_bytes() == b"precious"
    write_image(path, np.zeros((2, 2, 3), np.uint8), overwrite=True)
    assert read_image(path).shape == (2, 2, 3)


def test_formats_that_cannot_hold_the_data_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ImageWriteError, match="16-bit"):
        write_image(tmp_path / "deep.jpg", np.zeros((2, 2, 3), np.uint16))
    with pytest.raises(ImageWriteError, match="alpha"):
        write_image(tmp_path / "alpha.jpg", np.zeros((2, 2, 4), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_written_files_get_ordinary_permissions(tmp_path: Path) -> None:
    import os

    umask = os.umask(0o022)
    try:
        write_image(tmp_path / "shared.png", np.zeros((2, 2, 3), np.uint8))
    finally:
        os.umask(umask)
    assert (tmp_path / "shared.png").stat().st_mode & 0o777 == 0o644
