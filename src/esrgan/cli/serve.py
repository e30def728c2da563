"""`esrgan serve`: a local web page to upscale images, compare them with bicubic, and blend two models of one
architecture with a slider (network interpolation, paper eq. 4)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from esrgan.cli import SUMMARIES
from esrgan.cli.options import add_runtime_arguments, runtime_options
from esrgan.errors import ConfigError

DEFAULT_PORT = 8000
DEFAULT_MAX_UPLOAD_MB = 200.0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("serve", help=SUMMARIES["serve"], description=__doc__)
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: 127.0.0.1, this machine only; another one is "
                             "reachable by others, with a warning)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default: {DEFAULT_PORT}; 0 = any free port")
    parser.add_argument("--open", action="store_true", help="open the page in the default web browser")
    parser.add_argument("--weights", "-w", action="append", default=[], metavar="PATH",
                        help="a checkpoint to offer beside the zoo's models (repeat for more); two of one "
                             "architecture can be blended with the page's slider")
    parser.add_argument("--max-upload-mb", type=float, default=DEFAULT_MAX_UPLOAD_MB,
                        help=f"refuse uploads larger than this many megabytes (default: {DEFAULT_MAX_UPLOAD_MB:g})")
    add_runtime_arguments(parser)
    # The page re-blends the weights at every move of the slider; OpenVINO compiles the weights into its graph,
    # so each new alpha would cost a conversion (seconds to a minute) before the run starts.
    parser.set_defaults(func=run, backend="torch")
    for action in parser._actions:  # argparse has no public way to reword an inherited option's help
        if action.dest == "backend":
            action.help = ("torch (default here: the slider changes the weights, which OpenVINO would "
                           "re-convert each time), openvino or auto")


def run(args: argparse.Namespace) -> int:
    options = runtime_options(args)
    if not (math.isfinite(args.max_upload_mb) and args.max_upload_mb > 0):
        raise ConfigError(f"--max-upload-mb must be a positive number, not {args.max_upload_mb}")
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port must lie in 0..65535, not {args.port}")
    try:
        from esrgan.serve.catalogue import Catalogue
        from esrgan.serve.server import serve
    except ModuleNotFoundError as error:
        raise ConfigError(f"esrgan serve needs {error.name}: pip install 'esrgan[serve]'") from None

    try:
        serve(Catalogue([Path(p) for p in args.weights]), options, host=args.host, port=args.port,
              open_browser=args.open, max_bytes=int(args.max_upload_mb * 1e6), max_pixels=int(args.max_pixels))
    except KeyboardInterrupt:
        pass  # uvicorn has stopped cleanly: Ctrl-C is how a server is meant to end
    return 0
