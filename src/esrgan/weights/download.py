"""Fetch a published weights file so that the cache only ever holds complete files whose sha256 was checked.

The bytes stream into a temp file beside the destination and are hashed on the way. Only a file of the
announced length and the expected sha256 is renamed into place, which is atomic, so neither a failure nor
Ctrl-C leaves anything behind: the temp file is removed and `DownloadError` names the URL, what went wrong
and what to do instead.

Some publishers give only the first hex digits of the sha256, in the file name (torchvision's
`vgg19-dcbb9e9d.pth`); such a prefix of at least `MIN_SHA256_PREFIX` digits is checked as torch.hub does.
"""

from __future__ import annotations

import hashlib
import http.client
import re
import urllib.error
import urllib.request
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from tqdm import tqdm

from esrgan.atomic import atomic_write
from esrgan.errors import DownloadError

TIMEOUT_S = 30.0
"""Longest wait for a connection or for the next bytes; a stalled server fails instead of hanging forever."""

MIN_SHA256_PREFIX = 8
_CHUNK = 1 << 20
_USER_AGENT = "esrgan (+https://pypi.org/project/esrgan/)"


class _Failure(Exception):
    """What went wrong with one URL, before it is phrased as advice to the user."""


def download(
    url: str, destination: Path, sha256: str, progress: bool = True, *, size: int | None = None,
    timeout: float = TIMEOUT_S,
) -> Path:
    """Save the file at `url` as `destination` if and only if its sha256 is (or starts with) `sha256`.

    `size`, when known, lets a wrong file (an error page, another model) fail before it is downloaded.
    """
    return download_first([url], destination, sha256, progress, size=size, timeout=timeout)


def download_first(
    urls: Sequence[str], destination: Path, sha256: str, progress: bool = True, *, size: int | None = None,
    timeout: float = TIMEOUT_S,
) -> Path:
    """`download` from the first of `urls` that delivers the right bytes; mirrors of one file, in order."""
    destination = Path(destination)
    if not re.fullmatch(f"[0-9a-f]{{{MIN_SHA256_PREFIX},64}}", sha256):
        raise ValueError(f"sha256 must be {MIN_SHA256_PREFIX} to 64 lowercase hex digits, got {sha256!r}")
    failures: list[str] = []
    for url in urls:
        try:
            atomic_write(destination, partial(_fetch, url, label=destination.name, sha256=sha256, size=size,
                                              progress=progress, timeout=timeout))
            return destination
        except _Failure as failure:
            failures.append(f"{url}: {failure}")
        except OSError as error:
            raise DownloadError(f"cannot write {destination}: {error}; is the folder writable?") from None
    verb = "is" if len(sha256) == 64 else "starts with"
    raise DownloadError(
        f"download of {destination.name} failed ({'; '.join(failures)}). Nothing was saved. Retry later or "
        f"from another network; or download the file by hand, check that its sha256 {verb} {sha256}, and pass "
        "its path instead (--weights for a generator, loss.vgg_weights for the VGG19 of training)."
    )


def _fetch(
    url: str, temp: Path, label: str, sha256: str, size: int | None, progress: bool, timeout: float
) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    digest = hashlib.sha256()
    received = 0
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            if total is not None and size is not None and total != size:
                raise _Failure(f"the server announces {total} bytes but the model file has {size} (wrong file?)")
            with temp.open("wb") as out, tqdm(
                total=total, desc=label, unit="B", unit_scale=True, unit_divisor=1024,
                disable=not progress,
            ) as bar:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
    except urllib.error.HTTPError as error:
        error.close()  # it holds the error page's open response
        raise _Failure(f"HTTP {error.code} {error.reason}") from None
    except urllib.error.URLError as error:
        raise _Failure(f"cannot connect ({error.reason})") from None
    except TimeoutError:
        raise _Failure(f"no data for {timeout:g} s after {received} bytes (timed out)") from None
    except (OSError, http.client.HTTPException) as error:
        raise _Failure(f"transfer failed after {received} bytes ({error or type(error).__name__})") from None
    expected = total if total is not None else size
    if expected is not None and received != expected:
        # http.client returns end-of-file, not an error, when the server closes before Content-Length.
        raise _Failure(f"connection closed after {received} of {expected} bytes")
    if not digest.hexdigest().startswith(sha256):
        raise _Failure(f"sha256 is {digest.hexdigest()}, expected {sha256} (corrupt or not the published file)")
