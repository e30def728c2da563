"""Network interpolation (eq. 4) is exact at the ends and linear in alpha; image interpolation likewise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from esrgan.api import interpolate_weights, load_model
from esrgan.archs import RRDBNetSpec
from esrgan.cli.main import main
from esrgan.errors import CheckpointError
from esrgan.interpolation import image_interpolate, network_interpolate
from esrgan.options import UpscaleOptions
from esrgan.weights.io import save_checkpoint
from esrgan.weights.layouts import load_checkpoint
from tests.conftest import TINY, tiny_rrdbnet
from tests.weights.test_layouts import as_original


@pytest.fixture
def two_checkpoints(tmp_path: Path) -> tuple[Path, Path]:
    """The same architecture in two different key layouts, with different weights."""
    a = tmp_path / "psnr.safetensors"
    save_checkpoint(a, tiny_rrdbnet(seed=1).state_dict(), TINY)
    b = tmp_path / "gan.pth"
    torch.save(as_original(tiny_rrdbnet(seed=2).state_dict(), TINY.num_block, 2), b)
    return a, b


def test_ends_reproduce_the_inputs_exactly(two_checkpoints: tuple[Path, Path]) -> None:
    a, b = two_checkpoints
    for alpha, expected in ((0.0, a), (1.0, b)):
        _, blended = interpolate_weights(a, b, alpha)
        _, reference = load_checkpoint(expected)
        assert all(torch.equal(blended[k], reference[k]) for k in reference)


def test_linear_in_alpha(two_checkpoints: tuple[Path, Path]) -> None:
    _, s0 = interpolate_weights(*two_checkpoints, 0.0)
    _, s1 = interpolate_weights(*two_checkpoints, 1.0)
    _, s3 = interpolate_weights(*two_checkpoints, 0.3)
    _, s7 = interpolate_weights(*two_checkpoints, 0.7)
    for key in s0:
        assert torch.allclose(s3[key], 0.7 * s0[key] + 0.3 * s1[key], atol=1e-7)
        assert torch.allclose(s3[key] + s7[key], s0[key] + s1[key], atol=1e-7)


def test_different_architectures_are_refused(tmp_path: Path, two_checkpoints: tuple[Path, Path]) -> None:
    other = RRDBNetSpec(scale=4, num_feat=8, num_block=3, num_grow_ch=4)
    path = tmp_path / "deeper.safetensors"
    save_checkpoint(path, tiny_rrdbnet(other).state_dict(), other)
    with pytest.raises(CheckpointError, match="different architectures.*2 blocks.*3 blocks"):
        interpolate_weights(two_checkpoints[0], path, 0.5)


def test_mismatched_shapes_are_named() -> None:
    with pytest.raises(CheckpointError, match="conv.weight"):
        network_interpolate({"conv.weight": torch.zeros(2)}, {"conv.weight": torch.zeros(3)}, 0.5)


def test_cli_writes_the_blend_and_upscale_blends_on_the_fly(tmp_path: Path,
                                                            two_checkpoints: tuple[Path, Path]) -> None:
    a, b = two_checkpoints
    out = tmp_path / "blend.safetensors"
    assert main(["interpolate", str(a), str(b), "--alpha", "0.4", "-o", str(out)]) == 0
    image = np.random.default_rng(0).integers(0, 255, (8, 8, 3)).astype(np.uint8)
    whole = UpscaleOptions(tile=0, precision="fp32")
    written = load_model(out, options=whole).upscale(image)
    on_the_fly = load_model(a, blend_with=b, alpha=0.4, options=whole).upscale(image)
    np.testing.assert_array_equal(written, on_the_fly)
    assert main(["interpolate", str(a), str(b), "--alpha", "0.4", "-o", str(out)]) == 2


def test_image_interpolation_is_pixelwise() -> None:
    a = np.array([[0, 100]], np.uint8)
    b = np.array([[200, 255]], np.uint8)
    np.testing.assert_array_equal(image_interpolate(a, b, 0.5), [[100, 178]])
    np.testing.assert_array_equal(image_interpolate(a, b, 0.0), a)
    np.testing.assert_array_equal(image_interpolate(a, b, 1.0), b)


def test_denoise_strength_blends_the_zoo_model_with_its_weak_denoise_twin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--denoise-strength D` is Real-ESRGAN's -dn: D·realesr-general-x4v3 + (1 − D)·its wdn twin."""
    import esrgan.api as api
    from esrgan.archs import CompactSpec
    from esrgan.errors import ConfigError
    from esrgan.weights.io import save_checkpoint

    spec = CompactSpec(scale=4, num_feat=8, num_conv=2)
    files = {}
    for seed, name in enumerate(("realesr-general-x4v3", "realesr-general-wdn-x4v3")):
        torch.manual_seed(seed)
        files[name] = tmp_path / f"{name}.safetensors"
        save_checkpoint(files[name], spec.build().state_dict(), spec)
    monkeypatch.setattr(api, "resolve_weights", lambda name, progress=True: files.get(str(name), Path(name)))
    strong, weak = (api.load_weights(files[n])[1] for n in files)
    upscaler = api.load_model("realesr-general-x4v3", denoise_strength=0.3,
                              options=UpscaleOptions(precision="fp32", backend="torch"))
    for key, value in upscaler.model.state_dict().items():
        assert torch.allclose(value, 0.3 * strong[key] + 0.7 * weak[key], atol=1e-6)
    with pytest.raises(ConfigError, match="weak-denoising twin \\(realesr-general-x4v3\\), not esrgan-x4"):
        api.load_model("esrgan-x4", denoise_strength=0.5)
    with pytest.raises(ConfigError, match=r"must lie in \[0, 1\]"):
        api.load_model("realesr-general-x4v3", denoise_strength=1.5)
