"""Would depth-first execution make large images as fast per pixel as small ones? An OpenVINO experiment.

    python benchmarks/depth_first.py                          # 2 RRDBs on a 480×640 LR map, tiles of 128
    python benchmarks/depth_first.py --size 256x256 --tile 128
    python benchmarks/depth_first.py --crop slice             # tiles cut with slices instead of negative pads

Layer by layer, each convolution of RRDBNet reads and writes whole feature maps; past about 128² LR these no
longer fit the L2 caches and the convolutions slow down (README, "Performance"). Depth-first execution runs
a dense block over one cache-sized tile at a time, so its five convolutions find their inputs in cache. A
dense block has five 3×3 convolutions, so a tile needs 5 pixels of context on each side to come out exact:
that much is computed twice at every seam. Neither OpenVINO nor PyTorch schedules convolutions depth-first,
so here the tiles are written into the graph itself (crop with context, dense block, crop, concatenate) and
OpenVINO runs them one tile after the other.

Prints, for the same network run both ways (OpenVINO, bf16, static shapes), the median time and where it
goes by OpenVINO's per-layer counters: convolutions, the crops and concatenations the tiles need, and the
rest. Random weights (the speed does not depend on them); the two forms are checked to compute the same
function first.
"""

from __future__ import annotations

import argparse
import collections
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from esrgan.archs.rrdbnet.concat_free import ConcatFreeDenseBlock, ConcatFreeRRDB
from esrgan.archs.rrdbnet.model import RRDB
from esrgan.inference.tiling import split_evenly

DENSE_BLOCK_CONTEXT = 5
"""3×3 convolutions in a dense block: pixels of context a tile needs on each side to come out exact."""
TILE_COPIES = ("Slice", "StridedSlice", "Pad", "Concat")
FLOP_PER_DENSE_BLOCK_PIXEL = 2 * 9 * 32 * (64 + 96 + 128 + 160) + 2 * 9 * 64 * 192


