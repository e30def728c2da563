"""Every ESRGAN-family checkpoint layout loads, with the right hyper-parameters and the right output.

Each case writes a checkpoint the way its family publishes it: random tensors made here with that layout's
own key names and shapes (not taken from our modules), saved as a file. The loaded network's output is
compared with a forward pass written in this file with `F.conv2d` on those tensors, so neither the key
conversion nor the module is checked against itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch.nn import functional as F

from esrgan.api import build_generator, load_weights
from esrgan.archs import CompactSpec, ModelSpec, RRDBNetSpec, SRResNet, SRResNetSpec
from esrgan.errors import CheckpointError
from esrgan.weights.io import save_checkpoint
from esrgan.weights.layouts import load_checkpoint, to_canonical
from tests.reference_nets import compact_forward, rrdbnet_forward

Weights = dict[str, torch.Tensor]


# --- RRDBNet weights in canonical (BasicSR) names, made by shape alone ----------------------------------------


def rrdbnet_weights(*, nf: int, nb: int, gc: int, in_ch: int, out_ch: int, ups: int, unshuffle: int = 1,
                    plus: bool = False, seed: int = 0) -> Weights:
    generator = torch.Generator().manual_seed(seed)

    def conv(out: int, inp: int, kernel: int = 3) -> torch.Tensor:
        return torch.randn(out, inp, kernel, kernel, generator=generator) * (0.5 / (inp * kernel * kernel) ** 0.5)

    def bias(out: int) -> torch.Tensor:
        return torch.randn(out, generator=generator) * 0.01

    w: Weights = {"conv_first.weight": conv(nf, in_ch * unshuffle**2), "conv_first.bias": bias(nf)}
    for block in range(nb):
        for rdb in (1, 2, 3):
            for k in (1, 2, 3, 4, 5):
                out = nf if k == 5 else gc
                w[f"body.{block}.rdb{rdb}.conv{k}.weight"] = conv(out, nf + (k - 1) * gc)
                w[f"body.{block}.rdb{rdb}.conv{k}.bias"] = bias(out)
            if plus:
                w[f"body.{block}.rdb{rdb}.conv1x1.weight"] = conv(gc, nf, 1)
    for name in ["conv_body", *(f"conv_up{n}" for n in range(1, ups + 1)), "conv_hr"]:
        w[f"{name}.weight"], w[f"{name}.bias"] = conv(nf, nf), bias(nf)
    w["conv_last.weight"], w["conv_last.bias"] = conv(out_ch, nf), bias(out_ch)
    return w


# --- the published layouts, as renamings of the canonical names ------------------------------------------------


def as_official(state: Weights) -> Weights:
    """Canonical -> later official ESRGAN / BSRGAN / RealSR names (RRDB_trunk, trunk_conv, upconvN, HRconv)."""
    out = {}
    for key, value in state.items():
        if m := re.match(r"body\.(\d+)\.rdb(\d)\.(conv\w+)\.(\w+)$", key):
            out[f"RRDB_trunk.{m[1]}.RDB{m[2]}.{m[3]}.{m[4]}"] = value
        else:
            head, _, tail = key.partition(".")
            head = {"conv_body": "trunk_conv", "conv_hr": "HRconv"}.get(head, head.replace("conv_up", "upconv"))
            out[f"{head}.{tail}"] = value
    return out


def as_original(state: Weights, num_block: int, ups: int) -> Weights:
    """Canonical -> 2018 `model.N` Sequential names: [conv, trunk, (up, conv, act) x ups, hr, act, last]."""
    tail = {f"conv_up{n}": f"model.{3 * n}" for n in range(1, ups + 1)}
    tail |= {"conv_hr": f"model.{3 * ups + 2}", "conv_last": f"model.{3 * ups + 4}", "conv_first": "model.0",
             "conv_body": f"model.1.sub.{num_block}"}
    out = {}
    for key, value in state.items():
        if m := re.match(r"body\.(\d+)\.rdb(\d)\.conv(\d)\.(\w+)$", key):
            out[f"model.1.sub.{m[1]}.RDB{m[2]}.conv{m[3]}.0.{m[4]}"] = value
        elif m := re.match(r"body\.(\d+)\.rdb(\d)\.conv1x1\.(\w+)$", key):
            out[f"model.1.sub.{m[1]}.RDB{m[2]}.conv1x1.{m[3]}"] = value
        else:
            head, _, suffix = key.partition(".")
            out[f"{tail[head]}.{suffix}"] = value
    return out


def load(tmp_path: Path, content: object, name: str = "model.pth") -> tuple[ModelSpec, torch.nn.Module]:
    path = tmp_path / name
    torch.save(content, path)
    spec, state = load_checkpoint(path)
    return spec, build_generator(spec, state)


def assert_same_output(model: torch.nn.Module, reference: Callable[[torch.Tensor], torch.Tensor], channels: int,
                       side: int = 8) -> None:
    x = torch.rand(1, channels, side, side, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        ours, expected = model(x), reference(x)
    assert ours.shape == expected.shape
    assert (ours - expected).abs().max().item() <= 1e-5


# (name, layout, nf, nb, gc, in, out, scale, ups, unshuffle, plus)
RRDBNET_CASES = [
    ("original-x1", "esrgan-original", 16, 2, 8, 3, 3, 1, 0, 1, False),
    ("original-x2", "esrgan-original", 16, 2, 8, 3, 3, 2, 1, 1, False),
    ("original-x4-nf64-nb23", "esrgan-original", 64, 23, 32, 3, 3, 4, 2, 1, False),
    ("original-x4-nf32-nb12", "esrgan-original", 32, 12, 32, 3, 3, 4, 2, 1, False),
    ("original-x8", "esrgan-original", 8, 1, 4, 3, 3, 8, 3, 1, False),
    ("original-x16", "esrgan-original", 8, 1, 4, 3, 3, 16, 4, 1, False),
    ("original-grey-to-rgb", "esrgan-original", 8, 1, 4, 1, 3, 4, 2, 1, False),
    ("original-rgb-to-grey", "esrgan-original", 8, 1, 4, 3, 1, 4, 2, 1, False),
    ("original-rgba", "esrgan-original", 8, 1, 4, 4, 4, 4, 2, 1, False),
    ("original-grey", "esrgan-original", 8, 1, 4, 1, 1, 4, 2, 1, False),
    ("esrgan-plus-original", "esrgan-original", 16, 2, 8, 3, 3, 4, 2, 1, True),
    ("esrgan-plus-official", "esrgan-official", 16, 1, 8, 3, 3, 4, 2, 1, True),
    ("official-x4", "esrgan-official", 16, 2, 8, 3, 3, 4, 2, 1, False),
    ("bsrgan-x2", "esrgan-official", 16, 2, 8, 3, 3, 2, 1, 1, False),
    ("basicsr-x1", "basicsr", 16, 2, 8, 3, 3, 1, 2, 4, False),
    ("basicsr-x2", "basicsr", 16, 2, 8, 3, 3, 2, 2, 2, False),
    ("basicsr-x4", "basicsr", 16, 2, 8, 3, 3, 4, 2, 1, False),
    ("basicsr-x8", "basicsr", 8, 1, 4, 3, 3, 8, 3, 1, False),
    ("basicsr-gc-16", "basicsr", 16, 1, 16, 3, 3, 4, 2, 1, False),
]


@pytest.mark.parametrize("case", RRDBNET_CASES, ids=[case[0] for case in RRDBNET_CASES])
def test_rrdbnet_family_loads_with_its_hyper_parameters_and_output(case: tuple, tmp_path: Path) -> None:
    _, layout, nf, nb, gc, in_ch, out_ch, scale, ups, unshuffle, plus = case
    canonical = rrdbnet_weights(nf=nf, nb=nb, gc=gc, in_ch=in_ch, out_ch=out_ch, ups=ups, unshuffle=unshuffle,
                                plus=plus)
    published = {"basicsr": canonical, "esrgan-official": as_official(canonical),
                 "esrgan-original": as_original(canonical, nb, ups)}[layout]

    spec, model = load(tmp_path, published)

    assert spec == RRDBNetSpec(scale=scale, in_channels=in_ch, out_channels=out_ch, num_feat=nf, num_block=nb,
                               num_grow_ch=gc, unshuffle=unshuffle, plus=plus)
    assert spec.input_multiple == unshuffle
    assert_same_output(model, lambda x: rrdbnet_forward(canonical, x, lambda t: F.pixel_unshuffle(t, unshuffle)), in_ch)


@pytest.mark.parametrize(
    "wrap",
    [
        lambda s: {f"module.{k}": v for k, v in s.items()},
        lambda s: {f"module._orig_mod.{k}": v for k, v in s.items()},
        lambda s: {"model_state_dict": s, "optimizer_state_dict": {"lr": 1.0}, "epoch": 3},
        lambda s: {"state_dict": {f"module.{k}": v for k, v in s.items()}},
        lambda s: {"params-ema": s},
        lambda s: {"params_ema": s, "params": {k: v * 0 for k, v in s.items()}},
        lambda s: {"net": s},
        lambda s: {"netG": s},
    ],
    ids=["dataparallel", "dataparallel-compiled", "model_state_dict", "state_dict-prefixed", "params-ema",
         "params_ema-first", "net", "netG"],
)
def test_wrappers_and_prefixes_are_unwrapped(wrap: Callable[[Weights], object], tmp_path: Path) -> None:
    canonical = rrdbnet_weights(nf=8, nb=1, gc=4, in_ch=3, out_ch=3, ups=2)
    spec, model = load(tmp_path, wrap(as_original(canonical, 1, 2)))
    assert spec == RRDBNetSpec(num_feat=8, num_block=1, num_grow_ch=4)
    assert_same_output(model, lambda x: rrdbnet_forward(canonical, x), 3)


def test_an_unknown_prefix_is_named(tmp_path: Path) -> None:
    canonical = rrdbnet_weights(nf=8, nb=1, gc=4, in_ch=3, out_ch=3, ups=2)
    torch.save({f"backbone.{k}": v for k, v in canonical.items()}, tmp_path / "m.pth")
    with pytest.raises(CheckpointError, match=r"every key starts with 'backbone\.', a wrapper prefix"):
        load_checkpoint(tmp_path / "m.pth")


def test_an_unknown_wrapper_is_named(tmp_path: Path) -> None:
    torch.save({"weights_of_g": {"a": torch.zeros(1)}, "step": 4}, tmp_path / "m.pth")
    with pytest.raises(CheckpointError, match=r"top-level keys are 'weights_of_g', 'step'"):
        load_checkpoint(tmp_path / "m.pth")


# --- SRVGGNetCompact ------------------------------------------------------------------------------------------


def compact_weights(*, nf: int, num_conv: int, in_ch: int, out_ch: int, scale: int) -> Weights:
    generator = torch.Generator().manual_seed(1)
    w: Weights = {}
    widths = [in_ch] + [nf] * (num_conv + 1) + [out_ch * scale * scale]
    for index, (inp, out) in enumerate(zip(widths, widths[1:])):
        w[f"body.{2 * index}.weight"] = torch.randn(out, inp, 3, 3, generator=generator) / (9 * inp) ** 0.5
        w[f"body.{2 * index}.bias"] = torch.randn(out, generator=generator) * 0.01
        if index <= num_conv:
            w[f"body.{2 * index + 1}.weight"] = torch.rand(out, generator=generator) * 0.3
    return w


@pytest.mark.parametrize(("scale", "in_ch", "out_ch", "num_conv"), [(4, 3, 3, 4), (2, 3, 3, 2), (3, 3, 3, 1),
                                                                     (1, 1, 1, 2), (4, 1, 3, 1)])
def test_srvggnet_compact_loads_with_its_hyper_parameters_and_output(
    scale: int, in_ch: int, out_ch: int, num_conv: int, tmp_path: Path
) -> None:
    weights = compact_weights(nf=16, num_conv=num_conv, in_ch=in_ch, out_ch=out_ch, scale=scale)
    spec, model = load(tmp_path, {"params": weights})
    assert spec == CompactSpec(scale=scale, in_channels=in_ch, out_channels=out_ch, num_feat=16, num_conv=num_conv)
    assert_same_output(model, lambda x: compact_forward(weights, x, scale), in_ch)


# --- SRResNet, and one spec whether read from a file or built by a config -------------------------------------


def test_srresnet_checkpoint_detected(tmp_path: Path) -> None:
    spec, _ = load(tmp_path, SRResNet(num_feat=16, num_block=3).state_dict())
    assert spec == SRResNetSpec(scale=4, num_feat=16, num_block=3)


def test_a_config_built_spec_equals_the_one_read_from_its_file(tmp_path: Path) -> None:
    from esrgan.training.config import config_from_dict

    for generator in ({"arch": "srresnet", "num_feat": 16, "num_block": 2},
                      {"arch": "rrdbnet", "num_feat": 8, "num_block": 1, "num_grow_ch": 4}):
        config = config_from_dict({"generator": generator, "data": {"scale": 4}})
        built = config.generator_spec
        path = tmp_path / f"{built.arch}.pth"
        torch.save(built.build().state_dict(), path)
        assert load_checkpoint(path)[0] == built


def test_paper_size_detected_from_shapes_alone() -> None:
    spec, _ = to_canonical(RRDBNetSpec().build().state_dict())
    assert spec == RRDBNetSpec(scale=4, num_feat=64, num_block=23, num_grow_ch=32)


# --- refusals ---------------------------------------------------------------------------------------------------


def test_unknown_layout_names_its_keys(tmp_path: Path) -> None:
    torch.save({"encoder.weight": torch.zeros(3), "decoder.weight": torch.zeros(3)}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="unknown checkpoint layout.*encoder.weight.*RRDBNet.*SRVGGNetCompact"):
        load_checkpoint(tmp_path / "other.pth")


def test_missing_and_extra_keys_are_named(tmp_path: Path) -> None:
    state = RRDBNetSpec(num_feat=8, num_block=2, num_grow_ch=4).build().state_dict()
    del state["body.1.rdb2.conv3.weight"]
    state["body.0.rdb1.conv9.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "broken.pth")
    with pytest.raises(CheckpointError, match=r"missing keys: body\.1\.rdb2\.conv3\.weight.*unexpected keys"):
        load_checkpoint(tmp_path / "broken.pth")


def test_metadata_may_confirm_the_tensors_but_never_override_them(tmp_path: Path) -> None:
    spec = RRDBNetSpec(num_feat=8, num_block=1, num_grow_ch=4)
    state = spec.build().state_dict()
    save_checkpoint(tmp_path / "good.safetensors", state, spec)
    assert load_weights(tmp_path / "good.safetensors")[0] == spec
    from safetensors.torch import save_file

    lying = spec.as_metadata() | {"esrgan.num_block": "1000000"}
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "lying.safetensors"), metadata=lying)
    with pytest.raises(CheckpointError, match=r"metadata describes RRDBNet x4 \(1000000 blocks.*tensors are"):
        load_checkpoint(tmp_path / "lying.safetensors")
    for key, value in (("esrgan.scale", "four"), ("esrgan.scale", "3"), ("esrgan.arch", "evil")):
        save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "bad.safetensors"),
                  metadata=spec.as_metadata() | {key: value})
        with pytest.raises(CheckpointError, match="metadata is invalid"):
            load_checkpoint(tmp_path / "bad.safetensors")


@pytest.mark.parametrize(("change", "pattern"), [
    (lambda t: t.fill_(float("nan")), "holds NaN or infinite values"),
    (lambda t: t.fill_(float("inf")), "holds NaN or infinite values"),
    (lambda t: t.to(torch.int32), "holds torch.int32 values, not floating point"),
    (lambda t: t > 0, "holds torch.bool values, not floating point"),
])
def test_broken_weights_are_refused_naming_the_tensor(change: Callable, pattern: str, tmp_path: Path) -> None:
    state = RRDBNetSpec(num_feat=8, num_block=1, num_grow_ch=4).build().state_dict()
    state["conv_hr.weight"] = change(state["conv_hr.weight"].clone())
    torch.save(state, tmp_path / "broken.pth")
    with pytest.raises(CheckpointError, match=rf"tensor conv_hr.weight {pattern}"):
        load_checkpoint(tmp_path / "broken.pth")
