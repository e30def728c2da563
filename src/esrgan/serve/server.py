"""Start the server: bind the socket (loopback unless told otherwise, with a warning then), print the address,
open the browser if asked, and run uvicorn until Ctrl-C; the server's files are deleted when it stops."""

from __future__ import annotations

import ipaddress
import signal
import socket
import sys
import tempfile
import threading
import webbrowser
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from esrgan.errors import ConfigError
from esrgan.options import UpscaleOptions
from esrgan.serve.app import create_app
from esrgan.serve.catalogue import Catalogue

LOOPBACK_NAMES = ("127.0.0.1", "localhost")
"""The Host headers a loopback server answers; any other is a page of another site reaching it through
DNS rebinding."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on `host`:`port` (port 0: any free one), or a ConfigError saying why not."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(64)
    except OSError as error:
        raise ConfigError(f"cannot listen on {host}:{port} ({error.strerror or error}); "
                          "choose another --port or --host") from None
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    host = f"[{host}]" if ":" in host else host
    return f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port}/"


def serve(catalogue: Catalogue, options: UpscaleOptions, *, host: str, port: int, open_browser: bool,
          max_bytes: int, max_pixels: int | None) -> None:
    """Run the page's server in this thread until Ctrl-C."""
    sock = bind(host, port)
    if not is_loopback(host):
        print(f"esrgan: warning: listening on {host}, not only on this machine: anyone who can reach it can "
              "upload images and use this computer's processor (there is no password). Use --host 127.0.0.1 "
              "to keep it local.", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="esrgan-serve-") as folder:
        app, service = create_app(catalogue, options, Path(folder), max_bytes=max_bytes, max_pixels=max_pixels,
                                  allowed_hosts=LOOPBACK_NAMES if is_loopback(host) else ["*"])
        url = url_of(sock)
        print(f"esrgan serve: {url}  (Ctrl-C to stop)", flush=True)
        if open_browser:
            threading.Timer(0.5, webbrowser.open, [url]).start()
        server = _Server(quiet_config(app, timeout_graceful_shutdown=2), service.stopping)
        # uvicorn stops gracefully on SIGTERM as on Ctrl-C, then raises the signal again with the handler it
        # found: this one makes that an ordinary exit, so the temporary folder is deleted (the default kills).
        previous = signal.signal(signal.SIGTERM, _exit_quietly)
        try:
            server.run(sockets=[sock])
        finally:
            signal.signal(signal.SIGTERM, previous)
            service.worker.close()
            sock.close()


def quiet_config(app: ASGIApp, **settings: Any) -> uvicorn.Config:
    """uvicorn's settings for `app` with its logging left alone: uvicorn's own set-up would bind handlers to the
    `sys.stderr` of that moment (a test's capture, closed later). Unconfigured, its warnings and errors reach
    Python's last-resort handler, which writes them to `sys.stderr` as it is when they happen; requests are not
    logged."""
    return uvicorn.Config(app, log_config=None, access_log=False, **settings)


def _exit_quietly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


class _Server(uvicorn.Server):
    """uvicorn's server, which tells the page's event streams to end as soon as Ctrl-C asks it to stop (else
    each open page would hold the shutdown for the graceful timeout)."""

    def __init__(self, config: uvicorn.Config, stopping: threading.Event) -> None:
        super().__init__(config)
        self.stopping = stopping

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.stopping.set()
        super().handle_exit(sig, frame)
