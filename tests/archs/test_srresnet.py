"""SRResNet with batch norm (SRGAN's generator, the ablation's baseline): BN only when asked, the only
difference from the plain network, and recognised, loaded and described from its checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from esrgan.archs import SRResNet, SRResNetSpec
from esrgan.archs.srresnet.model import BatchNorm
from esrgan.weights.io import save_checkpoint
from esrgan.weights.layouts import load_checkpoint


@pytest.fixture(autouse=True)
def _one_thread(one_thread: None) -> None:
    """Tiny convolutions on one intra-op thread (see `one_thread`)."""


def batch_norms(model: torch.nn.Module) -> list[torch.nn.Module]:
    return [m for m in model.modules() if isinstance(m, _BatchNorm)]


def test_batch_norm_is_present_only_when_asked_two_per_block() -> None:
    assert batch_norms(SRResNet(num_feat=8, num_block=3)) == []
    assert len(batch_norms(SRResNet(num_feat=8, num_block=3, batch_norm=True))) == 6
    keys = SRResNetSpec(num_feat=8, num_block=1, batch_norm=True).build().state_dict()
    assert {key for key in keys if ".bn" in key} == {f"body.0.bn{i}.{kind}" for i in (1, 2)
                                                      for kind in ("weight", "bias", "running_mean", "running_var")}


def test_the_plain_network_is_unchanged_by_the_switch() -> None:
    """Same seed, same weights and the same function as before batch norm was an option: the plain blocks
    hold no BN state and no extra random draws."""
    torch.manual_seed(0)
    plain = SRResNet(num_feat=8, num_block=2)
    torch.manual_seed(0)
    with_bn = SRResNet(num_feat=8, num_block=2, batch_norm=True)
    shared = with_bn.state_dict()
    assert all(torch.equal(value, shared[key]) for key, value in plain.state_dict().items())


def test_fresh_batch_norm_in_eval_mode_is_the_identity_up_to_its_epsilon() -> None:
    """Batch norm is the only difference: with its initial statistics (mean 0, variance 1, γ 1, β 0) the BN
    network computes the plain one's function, x / sqrt(1 + ε) aside."""
    torch.manual_seed(0)
    plain = SRResNet(num_feat=8, num_block=2).eval()
    torch.manual_seed(0)
    with_bn = SRResNet(num_feat=8, num_block=2, batch_norm=True).eval()
    x = torch.rand(1, 3, 6, 6)
    with torch.no_grad():
        assert torch.allclose(plain(x), with_bn(x), atol=1e-4)
        assert not torch.equal(with_bn.train()(x.repeat(2, 1, 1, 1)), plain(x.repeat(2, 1, 1, 1)))


def test_a_batch_norm_checkpoint_is_recognised_loaded_and_described(tmp_path: Path) -> None:
    spec = SRResNetSpec(num_feat=8, num_block=2, batch_norm=True)
    model = spec.build()
    model(torch.rand(2, 3, 6, 6))  # training mode: the running statistics move away from their start
    save_checkpoint(tmp_path / "srgan.safetensors", model.state_dict(), spec)
    found, state = load_checkpoint(tmp_path / "srgan.safetensors")
    assert found == spec and "batch norm" in found.describe()
    assert torch.equal(state["body.1.bn2.running_var"], model.state_dict()["body.1.bn2.running_var"])
    plain = SRResNetSpec(num_feat=8, num_block=2)
    torch.save(plain.build().state_dict(), tmp_path / "plain.pth")
    assert load_checkpoint(tmp_path / "plain.pth")[0] == plain and "batch norm" not in plain.describe()


def test_basicsrs_step_counters_are_dropped_on_load(tmp_path: Path) -> None:
    """nn.BatchNorm2d's integer `num_batches_tracked` (in BasicSR's files) is not a weight: it is left out."""
    spec = SRResNetSpec(num_feat=8, num_block=1, batch_norm=True)
    state = spec.build().state_dict() | {f"body.0.bn{i}.num_batches_tracked": torch.tensor(7) for i in (1, 2)}
    torch.save({"params": state}, tmp_path / "basicsr.pth")
    found, canonical = load_checkpoint(tmp_path / "basicsr.pth")
    assert found == spec and not any("num_batches_tracked" in key for key in canonical)
    model = spec.build()
    model.load_state_dict(state)  # with the counters, as a BasicSR state dict is
    model.load_state_dict(canonical)
    assert isinstance(model.body[0].bn1, BatchNorm) and model.body[0].bn1.num_batches_tracked is None
