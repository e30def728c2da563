"""The Upscaler returns what it was given: dtype, grey, alpha, PIL; outscale resizes to any factor."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from esrgan.back_projection import back_project
from esrgan.errors import ConfigError
from esrgan.hardware import resolve_precision
from esrgan.inference.memory import MAX_AUTO_TILE, MIN_AUTO_TILE
from esrgan.inference.upscaler import Upscaler
from esrgan.options import UpscaleOptions
from tests.conftest import TINY, tiny_rrdbnet


@pytest.fixture(scope="module")
def upscaler() -> Upscaler:
    return Upscaler(tiny_rrdbnet(), TINY, UpscaleOptions(tile=0, precision="fp32"))


@pytest.mark.parametrize(
    ("shape", "dtype"),
    [((10, 12, 3), np.uint8), ((10, 12, 4), np.uint8), ((10, 12), np.uint8), ((10, 12, 3), np.uint16),
     ((10, 12, 2), np.uint8), ((10, 12, 3), np.float32)],
)
def test_shape_and_dtype_follow_the_input(upscaler: Upscaler, shape: tuple[int, ...], dtype: type) -> None:
    if np.issubdtype(dtype, np.integer):
        image = np.random.default_rng(0).integers(0, np.iinfo(dtype).max, shape).astype(dtype)
    else:
        image = np.random.default_rng(0).random(shape).astype(dtype)
    result = upscaler.upscale(image)
    assert result.shape == (40, 48, *shape[2:])
    assert result.dtype == dtype


def test_sixteen_bit_keeps_more_than_eight_bits(upscaler: Upscaler) -> None:
    ramp = np.linspace(0, 65535, 16 * 16 * 3).reshape(16, 16, 3).astype(np.uint16)
    assert (upscaler.upscale(ramp) % 257 != 0).any()


def test_colour_result_does_not_depend_on_alpha(upscaler: Upscaler) -> None:
    rgb = np.random.default_rng(2).integers(0, 255, (8, 8, 3)).astype(np.uint8)
    alpha = np.random.default_rng(3).integers(0, 255, (8, 8, 1)).astype(np.uint8)
    rgba = upscaler.upscale(np.concatenate([rgb, alpha], axis=2))
    np.testing.assert_array_equal(rgba[..., :3], upscaler.upscale(rgb))


def test_constant_alpha_stays_constant(upscaler: Upscaler) -> None:
    rgba = np.full((8, 8, 4), 200, np.uint8)
    rgba[..., 3] = 255
    assert (upscaler.upscale(rgba)[..., 3] == 255).all()


def test_pil_in_pil_out(upscaler: Upscaler) -> None:
    result = upscaler.upscale(Image.new("RGBA", (12, 10), (10, 20, 30, 128)))
    assert isinstance(result, Image.Image) and result.mode == "RGBA" and result.size == (48, 40)


@pytest.mark.parametrize(("outscale", "size"), [(2.0, (20, 24)), (3.5, (35, 42)), (4.0, (40, 48)), (0.5, (5, 6))])
def test_outscale_gives_any_final_size(upscaler: Upscaler, outscale: float, size: tuple[int, int]) -> None:
    assert upscaler.upscale(np.zeros((10, 12, 3), np.uint8), outscale=outscale).shape[:2] == size


@pytest.mark.parametrize("outscale", [0.0, -2.0, 65.0, float("nan"), float("inf")])
def test_outscale_out_of_range_is_refused(upscaler: Upscaler, outscale: float) -> None:
    with pytest.raises(ConfigError, match="--outscale must be a number in"):
        upscaler.upscale(np.zeros((10, 12, 3), np.uint8), outscale=outscale)


def test_back_projection_comes_before_the_final_resize(upscaler: Upscaler) -> None:
    """Back-projection works at the network's scale, against the input; `outscale` resizes its result."""
    from esrgan.inference.upscaler import resize_to_outscale

    image = np.random.default_rng(1).integers(0, 256, (10, 12, 3)).astype(np.uint8)
    corrected = back_project(upscaler.upscale(image), image, 2)
    assert np.array_equal(upscaler.upscale(image, back_projection=2), corrected)
    assert np.array_equal(upscaler.upscale(image, outscale=3, back_projection=2),
                          resize_to_outscale(corrected, 10, 12, 3))
    with pytest.raises(ConfigError, match="--back-projection"):
        upscaler.upscale(image, back_projection=-1)


