"""Reading ahead and writing behind keep the order, overlap with the caller, and report each failure once."""

from __future__ import annotations

import threading
import time

import pytest

from esrgan.inference.pipeline import BackgroundWriter, prefetched


def test_prefetch_keeps_order_and_reads_ahead() -> None:
    started: list[int] = []

    def load(i: int) -> int:
        started.append(i)
        if i == 2:
            raise ValueError("unreadable")
        return i * 10

    results = []
    for item, future in prefetched(range(5), load, depth=2):
        deadline = time.monotonic() + 5
        while min(item + 1, 4) not in started and time.monotonic() < deadline:
            time.sleep(0.001)  # the caller is "computing"; the next image must load meanwhile
        assert min(item + 1, 4) in started
        try:
            results.append(future.result())
        except ValueError:
            results.append(None)
    assert results == [0, 10, None, 30, 40]


def test_writer_runs_in_the_background_and_keeps_errors_per_file() -> None:
    gate = threading.Event()
    written: list[str] = []

    def write(name: str) -> None:
        gate.wait(5)
        if name == "bad":
            raise OSError("disk full")
        written.append(name)

    with BackgroundWriter(depth=4) as writer:
        futures = [writer.submit(write, name) for name in ("a", "bad", "c")]
        assert written == []  # submit did not wait for the (blocked) writes
        gate.set()
    assert written == ["a", "c"]
    with pytest.raises(OSError, match="disk full"):
        futures[1].result()
