"""The encoder settings of one output, settled once from the options, the target container and the source, and
the video stream they describe (used alike by each segment and by the container check before any work).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from esrgan.errors import ConfigError, VideoError
from esrgan.video.colour import Colour, output_colour
from esrgan.video.containers import output_format
from esrgan.video.options import CODECS, DEFAULT_CODECS, Codec, VideoOptions, check_crf
from esrgan.video.probe import VideoInfo

_CONTAINER_OPTIONS = {"mp4": {"movflags": "+faststart"}, "mov": {"movflags": "+faststart"}}
"""Muxer options of the final output: the index first, so a player can start before the whole file arrives."""


@dataclass(frozen=True)
class EncodeSettings:
    """Everything the video encoder and muxer are given. `width`/`height` are the encoded size: the upscaled
    frame (`picture_width`/`picture_height`) padded to what the pixel format's chroma subsampling requires."""

    format: str
    codec: Codec
    crf: int | None
    pix_fmt: str
    time_base: Fraction
    frame_rate: Fraction | None
    pixel_aspect: Fraction | None
    colour: Colour
    display_matrix: tuple[int, ...] | None
    picture_width: int = 0
    picture_height: int = 0
    width: int = 0
    height: int = 0

    @property
    def container_options(self) -> dict[str, str]:
        return _CONTAINER_OPTIONS.get(self.format, {})

    @property
    def counts_from_segment_start(self) -> bool:
        """Whether a segment's timestamps start at 0: MP4 and MOV store a later start as an edit list in
        milliseconds, which would move every frame of the segment by up to 1 ms. Matroska rounds every timestamp
        to the millisecond, so its segments keep the source's, rounded once as a single run rounds them."""
        return self.format in ("mp4", "mov")

    @property
    def codec_tag(self) -> str | None:
        """Apple's players refuse HEVC in MP4 and MOV unless it is tagged hvc1; FFmpeg's default is hev1."""
        return "hvc1" if self.codec.name == "hevc" and self.format in ("mp4", "mov") else None

    def sized(self, width: int, height: int, source: VideoInfo) -> EncodeSettings:
        """These settings for upscaled frames of `width` x `height` (the colour of an RGB source depends on it)."""
        multiple_w, multiple_h = chroma_multiples(self.pix_fmt)
        return dataclasses.replace(
            self, picture_width=width, picture_height=height, width=-(-width // multiple_w) * multiple_w,
            height=-(-height // multiple_h) * multiple_h,
            colour=output_colour(source.colour, source.rgb, width, height),
        )

    def describe(self) -> dict[str, object]:
        """What a resumed run must share with the run it continues (JSON types only)."""
        return {"format": self.format, "codec": self.codec.name, "crf": self.crf, "pix_fmt": self.pix_fmt,
                "width": self.picture_width, "height": self.picture_height}

    def add_stream(self, container: av.container.OutputContainer) -> av.video.stream.VideoStream:
        """The video stream in `container`, its encoder configured; frames are then given with `pts` in
        `time_base` and RGB converted by `self.colour`."""
        options = dict(self.codec.options)
        if self.crf is not None:
            options["crf"] = str(self.crf)
        stream = container.add_stream(self.codec.encoder, rate=self.frame_rate, options=options)
        assert isinstance(stream, av.video.stream.VideoStream)
        stream.width, stream.height, stream.pix_fmt = self.width, self.height, self.pix_fmt
        stream.time_base = self.time_base
        context = stream.codec_context
        context.time_base = self.time_base
        if self.pixel_aspect is not None:  # a uniform scale keeps the pixels' shape: anamorphic stays anamorphic
            context.sample_aspect_ratio = self.pixel_aspect
        if not av.VideoFormat(self.pix_fmt).is_rgb:
            context.colorspace, context.color_range = self.colour.matrix, self.colour.range
            context.color_primaries, context.color_trc = self.colour.primaries, self.colour.trc
        if self.display_matrix is not None:
            stream.set_display_matrix(self.display_matrix)
        if self.codec_tag is not None:
            stream.codec_tag = self.codec_tag
        return stream

    def frame(self, image: np.ndarray) -> av.VideoFrame:
        """An upscaled RGB image as a frame for the encoder, padded to the encoded size."""
        if image.shape[:2] != (self.picture_height, self.picture_width):
            raise VideoError(f"an upscaled frame is {image.shape[1]}x{image.shape[0]}, not the "
                              f"{self.picture_width}x{self.picture_height} of the first one")
        pad = ((0, self.height - self.picture_height), (0, self.width - self.picture_width), (0, 0))
        return self.colour.from_rgb(np.pad(image, pad, mode="edge") if any(p[1] for p in pad) else image,
                                    self.pix_fmt)


def encode_settings(target: Path, options: VideoOptions, source: VideoInfo) -> EncodeSettings:
    """The settings for writing `target`, or a ConfigError naming what is wrong and what is allowed.

    The size is not known yet (`EncodeSettings.sized`): it is the first upscaled frame's.
    """
    container = output_format(target)
    codec = CODECS[options.codec or DEFAULT_CODECS[Path(target).suffix.lower()]]
    if codec.encoder not in av.codecs_available:
        raise ConfigError(f"--codec {codec.name}: this PyAV build has no {codec.encoder} encoder")
    crf = check_crf(codec, options.crf) if options.crf is not None else codec.default_crf
    pix_fmt = options.pix_fmt or codec.default_pix_fmt
    formats = [f.name for f in av.codec.Codec(codec.encoder, "w").video_formats or ()]
    if pix_fmt not in formats:
        raise ConfigError(f"--pix-fmt {pix_fmt}: {codec.name} encodes {', '.join(formats)}")
    return EncodeSettings(format=container, codec=codec, crf=crf, pix_fmt=pix_fmt, time_base=source.time_base,
                          frame_rate=source.frame_rate, pixel_aspect=source.pixel_aspect, colour=source.colour,
                          display_matrix=source.display_matrix)


def chroma_multiples(pix_fmt: str) -> tuple[int, int]:
    """What width and height must be multiples of for `pix_fmt`: 2 for 4:2:0 (H.264 refuses odd sizes), 1 for
    RGB and 4:4:4."""
    probe = av.VideoFormat(pix_fmt, 64, 64)
    return (64 // min(c.width for c in probe.components), 64 // min(c.height for c in probe.components))
