"""What the serve tests share: a real `esrgan serve` server on a free loopback port, in a thread, and the
pictures they upload."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import uvicorn
from PIL import Image

from esrgan.cli.serve import DEFAULT_MAX_UPLOAD_MB
from esrgan.defaults import DEFAULT_MAX_PIXELS
from esrgan.options import UpscaleOptions
from esrgan.serve.app import Service, create_app
from esrgan.serve.catalogue import Catalogue
from esrgan.serve.server import LOOPBACK_NAMES, bind, quiet_config, url_of

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
"""Debian's `chromium` and `chromium-driver` (installed by .ci/run): Selenium is pointed at them, so its
Selenium Manager never downloads a browser or driver."""

SERVE_OPTIONS = UpscaleOptions(backend="torch")
"""`esrgan serve`'s defaults (PyTorch, the rest as `esrgan upscale`'s)."""


@dataclass
class Running:
    url: str
    service: Service


@dataclass
class Pair:
    """Two checkpoints of one architecture, as a PSNR-oriented model and its GAN fine-tuning would be."""

    psnr: Path
    gan: Path


@contextmanager
def running_server(catalogue: Catalogue, folder: Path, *, max_bytes: int = int(DEFAULT_MAX_UPLOAD_MB * 1e6),
                   max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Iterator[Running]:
    """The server `esrgan serve` runs, with its default limits, until the block ends."""
    app, service = create_app(catalogue, SERVE_OPTIONS, folder, max_bytes=max_bytes, max_pixels=max_pixels,
                              allowed_hosts=LOOPBACK_NAMES)
    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(quiet_config(app, timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield Running(url_of(sock), service)
    finally:
        service.stopping.set()
        server.should_exit = True
        thread.join(timeout=10)
        service.worker.close()
        sock.close()


def write_picture(path: Path, width: int = 40, height: int = 32, seed: int = 0) -> Path:
    """A smooth colour image with some texture: what a network's output visibly depends on."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    smooth = np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (width + height) + 64], axis=-1)
    image = np.clip(smooth + rng.normal(0, 12, smooth.shape), 0, 255).astype(np.uint8)
    Image.fromarray(image).save(path)
    return path
