"""Every generator architecture the package knows: the list of records, and lookups in it.

Adding an architecture is a folder beside `rrdbnet/` with its module and its `ModelSpec` subclass (the
record), and one line here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import torch

from esrgan.archs.compact.record import CompactSpec
from esrgan.archs.rrdbnet.record import RRDBNetSpec
from esrgan.archs.spec import ModelSpec, SpecError
from esrgan.archs.srresnet.record import SRResNetSpec

ARCHITECTURES: tuple[type[ModelSpec], ...] = (RRDBNetSpec, SRResNetSpec, CompactSpec)


def spec_class(arch: str) -> type[ModelSpec]:
    for record in ARCHITECTURES:
        if record.arch == arch:
            return record
    raise SpecError(f"unknown architecture {arch!r}; known: {', '.join(r.arch for r in ARCHITECTURES)}")


def all_layouts() -> tuple[str, ...]:
    return tuple(layout for record in ARCHITECTURES for layout in record.layouts)


def recognise(state: Mapping[str, torch.Tensor]) -> tuple[type[ModelSpec], str] | None:
    """The record and key layout of a state dict, or None when no architecture recognises it."""
    for record in ARCHITECTURES:
        if (layout := record.recognise(state)) is not None:
            return record, layout
    return None


def spec_from_metadata(metadata: Mapping[str, str]) -> ModelSpec | None:
    """The spec stored by `ModelSpec.as_metadata`; None when the metadata holds none."""
    if "esrgan.arch" not in metadata:
        return None
    values = {key[len("esrgan."):]: value for key, value in metadata.items() if key.startswith("esrgan.")}
    record = spec_class(values.pop("arch"))
    # Keys the record does not have are left out: files written before a field moved (SRResNet's unused
    # `num_grow_ch`) still load. Metadata confirms what the tensors show, and supplies only what they cannot
    # (a record's `metadata_only` fields, such as RRDBNet's residual scale).
    fields = {f.name for f in dataclasses.fields(record)}
    return record.from_options({key: value for key, value in values.items() if key in fields}, "metadata")
