"""A run's jobs over several worker processes: one per device (each GPU, or a share of the CPU's cores), each
with its own copy of the model, all pulling from one queue, so a slow device simply takes fewer jobs.

Videos go first into the queue (a long one should not start last), then images. The parent process owns the
progress bar, the report and Ctrl-C: the workers ignore SIGINT and stop when the parent sets the shared stop
event (a second Ctrl-C ends them with the parent). A worker that dies (a crash, the OOM killer) leaves its
unfinished jobs failed with that reason, and the others carry on with the queue.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from itertools import chain
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from esrgan.defaults import Device
from esrgan.errors import ConfigError
from esrgan.interrupts import StopRequest
from esrgan.jobs.plan import Job, JobSettings
from esrgan.jobs.report import Outcome, Report
from esrgan.options import UpscaleOptions

if TYPE_CHECKING:
    from esrgan.inference.upscaler import Upscaler


@dataclass(frozen=True)
class ModelChoice:
    """What `esrgan.load_model` is given, sent to each worker so it loads its own copy."""

    name: str
    blend_with: str | None = None
    alpha: float = 0.8
    denoise_strength: float | None = None

    def load(self, options: UpscaleOptions, progress: bool = True) -> Upscaler:
        """This model as an `Upscaler` run with `options` (PyTorch is imported here, not before)."""
        from esrgan.api import load_model

        return load_model(self.name, options=options, blend_with=self.blend_with, alpha=self.alpha,
                          denoise_strength=self.denoise_strength, progress=progress)


@dataclass(frozen=True)
class Worker:
    options: UpscaleOptions
    """The run options with this worker's device (and GPU index)."""
    cores: tuple[int, ...] | None = None
    """The CPU cores it may use (its share of the machine's), None for all."""

    def describe(self) -> str:
        if self.options.device == "cuda":
            return f"cuda:{self.options.device_index}"
        return self.options.device + (f" (cores {','.join(map(str, self.cores))})" if self.cores else "")


_KINDS: dict[str, Device] = {"cpu": "cpu", "cuda": "cuda", "mps": "mps"}


def plan_workers(devices: str, workers_per_device: int, options: UpscaleOptions) -> list[Worker]:
    """The workers `--devices` and `--workers` ask for: `all` = every CUDA GPU (else the CPU); a list such as
    `cuda:0,cuda:1`; `cpu`. CPU workers split the cores between them."""
    if workers_per_device < 1:
        raise ConfigError(f"--workers must be >= 1, not {workers_per_device}")
    names = [name.strip() for name in devices.split(",") if name.strip()]
    if names == ["all"]:
        import torch

        count = torch.cuda.device_count()
        names = [f"cuda:{index}" for index in range(count)] if count else ["cpu"]
    workers: list[Worker] = []
    for name in dict.fromkeys(names):
        kind, _, number = name.partition(":")
        if kind not in _KINDS or (number and not (kind == "cuda" and number.isdigit())):
            raise ConfigError(f"--devices {devices}: {name!r} is not a device; use all, cpu, mps, cuda or cuda:N")
        device = replace(options, device=_KINDS[kind], device_index=int(number or 0))
        workers += [Worker(device)] * workers_per_device
    cpu_workers = [index for index, worker in enumerate(workers) if worker.options.device == "cpu"]
    if len(cpu_workers) > 1:
        cores = sorted(os.sched_getaffinity(0))
        if len(cpu_workers) > len(cores):
            raise ConfigError(f"--workers {len(cpu_workers)} CPU workers, but this process may use only "
                              f"{len(cores)} cores; ask for at most that many")
        for share, index in enumerate(cpu_workers):
            workers[index] = replace(workers[index], cores=tuple(cores[share :: len(cpu_workers)]))
    return workers


