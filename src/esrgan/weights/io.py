"""Read and write weight files safely: `.pth` through the restricted unpickler, `.safetensors` as is.

A `.pth` is a pickle, and a pickle can carry code. Every load here uses `weights_only=True`, so a file
that needs anything beyond tensors and plain containers is refused and nothing in it is executed.
"""

from __future__ import annotations

import pickle
import re
import warnings
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from esrgan.archs.spec import ModelSpec, StateDict
from esrgan.atomic import atomic_write
from esrgan.errors import CheckpointError

WRAPPER_KEYS = ("params_ema", "params-ema", "params", "model_state_dict", "state_dict", "model", "generator",
                "netG", "net_g", "net")
"""Keys under which training frameworks nest the generator's state dict (BasicSR, Real-ESRGAN, plain PyTorch
training scripts, KAIR); EMA weights are preferred."""


def read_weights_file(path: Path) -> tuple[StateDict, dict[str, str]]:
    """The state dict stored in `path`, unwrapped from training containers, and any string metadata."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"weights file not found: {path}")
    if path.suffix == ".safetensors":
        return _read_safetensors(path)
    return _unwrap(_read_pickle(path), path), {}


def _read_safetensors(path: Path) -> tuple[StateDict, dict[str, str]]:
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = dict(handle.metadata() or {})
            return {key: handle.get_tensor(key) for key in handle.keys()}, metadata
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{path}: not a readable safetensors file (truncated or corrupt?): {error}") from None


def _read_pickle(path: Path) -> object:
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: the file is empty (0 bytes); an interrupted download or copy?")
    try:
        with warnings.catch_warnings():  # torch's advice about pickle protocols: the error below says it all
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if found := re.search(r"GLOBAL (\S+)", str(error)):
            raise CheckpointError(
                f"{path}: refused: the file holds Python objects beyond plain tensors ({found[1]}; it could run "
                "code when loaded), so it was not loaded. Convert it on a trusted machine or use a .safetensors file."
            ) from None
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint (truncated or corrupt?)") from None
    except Exception as error:  # noqa: BLE001 - corrupt pickles fail in many ways inside the unpickler
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint (truncated or corrupt?): {reason}") from None


def _unwrap(content: object, path: Path) -> StateDict:
    if isinstance(content, dict):
        for key in WRAPPER_KEYS:
            if isinstance(content.get(key), dict):
                return _unwrap(content[key], path)
        tensors = {key: value for key, value in content.items() if isinstance(value, torch.Tensor)}
        if tensors and len(tensors) == len(content):
            return tensors
        found = ", ".join(repr(key) for key in list(content)[:6])
        raise CheckpointError(
            f"{path}: holds no state dict of tensors: its top-level keys are {found}, none of them a known wrapper "
            f"({', '.join(WRAPPER_KEYS)})"
        )
    raise CheckpointError(f"{path}: holds a {type(content).__name__}, not a state dict of tensors")


def save_checkpoint(path: Path, state_dict: StateDict, spec: ModelSpec, *, overwrite: bool = True) -> None:
    """Write the canonical form: safetensors with the spec as metadata, or a BasicSR-style `.pth`."""
    path = Path(path)
    tensors = {key: value.detach().to("cpu").contiguous() for key, value in state_dict.items()}
    if path.suffix == ".safetensors":
        def write(temp: Path) -> None:
            save_file(tensors, str(temp), metadata=spec.as_metadata())
    else:
        def write(temp: Path) -> None:
            torch.save({"params": tensors}, temp)
    try:
        atomic_write(path, write, overwrite=overwrite)
    except FileExistsError:
        raise CheckpointError(f"{path}: exists; pass --overwrite to replace it") from None
