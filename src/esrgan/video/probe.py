"""What a video file holds, checked before any frame is upscaled: a readable video stream of an allowed size,
its timing and colour, and which other streams travel with it.

Every way a file can fail to be a usable video ends here as one `VideoError` line that names the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error
import numpy as np

from esrgan.errors import VideoError
from esrgan.imaging.io import not_a_regular_file
from esrgan.video.colour import Colour, source_colour

COPIED_KINDS = ("audio", "subtitle")
"""Streams copied into the output as they are; others (data, attachments, further video) are left out."""


@dataclass(frozen=True)
class VideoInfo:
    """The facts about a source that the job needs. `stream` is the index of the video stream upscaled;
    `pixel_aspect` is the shape of its pixels (None for square; DVDs and some cameras have others); `frames`
    and `duration` are what the container declares (None when it does not); `display_matrix` is the
    rotation/flip a player applies (None for upright)."""

    path: Path
    stream: int
    width: int
    height: int
    time_base: Fraction
    frame_rate: Fraction | None
    pixel_aspect: Fraction | None
    frames: int | None
    duration: Fraction | None
    colour: Colour
    rgb: bool
    display_matrix: tuple[int, ...] | None
    copied: tuple[int, ...]
    left_out: tuple[str, ...]

    @property
    def expected_frames(self) -> int | None:
        """The declared frame count, else one estimated from duration and frame rate (None when neither)."""
        if self.frames:
            return self.frames
        if self.duration and self.frame_rate:
            return round(self.duration * self.frame_rate)
        return None


def ffmpeg_reason(error: Exception) -> str:
    """FFmpeg's own words for `error`, without the errno and file name PyAV adds."""
    if isinstance(error, av.error.FFmpegError) and error.strerror:
        return str(error.strerror)
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def probe(path: Path, max_pixels: int) -> VideoInfo:
    """Open `path`, check it, and decode its first frame (colour and rotation are frame properties)."""
    path = Path(path)
    if (reason := not_a_regular_file(path)) is not None:
        raise VideoError(reason)
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as error:
        raise VideoError(f"{path}: not a readable video file ({ffmpeg_reason(error)})") from None
    with container:
        pictures = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
        if not pictures:
            kinds: list[str] = sorted({s.type for s in container.streams}) or ["no streams"]
            raise VideoError(f"{path}: has no video stream (it holds {', '.join(kinds)})")
        stream = pictures[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        if width <= 0 or height <= 0:
            # FFmpeg itself zeroes a size its decoder refuses (over 2^31 / 8 pixels): an absurd or damaged header.
            raise VideoError(f"{path}: the video stream has no usable frame size (its header is absurd or damaged)")
        if width * height > max_pixels:
            raise VideoError(f"{path}: {width}x{height} frames ({width * height:,} pixels) are over the limit of "
                             f"{max_pixels:,} pixels; pass --max-pixels to allow them")
        if stream.time_base is None:
            raise VideoError(f"{path}: the video stream has no time base")
        try:
            first = next(container.decode(stream), None)
        except (av.error.FFmpegError, EOFError) as error:
            raise VideoError(f"{path}: cannot decode the video ({ffmpeg_reason(error)})") from None
        if first is None:
            raise VideoError(f"{path}: the video stream holds no frame that can be decoded")
        copied = tuple(s.index for s in container.streams if s.type in COPIED_KINDS)
        left_out = tuple(f"stream {s.index} ({s.type}, {s.codec_context.name if s.codec_context else 'no codec'})"
                         for s in container.streams if s.index != stream.index and s.type not in COPIED_KINDS)
        return VideoInfo(
            path=path, stream=stream.index, width=width, height=height, time_base=stream.time_base,
            frame_rate=stream.average_rate or stream.guessed_rate, pixel_aspect=_pixel_aspect(stream),
            frames=stream.frames or None,
            duration=_duration(container, stream), colour=source_colour(first), rgb=first.format.is_rgb,
            display_matrix=_display_matrix(first), copied=copied, left_out=left_out,
        )


def _pixel_aspect(stream: av.video.stream.VideoStream) -> Fraction | None:
    aspect = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio
    return aspect if aspect and aspect != 1 else None


def _duration(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> Fraction | None:
    """The video stream's duration: its header's, else Matroska's DURATION tag, else the whole file's."""
    if stream.duration and stream.time_base:
        return stream.duration * stream.time_base
    tag = re.fullmatch(r"(\d+):(\d\d):(\d\d(?:\.\d+)?)", stream.metadata.get("DURATION", ""))
    if tag:
        return Fraction(int(tag[1]) * 3600 + int(tag[2]) * 60) + Fraction(tag[3])
    if container.duration:
        return Fraction(container.duration, av.time_base)
    return None


def _display_matrix(frame: av.VideoFrame) -> tuple[int, ...] | None:
    """The nine 32-bit numbers of the frame's display matrix, or None when it has none or it is the identity."""
    side_data: Any = frame.side_data  # PyAV's stub lists only motion vectors
    try:
        data = bytes(side_data["DISPLAYMATRIX"])
    except (KeyError, ValueError):
        return None
    matrix = tuple(int(v) for v in np.frombuffer(data[:36], dtype=np.int32))
    return None if matrix == (1 << 16, 0, 0, 0, 1 << 16, 0, 0, 0, 1 << 30) else matrix
