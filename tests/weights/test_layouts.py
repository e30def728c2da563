"""The three published RRDBNet key layouts load to the same network; hyper-parameters are detected."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from esrgan.archs import SRResNet
from esrgan.archs.spec import ModelSpec, build_model
from esrgan.errors import CheckpointError
from esrgan.weights.layouts import detect_layout, load_checkpoint, model_from_checkpoint, to_canonical


def as_official(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Canonical -> later official ESRGAN names (RRDB_trunk, trunk_conv, upconvN, HRconv)."""
    names = {"conv_body": "trunk_conv", "conv_hr": "HRconv", "conv_up1": "upconv1", "conv_up2": "upconv2",
             "conv_up3": "upconv3"}
    out = {}
    for key, value in state.items():
        if m := re.match(r"body\.(\d+)\.rdb(\d)\.conv(\d)\.(\w+)$", key):
            out[f"RRDB_trunk.{m[1]}.RDB{m[2]}.conv{m[3]}.{m[4]}"] = value
        else:
            head, _, tail = key.partition(".")
            out[f"{names.get(head, head)}.{tail}"] = value
    return out


def as_original(state: dict[str, torch.Tensor], num_block: int, ups: int) -> dict[str, torch.Tensor]:
    """Canonical -> 2018 `model.N` Sequential names: [conv, trunk, (up, conv, act) x ups, hr, act, last]."""
    tail = {f"conv_up{n}": f"model.{3 * n}" for n in range(1, ups + 1)}
    tail |= {"conv_hr": f"model.{3 * ups + 2}", "conv_last": f"model.{3 * ups + 4}", "conv_first": "model.0",
             "conv_body": f"model.1.sub.{num_block}"}
    out = {}
    for key, value in state.items():
        if m := re.match(r"body\.(\d+)\.rdb(\d)\.conv(\d)\.(\w+)$", key):
            out[f"model.1.sub.{m[1]}.RDB{m[2]}.conv{m[3]}.0.{m[4]}"] = value
        else:
            head, _, suffix = key.partition(".")
            out[f"{tail[head]}.{suffix}"] = value
    return out


SPECS = [
    ModelSpec(scale=4, num_feat=8, num_block=6, num_grow_ch=4),
    ModelSpec(scale=2, num_feat=16, num_block=2, num_grow_ch=8),
    ModelSpec(scale=4, num_feat=32, num_block=3, num_grow_ch=16),
    ModelSpec(scale=1, num_feat=8, num_block=1, num_grow_ch=4),
    ModelSpec(scale=8, num_feat=8, num_block=2, num_grow_ch=4),
    ModelSpec(scale=4, in_channels=1, out_channels=1, num_feat=8, num_block=2, num_grow_ch=4),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"x{s.scale}-nb{s.num_block}-nf{s.num_feat}-c{s.in_channels}")
@pytest.mark.parametrize("layout", ["basicsr", "esrgan-official", "esrgan-original"])
@pytest.mark.parametrize("wrapper", [None, "params", "params_ema"])
def test_every_layout_loads_to_identical_output(spec: ModelSpec, layout: str, wrapper: str | None,
                                                tmp_path: Path) -> None:
    torch.manual_seed(1)
    reference = build_model(spec).eval()
    state = reference.state_dict()
    ups = 3 if spec.scale == 8 else 2
    converted = {"basicsr": state, "esrgan-official": as_official(state),
                 "esrgan-original": as_original(state, spec.num_block, ups)}[layout]
    assert detect_layout(converted) == layout
    path = tmp_path / "model.pth"
    torch.save({wrapper: converted} if wrapper else converted, path)

    loaded, detected = model_from_checkpoint(path)

    assert detected == spec
    x = torch.rand(1, spec.in_channels, 8, 8)
    with torch.no_grad():
        assert torch.equal(loaded(x), reference(x))


def test_paper_size_detected_from_shapes_alone() -> None:
    spec, _ = to_canonical(build_model(ModelSpec()).state_dict())
    assert (spec.num_block, spec.num_feat, spec.num_grow_ch, spec.scale) == (23, 64, 32, 4)


def test_srresnet_checkpoint_detected(tmp_path: Path) -> None:
    torch.save(SRResNet(num_feat=16, num_block=3).state_dict(), tmp_path / "srresnet.pth")
    _, spec = model_from_checkpoint(tmp_path / "srresnet.pth")
    assert (spec.arch, spec.num_block, spec.num_feat, spec.scale) == ("srresnet", 3, 16, 4)


def test_unknown_layout_names_its_keys(tmp_path: Path) -> None:
    torch.save({"encoder.weight": torch.zeros(3)}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="unknown checkpoint layout.*encoder.weight"):
        load_checkpoint(tmp_path / "other.pth")


def test_missing_and_extra_keys_are_named(tmp_path: Path) -> None:
    state = build_model(ModelSpec(num_feat=8, num_block=2, num_grow_ch=4)).state_dict()
    del state["body.1.rdb2.conv3.weight"]
    state["body.0.rdb1.conv9.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "broken.pth")
    with pytest.raises(CheckpointError, match=r"missing keys: body\.1\.rdb2\.conv3\.weight.*unexpected keys"):
        load_checkpoint(tmp_path / "broken.pth")
