"""The public entry points: load a generator by name or path, interpolate two, and upscale images."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from esrgan.archs.spec import ModelSpec
from esrgan.defaults import DEFAULT_MODEL
from esrgan.errors import ConfigError, ModelNotFoundError
from esrgan.inference.upscaler import Upscaler
from esrgan.interpolation import interpolate_specs, network_interpolate
from esrgan.options import UpscaleOptions
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
        from esrgan.weights.ncnn import read_ncnn

        return read_ncnn(weights)
    return load_checkpoint(weights)


def interpolate_weights(
    a: str | Path, b: str | Path, alpha: float, progress: bool = True
) -> tuple[ModelSpec, StateDict]:
    """Network interpolation (paper eq. 4) of two checkpoints of the same architecture, any layouts mixed."""
    spec_a, state_a = load_weights(a, progress)
    spec_b, state_b = load_weights(b, progress)
    return interpolate_specs(spec_a, spec_b), network_interpolate(state_a, state_b, alpha)


def build_generator(spec: ModelSpec, state: StateDict) -> nn.Module:
    model = spec.build()
    model.load_state_dict(state, strict=True)
    return model.eval()


def weak_denoise_twin(name: str | Path) -> str:
    """The zoo name of `name`'s weak-denoising twin, or a ConfigError naming the models that have one."""
    from esrgan.weights.zoo import get_entry, load_zoo

    entry = get_entry(str(name)) if not Path(name).is_file() else None
    if entry is None or entry.weak_denoise is None:
        having = ", ".join(e.name for e in load_zoo().values() if e.weak_denoise)
        raise ConfigError(f"--denoise-strength applies to a zoo model with a weak-denoising twin ({having}), "
                          f"not {name}")
    return entry.weak_denoise


def check_denoise_strength(strength: float) -> float:
    if not 0 <= strength <= 1:
        raise ConfigError(f"--denoise-strength must lie in [0, 1], not {strength}")
    return float(strength)


def load_model(
    name_or_path: str | Path = DEFAULT_MODEL,
    *,
    options: UpscaleOptions | None = None,
    blend_with: str | Path | None = None,
    alpha: float = 0.8,
    denoise_strength: float | None = None,
    progress: bool = True,
) -> Upscaler:
    """An `Upscaler` for a zoo model name (see `esrgan models`) or a checkpoint / NCNN `.param` path, run as
    `options` say (tile, precision, device, backend, batch; the defaults choose from the hardware).

    The architecture and its hyper-parameters are detected from the weights; nothing needs naming. With
    `blend_with`, the network is (1 − alpha)·model + alpha·blend_with, built in memory. `denoise_strength`
    D ∈ [0, 1] does the same with the zoo model's weak-denoising twin: D·model + (1 − D)·twin (Real-ESRGAN's
    `-dn` for realesr-general-x4v3; 1 is the model as published).
    """
    if denoise_strength is not None:
        if blend_with is not None:
            raise ConfigError("--denoise-strength and --blend-with both blend the network; choose one")
        blend_with, alpha = name_or_path, check_denoise_strength(denoise_strength)
        name_or_path = weak_denoise_twin(name_or_path)
    if blend_with is None:
        spec, state = load_weights(name_or_path, progress)
    else:
        spec, state = interpolate_weights(name_or_path, blend_with, alpha, progress)
    return Upscaler(build_generator(spec, state), spec, options)
