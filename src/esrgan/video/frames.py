"""Frames of a video, decoded one at a time (memory does not grow with the video's length), as RGB with their
timestamps, and the same frames upscaled.

A packet that cannot be decoded does not end the stream: it comes out as a `SkippedFrame` in its place, so
the caller reports it and goes on. Frames are numbered by their position in the stream, lost ones included,
so a number means the same frame in every run over the same file (which is what resuming relies on).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import av
import av.error
import numpy as np

from esrgan.defaults import DEFAULT_MAX_PIXELS
from esrgan.inference.pipeline import same_size_runs
from esrgan.video.probe import VideoInfo, ffmpeg_reason, probe

if TYPE_CHECKING:
    from esrgan.inference.upscaler import Upscaler

TileCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class Frame:
    """One frame: `index` in the stream, `pts` and `duration` (0 = unknown) in the stream's time base, `time`
    in seconds, `image` as (H, W, 3) uint8 RGB (the decoded frame, or its upscaled version)."""

    index: int
    pts: int
    duration: int
    time: Fraction
    image: np.ndarray


@dataclass(frozen=True)
class SkippedFrame:
    """A frame position whose packet could not be decoded (or read), and why."""

    index: int
    time: Fraction | None
    reason: str

    def __str__(self) -> str:
        at = f" at {float(self.time):.3f} s" if self.time is not None else ""
        return f"frame {self.index}{at}: {self.reason}"


def decoded_frames(source: VideoInfo, start: int = 0) -> Iterator[Frame | SkippedFrame]:
    """The frames of `source` from index `start` on, in presentation order.

    A lost frame takes its place by its timestamp: with B-frames, frames presented before it may still come
    out of the decoder after its packet failed. Timestamps are the stream's own; a frame without one, or with
    one that does not increase, gets the next free one (encoders refuse anything else). Frames before
    `start` are decoded but not converted to RGB.
    """
    step = max(1, round(1 / (source.frame_rate * source.time_base))) if source.frame_rate else 1
    last_pts: int | None = None
    index = 0
    waiting: list[_Lost] = []  # lost frames, by timestamp, until a frame presented after them comes out
    for item in _decode(source):
        if isinstance(item, _Lost):
            bisect.insort(waiting, item, key=lambda lost: -1 if lost.pts is None else lost.pts)
            continue
        if item.pts is None:
            pts = 0 if last_pts is None else last_pts + step
        else:
            pts = item.pts if last_pts is None or item.pts > last_pts else last_pts + 1
        while waiting and (waiting[0].pts is None or waiting[0].pts < pts):
            if index >= start:
                yield waiting[0].skipped(index, source.time_base)
            waiting.pop(0)
            index += 1
        last_pts = pts
        if index >= start:
            yield Frame(index, pts, item.duration or 0, pts * source.time_base, source.colour.to_rgb(item))
        index += 1
    for lost in waiting:
        if index >= start:
            yield lost.skipped(index, source.time_base)
        index += 1


@dataclass(frozen=True)
class _Lost:
    """A packet that could not be read or decoded: its timestamp (None when unknown) and why."""

    pts: int | None
    reason: str

    def skipped(self, index: int, time_base: Fraction) -> SkippedFrame:
        return SkippedFrame(index, None if self.pts is None else self.pts * time_base, self.reason)


def _decode(source: VideoInfo) -> Iterator[av.VideoFrame | _Lost]:
    """The decoder's output in its own order, with a `_Lost` for each packet that fails."""
    with av.open(str(source.path)) as container:
        stream = container.streams[source.stream]
        assert isinstance(stream, av.video.stream.VideoStream)
        # No frame threads: they report a bad packet a few packets late, so the loss would be misplaced. Decoding
        # on one core still outpaces the network many times over.
        stream.thread_type = "SLICE"
        packets = container.demux(stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except (av.error.FFmpegError, EOFError) as error:
                yield _Lost(None, f"the file cannot be read further ({ffmpeg_reason(error)})")
                return
            try:
                yield from stream.decode(packet)
            except av.error.FFmpegError as error:
                yield _Lost(packet.pts, f"cannot be decoded ({ffmpeg_reason(error)})")


def upscale_frames(
    upscaler: Upscaler, frames: Iterator[Frame | SkippedFrame], outscale: float | None = None,
    on_tile: TileCallback | None = None, back_projection: int = 0,
) -> Generator[Frame | SkippedFrame, None, None]:
    """Each frame through the network (`Upscaler.upscale_array`), in order; skipped frames pass through.
    Where the `Upscaler` takes several frames of this size per call (a GPU; `--batch N`), that many go
    through the network together (`Upscaler.upscale_batch`: the same pixels), without tile progress."""
    for run in same_size_runs(frames, lambda frame: frame.image if isinstance(frame, Frame) else None,
                              upscaler.images_per_call):
        if isinstance(run[0], SkippedFrame):
            yield run[0]
            continue
        shown = [frame for frame in run if isinstance(frame, Frame)]
        if len(shown) == 1:
            images = [upscaler.upscale_array(shown[0].image, outscale, on_tile, back_projection)]
        else:
            images = upscaler.upscale_batch([frame.image for frame in shown], outscale, back_projection)
        for frame, image in zip(shown, images, strict=True):
            yield Frame(frame.index, frame.pts, frame.duration, frame.time, image)


def upscaled_frames(
    upscaler: Upscaler, source: str | Path, *, outscale: float | None = None, back_projection: int = 0,
    max_pixels: int = DEFAULT_MAX_PIXELS, start: int = 0, on_tile: TileCallback | None = None,
) -> Iterator[Frame | SkippedFrame]:
    """The frames of the video `source`, upscaled, one at a time; what `Upscaler.frames` returns.

    Each item is a `Frame` (upscaled RGB `image`, `index`, `time`) or, for a frame that cannot be decoded,
    a `SkippedFrame` in its place. Raises `VideoError` up front when `source` is not a usable video.
    """
    return upscale_frames(upscaler, decoded_frames(probe(Path(source), max_pixels), start), outscale, on_tile,
                          back_projection)
