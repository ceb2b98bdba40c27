"""The demo page end to end in a real headless browser (Chromium + chromedriver, Selenium).

`python -m inpaintgan.demo` runs as a subprocess with a tiny checkpoint and Telea; the test
uploads a photo, paints with the mouse (ActionChains), undoes a stroke, runs both models and
checks the result pixel by pixel against the photo and the stroke, then the download, and
that bad input is shown as a message on the page.

Skipped only when Chromium or chromedriver is missing AND ``INPAINTGAN_REQUIRE_BROWSER`` is
unset; with it set (CI: ``.ci/run``) a missing browser fails the test.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from helpers import REPO_ROOT
from PIL import Image
from test_evaluate import make_tiny_checkpoint

from inpaintgan.data.datasets import sample_root
from inpaintgan.webdemo.serve import free_port

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")
BRUSH = 28  # CSS px, the page's default brush (checked below)


def _find(names: tuple[str, ...]) -> str | None:
    return next((path for path in map(shutil.which, names) if path), None)


@pytest.fixture(scope="module")
def browser_paths() -> tuple[str, str]:
    browser, driver = _find(BROWSERS), _find(("chromedriver",))
    if browser and driver:
        return browser, driver
    missing = " and ".join(n for n, p in (("chromium", browser), ("chromedriver", driver)) if not p)
    message = f"{missing} not found (apt-get install chromium chromium-driver)"
    if os.environ.get("INPAINTGAN_REQUIRE_BROWSER"):
        pytest.fail(f"INPAINTGAN_REQUIRE_BROWSER is set but {message}")
    pytest.skip(message)


def _get(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return answer.status, answer.headers["content-type"], answer.read()


class _Server:
    """The demo command started in a subprocess; :meth:`url` waits until it answers."""

    def __init__(self, args: list[str], log: Path) -> None:
        self.port = free_port()
        self.log = log
        self._log = log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "inpaintgan.demo", *args, f"port={self.port}"],
            cwd=REPO_ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        self._ready = False

    def url(self, timeout: float = 90) -> str:
        base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + timeout
        while not self._ready:
            try:
                self._ready = _get(f"{base}/api/models")[0] == 200
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the demo server did not start: {self.log.read_text()}")
                time.sleep(0.2)
        return base

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, browser_paths) -> Iterator[_Server]:
    """The real command on a free port: the tiny checkpoint first, then Telea. It boots
    while the browser starts (tests ask for ``server`` before ``driver``)."""
    folder = tmp_path_factory.mktemp("demo_browser")
    ckpt = make_tiny_checkpoint(folder / "tiny.pt")
    args = [f"ckpts=['{ckpt}']", "model=telea", "models=[]", "device=cpu", "max_upload_mb=1"]
    started = _Server(args, folder / "server.log")
    yield started
    started.stop()


@pytest.fixture(scope="module")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def driver(browser_paths: tuple[str, str], downloads: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, chromedriver = browser_paths
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    options.add_argument("--window-size=1280,800")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    chrome = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    chrome.set_page_load_timeout(30)
    yield chrome
    chrome.quit()


def _photo() -> Path:
    return sorted(sample_root().rglob("*.jpg"))[0]


def _status(driver) -> str:
    return driver.find_element("id", "status").text


def _wait_state(driver, *states: str, timeout: float = 20) -> str:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(
        lambda d: d.find_element("tag name", "body").get_attribute("data-state") in states
    )
    return driver.find_element("tag name", "body").get_attribute("data-state")


def _open_page(driver, url: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    WebDriverWait(driver, 20).until(
        lambda d: d.find_element("tag name", "body").get_attribute("data-ready") == "true"
    )


def _reset_state(driver) -> None:
    driver.execute_script("document.body.dataset.state = 'test';")


def _upload(driver, path: Path, expect: str = "ready") -> None:
    _reset_state(driver)
    driver.find_element("id", "file").send_keys(str(path))
    _wait_state(driver, expect, "error" if expect == "ready" else "ready")


def _paint(driver, points: list[tuple[float, float]]) -> tuple[np.ndarray, float]:
    """Drag the mouse through ``points`` (fractions of the canvas, from its top-left) and
    return them in photo pixels, with the brush radius in photo pixels."""
    from selenium.webdriver.common.action_chains import ActionChains

    canvas = driver.find_element("id", "canvas")
    rect = driver.execute_script("return arguments[0].getBoundingClientRect().toJSON();", canvas)
    width_px = driver.execute_script("return arguments[0].width;", canvas)
    scale = width_px / rect["width"]
    offsets = [
        (round((fx - 0.5) * rect["width"]), round((fy - 0.5) * rect["height"])) for fx, fy in points
    ]
    chain = ActionChains(driver, duration=20)
    chain.move_to_element_with_offset(canvas, *offsets[0]).click_and_hold()
    for previous, current in zip(offsets, offsets[1:], strict=False):
        chain.move_by_offset(current[0] - previous[0], current[1] - previous[1])
    chain.release().perform()
    centre = np.array([rect["width"] / 2, rect["height"] / 2])
    photo_points = (np.array(offsets, dtype=float) + centre) * scale
    return photo_points, BRUSH / 2 * scale


def _distance_to_polyline(shape: tuple[int, int], points: np.ndarray) -> np.ndarray:
    """Distance of each pixel centre to the polyline through ``points`` (x, y)."""
    ys, xs = np.mgrid[: shape[0], : shape[1]]
    pixels = np.stack([xs + 0.5, ys + 0.5], axis=-1).astype(float)
    best = np.full(shape, np.inf)
    for a, b in zip(points, points[1:], strict=False):
        ab = b - a
        t = np.clip(((pixels - a) @ ab) / max(float(ab @ ab), 1e-9), 0, 1)
        nearest = a + t[..., None] * ab
        best = np.minimum(best, np.linalg.norm(pixels - nearest, axis=-1))
    return best


def _run(driver, model: str) -> dict:
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element("id", "model")).select_by_value(model)
    _reset_state(driver)
    driver.find_element("id", "run").click()
    state = _wait_state(driver, "done", "error")
    assert state == "done", _status(driver)
    result = driver.find_element("id", "result")
    link = driver.find_element("id", "download")
    return {
        "src": result.get_attribute("src"),
        "href": link.get_attribute("href"),
        "filename": link.get_attribute("download"),
        "displayed": driver.execute_script("return arguments[0].naturalWidth;", result),
    }


def _check_fill(png: bytes, original: np.ndarray, distance: np.ndarray, radius: float) -> None:
    result = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    assert result.shape == original.shape
    changed = (result != original).any(axis=-1)
    # away from the stroke nothing moves; under it, most pixels are filled anew
    assert not changed[distance > radius + 1.5].any(), "pixels changed outside the stroke"
    core = distance < radius - 1.5
    assert core.sum() > 100 and changed[core].mean() > 0.5


def test_paint_undo_run_compare_and_download(server, driver, downloads: Path) -> None:
    _open_page(driver, server.url())
    driver.get_log("browser")  # from here on the page must log no error
    options = [
        o.get_attribute("value") for o in driver.find_elements("css selector", "#model option")
    ]
    assert options == ["tiny.pt", "telea"]
    assert driver.find_element("id", "brush").get_attribute("value") == str(BRUSH)
    assert driver.find_element("id", "run").get_attribute("disabled") is not None

    photo = _photo()
    original = np.asarray(Image.open(photo).convert("RGB"))
    _upload(driver, photo)
    kept, radius = _paint(driver, [(0.2, 0.3), (0.45, 0.32), (0.7, 0.3)])
    _paint(driver, [(0.5, 0.6), (0.5, 0.85)])  # a second stroke, then undone
    assert driver.find_element("id", "undo").is_enabled()
    driver.find_element("id", "undo").click()
    distance = _distance_to_polyline(original.shape[:2], kept)

    for model in ("telea", "tiny.pt"):
        shown = _run(driver, model)
        assert shown["displayed"] == original.shape[1]
        assert shown["href"] == shown["src"]
        assert shown["filename"] == f"{photo.stem}_{model.removesuffix('.pt')}.png"
        status, kind, png = _get(shown["href"])
        assert status == 200 and kind == "image/png" and png.startswith(b"\x89PNG")
        _check_fill(png, original, distance, radius)
        assert "Done" in _status(driver)

    driver.find_element("id", "download").click()  # the browser saves the last result
    saved = downloads / shown["filename"]
    deadline = time.monotonic() + 10
    while not saved.is_file() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert saved.read_bytes() == png
    errors = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []


def test_bad_input_is_shown_on_the_page(server, driver, tmp_path: Path) -> None:
    _open_page(driver, server.url())
    not_image = tmp_path / "notes.png"
    not_image.write_text("this is not a picture")
    _upload(driver, not_image, expect="error")
    assert "notes.png is not an image this browser can open" in _status(driver)

    _upload(driver, _photo())
    driver.find_element("id", "run").click()  # nothing painted yet
    assert "Paint the region to fill first" in _status(driver)

    noise = np.random.default_rng(0).integers(0, 256, (800, 800, 3), dtype=np.uint8)
    big = tmp_path / "big.png"  # ~1.9 MB: over the server's max_upload_mb=1
    Image.fromarray(noise).save(big)
    _upload(driver, big)
    _paint(driver, [(0.4, 0.4), (0.6, 0.6)])
    _reset_state(driver)
    driver.find_element("id", "run").click()
    assert _wait_state(driver, "done", "error") == "error"
    status = driver.find_element("id", "status")
    assert status.get_attribute("class") == "error"
    assert status.text.startswith("Refused: the photo is ") and "at most 1 MB" in status.text
