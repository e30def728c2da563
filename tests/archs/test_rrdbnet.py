from pathlib import Path

import pytest
import torch

from esrgan.archs import RRDB, ResidualDenseBlock, RRDBNet, RRDBNetSpec, SRResNet
from esrgan.archs.rrdbnet.concat_free import without_concatenation
from esrgan.archs.rrdbnet.model import RESIDUAL_SCALE
from esrgan.archs.spec import SpecError
from esrgan.weights.io import save_checkpoint
from esrgan.weights.layouts import load_checkpoint


def test_paper_configuration_has_the_published_parameter_count() -> None:
    assert sum(p.numel() for p in RRDBNet().parameters()) == 16_697_987


@pytest.mark.parametrize("scale", [1, 2, 4, 8])
def test_output_is_scale_times_the_input(scale: int) -> None:
    model = RRDBNet(scale=scale, num_feat=8, num_block=1, num_grow_ch=4)
    assert model(torch.rand(2, 3, 8, 12)).shape == (2, 3, 8 * scale, 12 * scale)


def test_unsupported_scale_is_refused() -> None:
    with pytest.raises(ValueError, match="power-of-two"):
        RRDBNet(scale=3)
    with pytest.raises(SpecError, match="RRDBNet supports scales 1, 2, 4, 8, 16, not 3"):
        RRDBNetSpec(scale=3)
    with pytest.raises(SpecError, match="unshuffle must be one of"):
        RRDBNetSpec(scale=4, unshuffle=3)


@pytest.mark.parametrize(("scale", "unshuffle", "steps"), [(1, 1, 0), (2, 1, 1), (1, 4, 2), (2, 2, 2), (4, 1, 2),
                                                           (8, 1, 3), (16, 1, 4)])
def test_upsampling_steps_do_not_depend_on_the_unshuffle_convention(scale: int, unshuffle: int, steps: int) -> None:
    model = RRDBNet(scale=scale, num_feat=8, num_block=1, num_grow_ch=4, unshuffle=unshuffle)
    assert model.upsamplers == steps
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        assert model(x).shape == (1, 3, 8 * scale, 8 * scale)


def test_esrgan_plus_block_adds_its_1x1_path() -> None:
    """ESRGAN+ (its dense block): x2 gains conv1x1(x), and x4 gains x2, before they are concatenated on."""
    torch.manual_seed(0)
    block = ResidualDenseBlock(8, 4, plus=True).eval()
    x = torch.rand(1, 8, 6, 6)

    def act(t: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.leaky_relu(t, 0.2)

    with torch.no_grad():
        x1 = act(block.conv1(x))
        x2 = act(block.conv2(torch.cat((x, x1), 1))) + block.conv1x1(x)
        x3 = act(block.conv3(torch.cat((x, x1, x2), 1)))
        x4 = act(block.conv4(torch.cat((x, x1, x2, x3), 1))) + x2
        expected = x + RESIDUAL_SCALE * block.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        assert torch.allclose(block(x), expected, atol=1e-6)
    assert block.conv1x1.bias is None and block.conv1x1.kernel_size == (1, 1)


def test_dense_block_adds_its_scaled_residual() -> None:
    block = ResidualDenseBlock(num_feat=8, num_grow_ch=4)
    for conv in (block.conv1, block.conv2, block.conv3, block.conv4, block.conv5):
        torch.nn.init.zeros_(conv.weight)
        torch.nn.init.zeros_(conv.bias)
    torch.nn.init.constant_(block.conv5.bias, 1.0)
    x = torch.rand(1, 8, 5, 5)
    assert torch.allclose(block(x), x + RESIDUAL_SCALE)


def test_rrdb_scales_its_residual_by_beta() -> None:
    block = RRDB(num_feat=8, num_grow_ch=4)
    x = torch.rand(1, 8, 5, 5)
    inner = block.rdb3(block.rdb2(block.rdb1(x)))
    assert torch.allclose(block(x), inner * RESIDUAL_SCALE + x)


def test_smaller_initialisation_shrinks_dense_block_weights() -> None:
    torch.manual_seed(0)
    scaled = ResidualDenseBlock(64, 32).conv1.weight.std().item()
    plain = torch.nn.init.kaiming_normal_(torch.empty(32, 64, 3, 3)).std().item()
    assert scaled == pytest.approx(plain * 0.1, rel=0.1)


def test_no_batch_norm_anywhere() -> None:
    modules = list(RRDBNet(num_block=2).modules()) + list(SRResNet().modules())
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in modules)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_srresnet_upscales(scale: int) -> None:
    model = SRResNet(scale=scale, num_feat=8, num_block=2)
    assert model(torch.rand(1, 3, 6, 6)).shape == (1, 3, 6 * scale, 6 * scale)


