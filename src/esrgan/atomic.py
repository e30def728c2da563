"""Write files so that a crash or Ctrl-C never leaves a half-written output under the final name."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

TEMP_MARKER = ".part"
"""Temp files are named `.{stem}.{random}.part{suffix}`: hidden, and recognisable as never finished."""

_TEMP_NAME = re.compile(rf"\.(.+)\.[a-z0-9_]{{8}}{re.escape(TEMP_MARKER)}(\.[^.]+)?")
"""The temp name of `atomic_write` (`tempfile.mkstemp` draws 8 characters from [a-z0-9_])."""


def atomic_write(path: Path, write: Callable[[Path], object], *, overwrite: bool = True) -> None:
    """Call `write(temp_path)` on a temp file beside `path`, then rename it into place.

    The temp file lives in the same folder so that the final rename is atomic on every platform; it keeps
    the target's suffix because some writers choose the format from it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not overwrite and path.exists():
        raise FileExistsError(path)
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f"{TEMP_MARKER}{path.suffix}",
                                         dir=path.parent)
    os.close(handle)
    temp = Path(temp_name)
    try:
        write(temp)
        # mkstemp makes the file private (0600), and some writers (safetensors) replace the temp file with one
        # of their own: give the result the permissions an ordinary open() would have, so that a shared cache
        # is readable by the other users the umask allows.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)
        if not overwrite and path.exists():
            raise FileExistsError(path)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def leftover_temp_files(folder: Path) -> list[Path]:
    """Temp files of `atomic_write` in `folder` that were never renamed into place: a `kill -9` or a power cut
    interrupted their write (an exception removes its own). Only a process that owns the folder may remove
    them: another process's write in progress looks the same."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if _TEMP_NAME.fullmatch(p.name) and p.is_file())


def unfinished_writes(targets: list[Path]) -> list[Path]:
    """The temp files that interrupted writes of `targets` left (see `leftover_temp_files`): a process that is
    about to write those targets owns them, so it may remove these. One listing per folder, however many
    targets it holds."""
    wanted: dict[Path, set[str]] = {}
    for target in targets:
        wanted.setdefault(Path(target).parent, set()).add(Path(target).name)
    found = []
    for folder, names in wanted.items():
        for temp in leftover_temp_files(folder):
            match = _TEMP_NAME.fullmatch(temp.name)
            if match is not None and f"{match[1]}{match[2] or ''}" in names:
                found.append(temp)
    return found
