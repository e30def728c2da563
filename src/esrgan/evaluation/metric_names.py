"""The metric names `evaluate` and `sweep` accept, and the one parser of a `--metrics` list."""

from __future__ import annotations

from esrgan.errors import ConfigError

ALL_METRICS: tuple[str, ...] = ("psnr", "ssim", "rmse", "niqe", "ma", "pi")
"""Every score, in report order: full-reference ones first, and PI after the NIQE and Ma it combines."""


def parse_metrics(text: str, allowed: tuple[str, ...] = ALL_METRICS) -> tuple[str, ...]:
    """`"NIQE, psnr,psnr"` → `("psnr", "niqe")`: the names in `allowed`'s order, once each; an unknown or
    empty list is a `ConfigError` naming the allowed values."""
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in allowed]
    if unknown or not names:
        raise ConfigError(f"unknown metric {', '.join(unknown) or '(none given)'} in {text!r}; "
                          f"choose from {', '.join(allowed)}")
    return tuple(metric for metric in allowed if metric in names)
