"""YUV <-> RGB for video frames, with the same matrix and range both ways so colours survive the round trip.

The network sees RGB; video is YUV, and the matrix between them (BT.601 for standard definition, BT.709 for
HD, ...) is often left untagged, in which case players guess it from the frame size. An upscale crosses that
size boundary, so a player would guess differently for the output: the source's matrix (its tag, or the
guess a player makes for its size) is used to decode, reused to encode and then written as an explicit tag.
"""

from __future__ import annotations

from dataclasses import dataclass

import av
import numpy as np
from av.video.reformatter import ColorRange, Colorspace, Interpolation

# AVColorSpace values (libavutil/pixfmt.h) as containers and codecs tag them.
_RGB, _BT709, _UNSPECIFIED, _FCC, _BT470BG, _SMPTE170M, _SMPTE240M, _BT2020_NCL, _BT2020_CL = 0, 1, 2, 4, 5, 6, 7, 9, 10

_SWSCALE_MATRIX = {
    _BT709: Colorspace.ITU709, _FCC: Colorspace.FCC, _BT470BG: Colorspace.ITU601, _SMPTE170M: Colorspace.ITU601,
    _SMPTE240M: Colorspace.SMPTE240M, _BT2020_NCL: Colorspace.BT2020, _BT2020_CL: Colorspace.BT2020,
}
"""The tags swscale can convert with, to its own names for them."""

_TO_RGB = Interpolation.BICUBIC | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT
_FROM_RGB = Interpolation.BICUBIC | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INP
"""Exact rounding and full-resolution chroma: swscale's fast default rounds down, so every round trip through
RGB would darken the video a little; these are unbiased and closer
(`tests/video/test_upscale_video.py::test_colours_look_the_same_after_the_round_trip`)."""


@dataclass(frozen=True)
class Colour:
    """The colour description of a video: `matrix` (an AVColorSpace tag that swscale can convert with),
    `range` (limited or full), and `primaries` / `trc`, which are carried as tags and never converted."""

    matrix: int
    range: int
    primaries: int
    trc: int

    def to_rgb(self, frame: av.VideoFrame) -> np.ndarray:
        """The frame as (H, W, 3) uint8 RGB."""
        if frame.format.is_rgb:
            return frame.to_ndarray(format="rgb24")
        return frame.to_ndarray(format="rgb24", src_colorspace=_SWSCALE_MATRIX[self.matrix],
                                src_color_range=self.range, interpolation=_TO_RGB)

    def from_rgb(self, image: np.ndarray, pix_fmt: str) -> av.VideoFrame:
        """(H, W, 3) uint8 RGB as a frame of `pix_fmt`, converted with this description's matrix and range."""
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        if av.VideoFormat(pix_fmt).is_rgb:
            return frame.reformat(format=pix_fmt)
        return frame.reformat(format=pix_fmt, dst_colorspace=_SWSCALE_MATRIX[self.matrix], dst_color_range=self.range,
                              interpolation=_FROM_RGB)


def source_colour(frame: av.VideoFrame) -> Colour:
    """How `frame` (a decoded source frame) maps to RGB: its tags, else what a player assumes for its size."""
    matrix = frame.colorspace if frame.colorspace in _SWSCALE_MATRIX else implied_matrix(frame.width, frame.height)
    full = frame.format.name.startswith("yuvj") or frame.format.is_rgb
    colour_range = frame.color_range if frame.color_range in (ColorRange.MPEG, ColorRange.JPEG) else (
        ColorRange.JPEG if full else ColorRange.MPEG)
    return Colour(matrix, int(colour_range), frame.color_primaries, frame.color_trc)


def output_colour(source: Colour, source_is_rgb: bool, width: int, height: int) -> Colour:
    """The description the output is encoded with and tagged as: the source's, except that an RGB source has
    no matrix or range of its own and gets the usual ones for the output's size (limited range)."""
    if source_is_rgb:
        return Colour(implied_matrix(width, height), int(ColorRange.MPEG), source.primaries, source.trc)
    return source


def implied_matrix(width: int, height: int) -> int:
    """The matrix players assume for an untagged video of this size (mpv's and FFmpeg's rule)."""
    return _BT709 if width >= 1280 or height > 576 else _SMPTE170M
