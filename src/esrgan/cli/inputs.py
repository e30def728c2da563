"""Turn command-line input arguments (files, folders, globs) into a list of image and video files, and the
reasons for whatever was named but cannot be read (so the rest of the job still runs)."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path

from esrgan.errors import ImageReadError
from esrgan.imaging.io import IMAGE_SUFFIXES, not_a_regular_file
from esrgan.video.containers import VIDEO_SUFFIXES

INPUT_SUFFIXES = IMAGE_SUFFIXES | VIDEO_SUFFIXES
"""What folders and globs contribute: images and videos, told apart by `esrgan.video.containers.is_video`."""


@dataclass
class Inputs:
    files: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """One line per named thing that is not a readable image or video file: why it was left out."""


def collect_inputs(arguments: list[str]) -> Inputs:
    """Files as given, folders' images and videos (sorted, not recursive), and globs expanded here for every
    shell.

    A file named explicitly is kept whatever its suffix, so that reading it reports what is wrong with it;
    from folders and globs only names with image or video suffixes are taken. Anything that is not a regular file is
    skipped with its reason. When nothing readable is left, that is an error.
    """
    found = Inputs()

    def take(path: Path) -> None:
        reason = not_a_regular_file(path)
        if reason is None:
            found.files.append(path)
        else:
            found.skipped.append(reason)

    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            names = sorted(p for p in path.iterdir() if p.suffix.lower() in INPUT_SUFFIXES)
            if not names:
                found.skipped.append(f"{path}: no images or videos in this folder "
                                     f"({', '.join(sorted(INPUT_SUFFIXES))})")
            for name in names:
                take(name)
        elif os.path.lexists(path):
            take(path)
        elif glob.has_magic(argument):
            matches = sorted(Path(p) for p in glob.glob(argument) if Path(p).suffix.lower() in INPUT_SUFFIXES)
            if not matches:
                found.skipped.append(f"{argument}: the pattern matches no images or videos")
            for match in matches:
                take(match)
        else:
            found.skipped.append(f"{path}: no such file or folder")
    found.files = list(dict.fromkeys(found.files))
    found.skipped = list(dict.fromkeys(found.skipped))
    if not found.files:
        raise ImageReadError("; ".join(found.skipped) if found.skipped else "no inputs")
    return found