class Trunk(nn.Module):
    """conv (3→64), `blocks` concatenation-free RRDBs, conv (64→3): the trunk of RRDBNet, layer by layer."""

    def __init__(self, blocks: int) -> None:
        super().__init__()
        self.first = nn.Conv2d(3, 64, 3, 1, 1)
        self.blocks = nn.ModuleList(ConcatFreeRRDB(RRDB()) for _ in range(blocks))
        self.last = nn.Conv2d(64, 3, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.first(x)
        for block in self.blocks:
            feat = block(feat)
        return self.last(feat)


class DepthFirstTrunk(Trunk):
    """The same function, each dense block run tile by tile (`tile` pixels plus the context on each side)."""

    def __init__(self, trunk: Trunk, tile: int, crop: Crop) -> None:
        nn.Module.__init__(self)
        self.first, self.blocks, self.last, self.tile = trunk.first, trunk.blocks, trunk.last, tile
        self.crop = crop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.first(x)
        for block in self.blocks:
            y = self.tiled(block.rdb1, feat)
            y = self.tiled(block.rdb2, y)
            feat = self.tiled(block.rdb3, y) + feat
        return self.last(feat)

    def tiled(self, dense_block: ConcatFreeDenseBlock, x: torch.Tensor) -> torch.Tensor:
        """`dense_block(x)`, computed tile by tile and put back together."""
        height, width = x.shape[2:]
        context = DENSE_BLOCK_CONTEXT
        rows = []
        for y0, y1 in split_evenly(height, self.tile):
            row = []
            for x0, x1 in split_evenly(width, self.tile):
                top, left = max(y0 - context, 0), max(x0 - context, 0)
                bottom, right = min(y1 + context, height), min(x1 + context, width)
                out = dense_block(self.crop(x, top, bottom, left, right))
                row.append(self.crop(out, y0 - top, y1 - top, x0 - left, x1 - left))
            rows.append(torch.cat(row, 3))
        return torch.cat(rows, 2)


Crop = Callable[[torch.Tensor, int, int, int, int], torch.Tensor]


def crop_by_padding(image: torch.Tensor, top: int, bottom: int, left: int, right: int) -> torch.Tensor:
    """`image[..., top:bottom, left:right]` as a negative pad, which OpenVINO runs as Pad, not as Slice."""
    height, width = image.shape[-2:]
    return F.pad(image, (-left, right - width, -top, bottom - height))


def crop_by_slicing(image: torch.Tensor, top: int, bottom: int, left: int, right: int) -> torch.Tensor:
    return image[:, :, top:bottom, left:right]


CROPS: dict[str, Crop] = {"pad": crop_by_padding, "slice": crop_by_slicing}


def compile_for(openvino: Any, module: nn.Module, shape: tuple[int, ...]) -> Any:
    with torch.no_grad():
        graph = openvino.convert_model(module, example_input=torch.rand(shape), input=[shape])
    config = {"INFERENCE_PRECISION_HINT": "bf16", "PERFORMANCE_HINT": "LATENCY", "PERF_COUNT": "YES"}
    return openvino.Core().compile_model(graph, "CPU", config).create_infer_request()


def seconds_by_kind(request: Any) -> dict[str, float]:
    """OpenVINO's per-layer counters of the last run, summed into convolutions, tile copies and the rest."""
    kinds: dict[str, float] = collections.defaultdict(float)
    for layer in request.get_profiling_info():
        kind = "convolutions" if layer.node_type == "Convolution" else "other"
        kind = "tile copies" if layer.node_type in TILE_COPIES else kind
        kinds[kind] += layer.real_time.total_seconds()
    return kinds


def check_same_function(trunk: Trunk, tile: int, crop: Crop) -> float:
    """Max |difference| of the two forms in fp32 on a small map split into 3×3 tiles: rounding only."""
    x = torch.rand(1, 3, 3 * tile - 7, 3 * tile + 5)
    with torch.no_grad():
        return float((trunk(x) - DepthFirstTrunk(trunk, tile, crop)(x)).abs().max())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blocks", type=int, default=2, help="RRDBs in the trunk (3 dense blocks each)")
    parser.add_argument("--size", default="480x640", help="HxW of the LR map")
    parser.add_argument("--tile", type=int, default=128, help="tile side of the depth-first form")
    parser.add_argument("--crop", choices=sorted(CROPS), default="pad",
                        help="how tiles are cut out: negative pads (default) or slices")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    import openvino

    height, width = (int(v) for v in args.size.split("x"))
    torch.manual_seed(0)
    trunk = Trunk(args.blocks).eval()
    crop = CROPS[args.crop]
    difference = check_same_function(trunk, 16, crop)
    print(f"{args.blocks} RRDBs; depth-first vs layer-by-layer, fp32 eager: max |difference| {difference:.1e}")
    assert difference < 1e-4
    shape = (1, 3, height, width)
    forms = {"layer by layer": trunk,
             f"depth-first, tile {args.tile}": DepthFirstTrunk(trunk, args.tile, crop)}
    requests = {name: compile_for(openvino, module, shape) for name, module in forms.items()}
    image = torch.rand(shape).numpy()
    times: dict[str, list[float]] = {name: [] for name in requests}
    kinds: dict[str, list[dict[str, float]]] = {name: [] for name in requests}
    for request in requests.values():
        request.infer({0: image})
    for _ in range(args.repeats):
        for name, request in requests.items():
            start = time.perf_counter()
            request.infer({0: image})
            times[name].append(time.perf_counter() - start)
            kinds[name].append(seconds_by_kind(request))
    flop = FLOP_PER_DENSE_BLOCK_PIXEL * 3 * args.blocks * height * width
    print(f"LR {height}×{width}, OpenVINO bf16, median of {args.repeats}; GFLOP/s count the dense blocks once\n")
    print("| form                     | s      | GFLOP/s | convolutions | tile copies | other  |")
    print("|--------------------------|--------|---------|--------------|-------------|--------|")
    for name in requests:
        median = statistics.median(times[name])
        parts = {kind: statistics.median(k.get(kind, 0.0) for k in kinds[name])
                 for kind in ("convolutions", "tile copies", "other")}
        print(f"| {name:24s} | {median:.3f}  | {flop / median / 1e9:7,.0f} | {parts['convolutions']:12.3f} "
              f"| {parts['tile copies']:11.3f} | {parts['other']:.3f}  |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
