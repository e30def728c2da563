"""`esrgan` command line: one sub-command per module in this package, each thin (parse, call, print)."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from esrgan.errors import EsrganError

SUBCOMMANDS: tuple[str, ...] = (
    "upscale", "models", "convert", "interpolate", "evaluate", "prepare", "sweep", "train", "export",
)
"""Modules of `esrgan.cli`, each exposing `register(subparsers)`; the parser they add sets `func(args) -> int`."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="esrgan", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"esrgan.cli.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except EsrganError as error:
        print(f"esrgan: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("esrgan: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
