"""What the page's runs do with a network: load the models asked for, blend two by eq. (4), upscale a whole
image, or preview the part of one the viewer shows within a time budget.

Whole images run with the `UpscaleOptions` the server was started with, in the same `Upscaler` as `esrgan
upscale`, so a result equals that command's output. Previews run the same weights through PyTorch on a crop
of the input with a margin of context: moving the alpha slider re-blends the weights (cheap, even for 23
blocks) and runs only the pixels in view, and the crop is sized from the speed measured on the previous
previews so that one takes about `PREVIEW_SECONDS`.

Used from one thread only (`jobs.Worker`): it holds the loaded networks.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np
import torch

from esrgan.api import build_generator, load_weights
from esrgan.archs.spec import ModelSpec
from esrgan.errors import ConfigError, MetricError
from esrgan.imaging.io import fit_for_format
from esrgan.inference.upscaler import TileCallback, Upscaler, resize_to_outscale
from esrgan.interpolation import interpolate_specs, network_interpolate
from esrgan.metrics.niqe import niqe
from esrgan.options import UpscaleOptions
from esrgan.serve.catalogue import Catalogue, Network
from esrgan.weights.io import StateDict

PREVIEW_SECONDS = 0.6
"""Network time one preview aims at, leaving the rest of a second for encoding, transfer and display."""
PREVIEW_CONTEXT = 6
"""Input pixels of context around a preview crop: its edges then match the whole image's to within a few
grey levels, for a fraction of the cost of the tiles' full pad (on a small crop the pad is most of the cost)."""
MIN_PREVIEW_SIDE = 24
FIRST_PREVIEW_PIXELS = 40 * 40
"""Input pixels (context included) of the first preview of an architecture, which measures its speed."""
RETRY_THREADS_EVERY = 8
"""Previews between two re-measurements of the thread count that was slower (the machine's load changes)."""
KEPT_MODELS = 4
"""State dicts kept in memory (a 23-block RRDBNet is 67 MB): a pair being blended, and a spare pair."""
KEPT_NETWORKS = 4
"""Built networks kept (an `Upscaler` each, whole-image and preview ones counted apart)."""


