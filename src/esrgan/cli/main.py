"""`esrgan` command line: one sub-command per module in this package, each thin (parse, call, print)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from esrgan.cli import SUMMARIES
from esrgan.errors import EsrganError

Register = Callable[[argparse._SubParsersAction], None]

SUBCOMMANDS: tuple[str, ...] = (
    "upscale", "models", "convert", "interpolate", "evaluate", "prepare", "sweep", "train", "export", "serve",
)
"""Modules of `esrgan.cli`, each exposing `register(subparsers)`; the parser they add sets `func(args) -> int`.
Their one-line summaries are `esrgan.cli.SUMMARIES`."""


def registrar(command: str) -> Register:
    """The `register` function of `command`'s module, imported here and only here: most of the modules bring
    in PyTorch (seconds of start-up), so `esrgan upscale` never pays for `esrgan train`'s imports."""
    match command:
        case "upscale":
            from esrgan.cli import upscale
            return upscale.register
        case "models":
            from esrgan.cli import models
            return models.register
        case "convert":
            from esrgan.cli import convert
            return convert.register
        case "interpolate":
            from esrgan.cli import interpolate
            return interpolate.register
        case "evaluate":
            from esrgan.cli import evaluate
            return evaluate.register
        case "prepare":
            from esrgan.cli import prepare
            return prepare.register
        case "sweep":
            from esrgan.cli import sweep
            return sweep.register
        case "train":
            from esrgan.cli import train
            return train.register
        case "export":
            from esrgan.cli import export
            return export.register
        case "serve":
            from esrgan.cli import serve
            return serve.register
    raise KeyError(command)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The `esrgan` parser. Only `command`'s module is imported (every module when None): the others are listed
    by their summaries alone, because importing one brings in PyTorch, seconds of start-up."""
    parser = argparse.ArgumentParser(prog="esrgan", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        if command is None or name == command:
            registrar(name)(subparsers)
        else:
            subparsers.add_parser(name, help=SUMMARIES[name], add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((word for word in argv if not word.startswith("-")), "")
    args = build_parser(command).parse_args(argv)
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
