"""Run a super-resolution network over an image tile by tile, so memory stays bounded for any image size.

Each tile is cut with `pad` extra input pixels on every side (clipped at the image border); only the centre
of the output, the part that corresponds to the tile itself, is kept. The pad gives the network the context
it would have seen in a whole-image pass, which is what makes tiled and untiled outputs agree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Tile:
    """Input-space rectangle of one tile (`y0:y1`, `x0:x1`) and of its padded context (`py0:py1`, ...)."""

    y0: int
    y1: int
    x0: int
    x1: int
    py0: int
    py1: int
    px0: int
    px1: int


def tile_grid(height: int, width: int, tile: int, pad: int) -> list[Tile]:
    """Tiles covering the image; `tile <= 0` or an image no larger than a tile gives one whole tile."""
    if tile <= 0 or (height <= tile and width <= tile):
        return [Tile(0, height, 0, width, 0, height, 0, width)]
    tiles = []
    for y0 in range(0, height, tile):
        for x0 in range(0, width, tile):
            y1, x1 = min(y0 + tile, height), min(x0 + tile, width)
            tiles.append(Tile(y0, y1, x0, x1, max(y0 - pad, 0), min(y1 + pad, height),
                              max(x0 - pad, 0), min(x1 + pad, width)))
    return tiles


def iterate_tiles(
    network: Callable[[torch.Tensor], torch.Tensor],
    image: torch.Tensor,
    scale: int,
    tile: int,
    pad: int,
) -> Iterator[tuple[Tile, torch.Tensor]]:
    """Yield each tile with its upscaled, pad-free output (N, C, (y1-y0)*scale, (x1-x0)*scale)."""
    _, _, height, width = image.shape
    for piece in tile_grid(height, width, tile, pad):
        output = network(image[:, :, piece.py0:piece.py1, piece.px0:piece.px1])
        top, left = (piece.y0 - piece.py0) * scale, (piece.x0 - piece.px0) * scale
        yield piece, output[:, :, top:top + (piece.y1 - piece.y0) * scale, left:left + (piece.x1 - piece.x0) * scale]


def upscale_tiled(
    network: Callable[[torch.Tensor], torch.Tensor],
    image: torch.Tensor,
    scale: int,
    tile: int,
    pad: int,
    to_output: Callable[[torch.Tensor], np.ndarray],
    on_tile: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Assemble the tiled output of a (1, C, H, W) image straight into a numpy array (H*s, W*s, C).

    Each tile is converted by `to_output` (to the final dtype, usually) as soon as it is computed, so the
    full-resolution image never exists as float32 unless the caller asks for it.
    """
    _, _, height, width = image.shape
    result: np.ndarray | None = None
    total = len(tile_grid(height, width, tile, pad))
    for done, (piece, output) in enumerate(iterate_tiles(network, image, scale, tile, pad), 1):
        converted = to_output(output[0])
        if result is None:
            result = np.empty((height * scale, width * scale, converted.shape[2]), dtype=converted.dtype)
        result[piece.y0 * scale:piece.y1 * scale, piece.x0 * scale:piece.x1 * scale] = converted
        if on_tile is not None:
            on_tile(done, total)
    assert result is not None
    return result
