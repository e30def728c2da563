"""The public entry points: load a generator by name or path, interpolate two, and upscale images."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from esrgan.archs.spec import ModelSpec, build_model
from esrgan.errors import ModelNotFoundError
from esrgan.inference.upscaler import UpscaleOptions, Upscaler
from esrgan.interpolation import interpolate_specs, network_interpolate
from esrgan.weights.io import StateDict
from esrgan.weights.layouts import load_checkpoint

CHECKPOINT_SUFFIXES = (".pth", ".pt", ".safetensors", ".param")


def resolve_weights(name_or_path: str | Path, progress: bool = True) -> Path:
    """A local weights file for a zoo name or a path; zoo models are fetched into the cache on first use."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    if path.suffix in CHECKPOINT_SUFFIXES or path.parent != Path("."):
        raise ModelNotFoundError(f"weights file not found: {path}")
    from esrgan.weights.resolve import resolve_model

    return resolve_model(str(name_or_path), progress=progress)


def load_weights(name_or_path: str | Path, progress: bool = True) -> tuple[ModelSpec, StateDict]:
    """Spec and canonical state dict of a zoo model, a checkpoint in any supported layout, or an NCNN model."""
    weights = resolve_weights(name_or_path, progress)
    if weights.suffix == ".param":
        from esrgan.weights.ncnn import read_ncnn_rrdbnet

        return read_ncnn_rrdbnet(weights)
    return load_checkpoint(weights)


def interpolate_weights(
    a: str | Path, b: str | Path, alpha: float, progress: bool = True
) -> tuple[ModelSpec, StateDict]:
    """Network interpolation (paper eq. 4) of two checkpoints of the same architecture, any layouts mixed."""
    spec_a, state_a = load_weights(a, progress)
    spec_b, state_b = load_weights(b, progress)
    return interpolate_specs(spec_a, spec_b), network_interpolate(state_a, state_b, alpha)


def build_generator(spec: ModelSpec, state: StateDict) -> nn.Module:
    model = build_model(spec)
    model.load_state_dict(state, strict=True)
    return model.eval()


def load_model(
    name_or_path: str | Path = "realesrgan-x4plus",
    *,
    blend_with: str | Path | None = None,
    alpha: float = 0.8,
    tile: int | None = None,
    tile_pad: int | None = None,
    precision: str = "auto",
    device: str = "auto",
    backend: str = "auto",
    batch: int | None = None,
    progress: bool = True,
) -> Upscaler:
    """An `Upscaler` for a zoo model name (see `esrgan models`) or a checkpoint / NCNN `.param` path.

    The architecture and its hyper-parameters are detected from the weights; nothing needs naming. With
    `blend_with`, the network is (1 − alpha)·model + alpha·blend_with, built in memory.
    """
    if blend_with is None:
        spec, state = load_weights(name_or_path, progress)
    else:
        spec, state = interpolate_weights(name_or_path, blend_with, alpha, progress)
    defaults = UpscaleOptions()
    options = UpscaleOptions(
        tile, defaults.tile_pad if tile_pad is None else tile_pad, precision, device, backend, batch
    )
    return Upscaler(build_generator(spec, state), spec, options)