def run_pool(
    model: ModelChoice, workers: Sequence[Worker], jobs: Sequence[Job], settings: JobSettings, stop: StopRequest,
    report: Report,
) -> None:
    """Run `jobs` on `workers`; afterwards each job has exactly one outcome in `report`."""
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked OpenMP or CUDA state
    tasks: Any = context.Queue()
    results: Any = context.Queue()
    stopping = context.Event()
    ordered = [job for job in jobs if job.is_video] + [job for job in jobs if not job.is_video]
    for job in ordered:
        tasks.put(job)
    for _ in workers:
        tasks.put(None)
    quiet = replace(settings, quiet=True)  # one progress bar, the parent's
    tasks.cancel_join_thread()  # jobs a stop leaves in the queue must not hold up this process's exit
    processes = [context.Process(target=_work, args=(index, model, worker, quiet, tasks, results, stopping),
                                 name=f"esrgan-{worker.describe()}", daemon=True)
                 for index, worker in enumerate(workers)]
    for process in processes:
        process.start()

    def end_workers() -> None:
        for process in processes:
            process.kill()

    stop.on_abort = end_workers
    finished: dict[str, Outcome] = {}
    deaths: list[str] = []
    alive = set(range(len(processes)))
    with tqdm(total=len(jobs), desc=f"{len(workers)} workers", unit="file", disable=settings.quiet) as bar:
        while alive:
            if stop.requested:
                stopping.set()
            try:
                message = results.get(timeout=0.2)
            except queue.Empty:
                for index in list(alive):
                    if not processes[index].is_alive():
                        alive.discard(index)
                        if processes[index].exitcode:
                            deaths.append(f"the worker on {workers[index].describe()} ended unexpectedly "
                                          f"(exit code {processes[index].exitcode})")
                continue
            kind, index, payload = message
            if kind == "outcome":
                finished[str(payload.source)] = payload
                report.add(payload)
                bar.update(1)
            elif kind == "error":
                tqdm.write(f"esrgan: {workers[index].describe()}: {payload}", file=sys.stderr)
                deaths.append(f"the worker on {workers[index].describe()} could not start: {payload}")
            elif kind == "done":
                alive.discard(index)
    for process in processes:
        process.join()
    reason = "; ".join(deaths) if deaths else None
    for job in ordered:
        if str(job.source) not in finished:
            report.add(Outcome(job.source, job.target, "failed", reason) if reason and not stopping.is_set() else
                       Outcome(job.source, job.target, "not_done", "stopped before it was finished"))


class _ForwardingReport(Report):
    """A worker's report: each outcome goes to the parent at once."""

    def __init__(self, results: Any, index: int) -> None:
        super().__init__()
        self._results, self._index = results, index

    def add(self, outcome: Outcome) -> None:
        super().add(outcome)
        self._results.put(("outcome", self._index, outcome))


def _work(index: int, model: ModelChoice, worker: Worker, settings: JobSettings, tasks: Any, results: Any,
          stopping: Any) -> None:
    """One worker process: its cores, its model, then jobs from the queue until the sentinel or a stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the parent decides
    if worker.cores is not None:
        os.sched_setaffinity(0, worker.cores)
    try:
        import torch

        if worker.cores is not None:
            torch.set_num_threads(len(worker.cores))
        upscaler = model.load(worker.options, progress=False)
    except Exception as error:  # noqa: BLE001 - reported by the parent; the other workers go on
        results.put(("error", index, str(error).splitlines()[0] if str(error) else type(error).__name__))
        return
    stop = StopRequest("when the parent asks")

    def follow_the_parent() -> None:
        stopping.wait()
        stop.requested = True

    threading.Thread(target=follow_the_parent, daemon=True).start()
    report = _ForwardingReport(results, index)
    from esrgan.jobs.images import upscale_images
    from esrgan.jobs.run import run_video

    def queued() -> Iterator[Job]:
        while not stop.requested and (job := tasks.get()) is not None:
            yield job

    jobs = queued()
    for job in jobs:
        if job.is_video:
            if run_video(upscaler, job, settings, stop, report):
                break
            continue
        upscale_images(upscaler, chain([job], jobs), settings, stop, report)  # images come after the videos
        break
    results.put(("done", index, None))