def test_srresnet_has_sixteen_blocks_by_default() -> None:
    assert len(SRResNet().body) == 16


# --- the deeper-network knobs: residual scale β and initialisation scale ----------------------------------


def test_every_residual_is_scaled_by_the_chosen_beta() -> None:
    block = RRDB(num_feat=8, num_grow_ch=4, residual_scale=0.5)
    x = torch.rand(1, 8, 5, 5)
    with torch.no_grad():
        dense = block.rdb1
        inner = block.rdb3(block.rdb2(dense(x)))
        assert torch.allclose(block(x), 0.5 * inner + x)
        for conv in (dense.conv1, dense.conv2, dense.conv3, dense.conv4, dense.conv5):
            torch.nn.init.zeros_(conv.weight)
            torch.nn.init.zeros_(conv.bias)
        torch.nn.init.constant_(dense.conv5.bias, 1.0)
        assert torch.allclose(dense(x), x + 0.5)


def test_the_paper_beta_and_init_scale_are_the_defaults_bit_for_bit() -> None:
    torch.manual_seed(0)
    default = RRDBNet(num_feat=8, num_block=2, num_grow_ch=4)
    torch.manual_seed(0)
    explicit = RRDBNetSpec(num_feat=8, num_block=2, num_grow_ch=4, residual_scale=0.2, init_scale=0.1).build()
    x = torch.rand(1, 3, 6, 6)
    assert all(torch.equal(a, b) for a, b in zip(default.state_dict().values(), explicit.state_dict().values()))
    assert torch.equal(default(x), explicit(x))


def test_the_init_scale_scales_the_dense_block_weights_only() -> None:
    """Same random draws, multiplied by the init scale: 0.05 gives half of the paper's 0.1."""
    torch.manual_seed(0)
    paper = RRDBNet(num_feat=8, num_block=1, num_grow_ch=4)
    torch.manual_seed(0)
    smaller = RRDBNet(num_feat=8, num_block=1, num_grow_ch=4, init_scale=0.05)
    for (key, a), b in zip(paper.state_dict().items(), smaller.state_dict().values()):
        expected = a / 2 if key.startswith("body.") and key.endswith("weight") else a
        assert torch.allclose(b, expected, rtol=1e-6, atol=0), key


def test_beta_travels_in_the_metadata_and_the_init_scale_is_not_compared(tmp_path: Path) -> None:
    """β does not show in the tensors: our files carry it, and a file without metadata is taken to have the
    paper's 0.2. The init scale only shaped the start, so specs that differ only in it are equal."""
    spec = RRDBNetSpec(num_feat=8, num_block=1, num_grow_ch=4, residual_scale=0.1, init_scale=0.05)
    assert "residual scale 0.1" in spec.describe()
    assert spec != RRDBNetSpec(num_feat=8, num_block=1, num_grow_ch=4)
    assert spec == RRDBNetSpec(num_feat=8, num_block=1, num_grow_ch=4, residual_scale=0.1)
    model = spec.build()
    save_checkpoint(tmp_path / "beta.safetensors", model.state_dict(), spec)
    found, state = load_checkpoint(tmp_path / "beta.safetensors")
    assert found == spec and (found.residual_scale, found.init_scale) == (0.1, 0.05)
    x = torch.rand(1, 3, 6, 6)
    rebuilt = found.build()
    rebuilt.load_state_dict(state)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), model(x))
        rewritten = without_concatenation(rebuilt.eval())  # the inference form keeps β too
        assert (rewritten(x) - model(x)).abs().max() <= 1e-5
    torch.save(model.state_dict(), tmp_path / "beta.pth")
    assert load_checkpoint(tmp_path / "beta.pth")[0].residual_scale == RESIDUAL_SCALE
    with pytest.raises(SpecError, match="residual scale 0.2 has an NCNN form"):
        spec.to_ncnn(state)


@pytest.mark.parametrize(("options", "pattern"), [
    ({"residual_scale": 0}, "residual_scale must be positive"),
    ({"init_scale": "small"}, "init_scale must be a finite number"),
    ({"residual_scale": "nan"}, "residual_scale must be a finite number"),
])
def test_bad_scales_are_refused(options: dict, pattern: str) -> None:
    with pytest.raises(SpecError, match=pattern):
        RRDBNetSpec.from_options(options, "generator")
