"""Recognise the published key layouts of ESRGAN generators and convert them to the canonical one.

Three RRDBNet layouts are in circulation:

- original ESRGAN (2018): `model.0`, `model.1.sub.N.RDB1.conv1.0`, `model.1.sub.<nb>`, `model.3`, ...
- later official ESRGAN: `conv_first`, `RRDB_trunk.N.RDB1.conv1`, `trunk_conv`, `upconv1`, `HRconv`, ...
- BasicSR / Real-ESRGAN (canonical here): `conv_first`, `body.N.rdb1.conv1`, `conv_body`, `conv_up1`, ...

Hyper-parameters (blocks, widths, channels, scale) are read off the tensor shapes, so the user never names
the architecture.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import torch

from esrgan.archs.rrdbnet import unshuffle_factor
from esrgan.archs.spec import ModelSpec, build_model
from esrgan.errors import CheckpointError
from esrgan.weights.io import StateDict, read_weights_file


def _suffix(key: str) -> str:
    return key.rsplit(".", 1)[1]


def _from_original(state: StateDict) -> StateDict:
    """`model.*` Sequential layout of the 2018 release: trunk in `model.1.sub`, tail convs by index."""
    trunk_ids = sorted({int(m.group(1)) for k in state if (m := re.match(r"model\.1\.sub\.(\d+)\.", k))})
    body_conv = trunk_ids[-1]
    tail_ids = sorted({int(m.group(1)) for k in state if (m := re.match(r"model\.(\d+)\.(weight|bias)$", k))} - {0})
    if len(tail_ids) < 4:
        raise CheckpointError("original ESRGAN layout with fewer tail convs than an RRDBNet has")
    *ups, hr, last = tail_ids
    tail_names = {str(i): f"conv_up{n}" for n, i in enumerate(ups, 1)} | {str(hr): "conv_hr", str(last): "conv_last"}
    out: StateDict = {}
    for key, value in state.items():
        if m := re.match(r"model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\.(weight|bias)$", key):
            out[f"body.{m[1]}.rdb{m[2]}.conv{m[3]}.{m[4]}"] = value
        elif re.match(rf"model\.1\.sub\.{body_conv}\.(weight|bias)$", key):
            out[f"conv_body.{_suffix(key)}"] = value
        elif m := re.match(r"model\.(\d+)\.(weight|bias)$", key):
            name = "conv_first" if m[1] == "0" else tail_names[m[1]]
            out[f"{name}.{m[2]}"] = value
        else:
            out[key] = value
    return out


_OFFICIAL_RENAMES = {"trunk_conv": "conv_body", "upconv1": "conv_up1", "upconv2": "conv_up2",
                     "upconv3": "conv_up3", "HRconv": "conv_hr"}


def _from_official(state: StateDict) -> StateDict:
    """`RRDB_trunk` layout of the later official release: a rename, shapes unchanged."""
    out: StateDict = {}
    for key, value in state.items():
        if m := re.match(r"RRDB_trunk\.(\d+)\.RDB(\d)\.conv(\d)\.(weight|bias)$", key):
            out[f"body.{m[1]}.rdb{m[2]}.conv{m[3]}.{m[4]}"] = value
        else:
            head, _, tail = key.partition(".")
            out[f"{_OFFICIAL_RENAMES.get(head, head)}.{tail}"] = value
    return out


LAYOUTS: dict[str, tuple[str, Callable[[StateDict], StateDict]]] = {
    "esrgan-original": ("model.1.sub.0.RDB1.conv1.0.weight", _from_original),
    "esrgan-official": ("RRDB_trunk.0.RDB1.conv1.weight", _from_official),
    "basicsr": ("body.0.rdb1.conv1.weight", dict),
    "srresnet": ("body.0.conv1.weight", dict),
}
"""Layout name -> (a key only that layout has, converter to canonical keys)."""


def detect_layout(state: StateDict) -> str:
    for name, (marker, _) in LAYOUTS.items():
        if marker in state:
            return name
    sample = ", ".join(list(state)[:4])
    raise CheckpointError(
        f"unknown checkpoint layout (first keys: {sample}); supported: ESRGAN original (model.1.sub...), "
        "ESRGAN official (RRDB_trunk...), BasicSR/Real-ESRGAN (body.N.rdb1...), SRResNet (body.N.conv1)"
    )


def _count(state: StateDict, pattern: str) -> int:
    return len({m.group(1) for key in state if (m := re.match(pattern, key))})


def infer_spec(state: StateDict, arch: str) -> ModelSpec:
    """Read the hyper-parameters of a canonical state dict off its tensor shapes."""
    try:
        first = state["conv_first.weight"]
        out_channels = state["conv_last.weight"].shape[0]
        num_feat = first.shape[0]
        if arch == "srresnet":
            up1 = state["upconv1.weight"].shape[0] // num_feat
            scale = 4 if "upconv2.weight" in state else round(up1**0.5)
            return ModelSpec("srresnet", scale, first.shape[1], out_channels, num_feat,
                             _count(state, r"body\.(\d+)\.conv1\.weight"), 0)
        steps = _count(state, r"conv_up(\d+)\.weight$")
        scale = _rrdb_scale(first.shape[1], out_channels, steps)
        in_channels = first.shape[1] // unshuffle_factor(scale) ** 2
        return ModelSpec("rrdbnet", scale, in_channels, out_channels, num_feat,
                         _count(state, r"body\.(\d+)\.rdb1\.conv1\.weight"), state["body.0.rdb1.conv1.weight"].shape[0])
    except KeyError as error:
        raise CheckpointError(f"checkpoint lacks {error.args[0]!r}, which every {arch} has") from None


def _rrdb_scale(first_in: int, out_channels: int, steps: int) -> int:
    """Scale from the upsampling steps and how many pixel-unshuffled input channels the first conv takes."""
    if steps == 3:
        return 8
    for scale in (4, 2, 1):
        if first_in == out_channels * unshuffle_factor(scale) ** 2:
            return scale
    raise CheckpointError(f"cannot infer the scale: conv_first takes {first_in} channels for {out_channels} out")


def to_canonical(state: StateDict) -> tuple[ModelSpec, StateDict]:
    """Canonical keys and the spec they describe, for any supported layout."""
    layout = detect_layout(state)
    canonical = LAYOUTS[layout][1](state)
    return infer_spec(canonical, "srresnet" if layout == "srresnet" else "rrdbnet"), canonical


def check_fits(spec: ModelSpec, state: StateDict, source: str) -> None:
    """Refuse a state dict with missing, extra or mis-shaped tensors, naming a few of them."""
    expected = build_model(spec).state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    problems = [f"{label}: {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''} ({len(keys)})"
                for label, keys in (("missing keys", missing), ("unexpected keys", extra), ("wrong shapes", wrong))
                if keys]
    if problems:
        raise CheckpointError(f"{source} does not fit {spec.describe()}: " + "; ".join(problems))


def load_checkpoint(path: Path) -> tuple[ModelSpec, StateDict]:
    """Spec and canonical float state dict of any supported checkpoint file, validated against the arch."""
    state, metadata = read_weights_file(path)
    spec, canonical = to_canonical(state)
    spec = ModelSpec.from_metadata(metadata) or spec
    check_fits(spec, canonical, str(path))
    return spec, {key: value.float() if value.is_floating_point() else value for key, value in canonical.items()}


def model_from_checkpoint(path: Path) -> tuple[torch.nn.Module, ModelSpec]:
    """A ready generator (eval mode) built with the hyper-parameters detected in `path`."""
    spec, state = load_checkpoint(path)
    model = build_model(spec)
    model.load_state_dict(state, strict=True)
    return model.eval(), spec
