"""Images per second for a folder of small images: one process against several worker processes.

    python benchmarks/scale_out.py                                  # 200 images of 128² LR, compact model
    python benchmarks/scale_out.py --images 40 --model realesrgan-x4plus --workers 2 4

Each case is the whole command a user runs, `esrgan upscale FOLDER -o OUT --quiet` (default precision and
backend), in a fresh process, so start-up (PyTorch, the model, per worker) is included: that is what a user
waits for. Cases alternate round by round, since a shared machine's speed drifts. The figure per case is the
median wall time over the rounds; "vs 1" is the one-process time over the case's time. On a GPU machine,
pass `--devices all` to compare one GPU against all of them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def make_images(folder: Path, count: int, side: int) -> None:
    """Photo-like LR images: smooth gradients with texture, each different."""
    folder.mkdir(parents=True)
    y, x = np.mgrid[0:side, 0:side] / side
    for index in range(count):
        rng = np.random.default_rng(index)
        base = np.stack([np.sin(6 * x + index), np.cos(5 * y - index), np.sin(4 * (x + y))], -1) * 0.35 + 0.5
        image = np.clip(base + rng.normal(0, 0.05, base.shape), 0, 1)
        Image.fromarray((image * 255).astype(np.uint8)).save(folder / f"{index:04d}.png")


def run(folder: Path, output: Path, model: str, extra: list[str]) -> float:
    shutil.rmtree(output, ignore_errors=True)
    command = [sys.executable, "-m", "esrgan", "upscale", str(folder), "-o", str(output), "--model", model,
               "--quiet", *extra]
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--size", type=int, default=128, help="LR side in pixels (default 128)")
    parser.add_argument("--model", default="realesr-animevideov3")
    parser.add_argument("--workers", type=int, nargs="+", default=[os.cpu_count() or 2],
                        help="worker counts to compare with one process (default: one per core)")
    parser.add_argument("--devices", default=None, help="e.g. all: also pass --devices to the worker cases")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    cases = {"1 process": []} | {f"--workers {n}": ["--workers", str(n)] for n in args.workers}
    if args.devices:
        cases = {name: extra + ["--devices", args.devices] if extra else extra for name, extra in cases.items()}
    times: dict[str, list[float]] = {name: [] for name in cases}
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp) / "in"
        make_images(folder, args.images, args.size)
        run(folder, Path(temp) / "warm", args.model, ["--workers", "1"])  # the model's conversion is cached
        for _ in range(args.rounds):
            for name, extra in cases.items():
                times[name].append(run(folder, Path(temp) / "out", args.model, extra))
    load = os.getloadavg()[0]
    print(f"{args.images} images {args.size}² → ×4, {args.model}, {os.cpu_count()} CPUs, load average {load:.1f}, "
          f"median of {args.rounds} rounds, start-up included")
    one = statistics.median(times["1 process"])
    for name, values in times.items():
        seconds = statistics.median(values)
        print(f"{name:14s} {seconds:7.1f} s  {args.images / seconds:6.2f} images/s  {one / seconds:5.2f}× vs 1")
    return 0


if __name__ == "__main__":
    sys.exit(main())
