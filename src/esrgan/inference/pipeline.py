"""Overlap image decoding and encoding with the network, for folders of images.

The network keeps every core busy, but decoding a PNG or encoding a JPEG is single-threaded work during which
the cores would idle; the next image is decoded and the previous one encoded on background threads instead.
Both image libraries and PyTorch release the GIL in their heavy parts, so the threads really overlap.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import numpy as np

Item = TypeVar("Item")
Loaded = TypeVar("Loaded")


def prefetched(
    items: Iterable[Item], load: Callable[[Item], Loaded], depth: int = 2
) -> Iterator[tuple[Item, Future[Loaded]]]:
    """Yield `(item, future of load(item))` in order, with up to `depth` loads running ahead.

    A failed load surfaces when its future's `result()` is called, so the caller can report that one
    item and go on with the others.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="esrgan-read") as pool:
        pending: list[tuple[Item, Future[Loaded]]] = []
        for item in items:
            pending.append((item, pool.submit(load, item)))
            if len(pending) > depth:
                yield pending.pop(0)
        yield from pending


def same_size_runs(
    items: Iterable[Item], image_of: Callable[[Item], np.ndarray | None],
    per_call: Callable[[int, int, np.dtype], int],
) -> Iterator[list[Item]]:
    """`items` in their order, cut into runs of neighbours whose images share shape and pixel type, each at
    most `per_call(height, width, dtype)` long (that of the run's first image; 1: one at a time): what one
    network call can take together. An item without an image (`image_of` gives None: an unreadable file, a
    lost frame) is a run of its own. Only neighbours are grouped, so nothing waits for a later item, and an
    item is read from `items` only when its run could still take it."""
    iterator = iter(items)
    held: list[Item] = []  # the item that ended the run before: the first of the next
    while held or (held := list(itertools.islice(iterator, 1))):
        run = [held.pop()]
        first = image_of(run[0])
        if first is not None:
            limit = per_call(first.shape[0], first.shape[1], first.dtype)
            while len(run) < limit and (following := list(itertools.islice(iterator, 1))):
                image = image_of(following[0])
                if image is None or image.shape != first.shape or image.dtype != first.dtype:
                    held = following
                    break
                run += following
        yield run


class BackgroundWriter:
    """Run `write` calls one at a time on a background thread, at most `depth` of them waiting.

    The bound keeps finished images from piling up in memory when the disk is slower than the network.
    Each `submit` returns the call's future: its `result()` re-raises what the write raised, so the caller
    reports each failed file itself.
    """

    def __init__(self, depth: int = 2) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="esrgan-write")
        self._pending: list[Future[None]] = []
        self._depth = depth

    def submit(self, write: Callable[..., None], *args: object) -> Future[None]:
        self._pending = [f for f in self._pending if not f.done()]
        while len(self._pending) >= self._depth:
            self._pending.pop(0).exception()  # waits; the error stays in the future for its owner
        future = self._pool.submit(write, *args)
        self._pending.append(future)
        return future

    def close(self) -> None:
        """Wait for every write."""
        self._pool.shutdown(wait=True)

    def __enter__(self) -> "BackgroundWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
