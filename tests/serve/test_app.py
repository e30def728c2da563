"""The server's API without a browser: limits, what the browser may name, the queue, previews and the zip."""

from __future__ import annotations

import io
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from esrgan.errors import ConfigError
from esrgan.imaging.io import read_image
from esrgan.serve.app import PAGE_HEADER, create_app
from esrgan.serve.catalogue import Catalogue, Network
from esrgan.serve.engine import PREVIEW_CONTEXT, PREVIEW_SECONDS, Engine, Region
from esrgan.serve.jobs import Worker
from esrgan.serve.server import LOOPBACK_NAMES
from esrgan.serve.uploads import Upload
from tests.serve.harness import SERVE_OPTIONS, Pair, write_picture

testclient = pytest.importorskip("starlette.testclient")
PAGE = {PAGE_HEADER: "1"}


@pytest.fixture
def client(catalogue: Catalogue, tmp_path: Path) -> Iterator[Any]:
    folder = tmp_path / "server"
    folder.mkdir()
    app, service = create_app(catalogue, SERVE_OPTIONS, folder, max_bytes=20_000, max_pixels=10_000,
                              allowed_hosts=LOOPBACK_NAMES)
    with testclient.TestClient(app, base_url="http://127.0.0.1:8000") as test_client:
        test_client.folder = folder
        yield test_client
    service.worker.close()


def png_bytes(width: int, height: int, seed: int = 0) -> bytes:
    y, x = np.mgrid[0:height, 0:width]
    pixels = np.stack([x * 7 + seed, y * 5, x + y], axis=-1).astype(np.uint8)  # smooth: a few hundred bytes
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def upload(client: Any, name: str, data: bytes) -> Any:
    return client.post("/api/images", params={"name": name}, content=data, headers=PAGE)


def wait_done(client: Any, job_id: str, service_jobs: Any = None) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if client.get(f"/api/jobs/{job_id}/result.png").status_code == 200:
            return
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


def test_an_upload_over_the_byte_limit_is_refused(client: Any) -> None:
    response = upload(client, "big.png", b"\0" * 30_000)  # refused from its length, whatever it holds
    assert response.status_code == 413
    assert response.json()["error"].startswith("big.png: 0.0 MB is over the upload limit")


def test_the_pixel_limit_is_upscales_decompression_bomb_check(client: Any) -> None:
    response = upload(client, "wide.png", png_bytes(120, 100))  # 12 000 pixels > 10 000, a few KB
    assert response.status_code == 400
    error = response.json()["error"]
    assert error.startswith("wide.png: 120x100 is 0 M pixels, over the limit") and "decompression bomb" in error


def test_a_file_that_is_not_an_image_is_named_by_its_label_not_a_server_path(client: Any) -> None:
    response = upload(client, "notes.png", b"not pixels")
    assert response.status_code == 400
    assert response.json() == {"error": "notes.png: not an image file (unrecognised format)"}
    assert list(client.folder.iterdir()) == []  # the received bytes are gone too


def test_names_from_the_browser_are_labels_never_paths(client: Any, tmp_path: Path) -> None:
    response = upload(client, "../../etc/passwd.png", png_bytes(8, 8))
    assert response.status_code == 200 and response.json()["name"] == "passwd.png"
    image = response.json()["id"]
    for model in ("/etc/passwd", str(tmp_path / "psnr.safetensors"), "../psnr.safetensors"):
        refused = client.post("/api/jobs", json={"image": image, "model": model}, headers=PAGE)
        assert refused.status_code == 400 and refused.json()["error"].startswith("unknown model")
    assert client.get("/api/images/..%2F..%2Fetc/thumbnail.png").status_code == 404


def test_changes_need_the_page_header_and_the_host_must_be_this_server(client: Any) -> None:
    assert client.post("/api/images", params={"name": "a.png"}, content=png_bytes(8, 8)).status_code == 403
    assert client.get("/api/models", headers={"host": "attacker.example"}).status_code == 400
    assert client.get("/api/models").status_code == 200


def test_the_results_of_several_images_download_as_one_zip(client: Any, pair: Pair) -> None:
    ids = [upload(client, name, png_bytes(12, 10, seed)).json()["id"] for seed, name in enumerate(["a.png", "b.png"])]
    jobs = [client.post("/api/jobs", json={"image": i, "model": pair.psnr.name}, headers=PAGE).json()["id"]
            for i in ids]
    for job in jobs:
        wait_done(client, job)
    response = client.get("/api/results.zip", params={"jobs": ",".join(jobs)})
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert archive.namelist() == ["a_x4.png", "b_x4.png"]
        singles = [client.get(f"/api/jobs/{job}/result.png").content for job in jobs]
        assert [archive.read(name) for name in archive.namelist()] == singles
    assert not list(client.folder.glob("*.zip"))


