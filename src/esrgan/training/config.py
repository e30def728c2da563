"""Training configuration: YAML in, typed and validated dataclasses out, once, at the edge.

A config file mirrors these dataclasses section by section (`generator:`, `data:`, `loss:`, ...), optionally
on top of another one (`base: esrgan_x4_gan`, see `BASE_KEY`), so that a variant says only what differs. Every key
is checked: an unknown key is refused with the allowed ones (and the closest match), a wrong type or an
out-of-range value is refused naming the key. Past `load_config` the code only sees `TrainConfig`.

Relative paths are taken from the current folder and stored absolute in the resolved config, which every
run writes to `<output_dir>/<name>/config.yaml`.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from esrgan.archs.registry import spec_class
from esrgan.archs.spec import ModelSpec, SpecError
from esrgan.defaults import Device, Precision
from esrgan.errors import ConfigError
from esrgan.training.losses import Criterion, GanType

Stage = Literal["psnr", "gan"]


@dataclass(frozen=True)
class GeneratorConfig:
    """The generator G: an architecture (a record in `esrgan.archs.registry`) and its hyper-parameters.

    In YAML the hyper-parameters sit beside `arch` (`num_feat: 64`); they are the record's own fields, checked
    by it, and the scale is `data.scale`. `pretrained` initialises G (stage 2 starts from the stage-1 weights).
    """

    arch: str = "rrdbnet"
    options: dict[str, Any] = field(default_factory=dict)
    pretrained: Path | None = None
    """Weights in any layout `esrgan.weights.layouts.load_checkpoint` reads (ours, BasicSR, the authors')."""

    def spec(self, scale: int) -> ModelSpec:
        """The generator's spec: the same value as one read from a checkpoint of this network."""
        return spec_class(self.arch).from_options({"scale": scale, **self.options}, "generator")


_GENERATOR_KEYS = ("arch", "pretrained")
_TRAINING_FIXED = ("scale", "in_channels", "out_channels")
"""Spec fields a training config does not set: the scale is data.scale, and training reads RGB images."""


@dataclass(frozen=True)
class DiscriminatorConfig:
    """The VGG-style discriminator C(x) of the GAN stage; its input is the HR patch."""

    num_feat: int = 64


@dataclass(frozen=True)
class DataConfig:
    train_hr: Path = Path("datasets/DIV2K/DIV2K_train_HR")
    train_lr: Path | None = None
    """LR images with the same file stems as `train_hr`; None makes them with MATLAB bicubic on the fly."""
    scale: int = 4
    patch_size: int = 128
    """Side of the HR crop; the LR crop is patch_size / scale."""
    batch_size: int = 16
    """Global batch: split evenly over the processes of a distributed run."""
    flip: bool = True
    rotate: bool = True
    workers: int = 4
    """DataLoader worker processes per training process (0 reads in the training process)."""
    cache_images: bool = False
    """Keep decoded images (and their bicubic LR) in memory, per worker: for small data sets that fit."""


@dataclass(frozen=True)
class LossConfig:
    """Weights of the losses. PSNR stage: `pixel_weight`·L_1 only. GAN stage: eq. (3),
    L_G = perceptual_weight·L_percep + adversarial_weight·L_G^Ra (λ) + pixel_weight·L_1 (η)."""

    pixel_weight: float = 1.0
    perceptual_weight: float = 1.0
    perceptual_layers: dict[str, float] = field(default_factory=lambda: {"conv5_4": 1.0})
    """VGG19 layer -> weight. `convB_I` takes the features before the activation (ESRGAN's conv5_4),
    `reluB_I` after it (SRGAN's relu5_4), `poolB` after the pooling; several layers are summed with their
    weights."""
    perceptual_criterion: Criterion = "l1"
    vgg_weights: str = "random"
    """`imagenet` (torchvision's `vgg19-dcbb9e9d.pth`, fetched once into the model cache and checked), a path
    to a VGG19 file in that layout (a MINC-tuned VGG19), or `random` (an untrained VGG19: for tests and
    offline demos only, it is not the paper's perceptual loss)."""
    adversarial_weight: float = 5e-3
    gan_type: GanType = "relativistic_average"
    """`relativistic_average` (ESRGAN, eq. 1-2) or `standard` (SRGAN: D(x) = σ(C(x)), L_D = −log D(x_r) −
    log(1 − D(x_f)), L_G = −log D(x_f)); `adversarial_weight` weighs G's term of either."""
    average_gan_terms: bool = False
    """Halve L_D^Ra and L_G^Ra as the authors' code and BasicSR do; the paper sums the two terms. With the
    standard GAN it halves L_D."""


@dataclass(frozen=True)
class OptimConfig:
    """Adam for G (and D), learning rates multiplied by `gamma` at each milestone (MultiStepLR)."""

    lr_g: float = 2e-4
    lr_d: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    milestones: tuple[int, ...] = (200_000, 400_000, 600_000, 800_000)
    gamma: float = 0.5


@dataclass(frozen=True)
class TrainingConfig:
    iterations: int = 1_000_000
    max_minutes: float | None = None
    """Wall-clock budget: when spent, save a checkpoint and stop as if `iterations` were reached."""
    ema_decay: float = 0.0
    """Exponential moving average of G's weights (0 turns it off); validation and `net_g` use the EMA."""
    discriminator_warmup: int = 0
    """GAN stage: first iterations that train only C, so that G's first adversarial gradients come from a
    discriminator that already tells its output from HR, not from a random one (BasicSR's net_d_init_iters)."""


@dataclass(frozen=True)
class ValidationConfig:
    folder: Path | None = None
    """HR images; their LR inputs are made with MATLAB bicubic. None: no validation."""
    every: int = 5000
    save_images: int = 3
    """How many of the SR images to save at each validation."""
    niqe: bool = False


@dataclass(frozen=True)
class CheckpointConfig:
    every: int = 5000
    keep_last: int = 3


@dataclass(frozen=True)
class LoggingConfig:
    every: int = 100
    tensorboard: bool = True
    """Scalars and images for TensorBoard when the `tensorboard` package is installed; the text log always."""
    progress_bar: bool = True


@dataclass(frozen=True)
class TrainConfig:
    name: str = "esrgan"
    output_dir: Path = Path("runs")
    stage: Stage = "psnr"
    seed: int = 0
    device: Device = "auto"
    """Where to train, as for inference (`esrgan.hardware.resolve_device`); a torchrun process takes its
    LOCAL_RANK's GPU."""
    precision: Precision = "fp32"
    """As for inference (`esrgan.hardware.resolve_precision`); fp16 adds loss scaling. The default is fp32, not
    auto: a run trains in reduced precision only when its config asks for it."""
    generator: GeneratorConfig = GeneratorConfig()
    discriminator: DiscriminatorConfig = DiscriminatorConfig()
    data: DataConfig = DataConfig()
    loss: LossConfig = LossConfig()
    optim: OptimConfig = OptimConfig()
    training: TrainingConfig = TrainingConfig()
    validation: ValidationConfig = ValidationConfig()
    checkpoint: CheckpointConfig = CheckpointConfig()
    logging: LoggingConfig = LoggingConfig()

    @property
    def run_dir(self) -> Path:
        return self.output_dir / self.name

    @property
    def generator_spec(self) -> ModelSpec:
        return self.generator.spec(self.data.scale)


PACKAGED_CONFIGS = "esrgan.training.configs"


def packaged_config_names() -> list[str]:
    """The configs shipped with the package, by name without `.yaml`."""
    folder = resources.files(PACKAGED_CONFIGS)
    return sorted(entry.name[: -len(".yaml")] for entry in folder.iterdir() if entry.name.endswith(".yaml"))


BASE_KEY = "base"
"""Top-level key naming the config a file builds on: a packaged config's name or a YAML path (relative to the
file). The file's sections are merged into the base's key by key; the `generator` section replaces the
base's whole when it names another `arch` (hyper-parameters belong to an architecture)."""


def load_config(source: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Read a YAML file, or a packaged config by name (`esrgan_x4_psnr`), on top of its `base` if it names
    one, apply `key.sub=value` overrides (values in YAML syntax), and return the validated config."""
    raw, where = _read_raw(source, Path(), ())
    for override in overrides:
        _apply_override(raw, override)
    return config_from_dict(raw, where)


def _read_raw(source: str | Path, folder: Path | None, chain: tuple[str, ...]) -> tuple[dict[str, Any], str]:
    """The plain data of a config file with its bases merged in, and the file's name for messages. `folder`
    resolves a relative path; None (the base of a packaged config) looks among the packaged configs only.
    `chain` holds the files that led here, to refuse a loop."""
    path = None if folder is None else folder / source
    if path is not None and path.is_file():
        text, where = path.read_text(encoding="utf-8"), str(path)
    elif str(source) in packaged_config_names():
        text = resources.files(PACKAGED_CONFIGS).joinpath(f"{source}.yaml").read_text(encoding="utf-8")
        where, path = f"{source}.yaml (packaged)", None
    else:
        within = f"{Path(chain[-1]).name}: {BASE_KEY} " if chain else ""
        raise ConfigError(f"{within}config {source}: no such file, and not a packaged config "
                          f"({', '.join(packaged_config_names())})")
    identity = where if path is None else str(path.resolve())
    if identity in chain:
        raise ConfigError(f"{where}: its bases form a loop ({' -> '.join((*chain, identity))})")
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{where}: not valid YAML: {error}") from None
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: the top level must be a mapping of sections, got {type(raw).__name__}")
    if BASE_KEY not in raw:
        return raw, where
    base = raw.pop(BASE_KEY)
    if not isinstance(base, str) or not base:
        raise ConfigError(f"{where}: {BASE_KEY} must be the name of a packaged config or a YAML path, got {base!r}")
    base_raw, _ = _read_raw(base, None if path is None else path.parent, (*chain, identity))
    return _on_top_of(base_raw, raw), where


def _on_top_of(base: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """`child`'s values over `base`'s, one section deep (a mapping value such as `perceptual_layers` is replaced,
    not merged); a `generator` naming another arch replaces the base's generator section whole."""
    merged = dict(base)
    for key, value in child.items():
        inherited = base.get(key)
        another_arch = key == "generator" and isinstance(value, dict) and isinstance(inherited, dict) and (
            "arch" in value and value["arch"] != inherited.get("arch", GeneratorConfig.arch))
        if isinstance(value, dict) and isinstance(inherited, dict) and not another_arch:
            merged[key] = inherited | value
        else:
            merged[key] = value
    return merged


def config_from_dict(raw: dict[str, Any], where: str = "config") -> TrainConfig:
    """Typed, validated config from plain data (parsed YAML)."""
    config = _absolute_paths(_parse_dataclass(TrainConfig, raw, where, ""))
    _check_values(config, where)
    # Every hyper-parameter spelt out, defaults included: the resolved config says what was built.
    spec = config.generator_spec
    options = {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec) if f.name not in _TRAINING_FIXED}
    return dataclasses.replace(config, generator=dataclasses.replace(config.generator, options=options))


def _absolute_paths(section: Any) -> Any:
    """Defaults too: the resolved config must say where things were, whatever the current folder later is."""
    changes = {}
    for f in dataclasses.fields(section):
        value = getattr(section, f.name)
        if isinstance(value, Path):
            changes[f.name] = Path(os.path.abspath(value.expanduser()))  # folds "..", keeps symlinks
        elif dataclasses.is_dataclass(value):
            changes[f.name] = _absolute_paths(value)
    return dataclasses.replace(section, **changes)


def config_to_dict(config: TrainConfig) -> dict[str, Any]:
    """Plain YAML-ready data, the inverse of `config_from_dict` (paths as strings, tuples as lists)."""

    def plain(value: Any) -> Any:
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, (tuple, list)):
            return [plain(item) for item in value]
        if isinstance(value, dict):
            return {key: plain(item) for key, item in value.items()}
        return value

    data = plain(dataclasses.asdict(config))
    generator = data["generator"]
    data["generator"] = {"arch": generator["arch"], **generator["options"], "pretrained": generator["pretrained"]}
    return data


