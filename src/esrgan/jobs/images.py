"""Images through one `Upscaler`: the next image is decoded and the last one encoded on background threads
while the network runs; consecutive images of one size go through the network together where the `Upscaler`
takes several per call (a GPU; `--batch N` anywhere); each image's outcome goes to the report, and one bad
image never stops the others."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from esrgan.errors import ImageReadError, ImageWriteError
from esrgan.imaging.io import fit_for_format, frame_count, read_image, write_image
from esrgan.inference.pipeline import BackgroundWriter, prefetched, same_size_runs
from esrgan.interrupts import StopRequest, StopRequested, run_interruptibly
from esrgan.jobs.plan import Job, JobSettings
from esrgan.jobs.report import Outcome, Report

if TYPE_CHECKING:
    from esrgan.inference.upscaler import Upscaler

Done = tuple[Job, "np.ndarray | Exception"]
"""A job with its decoded (or upscaled) image, or what went wrong with it."""


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
        for run in same_size_runs(decoded(bar), image_of, upscaler.images_per_call):
            started = time.perf_counter()
            try:
                stop.check()
                upscaled = upscale_run(upscaler, run, settings, stop)
            except StopRequested:
                stopped = True
                break
            seconds = (time.perf_counter() - started) / len(run)
            for job, outcome in upscaled:
                try:
                    if isinstance(outcome, Exception):
                        raise outcome
                    result, notes = fit_for_format(outcome, job.target.suffix)
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
                writes.append((job, seconds, write))
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


def decoded(loads: Iterable[tuple[Job, Future[np.ndarray]]]) -> Iterator[Done]:
    """Each job with its decoded image, or the error that decoding it raised (reported for that job alone)."""
    for job, loaded in loads:
        try:
            yield job, loaded.result()
        except Exception as error:  # noqa: BLE001 - reported for this job alone
            yield job, error


def image_of(done: Done) -> np.ndarray | None:
    return done[1] if isinstance(done[1], np.ndarray) else None


def upscale_run(upscaler: Upscaler, run: list[Done], settings: JobSettings, stop: StopRequest) -> list[Done]:
    """Each image of a same-size run upscaled: one network pass for the run when it holds several images (if
    that pass fails, each image is tried alone, so one image's trouble stays its own), else with tile
    progress. Errors come back in place of the images; only a stop request is raised."""
    images = [image for _, image in run if isinstance(image, np.ndarray)]
    if len(images) > 1:
        try:
            batch = partial(upscaler.upscale_batch, images, settings.outscale, settings.back_projection)
            return [(job, upscaled) for (job, _), upscaled in zip(run, run_interruptibly(batch), strict=True)]
        except StopRequested:
            raise
        except Exception:  # noqa: BLE001 - retried image by image below, where the error is reported
            pass
    return [(job, _upscale_one(upscaler, image, job, settings, stop)) for job, image in run]


def _upscale_one(
    upscaler: Upscaler, image: np.ndarray | Exception, job: Job, settings: JobSettings, stop: StopRequest,
) -> np.ndarray | Exception:
    if isinstance(image, Exception):
        return image
    try:
        return run_interruptibly(partial(upscale_image, upscaler, image, job, settings, stop))
    except StopRequested:
        raise
    except Exception as error:  # noqa: BLE001 - reported for this job alone
        return error


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
