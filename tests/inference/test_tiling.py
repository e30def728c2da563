"""Tiling covers the image exactly once and, with the default pad, matches a whole-image pass."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from esrgan.archs import RRDBNetSpec
from esrgan.inference.tiling import tile_grid
from esrgan.inference.upscaler import UpscaleOptions, Upscaler
from esrgan.metrics.psnr_ssim import psnr
from tests.conftest import TINY, tiny_rrdbnet


@pytest.mark.parametrize(("height", "width", "tile"), [(50, 37, 16), (16, 16, 16), (5, 90, 32), (64, 64, 0)])
def test_tiles_cover_every_pixel_once(height: int, width: int, tile: int) -> None:
    coverage = np.zeros((height, width), int)
    for t in tile_grid(height, width, tile, pad=4):
        coverage[t.y0:t.y1, t.x0:t.x1] += 1
        assert 0 <= t.py0 <= t.y0 and t.y1 <= t.py1 <= height and 0 <= t.px0 <= t.x0 and t.x1 <= t.px1 <= width
    assert (coverage == 1).all()


def test_tiled_output_matches_whole_image_with_default_pad() -> None:
    """A network with a receptive field far wider than the pad: the pad must still hide the seams."""
    spec = RRDBNetSpec(scale=4, num_feat=16, num_block=4, num_grow_ch=8)
    model = tiny_rrdbnet(spec, seed=3)
    image = (np.random.default_rng(0).random((72, 60, 3)) * 255).astype(np.uint8)
    whole = Upscaler(model, spec, UpscaleOptions(tile=0, precision="fp32")).upscale(image)
    tiled = Upscaler(model, spec, UpscaleOptions(tile=24, precision="fp32")).upscale(image)
    assert psnr(whole, tiled) >= 50.0


def test_tiling_with_no_pad_shows_seams() -> None:
    """The property above is not trivially true: without context the tiles disagree."""
    model = tiny_rrdbnet(TINY, seed=3)
    image = (np.random.default_rng(0).random((48, 48, 3)) * 255).astype(np.uint8)
    whole = Upscaler(model, TINY, UpscaleOptions(tile=0, precision="fp32")).upscale(image)
    seams = Upscaler(model, TINY, UpscaleOptions(tile=16, tile_pad=0, precision="fp32")).upscale(image)
    assert not np.array_equal(whole, seams)


@pytest.mark.parametrize("scale", [1, 2])
def test_pixel_unshuffle_scales_accept_odd_sizes_and_tiles(scale: int) -> None:
    spec = RRDBNetSpec(scale=scale, num_feat=8, num_block=1, num_grow_ch=4)
    model = tiny_rrdbnet(spec)
    image = (np.random.default_rng(1).random((23, 31, 3)) * 255).astype(np.uint8)
    whole = Upscaler(model, spec, UpscaleOptions(tile=0, precision="fp32")).upscale(image)
    tiled = Upscaler(model, spec, UpscaleOptions(tile=9, tile_pad=5, precision="fp32")).upscale(image)
    assert whole.shape == (23 * scale, 31 * scale, 3)
    assert psnr(whole, tiled) >= 40.0


def test_forward_is_the_model_on_unit_floats() -> None:
    model = tiny_rrdbnet()
    upscaler = Upscaler(model, TINY, UpscaleOptions(tile=0, precision="fp32", device="cpu"))
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        assert torch.allclose(upscaler.forward(x), model(x).clamp(0, 1))
