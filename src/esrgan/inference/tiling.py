"""Run a super-resolution network over an image tile by tile, so memory stays bounded for any image size.

Each tile is cut with `pad` extra input pixels on every side (clipped at the image border); only the centre
of the output, the part that corresponds to the tile itself, is kept. The pad gives the network the context
it would have seen in a whole-image pass, which is what makes tiled and untiled outputs agree.

The image is split into equal tiles no larger than the tile size (a 640-pixel side with tile 512 gives two
tiles of 320, not 512 + 128), so no tile is a thin sliver whose pad costs more than the tile itself, and the
only work done twice is the pad. Tiles of the same padded shape go through the network in one batch, also
across images: several images of one size share one grid, and whole images that are one tile each are
batched like tiles.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import groupby

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

    @property
    def padded_shape(self) -> tuple[int, int]:
        return self.py1 - self.py0, self.px1 - self.px0


def split_evenly(length: int, tile: int, multiple: int = 1) -> list[tuple[int, int]]:
    """`ceil(length / tile)` spans covering `0:length` whose sizes differ by at most `multiple`.

    Every boundary is a multiple of `multiple` (networks that pixel-unshuffle their input need it), so
    `length` itself must be one.
    """
    count = -(-length // tile)
    units = length // multiple
    bounds = [multiple * (i * units // count) for i in range(count + 1)]
    return [(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]


def tile_grid(height: int, width: int, tile: int, pad: int, multiple: int = 1) -> list[Tile]:
    """Tiles covering the image; `tile <= 0` or an image no larger than a tile gives one whole tile."""
    if tile <= 0 or (height <= tile and width <= tile):
        return [Tile(0, height, 0, width, 0, height, 0, width)]
    return [
        Tile(y0, y1, x0, x1, max(y0 - pad, 0), min(y1 + pad, height), max(x0 - pad, 0), min(x1 + pad, width))
        for y0, y1 in split_evenly(height, tile, multiple)
        for x0, x1 in split_evenly(width, tile, multiple)
    ]


def tile_batches(tiles: list[Tile], batch: int, images: int = 1) -> list[list[tuple[int, Tile]]]:
    """The tiles of `images` images that share one grid, as (image, tile) pairs in batches of up to `batch`
    that share one padded shape (so they stack)."""
    by_shape = sorted(tiles, key=lambda t: t.padded_shape)
    size = max(batch, 1)
    batches = []
    for _, group in groupby(by_shape, key=lambda t: t.padded_shape):
        shaped = list(group)
        same = [(index, piece) for index in range(images) for piece in shaped]
        batches += [same[i:i + size] for i in range(0, len(same), size)]
    return batches


def iterate_tiles(
    network: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    scale: int,
    tile: int,
    pad: int,
    batch: int = 1,
    multiple: int = 1,
) -> Iterator[tuple[int, Tile, torch.Tensor]]:
    """Yield each tile with its image's index and its upscaled, pad-free output (C, (y1-y0)*scale, (x1-x0)*scale).

    `images` is (N, C, H, W); the network sees batches of up to `batch` tiles of one padded shape, from one
    image or several (whole images that are one tile each go through together).
    """
    count, _, height, width = images.shape
    for group in tile_batches(tile_grid(height, width, tile, pad, multiple), batch, count):
        inputs = torch.stack([images[index, :, t.py0:t.py1, t.px0:t.px1] for index, t in group])
        outputs = network(inputs)
        for (index, piece), output in zip(group, outputs):
            top, left = (piece.y0 - piece.py0) * scale, (piece.x0 - piece.px0) * scale
            yield index, piece, output[:, top:top + (piece.y1 - piece.y0) * scale,
                                       left:left + (piece.x1 - piece.x0) * scale]


def upscale_tiled(
    network: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    scale: int,
    tile: int,
    pad: int,
    to_output: Callable[[torch.Tensor], np.ndarray],
    on_tile: Callable[[int, int], None] | None = None,
    batch: int = 1,
    multiple: int = 1,
) -> list[np.ndarray]:
    """Assemble the tiled outputs of (N, C, H, W) images straight into N numpy arrays (H*s, W*s, C).

    Each tile is converted by `to_output` (to the final dtype, usually) as soon as it is computed, so the
    full-resolution image never exists as float32 unless the caller asks for it: the output costs its
    final size plus one batch of float tiles.
    """
    count, _, height, width = images.shape
    results: list[np.ndarray | None] = [None] * count
    total = count * len(tile_grid(height, width, tile, pad, multiple))
    tiles = iterate_tiles(network, images, scale, tile, pad, batch, multiple)
    for done, (index, piece, output) in enumerate(tiles, 1):
        converted = to_output(output)
        result = results[index]
        if result is None:
            result = results[index] = np.empty((height * scale, width * scale, converted.shape[2]), converted.dtype)
        result[piece.y0 * scale:piece.y1 * scale, piece.x0 * scale:piece.x1 * scale] = converted
        if on_tile is not None:
            on_tile(done, total)
    finished = [result for result in results if result is not None]
    assert len(finished) == count  # every image has at least one tile
    return finished
