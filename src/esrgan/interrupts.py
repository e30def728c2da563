"""Ctrl-C as a request: the first SIGINT (or SIGTERM) asks the work to stop at its next safe point, a repeat
aborts at once. Long jobs (training, a folder of large images) lose nothing they had finished that way."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class StopRequested(Exception):
    """Raised at a safe point (between tiles, between iterations) after the first Ctrl-C."""


class StopRequest:
    """Turns the first SIGINT or SIGTERM into `requested`; repeating the same signal aborts.

    `safe_point` names where the work stops, for the message the first signal prints. The abort raises
    KeyboardInterrupt in the main thread, or with `exit_at_once` ends the process there and then (exit status
    130): the choice when a worker thread may be inside a native call that must not be unwound at shutdown.
    Files are written under temporary names, so either way nothing half-written carries an output's name.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, safe_point: str, *, exit_at_once: bool = False) -> None:
        self.safe_point = safe_point
        self.exit_at_once = exit_at_once
        self.requested = False
        self.on_abort: Callable[[], object] | None = None
        """Called before an abort ends the process (e.g. to end worker processes with it)."""
        self._received: set[int] = set()
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, _frame: Any) -> None:
        if signum in self._received:
            if self.on_abort is not None:
                self.on_abort()
            if self.exit_at_once:
                print(f"\n{signal.Signals(signum).name}: aborted", file=sys.stderr, flush=True)
                os._exit(130)
            raise KeyboardInterrupt
        self._received.add(signum)
        if not self.requested:
            print(f"\n{signal.Signals(signum).name}: stopping {self.safe_point} (repeat to abort now)",
                  file=sys.stderr, flush=True)
        self.requested = True

    def check(self) -> None:
        """Raise `StopRequested` when a stop was asked for: call it at each safe point."""
        if self.requested:
            raise StopRequested

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            self._previous = {sig: signal.signal(sig, self._handle) for sig in self.SIGNALS}
        return self

    def __exit__(self, *_: object) -> None:
        if self.requested and self.exit_at_once:
            return  # the process is winding down after a stop: a repeat still ends it at once, not mid-shutdown
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def run_interruptibly(work: Callable[[], T]) -> T:
    """`work()` on a daemon thread while this thread waits in short, interruptible joins.

    A signal handler runs only in the main thread and only between Python bytecodes; a network call inside
    OpenVINO or PyTorch can take a minute. Waiting here instead keeps Ctrl-C answered at once, and a second
    one can abandon the (daemon) worker mid-call.
    """
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = work()
        except BaseException as error:  # noqa: BLE001 - handed to the waiting thread as it is
            outcome["error"] = error

    thread = threading.Thread(target=target, daemon=True, name="esrgan-network")
    thread.start()
    while thread.is_alive():
        thread.join(0.1)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
