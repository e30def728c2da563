"""How a video is written and how its job runs: the codec table and the one option value built from it.

The codecs are data (name -> encoder, quality scale, defaults), like the model zoo. `VideoOptions` is built
and checked once, before any model is loaded, so a misspelt `--codec` or an out-of-range `--crf` costs
nothing; what depends on the output container (its default codec, whether the codec fits it) is settled by
`esrgan.video.encoding` when the target is known. Nothing here imports PyAV.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from esrgan.defaults import DEFAULT_MAX_PIXELS
from esrgan.errors import ConfigError


@dataclass(frozen=True)
class Codec:
    """One video codec as the command line names it.

    `crf`: the range of the encoder's constant-quality scale (lower is better), None for a lossless codec.
    `default_crf` is chosen to be visually lossless; `default_pix_fmt` is what players everywhere decode,
    except for the lossless codec, which keeps the network's RGB exactly.
    """

    name: str
    encoder: str
    crf: tuple[int, int] | None
    default_crf: int | None
    default_pix_fmt: str
    options: dict[str, str] = field(default_factory=dict)


CODECS: dict[str, Codec] = {codec.name: codec for codec in (
    Codec("h264", "libx264", (0, 51), 18, "yuv420p"),
    Codec("hevc", "libx265", (0, 51), 20, "yuv420p", {"x265-params": "log-level=error"}),
    Codec("vp9", "libvpx-vp9", (0, 63), 20, "yuv420p", {"b": "0", "row-mt": "1", "cpu-used": "4"}),
    Codec("av1", "libsvtav1", (0, 63), 24, "yuv420p"),
    Codec("ffv1", "ffv1", None, None, "bgr0", {"level": "3", "slicecrc": "1"}),
)}

DEFAULT_CODECS: dict[str, str] = {".mp4": "h264", ".m4v": "h264", ".mov": "h264", ".mkv": "h264", ".webm": "vp9"}
"""The codec of each output container when none is named (`esrgan.video.containers.OUTPUT_FORMATS`)."""

DEFAULT_SEGMENT_FRAMES = 250
"""Frames per resumable segment: x264's own keyframe interval, so segments add almost no keyframes."""


@dataclass(frozen=True, kw_only=True)
class VideoOptions:
    """How one video is encoded and how its job treats earlier runs.

    `codec`, `crf`, `pix_fmt`: None = the container's default (`DEFAULT_CODECS`, then the codec's own).
    `resume`: continue the unfinished run whose parts lie beside the output. `overwrite`: replace an existing
    output, and discard an unfinished run's parts when not resuming. `max_pixels`: larger input frames are
    refused. `segment_frames`: frames per segment, the unit a resumed run continues from.
    """

    codec: str | None = None
    crf: int | None = None
    pix_fmt: str | None = None
    resume: bool = False
    overwrite: bool = False
    max_pixels: int = DEFAULT_MAX_PIXELS
    segment_frames: int = DEFAULT_SEGMENT_FRAMES

    def __post_init__(self) -> None:
        if self.codec is not None and self.codec not in CODECS:
            raise ConfigError(f"--codec {self.codec}: choose one of {', '.join(CODECS)}")
        if self.codec is not None and self.crf is not None:
            check_crf(CODECS[self.codec], self.crf)
        if self.max_pixels < 1:
            raise ConfigError(f"--max-pixels must be >= 1, not {self.max_pixels}")
        if self.segment_frames < 1:
            raise ConfigError(f"segment_frames must be >= 1, not {self.segment_frames}")


def check_crf(codec: Codec, crf: int) -> int:
    """`crf` itself when `codec` has a quality scale that contains it."""
    if codec.crf is None:
        raise ConfigError(f"--crf: {codec.name} is lossless and has no quality setting")
    low, high = codec.crf
    if not low <= crf <= high:
        raise ConfigError(f"--crf for {codec.name} lies in [{low}, {high}] (lower is better), not {crf}")
    return crf