def test_options_are_checked_when_built() -> None:
    for wrong, message in [({"tile": -1}, "--tile must be >= 0"), ({"tile_pad": -1}, "--tile-pad must be >= 0"),
                           ({"batch": 0}, "--batch must be >= 1"), ({"precision": "fp8"}, "--precision 'fp8'"),
                           ({"device": "tpu"}, "--device 'tpu'"), ({"backend": "ncnn"}, "--backend 'ncnn'")]:
        with pytest.raises(ConfigError, match=message):
            UpscaleOptions(**wrong)
    with pytest.raises(TypeError):
        UpscaleOptions(0)  # type: ignore[misc]  # keyword-built: a positional value would be ambiguous


def test_progress_callback_sees_every_tile() -> None:
    calls: list[tuple[int, int]] = []
    tiled = Upscaler(tiny_rrdbnet(), TINY, UpscaleOptions(tile=8, tile_pad=2, precision="fp32"))
    tiled.upscale(np.zeros((20, 17, 3), np.uint8), on_tile=lambda done, total: calls.append((done, total)))
    assert calls == [(i, 9) for i in range(1, 10)]


def test_auto_tile_is_bounded_and_a_multiple_of_eight() -> None:
    upscaler = Upscaler(tiny_rrdbnet(), TINY, UpscaleOptions(precision="fp32"))
    assert MIN_AUTO_TILE <= upscaler.tile <= MAX_AUTO_TILE and upscaler.tile % 8 == 0


def test_bad_options_are_named() -> None:
    with pytest.raises(ConfigError, match="precision"):
        resolve_precision("fp8", torch.device("cpu"))
    with pytest.raises(ConfigError, match="tile"):
        Upscaler(tiny_rrdbnet(), TINY, UpscaleOptions(tile=-1))


def test_bf16_stays_close_to_fp32() -> None:
    image = np.random.default_rng(4).integers(0, 255, (16, 16, 3)).astype(np.uint8)
    fp32 = Upscaler(tiny_rrdbnet(), TINY, UpscaleOptions(tile=0, precision="fp32")).upscale(image)
    bf16 = Upscaler(tiny_rrdbnet(), TINY, UpscaleOptions(tile=0, precision="bf16")).upscale(image)
    assert np.abs(fp32.astype(int) - bf16).max() <= 8


def test_auto_precision_keeps_16_bit_images_in_fp32(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a CPU with native bf16, `auto` runs 8-bit images in bf16 but 16-bit ones in fp32: bf16 would
    posterise a smooth 16-bit ramp into a handful of levels."""
    from esrgan import hardware

    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: True)
    model = tiny_rrdbnet()
    auto = Upscaler(model, TINY, UpscaleOptions(tile=0, precision="auto", device="cpu", backend="torch"))
    fp32 = Upscaler(tiny_rrdbnet(), TINY, UpscaleOptions(tile=0, precision="fp32", device="cpu", backend="torch"))
    bf16 = Upscaler(tiny_rrdbnet(), TINY, UpscaleOptions(tile=0, precision="bf16", device="cpu", backend="torch"))
    assert auto.dtype == torch.bfloat16 and auto.precision_for(np.dtype(np.uint16)) == torch.float32
    ramp = np.repeat(np.linspace(39_500, 41_500, 24)[None, :, None].repeat(16, 0), 3, axis=2).astype(np.uint16)
    assert np.array_equal(auto.upscale_array(ramp), fp32.upscale_array(ramp))
    assert len(np.unique(bf16.upscale_array(ramp))) < len(np.unique(fp32.upscale_array(ramp))) / 4
    eight = (ramp // 257).astype(np.uint8)
    assert np.array_equal(auto.upscale_array(eight), bf16.upscale_array(eight))
