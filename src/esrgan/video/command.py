"""One video job as `esrgan upscale` runs it among its other inputs: every problem becomes one printed line,
nothing raises, and Ctrl-C is answered at once while the network works on a frame."""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from esrgan.errors import EsrganError
from esrgan.interrupts import StopRequest, run_interruptibly
from esrgan.video.job import run_video
from esrgan.video.options import VideoOptions

if TYPE_CHECKING:
    from esrgan.inference.upscaler import Upscaler


def run_video_job(
    upscaler: Upscaler, source: Path, target: Path, options: VideoOptions, stop: StopRequest, *,
    outscale: float | None = None, back_projection: int = 0, quiet: bool = False,
) -> tuple[list[str], bool]:
    """Upscale `source` into `target`; return the failure lines (each also printed on stderr) and whether a
    stop request ended the job. A failure is a video that could not be done at all, a frame that could not
    be decoded (the output is written without it), or a stream that ended early."""

    def say(line: str) -> None:
        tqdm.write(f"esrgan: {line}", file=sys.stderr)

    work = partial(run_video, upscaler, source, target, options, outscale=outscale, back_projection=back_projection,
                   stop=stop, progress=not quiet, report=say)
    try:
        result = run_interruptibly(work)
    except EsrganError as error:
        say(f"skipped: {error}")
        return [str(error)], False
    except Exception as error:  # noqa: BLE001 - one video's failure must not stop the other inputs
        detail = str(error).splitlines()[0] if str(error) else ""
        reason = f"{source}: failed: {type(error).__name__}: {detail}"
        say(reason)
        return [reason], False
    failures = [f"{source}: {frame}" for frame in result.skipped]
    if result.stopped:
        say(f"stopped: {source}: {result.frames} frames are kept in {result.work_folder}; run the same command "
            f"with --resume to continue")
        return failures, True
    if result.skipped:
        say(f"{target}: written without {len(result.skipped)} frames of {source} that could not be decoded "
            f"(numbers {', '.join(str(f.index) for f in result.skipped)})")
    if result.incomplete is not None:
        failures.append(result.incomplete)
        say(result.incomplete)
    return failures, False
