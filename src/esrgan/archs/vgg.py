"""VGG19 and the feature extractor behind the paper's perceptual loss (Sec. 3.3).

ESRGAN compares SR and HR in the feature space of a pre-trained VGG19, taking the features *before* the
activation (conv5_4 rather than SRGAN's relu5_4): deep activated features are sparse, which weakens the
supervision, and using them makes brightness inconsistent with the HR image (paper Sec. 3.3, Fig. 6).

`VGG19.features` uses torchvision's layer indices, so torchvision's ImageNet file (`vgg19-dcbb9e9d.pth`,
keys `features.N.weight` / `features.N.bias`) loads as it is; its classifier is not part of this module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from esrgan.errors import CheckpointError

VGG19_WIDTHS = (64, 128, 256, 512, 512)
VGG19_CONVS_PER_BLOCK = (2, 2, 4, 4, 4)


def _layer_names() -> tuple[str, ...]:
    names: list[str] = []
    for block, convs in enumerate(VGG19_CONVS_PER_BLOCK, start=1):
        for index in range(1, convs + 1):
            names += [f"conv{block}_{index}", f"relu{block}_{index}"]
        names.append(f"pool{block}")
    return tuple(names)


VGG19_LAYER_NAMES = _layer_names()
"""Name of each layer of `VGG19.features`, by position: `VGG19_LAYER_NAMES[34] == "conv5_4"`."""

VGG19_STATE_DICT_KEYS = tuple(
    f"features.{index}.{kind}"
    for index, name in enumerate(VGG19_LAYER_NAMES)
    if name.startswith("conv")
    for kind in ("weight", "bias")
)
"""The 32 keys a VGG19 weights file must hold: weight and bias of the 16 convs, by torchvision's index."""

IGNORED_KEY_PREFIX = "classifier."
"""Keys of torchvision's fully connected head, present in its file and not needed for features."""

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class VGG19(nn.Module):
    """The 16 conv layers of VGG19 (configuration E) with their ReLUs and max-pools, no classifier.

    The ReLUs are not in-place on purpose: an in-place ReLU would overwrite a conv output that the feature
    extractor keeps, silently turning the paper's pre-activation features into post-activation ones.
    """

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_channels = 3
        for width, convs in zip(VGG19_WIDTHS, VGG19_CONVS_PER_BLOCK):
            for _ in range(convs):
                layers += [nn.Conv2d(in_channels, width, 3, 1, 1), nn.ReLU(inplace=False)]
                in_channels = width
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        self.features = nn.Sequential(*layers)
        for module in self.features:
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """pool5 features of an ImageNet-normalised batch."""
        return self.features(x)


class VGGFeatureExtractor(nn.Module):
    """Named outputs of a frozen VGG19 for inputs in [0, 1]: `{"conv5_4": tensor, ...}`.

    A `convB_I` name gives the conv output before its ReLU (what the paper's L_percep uses); `reluB_I` the
    activated one; `poolB` the pooled one. Inputs are normalised with the ImageNet mean and std, as the
    published weights expect. Only the layers up to the deepest requested one are kept and run.

    The extractor shares the layers of `vgg` and freezes them (requires_grad False); it stays in eval mode
    whatever `train()` is called with, so it never changes while the generator trains. Gradients still flow
    through it to the input, which is how L_percep reaches the generator.
    """

    mean: torch.Tensor  # buffers, registered in __init__
    std: torch.Tensor
    features: nn.Sequential

    def __init__(self, vgg: VGG19, layers: Sequence[str], *, normalize_input: bool = True) -> None:
        super().__init__()
        if isinstance(layers, str) or not layers:
            raise ValueError(f"give a non-empty list of VGG19 layer names, such as ['conv5_4'], not {layers!r}")
        unknown = [name for name in layers if name not in VGG19_LAYER_NAMES]
        if unknown:
            raise ValueError(f"unknown VGG19 layers {unknown}; known layers: {', '.join(VGG19_LAYER_NAMES)}")
        self.layers = tuple(dict.fromkeys(layers))
        depth = max(VGG19_LAYER_NAMES.index(name) for name in self.layers) + 1
        self.features = nn.Sequential(*list(vgg.features)[:depth])  # the first `depth` layers, shared
        self.normalize_input = normalize_input
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> VGGFeatureExtractor:
        """Always eval: the extractor is a fixed measuring instrument, not a network being trained."""
        return super().train(False)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The requested layers' outputs for an (N, 3, H, W) batch with values in [0, 1]."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"VGG19 takes (N, 3, H, W) RGB batches, got shape {tuple(x.shape)}")
        if self.normalize_input:
            x = (x - self.mean) / self.std
        outputs: dict[str, torch.Tensor] = {}
        for name, layer in zip(VGG19_LAYER_NAMES, self.features):
            x = layer(x)
            if name in self.layers:
                outputs[name] = x
        return outputs


def load_vgg19_state_dict(vgg: VGG19, state_dict: Mapping[str, torch.Tensor], source: str = "state dict") -> None:
    """Copy a VGG19 state dict in torchvision's layout into `vgg`.

    Expected keys are exactly `VGG19_STATE_DICT_KEYS`: `features.N.weight` and `features.N.bias` for the conv
    indices N = 0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34, with torchvision's shapes.
    `classifier.*` keys are ignored. This is also the format for a VGG19 fine-tuned for material recognition
    (MINC, paper Sec. 3.3): export it with these keys. (The ESRGAN authors' `VGG16minc_53.pth` is a VGG16 with
    keys `conv11.weight` ... `conv53.bias` and is refused.) Any missing, unexpected or wrongly shaped key
    raises `CheckpointError` naming them, and `vgg` is left unchanged.
    """
    own = vgg.state_dict()
    present = {key for key in state_dict if not key.startswith(IGNORED_KEY_PREFIX)}
    missing = [key for key in VGG19_STATE_DICT_KEYS if key not in present]
    unexpected = sorted(present - set(VGG19_STATE_DICT_KEYS))
    if missing or unexpected:
        raise CheckpointError(
            f"{source}: not a VGG19 in torchvision's layout (features.N.weight/bias); "
            f"missing keys: {_preview(missing)}; unexpected keys: {_preview(unexpected)}"
        )
    wrong_shapes = [
        f"{key} {tuple(state_dict[key].shape)} (expected {tuple(own[key].shape)})"
        for key in VGG19_STATE_DICT_KEYS
        if state_dict[key].shape != own[key].shape
    ]
    if wrong_shapes:
        raise CheckpointError(f"{source}: tensors do not fit VGG19: {_preview(wrong_shapes)}")
    vgg.load_state_dict({key: state_dict[key] for key in VGG19_STATE_DICT_KEYS}, strict=True)


def _preview(keys: Sequence[str], limit: int = 8) -> str:
    if not keys:
        return "none"
    shown = ", ".join(keys[:limit])
    return shown if len(keys) <= limit else f"{shown} (and {len(keys) - limit} more)"
