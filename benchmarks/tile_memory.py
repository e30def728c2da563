"""Peak memory of upscaling a large image tile by tile through the public API (issue target: < 3 GB).

    python benchmarks/tile_memory.py                       # 2000×2000, --tile 256, realesrgan-x4plus
    python benchmarks/tile_memory.py --size 1000 --tile 0  # compare: the whole image in one pass

Prints the process's peak RSS and what it is made of: the loaded model, the input, the assembled uint8
output (written tile by tile into its final array, never held as float32), and the working memory of one
tile, which is what the tile size bounds.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

import esrgan
from esrgan.inference.tiling import tile_grid

LIMIT_BYTES = 3 * 2**30


def status_bytes(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status (Linux only)")


def mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def photo_like(size: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    base = np.stack([np.sin(9 * x + c) * np.cos(7 * y - c) for c in range(3)], axis=2)
    return np.clip(127.5 + 100 * base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=2000, help="input side in pixels (default 2000)")
    parser.add_argument("--tile", type=int, default=256, help="tile side (default 256; 0 = whole image)")
    parser.add_argument("--model", default="realesrgan-x4plus", help="zoo name or checkpoint path")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--backend", default="auto")
    args = parser.parse_args(argv)

    options = esrgan.UpscaleOptions(tile=args.tile, precision=args.precision, device="cpu", backend=args.backend)
    upscaler = esrgan.load_model(args.model, options=options, progress=False)
    image = photo_like(args.size)
    loaded = status_bytes("VmRSS")
    tiles = len(tile_grid(args.size, args.size, upscaler.tile, upscaler.tile_pad, upscaler.multiple))
    print(f"{args.model} on {args.size}x{args.size}: tile {upscaler.tile}, pad {upscaler.tile_pad}, {tiles} tiles, "
          f"{upscaler.dtype}, backend {upscaler.backend.name}; {os.cpu_count()} CPUs, "
          f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    Path("/proc/self/clear_refs").write_text("5")  # peak RSS from here on
    start = time.perf_counter()

    def progress(done: int, total: int) -> None:
        if done == total or done % max(1, total // 8) == 0:
            print(f"  {done}/{total} tiles, {time.perf_counter() - start:.0f} s, RSS {mib(status_bytes('VmRSS'))}",
                  flush=True)

    output = upscaler.upscale(image, on_tile=progress)
    elapsed = time.perf_counter() - start
    peak = status_bytes("VmHWM")
    print(f"output {output.shape[1]}x{output.shape[0]} {output.dtype} ({mib(output.nbytes)}) in {elapsed:.0f} s")
    print(f"RSS with model and input loaded: {mib(loaded)}")
    print(f"peak RSS while upscaling:        {mib(peak)}  (target < {mib(LIMIT_BYTES)}: "
          f"{'met' if peak < LIMIT_BYTES else 'NOT met'})")
    print(f"  of which output array:         {mib(output.nbytes)} "
          f"(as float32 it would be {mib(output.nbytes * 4)})")
    print(f"  of which the network at work:  {mib(peak - loaded - output.nbytes)} (one tile's activations; "
          "with OpenVINO also its compiled builds)")
    return 0 if peak < LIMIT_BYTES else 1


if __name__ == "__main__":
    sys.exit(main())
