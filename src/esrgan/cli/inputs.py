"""Turn command-line image arguments (files, folders, globs) into a list of image files."""

from __future__ import annotations

import glob
from pathlib import Path

from esrgan.errors import ImageReadError
from esrgan.imaging.io import IMAGE_SUFFIXES


def collect_images(arguments: list[str]) -> list[Path]:
    """Files as given, folders' images (sorted, not recursive), and globs expanded here for every shell.

    A file named explicitly is kept whatever its suffix, so that reading it reports what is wrong with it;
    from folders and globs only files with image suffixes are taken.
    """
    found: list[Path] = []
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            images = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not images:
                raise ImageReadError(f"{path}: no images in this folder ({', '.join(sorted(IMAGE_SUFFIXES))})")
            found.extend(images)
        elif path.exists():
            found.append(path)
        elif glob.has_magic(argument):
            matches = sorted(Path(p) for p in glob.glob(argument) if Path(p).suffix.lower() in IMAGE_SUFFIXES)
            if not matches:
                raise ImageReadError(f"{argument}: the pattern matches no images")
            found.extend(matches)
        else:
            raise ImageReadError(f"{path}: no such file or folder")
    return list(dict.fromkeys(found))