def dump_config(config: TrainConfig) -> str:
    return yaml.safe_dump(config_to_dict(config), sort_keys=False)


def _apply_override(raw: dict[str, Any], override: str) -> None:
    key, sep, text = override.partition("=")
    if not sep or not key:
        raise ConfigError(f"override {override!r}: write it as section.key=value, e.g. training.iterations=1000")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"override {override!r}: the value is not valid YAML: {error}") from None
    *parents, last = key.split(".")
    node = raw
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {override!r}: {part} is not a section")
    node[last] = value


# --- YAML → dataclasses ----------------------------------------------------------------------------------


def _parse_dataclass(cls: type[Any], raw: Any, source: str, prefix: str) -> Any:
    name = prefix.rstrip(".") or "the top level"
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: {name} must be a mapping of keys, got {raw!r}")
    if cls is GeneratorConfig:
        return _parse_generator(raw, source, prefix)
    hints = typing.get_type_hints(cls)
    allowed = [f.name for f in dataclasses.fields(cls)]
    for key in raw:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(
                f"{source}: unknown key {prefix}{key!r}{hint}; allowed keys in {name}: {', '.join(allowed)}"
            )
    values = {key: _convert(value, hints[key], source, f"{prefix}{key}") for key, value in raw.items()}
    return cls(**values)


