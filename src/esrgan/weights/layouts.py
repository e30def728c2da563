"""From any supported checkpoint to a spec and a canonical state dict: unwrap, recognise, convert, check.

What each architecture's layouts look like is its record's business (`esrgan.archs.<family>.record`); this
module strips what training frameworks put around a state dict (DataParallel's `module.`, torch.compile's
`_orig_mod.`), asks the registry which record recognises the keys, and checks the result against the
network that record builds, so the user never names the architecture.
"""

from __future__ import annotations

from pathlib import Path

import torch

from esrgan.archs.registry import ARCHITECTURES, recognise, spec_from_metadata
from esrgan.archs.spec import ModelSpec, SpecError
from esrgan.errors import CheckpointError
from esrgan.weights.io import StateDict, read_weights_file

KEY_PREFIXES = ("module.", "_orig_mod.", "netG.", "net_g.", "generator.")
"""Prefixes that wrappers add to every key: DataParallel/DDP, torch.compile, and training frameworks that
save the whole model object's state (`netG.`, `net_g.`, `generator.`)."""


def strip_prefixes(state: StateDict) -> StateDict:
    """`state` without the wrapper prefixes every one of its keys carries, however deeply nested."""
    while state and (prefix := next((p for p in KEY_PREFIXES if all(k.startswith(p) for k in state)), None)):
        state = {key[len(prefix):]: value for key, value in state.items()}
    return state


def to_canonical(state: StateDict) -> tuple[ModelSpec, StateDict]:
    """Canonical keys and the spec they describe, for any supported architecture and layout."""
    state = strip_prefixes(state)
    found = recognise(state)
    if found is None:
        raise CheckpointError(_unknown_layout(state))
    record, layout = found
    try:
        return record.from_state_dict(state, layout)
    except SpecError as error:
        raise CheckpointError(f"{record.title} ({layout} layout): {error}") from None


def _unknown_layout(state: StateDict) -> str:
    sample = ", ".join(list(state)[:4])
    heads = {key.split(".", 1)[0] for key in state}
    if len(heads) == 1 and all("." in key for key in state):
        (head,) = heads
        return (f"unknown checkpoint layout: every key starts with {head + '.'!r}, a wrapper prefix this package "
                f"does not know (known: {', '.join(KEY_PREFIXES)}); first keys: {sample}")
    known = "; ".join(f"{record.title} ({', '.join(record.layouts)})" for record in ARCHITECTURES)
    return f"unknown checkpoint layout (first keys: {sample}); supported: {known}"


def check_fits(spec: ModelSpec, state: StateDict, source: str) -> None:
    """Refuse a state dict with missing, extra or mis-shaped tensors, naming a few of them.

    The expected shapes come from a model built on the `meta` device: nothing is allocated, so a spec with
    absurd sizes costs nothing before it is refused.
    """
    with torch.device("meta"):
        expected = spec.build().state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    problems = [f"{label}: {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''} ({len(keys)})"
                for label, keys in (("missing keys", missing), ("unexpected keys", extra), ("wrong shapes", wrong))
                if keys]
    if problems:
        raise CheckpointError(f"{source} does not fit {spec.describe()}: " + "; ".join(problems))


def check_weights(state: StateDict, source: str) -> None:
    """Refuse tensors no trained generator has: non-float ones (an int or bool tensor of the right shape
    would be cast silently), and NaN or infinite values, which give black or white images, not an error."""
    for key, value in state.items():
        if not value.is_floating_point():
            raise CheckpointError(f"{source}: tensor {key} holds {value.dtype} values, not floating point")
        if not torch.isfinite(value).all():
            raise CheckpointError(f"{source}: tensor {key} holds NaN or infinite values; the weights are broken")


def load_checkpoint(path: Path) -> tuple[ModelSpec, StateDict]:
    """Spec and canonical float state dict of any supported checkpoint file, validated against the arch.

    The spec comes from the tensors' shapes; metadata a file carries may only confirm it, and supply what the
    tensors cannot show (the record's `metadata_only` fields, such as RRDBNet's residual scale).
    """
    state, metadata = read_weights_file(path)
    spec, canonical = to_canonical(state)
    try:
        stated = spec_from_metadata(metadata)
    except SpecError as error:
        raise CheckpointError(f"{path}: its metadata is invalid: {error}") from None
    if stated is not None:
        spec = spec.completed_by(stated)
    if stated is not None and stated != spec:
        raise CheckpointError(
            f"{path}: its metadata describes {stated.describe()}, but its tensors are {spec.describe()}"
        )
    check_fits(spec, canonical, str(path))
    check_weights(canonical, str(path))
    return spec, {key: value.float() for key, value in canonical.items()}
