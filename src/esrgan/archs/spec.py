"""`ModelSpec`: the record of one generator architecture, and the typed description of one generator.

Each architecture folder (`rrdbnet/`, `srresnet/`, `compact/`) defines one subclass in its `record.py`. The
class is the record: everything the rest of the package knows about that architecture is asked of it —
how to build it, how to recognise its state dicts and read its hyper-parameters off the tensor shapes, its
key layouts and their conversion to the canonical one, how to describe it, its input size multiple, its
supported scales, whether it tiles, what it costs in memory, and its NCNN graph form. An instance is one
generator's hyper-parameters: equal specs mean interchangeable weights, whether the spec was read from a
file, from a training config or from the zoo.

`registry.py` lists the records; nothing else names an architecture.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from esrgan.archs.ncnn_graph import NcnnGraph

StateDict = dict[str, torch.Tensor]


class SpecError(ValueError):
    """Hyper-parameters that no generator of the architecture has (a scale it cannot do, a width of 0)."""


@dataclass(frozen=True)
class ModelSpec:
    """What every generator has: scale and channel counts. Subclasses add their own hyper-parameters."""

    scale: int = 4
    in_channels: int = 3
    out_channels: int = 3

    arch: ClassVar[str]
    """Short name stored in metadata, the zoo and training configs (`rrdbnet`)."""
    title: ClassVar[str]
    """Name for people (`RRDBNet`)."""
    supported_scales: ClassVar[tuple[int, ...]]
    layouts: ClassVar[tuple[str, ...]]
    """Names of the key layouts `recognise` tells apart; the first is the canonical one."""
    tiles: ClassVar[bool] = True
    """Whether tiled inference with enough context pad matches a whole-image pass (a local receptive field)."""
    metadata_only: ClassVar[tuple[str, ...]] = ()
    """Hyper-parameters the tensors do not show (RRDBNet's residual scale β): a file's metadata supplies them
    (`completed_by`), and a file without metadata gets the defaults."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value <= 0:
                raise SpecError(f"{self.title}: {f.name} must be positive, not {value}")
        if self.scale not in self.supported_scales:
            raise SpecError(
                f"{self.title} supports scales {', '.join(map(str, self.supported_scales))}, not {self.scale}"
            )

    # --- what the rest of the package asks of a record ----------------------------------------------------

    @classmethod
    def recognise(cls, state: Mapping[str, torch.Tensor]) -> str | None:
        """The name of the key layout `state` is in, when it is a state dict of this architecture."""
        raise NotImplementedError

    @classmethod
    def from_state_dict(cls, state: StateDict, layout: str) -> tuple[ModelSpec, StateDict]:
        """The spec read off the tensor shapes of `state` (in `layout`), and `state` with canonical keys."""
        raise NotImplementedError

    def build(self) -> nn.Module:
        """A freshly initialised generator with these hyper-parameters."""
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    @property
    def input_multiple(self) -> int:
        """Input height and width must be multiples of this (networks that pixel-unshuffle their input)."""
        return 1

    def activation_bytes_per_input_pixel(self, element_size: int) -> int:
        """Peak activation memory per input pixel, for choosing tile sizes; an upper estimate."""
        raise NotImplementedError

    def inference_module(self, model: nn.Module) -> nn.Module:
        """The module a graph runtime (OpenVINO) should convert: the same function, maybe in a faster form."""
        return model

    @classmethod
    def from_ncnn(cls, graph: NcnnGraph) -> tuple[ModelSpec, StateDict] | None:
        """Spec and canonical state dict of an NCNN graph of this architecture; None when the graph is not one.

        Raises `NcnnMismatch` for a graph that has this architecture's signature but computes something else.
        Default: the architecture has no NCNN form.
        """
        return None

    def to_ncnn(self, state: StateDict) -> NcnnGraph:
        """This generator with weights `state` as an NCNN graph (input blob `data`, output blob `output`)."""
        raise SpecError(f"{self.describe()} has no NCNN form here; export it to ONNX instead")

    # --- metadata: the spec as strings, as safetensors stores it --------------------------------------------

    def completed_by(self, stated: ModelSpec) -> ModelSpec:
        """This spec, read off the tensors, with the `metadata_only` fields of `stated` (the file's metadata)."""
        if type(stated) is not type(self) or not self.metadata_only:
            return self
        return dataclasses.replace(self, **{name: getattr(stated, name) for name in self.metadata_only})

    def as_metadata(self) -> dict[str, str]:
        """String-only form, as safetensors metadata requires."""
        values = {"arch": self.arch} | {f.name: str(getattr(self, f.name)) for f in dataclasses.fields(self)}
        return {f"esrgan.{key}": value for key, value in values.items()}

    @classmethod
    def from_options(cls, options: Mapping[str, Any], where: str) -> ModelSpec:
        """A spec from named values (a config section, metadata), each checked against the field's type."""
        hints = typing.get_type_hints(cls)
        fields = [f.name for f in dataclasses.fields(cls)]
        values: dict[str, Any] = {}
        for key, value in options.items():
            if key not in fields:
                raise SpecError(f"{where}: {cls.title} has no hyper-parameter {key!r}; it has {', '.join(fields)}")
            values[key] = _typed(value, hints[key], f"{where}: {key}")
        return cls(**values)


def _typed(value: Any, hint: Any, where: str) -> Any:
    """`value` as the field type `hint` (int, float, bool or optional int), from Python values or metadata
    strings."""
    accepted = typing.get_args(hint) or (hint,)
    if value is None or value == "None":
        if type(None) in accepted:
            return None
        raise SpecError(f"{where} must be given")
    if bool in accepted:
        if isinstance(value, bool):
            return value
        if value in ("True", "False"):
            return value == "True"
        raise SpecError(f"{where} must be true or false, not {value!r}")
    if float in accepted:
        try:
            number = float(value) if isinstance(value, (int, float, str)) and not isinstance(value, bool) else None
        except ValueError:
            number = None
        if number is None or not math.isfinite(number):
            raise SpecError(f"{where} must be a finite number, not {value!r}")
        return number
    if isinstance(value, bool):
        raise SpecError(f"{where} must be an integer, not {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise SpecError(f"{where} must be an integer, not {value!r}")