def test_a_blend_of_two_architectures_is_refused_by_name(catalogue: Catalogue, pair: Pair) -> None:
    with pytest.raises(ConfigError, match="network interpolation needs one architecture"):
        catalogue.network(pair.psnr.name, "realesr-animevideov3", 0.5)
    assert catalogue.network(pair.psnr.name, pair.gan.name, 0.25) == Network(pair.psnr.name, pair.gan.name, 0.25)


class HeldEngine:
    """Stands in for the `Engine`: each run waits for `release`, and a run of the model "broken" fails."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def upscale(self, image: np.ndarray, network: Network, outscale: float | None, on_tile: Any) -> np.ndarray:
        self.release.wait(10)
        if network.model == "broken":
            raise ConfigError("broken: cannot read this checkpoint")
        on_tile(1, 2)
        on_tile(2, 2)
        return np.repeat(np.repeat(image, 2, axis=0), 2, axis=1)


def test_one_run_at_a_time_the_others_queued_with_their_place(tmp_path: Path) -> None:
    engine = HeldEngine()
    worker = Worker(engine, tmp_path)  # type: ignore[arg-type]
    image = Upload("u", "a.png", np.zeros((4, 4, 3), np.uint8))
    jobs = [worker.submit(image, Network(model), None) for model in ("a", "broken", "c")]
    deadline = time.monotonic() + 10
    while jobs[0].state != "running" and time.monotonic() < deadline:
        time.sleep(0.01)
    _, seen, queue = worker.snapshot()
    assert [(j["state"], j["ahead"]) for j in seen] == [("running", 0), ("queued", 1), ("queued", 2)]
    assert queue == {"running": 1, "queued": 2}
    engine.release.set()
    while any(j.state in ("queued", "running") for j in jobs) and time.monotonic() < deadline:
        time.sleep(0.01)
    worker.close()
    assert [j.state for j in jobs] == ["done", "error", "done"]
    assert jobs[1].message == "broken: cannot read this checkpoint"
    assert read_image(jobs[2].result).shape == (8, 8, 3)
    assert all(job.pixels is None for job in jobs)  # a finished job no longer holds its input


def test_a_queued_job_is_cancelled_and_a_running_one_stops_at_its_next_tile(tmp_path: Path) -> None:
    engine = HeldEngine()
    worker = Worker(engine, tmp_path)  # type: ignore[arg-type]
    image = Upload("u", "a.png", np.zeros((4, 4, 3), np.uint8))
    running, queued = worker.submit(image, Network("a"), None), worker.submit(image, Network("b"), None)
    deadline = time.monotonic() + 10
    while running.state != "running" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert worker.cancel(queued.id).state == "cancelled"
    worker.cancel(running.id)
    engine.release.set()
    while running.state == "running" and time.monotonic() < deadline:
        time.sleep(0.01)
    worker.close()
    assert (running.state, running.done, running.total) == ("cancelled", 1, 2)
    assert running.result is None and queued.result is None and running.pixels is None


def test_a_preview_of_a_view_that_fits_the_budget_is_the_whole_images_result(
    catalogue: Catalogue, pair: Pair, tmp_path: Path,
) -> None:
    engine = Engine(catalogue, SERVE_OPTIONS)
    image = read_image(write_picture(tmp_path / "p.png", 30, 20))
    network = Network(pair.psnr.name, pair.gan.name, 0.4)
    whole = engine.upscale(image, network, None)
    shown = engine.preview(image, network, None, Region(-5, -5, 100, 100))
    assert shown.region == Region(0, 0, 120, 80)
    np.testing.assert_array_equal(shown.patch, whole)


def test_a_preview_is_the_centre_of_the_view_that_the_measured_speed_allows(
    catalogue: Catalogue, pair: Pair, tmp_path: Path,
) -> None:
    engine = Engine(catalogue, SERVE_OPTIONS)
    image = read_image(write_picture(tmp_path / "p.png", 96, 72))
    network = Network(pair.psnr.name)
    for _ in range(2):  # measures the speed with one thread and with all
        engine.preview(image, network, None, Region(0, 0, 16, 16))
    for key in engine._rates:
        engine._rates[key] = 60 * 60 / PREVIEW_SECONDS  # as if 60x60 input pixels took the whole budget
    shown = engine.preview(image, network, None, Region(8, 10, 80, 56))
    x, y, width, height = (v // 4 for v in (shown.region.x, shown.region.y, shown.region.width, shown.region.height))
    assert width == height == 60 - 2 * PREVIEW_CONTEXT  # the context is paid for out of the budget too
    assert (x + width / 2, y + height / 2) == pytest.approx((8 + 40, 10 + 28), abs=1)
    whole = engine.upscale(image, network, None)
    crop = whole[shown.region.y: shown.region.y + shown.region.height,
                 shown.region.x: shown.region.x + shown.region.width]
    # A margin of context, not the tiles' full pad: the same picture to within a few levels.
    assert np.abs(shown.patch.astype(int) - crop).max() <= 8
