"""Generator architectures, one folder each (module + record), and the training-only networks."""

from esrgan.archs.compact.model import SRVGGNetCompact
from esrgan.archs.compact.record import CompactSpec
from esrgan.archs.rrdbnet.model import RRDB, ResidualDenseBlock, RRDBNet
from esrgan.archs.rrdbnet.record import RRDBNetSpec
from esrgan.archs.spec import ModelSpec
from esrgan.archs.srresnet.model import SRResNet
from esrgan.archs.srresnet.record import SRResNetSpec

__all__ = ["RRDB", "RRDBNet", "ResidualDenseBlock", "SRResNet", "SRVGGNetCompact", "ModelSpec", "RRDBNetSpec",
           "SRResNetSpec", "CompactSpec"]
