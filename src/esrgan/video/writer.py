"""Encoding upscaled frames into segment files, on a background thread while the network runs.

Colour conversion and encoding of large output frames are work the network's cores would otherwise wait
for; one writer thread takes them, in order, with a few frames queued at most (finished frames never pile
up in memory). Segment boundaries and manifest saves go through the same queue, so a segment is listed in
the manifest only once every one of its frames is encoded and the file is closed.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

import av
import numpy as np

from esrgan.inference.pipeline import BackgroundWriter
from esrgan.video.encoding import EncodeSettings
from esrgan.video.frames import Frame
from esrgan.video.segments import Progress, Segment, WorkFolder


class _SegmentFile:
    """One open segment: its own container and encoder, timestamps counted from `origin` (source ticks).

    Encoders leave packet durations out, and a muxer then guesses the last frame's from the average frame
    rate; each packet gets its frame's duration instead, so a variable-rate video ends where its source does.
    """

    def __init__(self, path: Path, settings: EncodeSettings, origin: int) -> None:
        self.path = path
        self.settings = settings
        self.origin = origin
        self.container = av.open(str(path), "w", format=settings.format)
        self.stream = settings.add_stream(self.container)
        self._durations: dict[int, int] = {}

    def write(self, image: np.ndarray, pts: int, duration: int) -> None:
        frame = self.settings.frame(image)
        frame.pts = pts - self.origin
        frame.time_base = self.settings.time_base
        if duration:
            self._durations[frame.pts] = duration
        self._mux(self.stream.encode(frame))

    def close(self) -> None:
        self._mux(self.stream.encode(None))
        self.container.close()

    def _mux(self, packets: list[av.Packet]) -> None:
        for packet in packets:
            if packet.pts is not None and packet.pts in self._durations:
                packet.duration = self._durations.pop(packet.pts)
        self.container.mux(packets)


class SegmentWriter:
    """Writes frames into numbered segments of `work`, each closed after `segment_frames` frames or by
    `finish`, recording each closed segment in `progress` and saving the manifest."""

    def __init__(self, work: WorkFolder, settings: EncodeSettings, progress: Progress, segment_frames: int) -> None:
        self.work = work
        self.settings = settings
        self.progress = progress
        self.segment_frames = segment_frames
        self._thread = BackgroundWriter(depth=4)
        self._futures: list[Future[None]] = []
        self._open: _SegmentFile | None = None
        self._segment: Segment | None = None

    def write(self, frame: Frame) -> None:
        """Queue `frame` (upscaled); closes the segment when it is full. Raises what an earlier write raised."""
        self._raise_failures()
        if self._segment is None:
            origin = frame.pts if self.settings.counts_from_segment_start else 0
            self._segment = Segment(self.work.segment(len(self.progress.segments))[1].name, frame.index, 0,
                                    origin * self.settings.time_base)
            self._submit(self._start, len(self.progress.segments), origin)
        self._segment = Segment(self._segment.file, self._segment.first, self._segment.frames + 1, self._segment.start)
        self._submit(self._write, frame.image, frame.pts, frame.duration)
        self.progress.next_index = frame.index + 1
        if self._segment.frames >= self.segment_frames:
            self.finish()

    def finish(self) -> None:
        """Close the open segment (if any) and save the manifest that lists it."""
        if self._segment is None:
            return
        self.progress.segments.append(self._segment)
        self._submit(self._close, len(self.progress.segments) - 1, self.progress.snapshot())
        self._segment = None

    def close(self) -> None:
        """Finish the open segment, wait for every write, and raise the first failure."""
        try:
            self.finish()
        finally:
            self._thread.close()
            self._raise_failures()

    def abandon(self) -> None:
        """After a failure elsewhere: wait for queued writes, delete an unfinished segment, list nothing new."""
        self._segment = None
        self._thread.close()
        if self._open is not None:
            self._open.container.close()
            self._open.path.unlink(missing_ok=True)
            self._open = None

    def _submit(self, call: Callable[..., None], *args: object) -> None:
        self._futures.append(self._thread.submit(call, *args))

    def _raise_failures(self) -> None:
        for future in [f for f in self._futures if f.done()]:
            self._futures.remove(future)
            future.result()

    def _start(self, number: int, origin: int) -> None:
        self._open = _SegmentFile(self.work.segment(number)[0], self.settings, origin)

    def _write(self, image: np.ndarray, pts: int, duration: int) -> None:
        assert self._open is not None
        self._open.write(image, pts, duration)

    def _close(self, number: int, progress: Progress) -> None:
        assert self._open is not None
        self._open.close()
        self.work.finish_segment(self._open.path, number)
        self._open = None
        self.work.save(progress)
