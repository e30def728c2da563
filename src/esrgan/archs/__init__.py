"""Pure `nn.Module` architectures of the paper; torch only, no file or network I/O."""

from esrgan.archs.rrdbnet import RRDB, ResidualDenseBlock, RRDBNet
from esrgan.archs.spec import ModelSpec, build_model
from esrgan.archs.srresnet import SRResNet

__all__ = ["RRDB", "RRDBNet", "ResidualDenseBlock", "SRResNet", "ModelSpec", "build_model"]
