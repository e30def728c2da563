"""One model run at a time: whole-image jobs in the order they came, each with its place in the queue and
its progress in tiles; previews of the alpha slider go ahead of the queued jobs, since each is short and
someone is watching it.

A failed job (an unreadable model, too little memory, any bug) ends as an error with its message; the worker
goes on with the next one.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np

from esrgan.errors import EsrganError
from esrgan.imaging.io import write_image
from esrgan.serve.catalogue import Network
from esrgan.serve.engine import Engine
from esrgan.serve.uploads import Upload

JobState = Literal["queued", "running", "done", "error", "cancelled"]
KEPT_JOBS = 500
"""Finished jobs remembered (with their result files); older ones are forgotten and their files deleted."""

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass
class Job:
    id: str
    image: str
    """The upload's id."""
    name: str
    """The upload's file name (a label)."""
    input_width: int
    network: Network
    outscale: float | None
    pixels: np.ndarray | None
    """The input image, until the job ends (a finished job keeps only its result file)."""
    state: JobState = "queued"
    done: int = 0
    total: int = 0
    message: str = ""
    result: Path | None = None
    width: int = 0
    height: int = 0
    stop: bool = False
    """Asked to stop while running: it ends at its next tile."""

    @property
    def download_name(self) -> str:
        """`photo_x4.png` for `photo.jpg` at ×4: results are PNG, lossless, whatever the input's format."""
        stem = Path(self.name).stem or "image"
        scale = self.outscale if self.outscale is not None else self.width / self.input_width
        return f"{stem}_x{scale:g}.png"


class _Stopped(Exception):
    """Raised from the tile callback of a job asked to stop."""


class Worker:
    """The queue and the one thread that runs the `Engine`."""

    def __init__(self, engine: Engine, folder: Path) -> None:
        self.engine = engine
        self.folder = folder
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._queue: deque[Job] = deque()
        self._previews: deque[tuple[Callable[[Engine], Any], Future[Any]]] = deque()
        self._running: Job | None = None
        self._closed = False
        self._changed = threading.Condition()
        self.version = 0
        """Counts changes of any job: a reader compares it to know whether to look again."""
        self._thread = threading.Thread(target=self._work, name="esrgan-serve-worker", daemon=True)
        self._thread.start()

    def submit(self, upload: Upload, network: Network, outscale: float | None) -> Job:
        job = Job(secrets.token_hex(8), upload.id, upload.name, upload.width, network, outscale, upload.image)
        with self._changed:
            self._jobs[job.id] = job
            self._queue.append(job)
            self._forget_old()
            self._touch()
        return job

    def preview(self, task: Callable[[Engine], T]) -> Future[T]:
        """`task(engine)` run by the worker before the next queued job; its result or error in the future."""
        future: Future[T] = Future()
        with self._changed:
            self._previews.append((task, future))
            self._changed.notify_all()
        return future

    def cancel(self, job_id: str) -> Job:
        """Take a queued job out of the queue, or stop a running one at its next tile (a whole image that is
        one tile runs to its end); a finished one is left as it is."""
        with self._changed:
            job = self.job(job_id)
            if job.state == "queued":
                self._queue.remove(job)
                job.state, job.pixels = "cancelled", None
                self._touch()
            elif job.state == "running":
                job.stop = True
            return job

    def job(self, job_id: str) -> Job:
        with self._changed:
            if job_id not in self._jobs:
                raise KeyError(job_id)
            return self._jobs[job_id]

    def snapshot(self) -> tuple[int, list[dict[str, Any]], dict[str, int]]:
        """(version, every job as the page sees it, the queue's size) at one instant."""
        with self._changed:
            ahead = {job.id: place for place, job in enumerate(self._queue, start=self._running is not None)}
            jobs = [_public(job, ahead.get(job.id, 0)) for job in self._jobs.values()]
            return self.version, jobs, {"running": int(self._running is not None), "queued": len(self._queue)}

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        self._thread.join(timeout=10)

    def _touch(self) -> None:
        self.version += 1
        self._changed.notify_all()

    def _forget_old(self) -> None:
        finished = [job for job in self._jobs.values() if job.state in ("done", "error", "cancelled")]
        for job in finished[: max(0, len(self._jobs) - KEPT_JOBS)]:
            del self._jobs[job.id]
            if job.result is not None:
                job.result.unlink(missing_ok=True)

    def _work(self) -> None:
        while True:
            with self._changed:
                while not (self._closed or self._previews or self._queue):
                    self._changed.wait()
                if self._closed:
                    return
                if self._previews:
                    task, future = self._previews.popleft()
                    job = None
                else:
                    job = self._running = self._queue.popleft()
                    job.state = "running"
                    self._touch()
            if job is None:
                if future.set_running_or_notify_cancel():
                    try:
                        future.set_result(task(self.engine))
                    except Exception as error:  # noqa: BLE001 - handed whole to the request that waits for it
                        future.set_exception(error)
            else:
                self._run(job)

    def _run(self, job: Job) -> None:
        def on_tile(done: int, total: int) -> None:
            with self._changed:
                job.done, job.total = done, total
                self._touch()
                if job.stop:
                    raise _Stopped

        state: JobState = "error"
        try:
            assert job.pixels is not None, "a queued job holds its input"
            image = self.engine.upscale(job.pixels, job.network, job.outscale, on_tile)
            path = self.folder / f"result-{job.id}.png"
            write_image(path, image)
            job.result, job.height, job.width = path, image.shape[0], image.shape[1]
            state = "done"
        except _Stopped:
            state = "cancelled"
        except EsrganError as error:
            job.message = str(error)
        except Exception as error:
            log.exception("job %s failed", job.id)  # the traceback goes to the server's console
            job.message = f"unexpected error: {error!r}"
        with self._changed:
            job.state, job.pixels = state, None
            self._running = None
            self._touch()


def _public(job: Job, ahead: int) -> dict[str, Any]:
    """A job as the page sees it: no paths, no arrays."""
    return {
        "id": job.id, "image": job.image, "state": job.state, "done": job.done, "total": job.total,
        "ahead": ahead, "message": job.message, "width": job.width, "height": job.height,
        "model": job.network.model, "blend": job.network.blend, "alpha": job.network.alpha,
        "outscale": job.outscale, "download_name": job.download_name if job.state == "done" else None,
    }
