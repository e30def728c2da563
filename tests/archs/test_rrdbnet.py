import pytest
import torch

from esrgan.archs import RRDB, ResidualDenseBlock, RRDBNet, SRResNet
from esrgan.archs.rrdbnet import RESIDUAL_SCALE


def test_paper_configuration_has_the_published_parameter_count() -> None:
    assert sum(p.numel() for p in RRDBNet().parameters()) == 16_697_987


@pytest.mark.parametrize("scale", [1, 2, 4, 8])
def test_output_is_scale_times_the_input(scale: int) -> None:
    model = RRDBNet(scale=scale, num_feat=8, num_block=1, num_grow_ch=4)
    assert model(torch.rand(2, 3, 8, 12)).shape == (2, 3, 8 * scale, 12 * scale)


def test_unsupported_scale_is_refused() -> None:
    with pytest.raises(ValueError, match="scales"):
        RRDBNet(scale=3)


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
