"""Short test clips made with PyAV itself: a moving pattern, a sine tone, optionally a subtitle, a rotation,
variable frame timing, odd sizes; and readers that return what a clip holds, for comparing input and output."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import Interpolation

from esrgan.inference.upscaler import Upscaler
from esrgan.options import UpscaleOptions
from tests.conftest import TINY, tiny_rrdbnet

SAMPLE_RATE = 48_000
ACCURATE = Interpolation.BICUBIC | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT
"""How the tests decode to RGB: as an accurate player would (swscale's fast default rounds down)."""
SUBTITLE_CODECS = {"mp4": "mov_text", "mov": "mov_text", "matroska": "subrip"}


def tiny_upscaler() -> Upscaler:
    """A random ×4 RRDBNet run whole-image in fp32 on the CPU: deterministic and fast on 32×24 frames."""
    return Upscaler(tiny_rrdbnet(), TINY, UpscaleOptions(tile=0, precision="fp32", device="cpu", backend="torch"))


def pattern(index: int, width: int, height: int) -> np.ndarray:
    """A gradient with a bright square that moves two pixels a frame: every frame differs, and a wrong frame
    order or offset shows."""
    y, x = np.mgrid[0:height, 0:width]
    image = np.stack([(x * 255 // max(width - 1, 1)), (y * 255 // max(height - 1, 1)), np.full_like(x, 96)], -1)
    left = (2 * index) % max(width - 6, 1)
    image[height // 3: height // 3 + 6, left: left + 6] = (250, 250, 40)
    return image.astype(np.uint8)


def make_clip(
    path: Path, *, width: int = 32, height: int = 24, frames: int = 12, fps: int = 24, codec: str = "libx264",
    pix_fmt: str = "yuv420p", audio: bool = True, subtitles: bool = False, times: list[Fraction] | None = None,
    rotation: int | None = None, bt709: bool = False, pixel_aspect: Fraction | None = None, fmt: str | None = None,
) -> Path:
    """Write a clip; `times` (seconds) makes its frame timing variable, else it is `fps` constant; `bt709` tags
    its colour (an untagged one of this size is BT.601 to a player)."""
    with av.open(str(path), "w", format=fmt) as output:
        output.metadata["title"] = "esrgan test clip"
        time_base = Fraction(1, 1000) if times is not None else Fraction(1, fps)
        video = output.add_stream(codec, rate=fps, options={"crf": "18"} if codec == "libx264" else {})
        assert isinstance(video, av.video.stream.VideoStream)
        video.width, video.height, video.pix_fmt = width, height, pix_fmt
        video.codec_context.time_base = time_base
        if rotation is not None:
            video.set_display_rotation(rotation)
        if pixel_aspect is not None:
            video.codec_context.sample_aspect_ratio = pixel_aspect
        if bt709:
            context = video.codec_context
            context.colorspace = context.color_primaries = context.color_trc = 1
        sound = output.add_stream("aac", rate=SAMPLE_RATE, layout="mono") if audio else None
        subtitle_codec = SUBTITLE_CODECS.get(output.format.name.split(",")[0], "")
        text = output.add_mux_stream(subtitle_codec) if subtitles else None
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(pattern(index, width, height), format="rgb24").reformat(format=pix_fmt)
            frame.pts = round(times[index] / time_base) if times is not None else index
            frame.time_base = time_base
            output.mux(video.encode(frame))
        output.mux(video.encode(None))
        if sound is not None:
            assert isinstance(sound, av.audio.stream.AudioStream)
            seconds = times[-1] + Fraction(1, fps) if times is not None else Fraction(frames, fps)
            tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE))
            for start in range(0, tone.size, 1024):
                chunk = av.AudioFrame.from_ndarray(tone[None, start:start + 1024].astype(np.float32), format="fltp",
                                                   layout="mono")
                chunk.sample_rate, chunk.pts = SAMPLE_RATE, start
                output.mux(sound.encode(chunk))
            output.mux(sound.encode(None))
        if text is not None:
            words = b"upscaled"
            payload = len(words).to_bytes(2, "big") + words if subtitle_codec == "mov_text" else words
            packet = av.Packet(payload)
            packet.pts, packet.dts, packet.duration, packet.time_base = 100, 100, 300, Fraction(1, 1000)
            packet.stream = text
            output.mux(packet)
    return path


@dataclass
class Contents:
    """What a clip holds, as the tests compare it."""

    frames: list[np.ndarray]
    times: list[Fraction]
    size: tuple[int, int]
    codec: str
    pix_fmt: str
    colour: tuple[int, int, int, int]
    """Matrix, range, primaries and transfer tags of the first frame."""
    rotation: int
    pixel_aspect: Fraction | None
    packets: dict[str, list[tuple[bytes, Fraction | None]]]
    """Per non-video stream type, each packet's bytes and presentation time."""
    duration: float
    metadata: dict[str, str]


def read_clip(path: Path) -> Contents:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames, times, rotation, colour, pix_fmt = [], [], 0, (0, 0, 0, 0), ""
        for frame in container.decode(stream):
            frames.append(frame.to_ndarray(format="rgb24", interpolation=ACCURATE))
            colour = (frame.colorspace, frame.color_range, frame.color_primaries, frame.color_trc)
            pix_fmt = frame.format.name
            assert frame.pts is not None and frame.time_base is not None
            times.append(frame.pts * frame.time_base)
            rotation = frame.rotation
        duration = container.duration / av.time_base if container.duration else 0.0
        codec, size, metadata = stream.codec_context.name, (stream.width, stream.height), dict(container.metadata)
        pixel_aspect = stream.sample_aspect_ratio
    packets: dict[str, list[tuple[bytes, Fraction | None]]] = {}
    with av.open(str(path)) as container:
        others = [s for s in container.streams if s.type != "video"]
        for packet in container.demux(others) if others else ():
            if packet.size:
                at = packet.pts * packet.time_base if packet.pts is not None and packet.time_base else None
                packets.setdefault(packet.stream.type, []).append((bytes(packet), at))
    return Contents(frames, times, size, codec, pix_fmt, colour, rotation, pixel_aspect, packets, duration, metadata)
