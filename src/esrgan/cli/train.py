"""`esrgan train CONFIG`: train a generator as the paper does (PSNR stage, then GAN stage) from a YAML config.

Several processes: `torchrun --nproc_per_node=N -m esrgan train CONFIG` (see esrgan.training.distributed).
"""

from __future__ import annotations

import argparse

from esrgan.cli import SUMMARIES
from esrgan.training.config import load_config, packaged_config_names


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train", help=SUMMARIES["train"], description=__doc__)
    parser.add_argument("config", metavar="CONFIG",
                        help=f"a YAML file, or a packaged config: {', '.join(packaged_config_names())}")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run from its newest readable checkpoint (weights, optimisers, data "
                             "order, ...); settings that shaped it cannot change, iterations and logging can")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set data.train_hr=path --set training.iterations=1000")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.overrides)
    # Imported after the config is validated: a mistake in it is reported without loading torch's machinery.
    from esrgan.training.loop import train

    result = train(config, resume=args.resume)
    if result.interrupted:
        print(f"interrupted at iteration {result.iteration}; saved {result.checkpoint}; "
              f"continue with: esrgan train {args.config} --resume")
        return 130
    print(f"finished at iteration {result.iteration}; generator: {result.run_dir / 'net_g.safetensors'}")
    return 0
