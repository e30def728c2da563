"""The public entry points: load a generator by name or path, and upscale images with it."""

from __future__ import annotations

from pathlib import Path

from esrgan.errors import ModelNotFoundError
from esrgan.inference.upscaler import UpscaleOptions, Upscaler
from esrgan.weights.layouts import model_from_checkpoint

CHECKPOINT_SUFFIXES = (".pth", ".pt", ".safetensors", ".param")


def resolve_weights(name_or_path: str | Path, progress: bool = True) -> Path:
    """A local weights file for a zoo name or a path; zoo models are fetched into the cache on first use."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    if path.suffix in CHECKPOINT_SUFFIXES or path.parent != Path("."):
        raise ModelNotFoundError(f"weights file not found: {path}")
    from esrgan.weights.zoo import resolve_model

    return resolve_model(str(name_or_path), progress=progress)


def load_model(
    name_or_path: str | Path = "realesrgan-x4plus",
    *,
    tile: int | None = None,
    tile_pad: int | None = None,
    precision: str = "auto",
    device: str = "auto",
    progress: bool = True,
) -> Upscaler:
    """An `Upscaler` for a zoo model name (see `esrgan models`) or a checkpoint / NCNN `.param` path.

    The architecture and its hyper-parameters are detected from the weights; nothing needs naming.
    """
    weights = resolve_weights(name_or_path, progress)
    if weights.suffix == ".param":
        from esrgan.weights.ncnn import read_ncnn_rrdbnet
        from esrgan.archs.spec import build_model

        spec, state = read_ncnn_rrdbnet(weights)
        model = build_model(spec)
        model.load_state_dict(state, strict=True)
    else:
        model, spec = model_from_checkpoint(weights)
    defaults = UpscaleOptions()
    options = UpscaleOptions(tile, defaults.tile_pad if tile_pad is None else tile_pad, precision, device)
    return Upscaler(model, spec, options)
