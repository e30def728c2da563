from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from esrgan.archs.vgg import VGG19, VGG19_LAYER_NAMES, VGGFeatureExtractor, load_vgg19_state_dict
from esrgan.errors import CheckpointError
from esrgan.weights.vgg import load_vgg19_weights

# torchvision's `vgg19().features` conv positions, written out independently of the implementation.
TORCHVISION_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)


@pytest.fixture(autouse=True)
def _one_thread(one_thread: None) -> None:
    """Every test here runs on one intra-op thread (see `one_thread`)."""


@pytest.fixture(scope="module")
def vgg() -> VGG19:
    torch.manual_seed(0)
    return VGG19()


def torchvision_style_state_dict(seed: int) -> dict[str, torch.Tensor]:
    """What `torch.save(torchvision.models.vgg19().state_dict())` holds, classifier shrunk (it is ignored)."""
    torch.manual_seed(seed)
    widths = [64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512, 512, 512, 512]
    state: dict[str, torch.Tensor] = {}
    in_channels = 3
    for index, width in zip(TORCHVISION_CONV_INDICES, widths):
        state[f"features.{index}.weight"] = torch.randn(width, in_channels, 3, 3) * 0.01
        state[f"features.{index}.bias"] = torch.randn(width) * 0.01
        in_channels = width
    for index in (0, 3, 6):
        state[f"classifier.{index}.weight"] = torch.randn(2, 2)
        state[f"classifier.{index}.bias"] = torch.randn(2)
    return state


def test_layer_names_match_torchvision_indices() -> None:
    assert len(VGG19_LAYER_NAMES) == 37
    assert [i for i, name in enumerate(VGG19_LAYER_NAMES) if name.startswith("conv")] == list(TORCHVISION_CONV_INDICES)
    assert VGG19_LAYER_NAMES[34] == "conv5_4" and VGG19_LAYER_NAMES[35] == "relu5_4"
    assert VGG19_LAYER_NAMES[36] == "pool5"


def test_conv_stack_has_vgg19_parameter_count(vgg: VGG19) -> None:
    assert sum(p.numel() for p in vgg.parameters()) == 20_024_384


def test_conv5_4_is_the_value_before_activation(vgg: VGG19) -> None:
    extractor = VGGFeatureExtractor(vgg, ["relu5_3", "conv5_4", "relu5_4"])
    out = extractor(torch.rand(1, 3, 32, 32))
    conv, relu = out["conv5_4"], out["relu5_4"]
    # Post-ReLU values (or a conv output overwritten by an in-place ReLU) would have no negatives.
    assert (conv < 0).any()
    assert torch.equal(relu, conv.clamp(min=0))
    assert torch.allclose(conv, vgg.features[34](out["relu5_3"]), atol=1e-6)


def test_input_is_normalised_with_imagenet_statistics(vgg: VGG19) -> None:
    x = torch.rand(2, 3, 8, 8)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    got = VGGFeatureExtractor(vgg, ["conv1_1"])(x)["conv1_1"]
    assert torch.allclose(got, vgg.features[0]((x - mean) / std), atol=1e-6)
    raw = VGGFeatureExtractor(vgg, ["conv1_1"], normalize_input=False)(x)["conv1_1"]
    assert torch.allclose(raw, vgg.features[0](x), atol=1e-6)


def test_only_layers_up_to_the_deepest_requested_are_kept(vgg: VGG19) -> None:
    assert len(VGGFeatureExtractor(vgg, ["conv5_4"]).features) == 35
    extractor = VGGFeatureExtractor(vgg, ["relu1_2", "conv2_1"])
    assert len(extractor.features) == 6
    assert set(extractor(torch.rand(1, 3, 8, 8))) == {"relu1_2", "conv2_1"}


def test_extractor_is_frozen_and_stays_in_eval_mode(vgg: VGG19) -> None:
    extractor = VGGFeatureExtractor(vgg, ["conv3_4"])
    extractor.train()
    assert not extractor.training and not any(m.training for m in extractor.modules())
    assert not any(p.requires_grad for p in extractor.parameters())
    x = torch.rand(1, 3, 8, 8, requires_grad=True)
    extractor(x)["conv3_4"].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in extractor.parameters())


@pytest.mark.parametrize("layers", [["conv5_5"], ["relu6_1"], [], "conv5_4"])
def test_unknown_layers_are_refused(vgg: VGG19, layers: object) -> None:
    with pytest.raises(ValueError):
        VGGFeatureExtractor(vgg, layers)  # type: ignore[arg-type]


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_torchvision_file_loads(tmp_path: Path, suffix: str) -> None:
    state = torchvision_style_state_dict(seed=1)
    path = tmp_path / f"vgg19-test{suffix}"
    if suffix == ".pth":
        torch.save(state, path)
    else:
        save_file(state, str(path))
    net = VGG19()
    load_vgg19_weights(net, path)
    assert torch.equal(net.features[34].weight, state["features.34.weight"])
    assert torch.equal(net.features[0].bias, state["features.0.bias"])


def test_missing_keys_are_named(vgg: VGG19) -> None:
    state = torchvision_style_state_dict(seed=2)
    del state["features.34.weight"], state["features.34.bias"]
    before = vgg.features[0].weight.clone()
    with pytest.raises(CheckpointError, match=r"missing keys: features\.34\.weight, features\.34\.bias"):
        load_vgg19_state_dict(vgg, state)
    assert torch.equal(vgg.features[0].weight, before)


def test_unexpected_keys_are_named(vgg: VGG19) -> None:
    state = torchvision_style_state_dict(seed=3)
    state["features.1.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError, match=r"unexpected keys: features\.1\.weight"):
        load_vgg19_state_dict(vgg, state)


def test_vgg16_minc_layout_is_refused_with_its_keys(tmp_path: Path) -> None:
    path = tmp_path / "VGG16minc_53.pth"
    torch.save({"conv11.weight": torch.zeros(64, 3, 3, 3), "conv11.bias": torch.zeros(64)}, path)
    with pytest.raises(CheckpointError, match=r"conv11\.weight.*VGG16minc_53|VGG16minc_53.*conv11\.weight"):
        load_vgg19_weights(VGG19(), path)


def test_wrong_shapes_are_refused(vgg: VGG19) -> None:
    state = torchvision_style_state_dict(seed=4)
    state["features.0.weight"] = torch.zeros(64, 1, 3, 3)
    with pytest.raises(CheckpointError, match=r"features\.0\.weight \(64, 1, 3, 3\)"):
        load_vgg19_state_dict(vgg, state)
