
import pytest
import torch

from esrgan.archs.discriminator import VGGStyleDiscriminator


@pytest.fixture(autouse=True)
def _one_thread(one_thread: None) -> None:
    """Every test here runs on one intra-op thread (see `one_thread`)."""


def test_paper_configuration_has_the_expected_layer_sizes() -> None:
    # BasicSR's layer list, written out: conv0_0 (3x3, bias), conv0_1 (4x4, no bias) + bn0_1, then per stage
    # a 3x3 and a 4x4 conv without bias, each with a BN (weight and bias), then linear 8192 -> 100 -> 1.
    expected = 3 * 64 * 9 + 64 + 64 * 64 * 16 + 2 * 64
    for c_in, c_out in [(64, 128), (128, 256), (256, 512), (512, 512)]:
        expected += c_in * c_out * 9 + 2 * c_out + c_out * c_out * 16 + 2 * c_out
    expected += 512 * 4 * 4 * 100 + 100 + 100 + 1
    assert sum(p.numel() for p in VGGStyleDiscriminator().parameters()) == expected


def test_parameter_names_follow_basicsr() -> None:
    keys = set(VGGStyleDiscriminator(num_feat=4).state_dict())
    for key in ("conv0_0.weight", "conv0_0.bias", "conv0_1.weight", "bn0_1.running_mean", "conv4_1.weight",
                "bn4_1.weight", "linear1.weight", "linear2.bias"):
        assert key in keys
    assert "conv0_1.bias" not in keys and "conv5_0.weight" not in keys


@pytest.mark.parametrize("size", [128, 256])
def test_outputs_one_raw_logit_per_image(size: int) -> None:
    torch.manual_seed(0)
    net = VGGStyleDiscriminator(num_feat=4, input_size=size).eval()
    logits = net(torch.rand(3, 3, size, size))
    assert logits.shape == (3, 1)
    # Raw logits, not probabilities: a sigmoid would confine them to (0, 1).
    with torch.no_grad():
        net.linear2.bias.fill_(-5.0)
    assert (net(torch.rand(2, 3, size, size)) < 0).all()


def test_256_input_adds_a_sixth_stage() -> None:
    keys = set(VGGStyleDiscriminator(num_feat=4, input_size=256).state_dict())
    assert "conv5_1.weight" in keys and "bn5_1.weight" in keys


@pytest.mark.parametrize("shape", [(1, 3, 96, 96), (1, 3, 128, 96), (1, 1, 128, 128), (3, 128, 128)])
def test_wrong_input_shape_is_refused(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="128"):
        VGGStyleDiscriminator(num_feat=4)(torch.rand(*shape))


def test_unsupported_input_size_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="input sizes"):
        VGGStyleDiscriminator(input_size=192)


def test_batch_norm_statistics_update_in_training_mode() -> None:
    net = VGGStyleDiscriminator(num_feat=4).train()
    before = net.bn0_1.running_mean.clone()
    net(torch.rand(2, 3, 128, 128))
    assert not torch.equal(before, net.bn0_1.running_mean)
