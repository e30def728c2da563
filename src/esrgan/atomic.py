"""Write files so that a crash or Ctrl-C never leaves a half-written output under the final name."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def atomic_write(path: Path, write: Callable[[Path], None], *, overwrite: bool = True) -> None:
    """Call `write(temp_path)` on a temp file beside `path`, then rename it into place.

    The temp file lives in the same folder so that the final rename is atomic on every platform; it keeps
    the target's suffix because some writers choose the format from it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not overwrite and path.exists():
        raise FileExistsError(path)
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".part{path.suffix}", dir=path.parent)
    os.close(handle)
    temp = Path(temp_name)
    try:
        # mkstemp makes the file private (0600); give it the permissions an ordinary open() would have.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)
        write(temp)
        if not overwrite and path.exists():
            raise FileExistsError(path)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
