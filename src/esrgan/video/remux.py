"""Stream copy: the check, before any work, that every stream fits the output container, and the final file
made from the segments' video packets and the source's audio and subtitle packets, none re-encoded.

Copying packets keeps audio and subtitles bit-identical and in sync: both keep their timestamps, and the
video's are the source's. Packets are written in time order from all inputs at once, so the muxer's
interleaving buffer stays small however long the video is.
"""

from __future__ import annotations

import bisect
import heapq
import io
import re
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import av.error

from esrgan.errors import VideoError
from esrgan.video.encoding import EncodeSettings
from esrgan.video.probe import VideoInfo, ffmpeg_reason
from esrgan.video.segments import Segment

_NOT_COPIED_METADATA = re.compile(r"(?i)(duration|encoder|major_brand|minor_version|compatible_brands|"
                                  r"number_of_frames|number_of_bytes|bps|_statistics_.*)")
"""Tags that describe the old encoding rather than the content: the muxer writes its own."""


def check_streams_fit(settings: EncodeSettings, source: VideoInfo, target: Path) -> None:
    """Write the output's header into memory, one copied stream at a time, and name the first that the
    container refuses (a subtitle format MP4 cannot hold, PCM audio in WebM, ...)."""
    with av.open(str(source.path)) as container:
        for index in (None, *source.copied):
            try:
                with av.open(io.BytesIO(), "w", format=settings.format) as output:
                    settings.add_stream(output)
                    if index is not None:
                        output.add_stream_from_template(container.streams[index], opaque=True)
                    output.start_encoding()
            except (av.error.FFmpegError, ValueError) as error:
                if index is None:
                    raise VideoError(f"{target}: {settings.codec.name} cannot be written in {target.suffix} "
                                     f"({ffmpeg_reason(error)}); choose another --codec or container") from None
                stream = container.streams[index]
                raise VideoError(
                    f"{source.path}: its {stream.type} stream {index} ({stream.codec_context.name}) cannot be "
                    f"copied into {target.suffix} ({ffmpeg_reason(error)}); write .mkv, which holds it") from None


def concatenate(segments: list[tuple[Path, Segment]], source: VideoInfo, settings: EncodeSettings,
                output_path: Path) -> None:
    """Write `output_path`: the segments' video, then each audio and subtitle stream, container metadata and
    chapters of `source`, all by stream copy."""
    with (av.open(str(output_path), "w", format=settings.format, options=settings.container_options) as output,
          av.open(str(source.path)) as original):
        output.metadata.update(_kept(original.metadata))
        with av.open(str(segments[0][0])) as first:
            # Opaque: the stream is copied, so no encoder of the decoder's name is looked for (there is none
            # named libdav1d, or mp3float for audio).
            video = output.add_stream_from_template(first.streams.video[0], opaque=True)
        if settings.display_matrix is not None:
            assert isinstance(video, av.video.stream.VideoStream)
            video.set_display_matrix(settings.display_matrix)
        if settings.codec_tag is not None:
            video.codec_tag = settings.codec_tag
        _copy_stream_properties(original.streams[source.stream], video)
        copies = {}
        for index in source.copied:
            copies[index] = output.add_stream_from_template(original.streams[index], opaque=True)
            _copy_stream_properties(original.streams[index], copies[index])
        if chapters := original.chapters():
            output.set_chapters(chapters)
        inputs = [_video_packets(segments, video), _copied_packets(original, copies)]
        for _, packet, stream in heapq.merge(*inputs, key=lambda item: item[0]):
            packet.stream = stream
            output.mux(packet)


Timed = tuple[Fraction, av.Packet, av.stream.Stream]


def _video_packets(segments: list[tuple[Path, Segment]], stream: av.stream.Stream) -> Iterator[Timed]:
    """The segments' packets in decoding order, moved to source time, with the decoding times that a single
    encoder run would have given them.

    An encoder with B-frames decodes `delay` frames ahead: packet j decodes at the (j - delay)-th presentation
    time. Each segment's encoder starts that count afresh, inventing times before its first frame that
    collide with the previous segment's; counting packets across all segments instead gives times that
    increase and precede each frame's presentation, and MP4 derives every frame's duration from them. Each
    packet's duration is likewise set to reach the next frame, wherever it was encoded.
    """
    presentation: list[int] = []
    delay = 0
    for path, segment in segments:
        with av.open(str(path)) as container:
            own = container.streams.video[0]
            offset = _offset(segment, own)
            times = [(p.pts, p.dts) for p in container.demux(own) if p.size and p.pts is not None]
            first = min(pts for pts, _ in times)
            # Matroska stores no decoding times: its demuxer leaves out those B-frames make unknown.
            delay = max(delay, sum(1 for _, dts in times if dts is None or dts < first))
            presentation.extend(sorted(pts + offset for pts, _ in times))
    step = presentation[1] - presentation[0] if len(presentation) > 1 else 1
    count = 0
    for path, segment in segments:
        with av.open(str(path)) as container:
            own = container.streams.video[0]
            offset = _offset(segment, own)
            time_base = Fraction(own.time_base or 1)
            for packet in container.demux(own):
                if packet.size == 0 or packet.pts is None:
                    continue  # the demuxer's end-of-stream marker
                packet.pts += offset
                dts = presentation[count - delay] if count >= delay else presentation[0] - (delay - count) * step
                if dts > packet.pts:
                    raise VideoError(f"{path}: its frames are reordered further than the first segment's; run "
                                     f"again with --overwrite")
                packet.dts = dts
                following = bisect.bisect_right(presentation, packet.pts)
                if following < len(presentation):  # the last frame keeps the duration its source frame had
                    packet.duration = presentation[following] - packet.pts
                count += 1
                yield dts * time_base, packet, stream


def _offset(segment: Segment, stream: av.stream.Stream) -> int:
    """The segment's start in its stream's ticks (its own timestamps count from 0)."""
    assert stream.time_base is not None
    return round(segment.start / stream.time_base)


def _copied_packets(container: av.container.InputContainer, copies: dict[int, av.stream.Stream]) -> Iterator[Timed]:
    if not copies:
        return
    at = Fraction(0)
    for packet in container.demux([container.streams[i] for i in copies]):
        if packet.size == 0:
            continue
        ticks = packet.dts if packet.dts is not None else packet.pts
        if ticks is not None and packet.time_base is not None:
            at = ticks * packet.time_base
        yield at, packet, copies[packet.stream.index]


def _kept(metadata: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in metadata.items() if not _NOT_COPIED_METADATA.fullmatch(key)}


def _copy_stream_properties(source: av.stream.Stream, copy: av.stream.Stream) -> None:
    """Language, title, handler name and the default/forced flags, which the template does not carry."""
    copy.metadata.update(_kept(source.metadata))
    copy.disposition = source.disposition
