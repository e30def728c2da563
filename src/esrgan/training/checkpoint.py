"""Training checkpoints: everything needed to continue a run exactly, written so a crash never corrupts one.

A run folder holds
    checkpoints/iter_00005000.pt   the full training state (G, D, EMA, optimisers, schedulers, loss scaler,
                                   RNG states, iteration, resolved config); the last `keep_last` are kept
    net_g.safetensors              the latest generator (the EMA one when EMA is on), canonical format,
                                   ready for `esrgan upscale --weights`, network interpolation, or stage 2

Every file is written to a temporary name and renamed into place (`esrgan.atomic.atomic_write`), so an
interrupted save leaves the previous checkpoint intact. Data order needs no state of its own: it is a
function of (seed, iteration) (see `esrgan.data.datasets.TrainingSampler`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from esrgan.archs.spec import ModelSpec
from esrgan.atomic import atomic_write
from esrgan.errors import CheckpointError
from esrgan.weights.io import save_checkpoint

CHECKPOINT_NAME = re.compile(r"iter_(\d+)\.pt")
GENERATOR_FILE = "net_g.safetensors"


def checkpoint_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints"


def list_checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """(iteration, path) of the run's training checkpoints, oldest first."""
    folder = checkpoint_dir(run_dir)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := CHECKPOINT_NAME.fullmatch(p.name))]
    return sorted(found)


def latest_checkpoint(run_dir: Path) -> Path | None:
    checkpoints = list_checkpoints(run_dir)
    return checkpoints[-1][1] if checkpoints else None


def save_training_state(
    run_dir: Path, iteration: int, state: dict[str, Any], generator: dict[str, torch.Tensor], spec: ModelSpec,
    keep_last: int,
) -> Path:
    """Write the training state of `iteration` and the generator weights; drop all but the last `keep_last`."""
    path = checkpoint_dir(run_dir) / f"iter_{iteration:08d}.pt"
    atomic_write(path, lambda temp: torch.save(state, temp))
    save_checkpoint(Path(run_dir) / GENERATOR_FILE, generator, spec)
    for _, old in list_checkpoints(run_dir)[:-keep_last]:
        old.unlink(missing_ok=True)
    return path


def load_training_state(path: Path) -> dict[str, Any]:
    """The state written by `save_training_state`, read without executing any code from the file."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - a damaged pickle fails in many ways
        raise CheckpointError(f"{path}: not a readable training checkpoint ({error})") from None
    if not isinstance(state, dict) or "iteration" not in state or "generator" not in state:
        raise CheckpointError(f"{path}: not a training checkpoint of this package (no iteration / generator)")
    return state
