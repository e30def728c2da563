"""Training checkpoints: everything needed to continue a run exactly, written so a crash never corrupts one.

A run folder holds
    checkpoints/iter_00005000.pt   the full training state (G, D, EMA, optimisers, schedulers, loss scaler,
                                   RNG states, iteration, resolved config); the last `keep_last` are kept
    net_g.safetensors              the latest generator (the EMA one when EMA is on), canonical format,
                                   ready for `esrgan upscale --weights`, network interpolation, or stage 2

Every file is written to a temporary name and renamed into place (`esrgan.atomic.atomic_write`), so an
interrupted save leaves the previous checkpoint intact; the temp files a `kill -9` leaves are removed by the
next start (`remove_leftovers`). A save that fails (a full disk) is one `CheckpointError` naming the folder
and the last good checkpoint. Resuming takes the newest checkpoint that reads, skipping damaged ones
(`newest_readable_state`), and refuses a config that changed in a key outside `CHANGEABLE_ON_RESUME`. Data
order needs no state of its own: it is a function of (seed, iteration) (see
`esrgan.data.datasets.TrainingSampler`).
"""

from __future__ import annotations

import errno
import fnmatch
import os
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError

from esrgan.archs.spec import ModelSpec
from esrgan.atomic import atomic_write, leftover_temp_files
from esrgan.errors import CheckpointError, ConfigError
from esrgan.training.config import config_from_dict, config_to_dict
from esrgan.weights.io import save_checkpoint

CHECKPOINT_NAME = re.compile(r"iter_(\d+)\.pt")
GENERATOR_FILE = "net_g.safetensors"

CHANGEABLE_ON_RESUME = (
    "name", "output_dir",                            # where the run folder is: it may have been moved
    "device", "data.workers", "data.cache_images",   # where and how fast, not what, is computed
    "generator.pretrained",                          # only initialises a new run; a resume reads the checkpoint
    "training.iterations", "training.max_minutes",   # when to stop
    "validation.*", "checkpoint.*", "logging.*",     # what is measured, kept and reported
)
"""Config keys (`fnmatch` patterns) that `--resume` accepts with a new value. Every other key shaped the
weights, optimiser moments, schedules or data order in the checkpoint: a new value would be half-applied."""

_SAFETENSORS_TEMP = re.compile(r"\.tmp[A-Za-z0-9]{6}")
"""safetensors writes its file through a temp file of this name beside the target (here, the run folder)."""


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
    """Write the training state of `iteration` and the generator weights; drop all but the last `keep_last`.

    A failed write (a full disk, a lost mount) leaves no partial file and raises a one-line `CheckpointError`.
    """
    path = checkpoint_dir(run_dir) / f"iter_{iteration:08d}.pt"
    writing = path
    try:
        atomic_write(path, lambda temp: _write_state(state, temp))
        writing = Path(run_dir) / GENERATOR_FILE
        save_checkpoint(writing, generator, spec)
    except (OSError, RuntimeError, SafetensorError) as error:
        raise CheckpointError(_save_failed(run_dir, iteration, writing, error)) from None
    for _, old in list_checkpoints(run_dir)[:-keep_last]:
        old.unlink(missing_ok=True)
    return path


def _write_state(state: dict[str, Any], temp: Path) -> None:
    # Through a Python file rather than torch's own C++ writer: a failed write then keeps its errno (ENOSPC),
    # which torch's writer reduces to "enforce fail at inline_container.cc".
    with open(temp, "wb") as file:
        torch.save(state, file)


def _save_failed(run_dir: Path, iteration: int, target: Path, error: BaseException) -> str:
    code = _errno(error)
    what = os.strerror(code).lower() if code else f"the write failed ({_first_line(error)})"
    fix = "free space there" if code in (errno.ENOSPC, errno.EDQUOT) else "fix that"
    latest = latest_checkpoint(run_dir)
    kept, then = ((f"the last good checkpoint, {latest}, is kept", "continue with --resume") if latest else
                  ("no checkpoint had been saved yet", "start the run again"))
    return (f"could not save the checkpoint of iteration {iteration}: {what} while writing {target.name} in "
            f"{target.parent}; nothing partial was left and {kept}: {fix}, then {then}")


