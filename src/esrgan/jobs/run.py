"""A run's jobs in this process: images first (their decoding and encoding overlapped with the network), then
videos one by one; every job ends with an outcome in the report, those a stop request left as "not_done"."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from esrgan.interrupts import StopRequest
from esrgan.jobs.images import upscale_images
from esrgan.jobs.plan import Job, JobSettings
from esrgan.jobs.report import Outcome, Report

if TYPE_CHECKING:
    from esrgan.inference.upscaler import Upscaler


def run_jobs(upscaler: Upscaler, jobs: Sequence[Job], settings: JobSettings, stop: StopRequest,
             report: Report) -> None:
    """Run `jobs`; afterwards each has exactly one outcome in `report`."""
    images = [job for job in jobs if not job.is_video]
    videos = [job for job in jobs if job.is_video]
    seen = len(report.outcomes)
    stopped = bool(images) and upscale_images(upscaler, images, settings, stop, report, total=len(images))
    if not stopped:
        for job in videos:
            if stop.requested or run_video(upscaler, job, settings, stop, report):
                break
    finished = {outcome.source for outcome in report.outcomes[seen:]}
    for job in jobs:
        if job.source not in finished:
            report.add(Outcome(job.source, job.target, "not_done", "stopped before it was finished"))


def run_video(upscaler: Upscaler, job: Job, settings: JobSettings, stop: StopRequest, report: Report) -> bool:
    """One video job, its outcome reported; True when a stop request ended it (its finished segments wait
    for --resume, so it is "not_done")."""
    from esrgan.video.command import run_video_job  # PyAV: only when there is a video

    started = time.perf_counter()
    failures, stopped = run_video_job(upscaler, job.source, job.target, settings.video, stop,
                                      outscale=settings.outscale, back_projection=settings.back_projection,
                                      quiet=settings.quiet)
    if not stopped:
        seconds = time.perf_counter() - started
        report.add(Outcome(job.source, job.target, "failed", "; ".join(failures), seconds) if failures else
                   Outcome(job.source, job.target, "done", seconds=seconds))
    return stopped