@dataclass(frozen=True)
class Region:
    """A rectangle of an image in its pixels: columns x .. x + width, rows y .. y + height."""

    x: int
    y: int
    width: int
    height: int

    @classmethod
    def parse(cls, value: object) -> Region:
        """A region from the page's JSON object {x, y, width, height}, checked."""
        fields = ("x", "y", "width", "height")
        if not isinstance(value, dict) or not all(isinstance(value.get(f), (int, float)) for f in fields):
            raise ConfigError(f"a region is {{x, y, width, height}} in pixels, not {value!r}")
        x, y, width, height = (value[f] for f in fields)
        if not all(math.isfinite(v) for v in (x, y, width, height)) or width < 1 or height < 1:
            raise ConfigError(f"a region needs finite coordinates and a size of at least 1x1, not {value!r}")
        return cls(math.floor(x), math.floor(y), math.ceil(width), math.ceil(height))

    def within(self, width: int, height: int) -> Region:
        """This region cut to an image of `width`×`height` (at least one pixel)."""
        x, y = min(max(self.x, 0), width - 1), min(max(self.y, 0), height - 1)
        return Region(x, y, max(1, min(self.width, width - x)), max(1, min(self.height, height - y)))

    def centred(self, width: int, height: int) -> Region:
        """A `width`×`height` region (at most this one's size) with the same centre, inside this one."""
        width, height = min(width, self.width), min(height, self.height)
        return Region(self.x + (self.width - width) // 2, self.y + (self.height - height) // 2, width, height)

    def to_json(self) -> dict[str, int]:
        return {"x": self.x, "y": self.y, "width": self.width, "height": self.height}


@dataclass(frozen=True)
class Preview:
    patch: np.ndarray
    """The super-resolved `region`, as the whole image's result would have it there (same scale)."""
    region: Region
    """Where `patch` lies in the output image."""
    seconds: float
    """Network time."""


class Engine:
    """The networks of the page's runs, loaded on demand and kept for the next run."""

    def __init__(self, catalogue: Catalogue, options: UpscaleOptions) -> None:
        self.catalogue = catalogue
        self.options = options
        self.preview_options = replace(options, backend="torch", tile=0, batch=None)
        self._states: OrderedDict[str, tuple[ModelSpec, StateDict]] = OrderedDict()
        self._networks: OrderedDict[tuple[ModelSpec, bool], tuple[Upscaler, Network]] = OrderedDict()
        self._rates: dict[tuple[ModelSpec, int], float] = {}
        """Input pixels per second of previews, per architecture and CPU thread count: what sizes the next
        preview's crop, and which thread count it runs with."""
        self._threads = torch.get_num_threads()
        self._previews = 0

    def upscale(self, image: np.ndarray, network: Network, outscale: float | None,
                on_tile: TileCallback | None = None) -> np.ndarray:
        """The whole image through `network`, as `esrgan upscale` with the server's options computes it."""
        return self._upscaler(network, preview=False).upscale_array(image, outscale, on_tile)

    def preview(self, image: np.ndarray, network: Network, outscale: float | None, view: Region) -> Preview:
        """The part of `view` (input pixels) around its centre that the preview budget allows, super-resolved."""
        upscaler = self._upscaler(network, preview=True)
        threads = self._preview_threads(upscaler)
        key = (upscaler.spec, threads)
        height, width = image.shape[:2]
        known = [rate for (spec, _), rate in self._rates.items() if spec == upscaler.spec]
        region = self._budgeted(view.within(width, height), self._rates.get(key, known[0] if known else None))
        pad = PREVIEW_CONTEXT
        top, left = max(region.y - pad, 0), max(region.x - pad, 0)
        bottom, right = min(region.y + region.height + pad, height), min(region.x + region.width + pad, width)
        started = time.perf_counter()
        with _intra_op_threads(threads):
            output = upscaler.upscale_array(image[top:bottom, left:right])
        seconds = time.perf_counter() - started
        rate = (bottom - top) * (right - left) / max(seconds, 1e-3)
        previous = self._rates.get(key)
        self._rates[key] = rate if previous is None else (previous + rate) / 2
        scale = upscaler.scale
        y0, x0 = (region.y - top) * scale, (region.x - left) * scale
        patch = output[y0: y0 + region.height * scale, x0: x0 + region.width * scale]
        final = scale if outscale is None else outscale
        if final != scale:
            patch = resize_to_outscale(patch, region.height, region.width, final)
        placed = Region(round(region.x * final), round(region.y * final), patch.shape[1], patch.shape[0])
        return Preview(patch, placed, seconds)

    def _preview_threads(self, upscaler: Upscaler) -> int:
        """The CPU thread count for the next preview: all the cores, or one. On a CPU that other processes
        share, one thread can be several times faster than two (OpenMP's threads wait for each other whenever
        one is descheduled), and on an idle one two are nearly twice as fast: both are measured, the faster
        is used, and the slower is tried again now and then."""
        if upscaler.device.type != "cpu" or self._threads == 1:
            return self._threads
        counts = (1, self._threads)
        untried = [n for n in counts if (upscaler.spec, n) not in self._rates]
        if untried:
            return untried[0]
        self._previews += 1
        ranked = sorted(counts, key=lambda n: self._rates[(upscaler.spec, n)], reverse=True)
        return ranked[1] if self._previews % RETRY_THREADS_EVERY == 0 else ranked[0]

    @staticmethod
    def _budgeted(view: Region, rate: float | None) -> Region:
        """The centre of `view` that costs about `PREVIEW_SECONDS` at `rate` (input pixels per second, context
        included), or a small first crop that measures the rate."""
        allowed = FIRST_PREVIEW_PIXELS if rate is None else rate * PREVIEW_SECONDS
        side = max(MIN_PREVIEW_SIDE, int(math.sqrt(allowed)) - 2 * PREVIEW_CONTEXT)
        area = side * side
        if view.width * view.height <= area:
            return view
        if view.height < side:  # a wide strip: spend the budget on its width
            return view.centred(area // view.height, view.height)
        if view.width < side:
            return view.centred(view.width, area // view.width)
        return view.centred(side, side)

    def _upscaler(self, network: Network, preview: bool) -> Upscaler:
        """The `Upscaler` of `network`'s architecture, holding `network`'s weights (loaded when they differ)."""
        spec = self._weights(network.model)[0]
        if network.blend is not None:
            spec = interpolate_specs(spec, self._weights(network.blend)[0])
        key = (spec, preview)
        kept = self._networks.pop(key, None)
        if kept is None:
            options = self.preview_options if preview else self.options
            upscaler = Upscaler(build_generator(spec, self._state(network)), spec, options)
        else:
            upscaler = kept[0]
            if kept[1] != network:
                upscaler.load_state_dict(self._state(network))
        self._networks[key] = (upscaler, network)
        while len(self._networks) > KEPT_NETWORKS:
            self._networks.popitem(last=False)
        return upscaler

    def _state(self, network: Network) -> StateDict:
        state = self._weights(network.model)[1]
        if network.blend is None:
            return state
        return network_interpolate(state, self._weights(network.blend)[1], network.alpha)

    def _weights(self, name: str) -> tuple[ModelSpec, StateDict]:
        if name not in self._states:
            self._states[name] = load_weights(self.catalogue.weights_file(name), progress=False)
            while len(self._states) > KEPT_MODELS:
                self._states.popitem(last=False)
        self._states.move_to_end(name)
        return self._states[name]


@contextmanager
def _intra_op_threads(count: int) -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def visible_niqe(image: np.ndarray) -> float | None:
    """NIQE of an image as the screen shows it (8 bits, alpha dropped), or None when it is too small or flat
    for the metric (it needs two textured 96×96 blocks)."""
    shown, _ = fit_for_format(image, ".jpg")
    try:
        return niqe(shown)
    except MetricError:
        return None
