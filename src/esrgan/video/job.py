"""One video job: every frame of a source through the network into a target file, resumable.

The order of work: check everything that can fail without upscaling (the source, the encoder options, that
each copied stream fits the container, an earlier run in the way), then stream the frames through the
network into segments, then join the segments and the source's other streams into the target by stream
copy, under a temp name renamed into place. A stop request ends the run at a frame boundary with the open
segment closed; the next run with `resume` continues after the last finished segment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from esrgan.atomic import atomic_write
from esrgan.defaults import DEFAULT_MAX_PIXELS
from esrgan.errors import VideoError
from esrgan.interrupts import StopRequest, StopRequested
from esrgan.video.containers import output_format
from esrgan.video.encoding import encode_settings
from esrgan.video.frames import SkippedFrame, decoded_frames, upscale_frames
from esrgan.video.options import DEFAULT_SEGMENT_FRAMES, VideoOptions
from esrgan.video.probe import VideoInfo, probe
from esrgan.video.remux import check_streams_fit, concatenate
from esrgan.video.segments import Progress, WorkFolder, source_stamp
from esrgan.video.writer import SegmentWriter

if TYPE_CHECKING:
    from esrgan.inference.upscaler import Upscaler

FrameCallback = Callable[[int, "int | None"], None]
"""Called after each frame is queued for encoding with (frames done, expected total or None)."""


@dataclass
class VideoResult:
    """What a job did. `frames`: frames in the output, earlier resumed runs included. `skipped`: frame
    positions that could not be decoded (left out; the previous frame shows longer). `incomplete`: why the
    stream ended before the frames its container declares, else None. `stopped`: a stop request ended the
    run; the parts are kept for `resume` and `target` does not exist yet. `notes`: what else to know."""

    target: Path
    frames: int
    segments: int
    skipped: list[SkippedFrame] = field(default_factory=list)
    incomplete: str | None = None
    stopped: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def work_folder(self) -> Path:
        return WorkFolder(self.target).path


def upscale_video(
    upscaler: Upscaler, source: str | Path, target: str | Path, *, codec: str | None = None, crf: int | None = None,
    pix_fmt: str | None = None, outscale: float | None = None, back_projection: int = 0, resume: bool = False,
    overwrite: bool = False, max_pixels: int = DEFAULT_MAX_PIXELS, segment_frames: int = DEFAULT_SEGMENT_FRAMES,
    stop: StopRequest | None = None, progress: bool = True, on_frame: FrameCallback | None = None,
) -> VideoResult:
    """Upscale the video `source` into `target` (what `Upscaler.upscale_video` does); see `VideoOptions` for
    the options. Raises `VideoError` or `ConfigError`, before any frame is upscaled, when it cannot be done."""
    options = VideoOptions(codec=codec, crf=crf, pix_fmt=pix_fmt, resume=resume, overwrite=overwrite,
                           max_pixels=max_pixels, segment_frames=segment_frames)
    return run_video(upscaler, Path(source), Path(target), options, outscale=outscale,
                     back_projection=back_projection, stop=stop, progress=progress, on_frame=on_frame)


def run_video(
    upscaler: Upscaler, source: Path, target: Path, options: VideoOptions, *, outscale: float | None = None,
    back_projection: int = 0, stop: StopRequest | None = None, progress: bool = True,
    on_frame: FrameCallback | None = None, report: Callable[[str], None] | None = None,
) -> VideoResult:
    """`upscale_video` with its options as one value; `report(line)` hears of each skipped frame and note as
    it happens."""
    say = report or (lambda _line: None)
    output_format(target)
    if source.resolve() == target.resolve():
        raise VideoError(f"{target}: would replace its own input; choose another output name")
    if target.exists() and not options.overwrite:
        raise VideoError(f"{target}: exists; pass --overwrite to replace it")
    info = probe(source, options.max_pixels)
    settings = encode_settings(target, options, info)
    # The size comes with the first upscaled frame; any size the encoder takes serves to check the container.
    check_streams_fit(settings.sized(info.width * upscaler.scale, info.height * upscaler.scale, info), info, target)
    work = WorkFolder(target)
    # What the frames depend on: a resumed run continues only with the same network and treatment, so that
    # no video is stitched from two models' frames.
    treatment = {"scale": upscaler.scale, "outscale": outscale, "back_projection": back_projection,
                 "network": upscaler.fingerprint()}
    fresh = Progress(source_stamp(source), {**settings.describe(), **treatment})
    state = work.start(fresh, resume=options.resume, overwrite=options.overwrite)
    result = VideoResult(target, state.frames, len(state.segments), list(state.skipped))
    for description in info.left_out:
        result.notes.append(f"{source}: {description} is not copied (only audio and subtitles are)")
        say(result.notes[-1])

    writer: SegmentWriter | None = None
    reached = state.next_index
    end: Fraction | None = None  # where the last decoded frame stops showing
    total = info.expected_frames
    on_tile = None if stop is None else (lambda _done, _total: stop.check())
    frames = upscale_frames(upscaler, decoded_frames(info, state.next_index), outscale, on_tile, back_projection)
    bar = tqdm(total=total, initial=state.next_index, desc=source.name, unit="frame", disable=not progress,
               dynamic_ncols=True)
    try:
        for frame in frames:
            reached = frame.index + 1
            if isinstance(frame, SkippedFrame):
                if state.skip(frame):
                    say(f"{source}: skipped {frame}")
                continue
            if writer is None:
                sized = settings.sized(frame.image.shape[1], frame.image.shape[0], info)
                writer = SegmentWriter(work, sized, state, options.segment_frames)
                if (sized.width, sized.height) != (sized.picture_width, sized.picture_height):
                    result.notes.append(f"{target.name}: {sized.pix_fmt} needs even sizes; the "
                                        f"{sized.picture_width}x{sized.picture_height} frames are padded to "
                                        f"{sized.width}x{sized.height} by repeating the last column or row")
                    say(result.notes[-1])
            writer.write(frame)
            end = frame.time + frame.duration * info.time_base
            bar.update(reached - bar.n)
            if on_frame is not None:
                on_frame(reached, total)
            if stop is not None and stop.requested:
                raise StopRequested
    except StopRequested:
        result.stopped = True
    except BaseException:
        if writer is not None:
            writer.abandon()
        if not state.segments:
            work.remove()  # nothing to resume: a later run should not have to name --resume or --overwrite
        raise
    finally:
        frames.close()
        bar.close()
    if writer is not None:
        writer.close()
    else:
        work.save(state)
    result.frames, result.segments, result.skipped = state.frames, len(state.segments), list(state.skipped)
    if result.stopped:
        return result
    if not state.segments:
        work.remove()
        raise VideoError(f"{source}: no frame of the video could be decoded")
    result.incomplete = _incomplete(info, reached, end)
    segments = [(work.path / segment.file, segment) for segment in state.segments]
    try:
        atomic_write(target, lambda temp: concatenate(segments, info, settings, temp), overwrite=options.overwrite)
    except FileExistsError:
        raise VideoError(f"{target}: appeared while upscaling; the parts are kept in {work.path}: pass "
                         f"--resume --overwrite to replace it") from None
    work.remove()
    return result


def _incomplete(info: VideoInfo, reached: int, end: Fraction | None) -> str | None:
    """Why the stream ended early: fewer frames than the container declares (MP4 and MOV count them), or,
    where it declares none, a video that stops well before the declared duration (a truncated Matroska file
    keeps the duration written at its start). The margin keeps audio that outlasts the picture from counting."""
    if info.frames:
        if reached < info.frames:
            return (f"{info.path}: the video ends after {reached} of the {info.frames} frames its container "
                    f"declares; the file is truncated or damaged")
        return None
    if info.duration and info.frame_rate and end is not None and end < info.duration * 9 / 10 - 2 / info.frame_rate:
        return (f"{info.path}: the video ends at {float(end):.2f} s of the {float(info.duration):.2f} s its "
                f"container declares; the file is truncated or damaged")
    return None
