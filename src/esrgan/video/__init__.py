"""Video upscaling: frames decoded, upscaled and encoded one at a time, other streams copied, resumable.

    containers.py  which files are videos, which containers are written (no PyAV: the CLI imports it early)
    options.py     the codec table and `VideoOptions` (no PyAV)
    probe.py       what a source holds, checked before any work
    colour.py      YUV <-> RGB with the source's matrix both ways
    frames.py      decoded and upscaled frames, one at a time
    encoding.py    encoder settings and the video stream they describe
    segments.py    the work folder: segment files and the progress manifest
    writer.py      encoding into segments on a background thread
    remux.py       the stream-copy check and the final concatenation
    job.py         `upscale_video`: one job, start to end
    command.py     `run_video_job`: one job as `esrgan upscale` reports it

The names below are imported on first use (PEP 562), so that `esrgan.video.containers` stays free of PyAV.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from esrgan.video.containers import is_video
    from esrgan.video.frames import Frame, SkippedFrame, upscaled_frames
    from esrgan.video.job import VideoResult, upscale_video
    from esrgan.video.options import VideoOptions

__all__ = ["is_video", "upscaled_frames", "upscale_video", "Frame", "SkippedFrame", "VideoResult", "VideoOptions"]
_HOMES = {"is_video": "esrgan.video.containers", "upscaled_frames": "esrgan.video.frames",
          "Frame": "esrgan.video.frames", "SkippedFrame": "esrgan.video.frames", "upscale_video": "esrgan.video.job",
          "VideoResult": "esrgan.video.job", "VideoOptions": "esrgan.video.options"}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'esrgan.video' has no attribute {name!r}")
