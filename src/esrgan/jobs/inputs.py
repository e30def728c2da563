"""Turn input arguments (files, folders, globs) into a list of image and video files, and the reasons for
whatever was named but cannot be read (so the rest of the run still goes ahead)."""

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


@dataclass(frozen=True)
class InputFile:
    path: Path
    relative: Path
    """Where its result goes below the output folder: its path below the folder it was found in (so that a
    recursive job mirrors the tree), or its name alone."""


@dataclass
class Inputs:
    files: list[InputFile] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    """Each named thing that is not a readable image or video file (a path or a pattern, as given or found),
    with the line saying why it was left out."""


def collect_inputs(arguments: list[str], *, recursive: bool = False, exclude: Path | None = None) -> Inputs:
    """Files as given, folders' images and videos (sorted; with `recursive`, of the whole tree below), and
    globs expanded here for every shell.

    A file named explicitly is kept whatever its suffix, so that reading it reports what is wrong with it;
    from folders and globs only names with image or video suffixes are taken, and hidden files and folders
    (a video's unfinished parts, `.git`) are passed over, as is the `exclude` folder (the output, when it
    lies inside an input tree: a re-run must not take its own results as inputs). Anything that is not a
    regular file is skipped with its reason. When nothing readable is left, that is an error.
    """
    found = Inputs()
    excluded = exclude.resolve() if exclude is not None else None

    def take(path: Path, relative: Path) -> None:
        reason = not_a_regular_file(path)
        if reason is None:
            found.files.append(InputFile(path, relative))
        else:
            found.skipped[str(path)] = reason

    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            names = _folder(path, recursive, excluded)
            if not names:
                found.skipped[str(path)] = (f"{path}: no images or videos in this folder"
                                            f"{' tree' if recursive else ''} ({', '.join(sorted(INPUT_SUFFIXES))})")
            for name in names:
                take(name, name.relative_to(path))
        elif os.path.lexists(path):
            take(path, Path(path.name))
        elif glob.has_magic(argument):
            matches = sorted(Path(p) for p in glob.glob(argument, recursive=recursive) if _wanted(Path(p)))
            if not matches:
                found.skipped[argument] = f"{argument}: the pattern matches no images or videos"
            for match in matches:
                take(match, Path(match.name))
        else:
            found.skipped[str(path)] = f"{path}: no such file or folder"
    found.files = list({file.path: file for file in found.files}.values())
    if not found.files:
        raise ImageReadError("; ".join(found.skipped.values()) if found.skipped else "no inputs")
    return found


def _wanted(path: Path) -> bool:
    return path.suffix.lower() in INPUT_SUFFIXES and not path.name.startswith(".")


def _folder(folder: Path, recursive: bool, excluded: Path | None) -> list[Path]:
    """The images and videos in `folder` (and, `recursive`, below it), sorted. Symbolic links to folders are
    not followed, so a link loop cannot make the walk endless."""
    if not recursive:
        return sorted(p for p in folder.iterdir() if _wanted(p))
    files: list[Path] = []
    for root, folders, names in os.walk(folder):
        here = Path(root)
        folders[:] = sorted(name for name in folders
                            if not name.startswith(".") and (here / name).resolve() != excluded)
        files += (here / name for name in names if _wanted(here / name))
    return sorted(files)
