"""Images through one `Upscaler`: the next image is decoded and the last one encoded on background threads
while the network runs; each image's outcome goes to the report, and one bad image never stops the others."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from concurrent.futures import Future
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from esrgan.errors import ImageReadError, ImageWriteError
from esrgan.imaging.io import fit_for_format, frame_count, read_image, write_image
from esrgan.inference.pipeline import BackgroundWriter, prefetched
from esrgan.interrupts import StopRequest, StopRequested, run_interruptibly
from esrgan.jobs.plan import Job, JobSettings
from esrgan.jobs.report import Outcome, Report

if TYPE_CHECKING:
    from esrgan.inference.upscaler import Upscaler


def upscale_images(
    upscaler: Upscaler, jobs: Iterable[Job], settings: JobSettings, stop: StopRequest, report: Report,
    total: int | None = None,
) -> bool:
    """Upscale each image job, reporting each outcome (failures also printed on stderr as they happen);
    True when a stop request ended the run early (the jobs without an outcome are the ones not done).
    `jobs` may be a queue's iterator: it is read as the work goes."""
    stopped = False
    writes: list[tuple[Job, float, Future[None]]] = []
    with BackgroundWriter() as writer:
        loads = prefetched(jobs, partial(read_input, settings=settings))
        bar = tqdm(loads, total=total, desc="images", unit="img", disable=settings.quiet)
        for job, loaded in bar:
            started = time.perf_counter()
            try:
                stop.check()
                image = loaded.result()
                upscaled = run_interruptibly(partial(upscale_image, upscaler, image, job, settings, stop))
                result, notes = fit_for_format(upscaled, job.target.suffix)
            except StopRequested:
                stopped = True
                break
            except (ImageReadError, ImageWriteError) as error:
                _failed(report, job, str(error), "skipped: ")
                continue
            except Exception as error:  # noqa: BLE001 - one image's failure must not stop the others
                detail = str(error).splitlines()[0] if str(error) else ""
                _failed(report, job, f"{job.source}: failed: {type(error).__name__}: {detail}")
                continue
            for reason, action in notes:
                tqdm.write(f"esrgan: note: {job.target.name}: {reason}: {action}", file=sys.stderr)
            write = writer.submit(partial(write_image, job.target, result, overwrite=settings.overwrite))
            writes.append((job, time.perf_counter() - started, write))
        bar.close()
    for job, seconds, write in writes:
        failure = write.exception()
        if failure is None:
            report.add(Outcome(job.source, job.target, "done", seconds=seconds))
        elif isinstance(failure, ImageWriteError):
            _failed(report, job, str(failure), "not written: ", at_end=True)
        else:
            raise failure
    return stopped


def _failed(report: Report, job: Job, reason: str, prefix: str = "", *, at_end: bool = False) -> None:
    report.add(Outcome(job.source, job.target, "failed", reason))
    (print if at_end else tqdm.write)(f"esrgan: {prefix}{reason}", file=sys.stderr)


def read_input(job: Job, settings: JobSettings) -> np.ndarray:
    """The decoded input, once it is sure its output may be written (so no image is upscaled for nothing)."""
    if job.source.resolve() == job.target.resolve():
        raise ImageWriteError(f"{job.target}: would replace its own input; choose another output or a --suffix")
    if job.target.exists() and not settings.overwrite:
        raise ImageWriteError(f"{job.target}: exists; pass --overwrite to replace it, or --skip-existing to leave it")
    image = read_image(job.source, max_pixels=settings.max_pixels)
    if (frames := frame_count(job.source)) > 1:
        tqdm.write(f"esrgan: note: {job.source.name} is animated ({frames} frames); only the first frame is "
                   "upscaled", file=sys.stderr)
    return image


def upscale_image(
    upscaler: Upscaler, image: np.ndarray, job: Job, settings: JobSettings, stop: StopRequest
) -> np.ndarray:
    with tqdm(desc=job.source.name, unit="tile", leave=False, disable=settings.quiet) as bar:
        def on_tile(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)
            stop.check()  # between tiles: a large image answers Ctrl-C within one tile

        return upscaler.upscale_array(image, settings.outscale, on_tile, settings.back_projection)
