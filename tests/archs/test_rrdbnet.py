import pytest
import torch

from esrgan.archs import RRDB, ResidualDenseBlock, RRDBNet, RRDBNetSpec, SRResNet
from esrgan.archs.rrdbnet.model import RESIDUAL_SCALE
from esrgan.archs.spec import SpecError


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