def _parse_generator(raw: dict[str, Any], source: str, prefix: str) -> GeneratorConfig:
    """`arch` and `pretrained` are ours; every other key is a hyper-parameter that the record checks."""
    arch = raw.get("arch", GeneratorConfig.arch)
    try:
        record = spec_class(arch)
    except SpecError as error:
        raise ConfigError(f"{source}: {prefix}arch: {error}") from None
    options = {key: value for key, value in raw.items() if key not in _GENERATOR_KEYS}
    fixed = [key for key in options if key in _TRAINING_FIXED]
    if fixed:
        raise ConfigError(f"{source}: {prefix}{fixed[0]} cannot be set here: the scale is data.scale and training "
                          "reads RGB images (3 channels in and out)")
    try:
        record.from_options(options | {"scale": record.supported_scales[0]}, f"{source}: {prefix.rstrip('.')}")
    except SpecError as error:
        raise ConfigError(str(error)) from None
    pretrained = raw.get("pretrained")
    return GeneratorConfig(arch, options, None if pretrained is None else _convert(pretrained, Path, source,
                                                                                   f"{prefix}pretrained"))


def _convert(value: Any, hint: Any, source: str, key: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _parse_dataclass(hint, value, source, f"{key}.")
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [arg for arg in args if arg is not type(None)]
        return _convert(value, inner, source, key)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{source}: {key} = {value!r} is not allowed; choose one of {', '.join(map(str, args))}")
        return value
    if hint is bool and isinstance(value, bool):
        return value
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint is str and isinstance(value, str):
        return value
    if hint is Path and isinstance(value, str) and value:
        return Path(value)
    if origin is tuple and isinstance(value, (list, tuple)):
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(item, args[0], source, f"{key}[{i}]") for i, item in enumerate(value))
        if len(value) == len(args):
            return tuple(_convert(item, arg, source, f"{key}[{i}]") for i, (item, arg) in enumerate(zip(value, args)))
    if origin is dict and isinstance(value, dict):
        return {_convert(k, args[0], source, f"{key} key"): _convert(v, args[1], source, f"{key}.{k}")
                for k, v in value.items()}
    raise ConfigError(f"{source}: {key} must be {_describe(hint)}, got {value!r} ({type(value).__name__})")


