"""The RRDBNet record: ESRGAN's generator in every key layout it has been published in.

Layouts (all read to the BasicSR names of `model.py`):

- `basicsr` (canonical; BasicSR, Real-ESRGAN): `conv_first`, `body.N.rdb1.conv1`, `conv_body`, `conv_up1`, ...
  The only layout with a pixel-unshuffle input (Real-ESRGAN's ×1/×2 models), seen as `conv_first` taking
  out_channels × 4 or × 16 channels.
- `esrgan-official` (the later official ESRGAN release, BSRGAN, RealSR): `RRDB_trunk.N.RDB1.conv1`,
  `trunk_conv`, `upconvK`, `HRconv`.
- `esrgan-original` (the 2018 release, and most community models): one `model` Sequential —
  `model.0` conv, `model.1.sub.N.RDB1.conv1.0` trunk, `model.1.sub.<nb>` trunk conv, then per ×2 step
  (upsample, conv, act), then HR conv, act, last conv; so the tail convs sit at model.3, 6, ..., 3k+2, 3k+4.

ESRGAN+ models add `...RDBk.conv1x1.weight` in any of these layouts. Blocks, widths, growth channels,
channels and scale are read off the shapes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import nn

from esrgan.archs.ncnn_graph import NcnnGraph
from esrgan.archs.rrdbnet.concat_free import without_concatenation
from esrgan.archs.rrdbnet.model import INIT_SCALE, RESIDUAL_SCALE, RRDBNet, default_unshuffle, upsampling_steps
from esrgan.archs.spec import ModelSpec, SpecError, StateDict

_MARKERS = {
    "basicsr": "body.0.rdb1.conv1.weight",
    "esrgan-official": "RRDB_trunk.0.RDB1.conv1.weight",
    "esrgan-original": "model.1.sub.0.RDB1.conv1.0.weight",
}
_OFFICIAL_RENAMES = {"trunk_conv": "conv_body", "HRconv": "conv_hr"}
UNSHUFFLE_FACTORS = (1, 2, 4)


@dataclass(frozen=True)
class RRDBNetSpec(ModelSpec):
    """RRDBNet's hyper-parameters; `unshuffle` None means Real-ESRGAN's choice for the scale (4 at ×1, 2 at ×2).

    `residual_scale` (β) and `init_scale` are the knobs of the paper's study of deeper networks. Neither shows
    in the tensors: β changes the function, so it is compared and stored in our files' metadata, from which
    `load_checkpoint` takes it (a file without metadata is taken to use the paper's 0.2); the initialisation
    scale only shapes a new network, so it is not compared (a stage-2 run may start from weights initialised
    otherwise) and is kept in the metadata for the record.
    """

    num_feat: int = 64
    num_block: int = 23
    num_grow_ch: int = 32
    unshuffle: int | None = None
    plus: bool = False
    residual_scale: float = RESIDUAL_SCALE
    init_scale: float = field(default=INIT_SCALE, compare=False)

    arch: ClassVar[str] = "rrdbnet"
    title: ClassVar[str] = "RRDBNet"
    supported_scales: ClassVar[tuple[int, ...]] = (1, 2, 4, 8, 16)
    layouts: ClassVar[tuple[str, ...]] = tuple(_MARKERS)
    metadata_only: ClassVar[tuple[str, ...]] = ("residual_scale", "init_scale")

    def __post_init__(self) -> None:
        if self.unshuffle is None:
            object.__setattr__(self, "unshuffle", default_unshuffle(self.scale))
        super().__post_init__()
        if self.unshuffle not in UNSHUFFLE_FACTORS:
            raise SpecError(f"RRDBNet: unshuffle must be one of {UNSHUFFLE_FACTORS}, not {self.unshuffle}")

    @property
    def factor(self) -> int:
        """The pixel-unshuffle factor, never None (`__post_init__` fills it in)."""
        assert self.unshuffle is not None
        return self.unshuffle

    @classmethod
    def recognise(cls, state: Mapping[str, torch.Tensor]) -> str | None:
        return next((layout for layout, marker in _MARKERS.items() if marker in state), None)

    @classmethod
    def from_state_dict(cls, state: StateDict, layout: str) -> tuple[ModelSpec, StateDict]:
        canonical = _CONVERTERS[layout](state)
        try:
            first, last = canonical["conv_first.weight"], canonical["conv_last.weight"]
            grow = canonical["body.0.rdb1.conv1.weight"].shape[0]
        except KeyError as error:
            raise SpecError(f"an RRDBNet checkpoint lacks {error.args[0]!r}") from None
        steps = _count(canonical, r"conv_up(\d+)\.weight$")
        first_in, out_channels = first.shape[1], last.shape[0]
        factor = 1
        if layout == "basicsr":  # only Real-ESRGAN's layout pixel-unshuffles its input
            factor = next((f for f in (4, 2) if first_in == out_channels * f * f and 1 << steps >= f), 1)
        spec = cls(
            scale=(1 << steps) // factor, in_channels=first_in // (factor * factor), out_channels=out_channels,
            num_feat=first.shape[0], num_block=_count(canonical, r"body\.(\d+)\.rdb1\.conv1\.weight$"),
            num_grow_ch=grow, unshuffle=factor, plus="body.0.rdb1.conv1x1.weight" in canonical,
        )
        return spec, canonical

    def build(self) -> nn.Module:
        return RRDBNet(self.in_channels, self.out_channels, self.scale, self.num_feat, self.num_block,
                       self.num_grow_ch, self.factor, self.plus, self.residual_scale, self.init_scale)

    def describe(self) -> str:
        extras = (", ESRGAN+" if self.plus else "") + (f", pixel-unshuffle {self.factor}" if self.factor > 1 else "")
        if self.residual_scale != RESIDUAL_SCALE:
            extras += f", residual scale {self.residual_scale:g}"
        if self.init_scale != INIT_SCALE:
            extras += f", init scale {self.init_scale:g}"
        return (
            f"RRDBNet x{self.scale} ({self.num_block} blocks, nf {self.num_feat}, gc {self.num_grow_ch}, "
            f"{self.in_channels}->{self.out_channels} channels{extras})"
        )

    @property
    def input_multiple(self) -> int:
        return self.factor

    def activation_bytes_per_input_pixel(self, element_size: int) -> int:
        """Three live `num_feat` maps at output resolution, plus the trunk: an upper estimate of the peak (the
        measured working memory of a tile is what `benchmarks/tile_memory.py` prints)."""
        return 3 * self.num_feat * self.scale**2 * element_size + 8 * self.num_feat * element_size

    def inference_module(self, model: nn.Module) -> nn.Module:
        # The concatenation-free rewrite covers the paper's dense block, not ESRGAN+'s extra sums.
        return model if self.plus else without_concatenation(model)  # type: ignore[arg-type]

    @property
    def upsampling_steps(self) -> int:
        return upsampling_steps(self.scale, self.factor)

    @classmethod
    def from_ncnn(cls, graph: NcnnGraph) -> tuple[ModelSpec, StateDict] | None:
        from esrgan.archs.rrdbnet.ncnn import rrdbnet_from_ncnn  # it builds specs of this class

        return rrdbnet_from_ncnn(graph)

    def to_ncnn(self, state: StateDict) -> NcnnGraph:
        if self.plus:
            raise SpecError(f"{self.describe()}: ESRGAN+'s extra sums have no NCNN form here; export it to ONNX")
        if self.residual_scale != RESIDUAL_SCALE:
            # NCNN readers (ours included) recognise RRDBNet by its residual scale of 0.2.
            raise SpecError(f"{self.describe()}: only the paper's residual scale {RESIDUAL_SCALE} has an NCNN form "
                            "here; export it to ONNX")
        from esrgan.archs.rrdbnet.ncnn import rrdbnet_to_ncnn

        return rrdbnet_to_ncnn(state, self.num_block, self.upsampling_steps, self.factor)


def _count(state: Mapping[str, torch.Tensor], pattern: str) -> int:
    return len({m.group(1) for key in state if (m := re.match(pattern, key))})


def _dense_key(block: str, rdb: str, conv: str, kind: str) -> str:
    """Canonical name of a dense-block tensor; `conv` is 1-5 or `1x1` (ESRGAN+)."""
    return f"body.{block}.rdb{rdb}.conv{conv}.{kind}"


def _from_original(state: StateDict) -> StateDict:
    """`model.*` Sequential layout of the 2018 release: trunk in `model.1.sub`, tail convs by index."""
    trunk_ids = sorted({int(m.group(1)) for k in state if (m := re.match(r"model\.1\.sub\.(\d+)\.", k))})
    body_conv = trunk_ids[-1]
    tail_ids = sorted({int(m.group(1)) for k in state if (m := re.match(r"model\.(\d+)\.(weight|bias)$", k))} - {0})
    if len(tail_ids) < 2:
        raise SpecError("an original-layout ESRGAN checkpoint needs at least its HR and last convolutions")
    *ups, hr, last = tail_ids
    tail_names = {str(i): f"conv_up{n}" for n, i in enumerate(ups, 1)} | {str(hr): "conv_hr", str(last): "conv_last"}
    out: StateDict = {}
    for key, value in state.items():
        if m := re.match(r"model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\.(weight|bias)$", key):
            out[_dense_key(m[1], m[2], m[3], m[4])] = value
        elif m := re.match(r"model\.1\.sub\.(\d+)\.RDB(\d)\.conv1x1\.(weight|bias)$", key):
            out[_dense_key(m[1], m[2], "1x1", m[3])] = value
        elif re.match(rf"model\.1\.sub\.{body_conv}\.(weight|bias)$", key):
            out[f"conv_body.{key.rsplit('.', 1)[1]}"] = value
        elif m := re.match(r"model\.(\d+)\.(weight|bias)$", key):
            name = "conv_first" if m[1] == "0" else tail_names[m[1]]
            out[f"{name}.{m[2]}"] = value
        else:
            out[key] = value
    return out


def _from_official(state: StateDict) -> StateDict:
    """`RRDB_trunk` layout (official ESRGAN, BSRGAN, RealSR): a rename, shapes unchanged."""
    out: StateDict = {}
    for key, value in state.items():
        if m := re.match(r"RRDB_trunk\.(\d+)\.RDB(\d)\.conv(\d|1x1)\.(weight|bias)$", key):
            out[_dense_key(m[1], m[2], m[3], m[4])] = value
        elif m := re.match(r"upconv(\d+)\.(weight|bias)$", key):
            out[f"conv_up{m[1]}.{m[2]}"] = value
        else:
            head, _, tail = key.partition(".")
            out[f"{_OFFICIAL_RENAMES.get(head, head)}.{tail}"] = value
    return out


_CONVERTERS: dict[str, Callable[[StateDict], StateDict]] = {
    "basicsr": dict, "esrgan-official": _from_official, "esrgan-original": _from_original,
}
"""Layout name -> conversion of its keys to the canonical (BasicSR) names."""