def _errno(error: BaseException) -> int | None:
    """The operating system's error code, found through torch's and safetensors' wrappers."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, OSError) and cause.errno:
            return cause.errno
        cause = cause.__cause__ or cause.__context__
    found = re.search(r"\(os error (\d+)\)", str(error))  # safetensors: "I/O error: ... (os error 28)"
    return int(found.group(1)) if found else None


def remove_leftovers(run_dir: Path) -> list[Path]:
    """Remove the temp files of saves that a `kill -9` interrupted; return them. Call only from the process
    that owns the run folder, before it saves anything."""
    folder = Path(run_dir)
    found = leftover_temp_files(folder) + leftover_temp_files(checkpoint_dir(folder))
    if folder.is_dir():
        found += [p for p in folder.iterdir() if _SAFETENSORS_TEMP.fullmatch(p.name) and p.is_file()]
    for path in found:
        path.unlink(missing_ok=True)
    return sorted(found)


def load_training_state(path: Path) -> dict[str, Any]:
    """The state written by `save_training_state`, read without executing any code from the file."""
    try:
        return _load(Path(path))
    except CheckpointError as error:
        raise CheckpointError(f"{path}: {error}") from None


def newest_readable_state(run_dir: Path) -> tuple[Path, dict[str, Any], list[str]]:
    """The newest checkpoint of the run that reads, its state, and one line for each newer one skipped as
    damaged (a disk error, a copy cut short): resuming from the one before loses only the iterations since."""
    skipped: list[tuple[Path, str]] = []
    for _, path in reversed(list_checkpoints(run_dir)):
        try:
            state = _load(path)
        except CheckpointError as error:
            skipped.append((path, str(error)))
            continue
        return path, state, [f"skipped {bad}: {why}; resuming from {path.name} instead" for bad, why in skipped]
    folder = checkpoint_dir(run_dir)
    if not skipped:
        raise CheckpointError(f"--resume: no checkpoint in {folder} to continue from")
    reasons = "; ".join(f"{path.name}: {why}" for path, why in skipped)
    raise CheckpointError(f"--resume: no readable checkpoint in {folder} ({reasons}); put back a good checkpoint "
                          "from a copy, or start a new run with another `name`")


def _load(path: Path) -> dict[str, Any]:
    """The state in `path`; a `CheckpointError` whose message is the reason alone when it does not load."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - a damaged pickle fails in many ways
        raise CheckpointError(_damage(path, error)) from None
    if not isinstance(state, dict) or not {"iteration", "generator", "config"} <= state.keys():
        raise CheckpointError("not a training checkpoint of this package (no iteration / generator / config)")
    return state


def _damage(path: Path, error: Exception) -> str:
    """Why `path` did not load, in a few words. The bytes say it better than torch, whose messages run to a
    paragraph of `weights_only` advice that does not apply to a file this package wrote."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    size = path.stat().st_size
    with open(path, "rb") as file:
        head = file.read(4)
    if size == 0:
        return "empty (0 bytes)"
    if head != b"PK\x03\x04":  # torch.save writes a zip archive
        return f"not a PyTorch checkpoint ({size} bytes of another format, or garbage)"
    if not zipfile.is_zipfile(path):
        return f"truncated ({size} bytes, the end of the archive is missing)"
    if isinstance(error, pickle.UnpicklingError):
        return "holds objects other than tensors and plain containers, so it was not loaded (nothing in it ran)"
    return f"damaged ({_first_line(error)})"


def _first_line(error: BaseException) -> str:
    return str(error).splitlines()[0].split(". ")[0] if str(error).strip() else type(error).__name__


def check_resume_config(saved: dict[str, Any], current: dict[str, Any], source: Path) -> None:
    """Refuse to resume when `current` (a `config_to_dict`) changes a key outside `CHANGEABLE_ON_RESUME` from
    `saved`, the config stored with the checkpoint `source`: one line per key, old -> new.

    `saved` is resolved again first, so a key that a later version of the package added (with its default)
    does not count as a change: a run started before it still resumes."""
    try:
        saved = config_to_dict(config_from_dict(saved, str(source)))
    except ConfigError:
        pass  # not valid under today's rules: compare what it says, key by key
    old, new = _flatten(saved), _flatten(current)
    changed = [key for key in sorted(old.keys() | new.keys())
               if old.get(key, _ABSENT) != new.get(key, _ABSENT)
               and not any(fnmatch.fnmatchcase(key, pattern) for pattern in CHANGEABLE_ON_RESUME)]
    if changed:
        lines = "".join(f"\n  {key}: {_shown(old, key)} -> {_shown(new, key)}" for key in changed)
        raise ConfigError(
            f"--resume: {len(changed)} setting(s) differ from those the run was trained with (saved in {source}) "
            "and cannot change mid-run; start a new run with another `name` instead, or resume with the old "
            f"values (only {', '.join(CHANGEABLE_ON_RESUME)} may change on resume):{lines}"
        )


_ABSENT = object()


def _flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat |= _flatten(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _shown(flat: dict[str, Any], key: str) -> str:
    return repr(flat[key]) if key in flat else "(absent)"