def _describe(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_describe(args[0])}s"
        return f"a list of {len(args)} values ({', '.join(_describe(arg) for arg in args)})"
    if origin is dict:
        return f"a mapping of {_describe(args[0])} to {_describe(args[1])}"
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string", Path: "a path",
             type(None): "null"}
    return names.get(hint, getattr(hint, "__name__", str(hint)))


# --- values that the types alone do not rule out --------------------------------------------------------


def _check_values(config: TrainConfig, source: str) -> None:
    data, optim, loss = config.data, config.optim, config.loss
    checks: list[tuple[bool, str]] = [
        (config.name.strip() not in ("", ".", "..") and not any(c in config.name for c in "/\\"),
         f"name = {config.name!r}: must be a plain folder name (no '/', '\\', '.' or '..'), inside output_dir"),
        (data.patch_size > 0 and data.patch_size % data.scale == 0,
         f"data.patch_size = {data.patch_size} must be a positive multiple of data.scale = {data.scale}"),
        (data.batch_size > 0, "data.batch_size must be positive"),
        (data.workers >= 0, "data.workers must be >= 0"),
        (config.discriminator.num_feat > 0, "discriminator.num_feat must be positive"),
        (optim.lr_g > 0 and optim.lr_d > 0, "optim.lr_g and optim.lr_d must be positive"),
        (all(0 <= beta < 1 for beta in optim.betas), "optim.betas must lie in [0, 1)"),
        (list(optim.milestones) == sorted(set(optim.milestones)) and all(m > 0 for m in optim.milestones),
         "optim.milestones must be increasing positive iteration numbers"),
        (0 < optim.gamma <= 1, "optim.gamma must lie in (0, 1]"),
        (config.training.iterations > 0, "training.iterations must be positive"),
        (config.training.max_minutes is None or config.training.max_minutes > 0,
         "training.max_minutes must be positive"),
        (0 <= config.training.ema_decay < 1, "training.ema_decay must lie in [0, 1) (0 turns EMA off)"),
        (config.training.discriminator_warmup >= 0, "training.discriminator_warmup must be >= 0"),
        (config.validation.every > 0 and config.validation.save_images >= 0,
         "validation.every must be positive and validation.save_images >= 0"),
        (config.checkpoint.every > 0 and config.checkpoint.keep_last > 0,
         "checkpoint.every and checkpoint.keep_last must be positive"),
        (config.logging.every > 0, "logging.every must be positive"),
        (min(loss.pixel_weight, loss.perceptual_weight, loss.adversarial_weight) >= 0, "loss weights must be >= 0"),
        (bool(loss.perceptual_layers),
         "loss.perceptual_layers must name at least one VGG19 layer, e.g. {conv5_4: 1.0}"),
        (all(weight >= 0 for weight in loss.perceptual_layers.values())
         and any(weight > 0 for weight in loss.perceptual_layers.values()),
         "loss.perceptual_layers weights must be >= 0, at least one of them positive"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(f"{source}: {message}")
    try:
        config.generator.spec(data.scale)
    except SpecError as error:
        raise ConfigError(
            f"{source}: data.scale = {data.scale} with generator {config.generator.arch}: {error}"
        ) from None
    if config.stage == "gan":
        from esrgan.archs.discriminator import VGGStyleDiscriminator
        from esrgan.archs.vgg import VGG19_LAYER_NAMES

        if data.patch_size not in VGGStyleDiscriminator.SUPPORTED_INPUT_SIZES:
            raise ConfigError(
                f"{source}: data.patch_size = {data.patch_size}: the discriminator takes HR patches of "
                f"{' or '.join(map(str, VGGStyleDiscriminator.SUPPORTED_INPUT_SIZES))} pixels"
            )
        unknown = [name for name in loss.perceptual_layers if name not in VGG19_LAYER_NAMES]
        if unknown:
            raise ConfigError(
                f"{source}: loss.perceptual_layers: unknown VGG19 layer(s) {', '.join(unknown)}; "
                f"choose among {', '.join(VGG19_LAYER_NAMES)}"
            )
        if loss.vgg_weights not in ("random", "imagenet") and not Path(loss.vgg_weights).expanduser().is_file():
            raise ConfigError(
                f"{source}: loss.vgg_weights = {loss.vgg_weights!r}: no such file; give `imagenet` (torchvision's "
                "vgg19-dcbb9e9d.pth, downloaded once), the path of a VGG19 file, or `random` (an untrained "
                "VGG19, tests and offline demos only)"
            )
