"""Load VGG19 weight files (torchvision's published format, or a material-recognition VGG19 alike)."""

from __future__ import annotations

from pathlib import Path

from esrgan.archs.vgg import VGG19, load_vgg19_state_dict
from esrgan.weights.io import read_weights_file


def load_vgg19_weights(vgg: VGG19, path: Path) -> None:
    """Load torchvision's `vgg19-*.pth` (or the same keys in a `.safetensors` file) into `vgg`.

    The file is read with `torch.load(weights_only=True)`, so a pickle carrying code is refused, and nested
    checkpoints (`{"state_dict": ...}`, `{"model": ...}`) are unwrapped; see `load_vgg19_state_dict` for the keys.
    """
    state_dict, _ = read_weights_file(Path(path))
    load_vgg19_state_dict(vgg, state_dict, source=str(path))
