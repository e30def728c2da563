"""Which files are videos, and which containers a video may be written to: decided by the name alone.

Recognition never opens the file, so that collecting a folder's inputs stays instant and a file named `.mp4`
that holds something else is reported once, by the job that tries to read it (`VideoError`). Nothing here
imports PyAV.
"""

from __future__ import annotations

from pathlib import Path

from esrgan.errors import ConfigError

VIDEO_SUFFIXES = frozenset({
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".m2ts", ".mts", ".wmv", ".flv",
    ".3gp", ".ogv",
})
"""Suffixes of the containers read as videos."""

OUTPUT_FORMATS: dict[str, str] = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm"}
"""Containers written (suffix -> FFmpeg muxer): the ones that keep each frame's own timestamp (variable frame
rate) and can take the audio and subtitles of most sources as they are. AVI and MPEG streams cannot."""

FALLBACK_SUFFIX = ".mkv"
"""Where a video whose own container cannot be written goes: Matroska holds every common codec."""


def is_video(path: str | Path) -> bool:
    """True when `path` is named like a video container (its content is checked when it is read)."""
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def output_suffix(source: str | Path) -> str:
    """The container an upscaled `source` is written in when the caller names none: its own where possible."""
    suffix = Path(source).suffix.lower()
    return suffix if suffix in OUTPUT_FORMATS else FALLBACK_SUFFIX


def output_format(target: str | Path) -> str:
    """The FFmpeg muxer for `target`, or a ConfigError naming the containers that can be written."""
    suffix = Path(target).suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise ConfigError(f"{target}: videos are written as {', '.join(OUTPUT_FORMATS)}, not {suffix or 'no suffix'}")
    return OUTPUT_FORMATS[suffix]
