"""The demo page end to end in a real headless browser (Chromium + chromedriver, Selenium).

`python -m inpaintgan.demo` runs as a subprocess with a tiny checkpoint and Telea; the test
uploads a photo, paints with the mouse (WebDriver pointer actions), undoes a stroke, runs both
models and checks the result pixel by pixel against the photo and the stroke, then the
download, the layout, and that bad input is shown as a message on the page. Every test runs
at two viewports (Chrome DevTools' device metrics): a laptop's 1280x657 at device pixel
ratio 1 and a phone's 420x860 at ratio 2.

Where the pointer lands is computed from the canvas' bounding box and the photo's scale from
its rendered width, as the page computes them; nothing assumes a window size. The pointer is
moved in viewport coordinates: WebDriver's *element* origin is the centre of the element's
visible part, not of its box, so offsets from it miss whenever the canvas runs past the
window's edge (the cause of an earlier failure: strokes landed 17 CSS px higher than the
test thought).

``INPAINTGAN_DEMO_SCREENSHOTS=docs/images`` saves the page after the runs as ``demo.png``
(laptop) and ``demo_phone.png`` there.

Skipped only when Chromium or chromedriver is missing AND ``INPAINTGAN_REQUIRE_BROWSER`` is
unset; with it set (CI: ``.ci/run``) a missing browser fails the test.
"""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from helpers import REPO_ROOT, make_tiny_checkpoint
from PIL import Image

from inpaintgan.data.datasets import sample_root
from inpaintgan.webdemo.serve import free_port

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")
BRUSH = 28  # CSS px, the page's default brush (checked below)
# name: (CSS width, CSS height, device pixel ratio); the name ends the screenshot's file name
VIEWPORTS = {"laptop": (1280, 657, 1), "phone": (420, 860, 2)}
SCREENSHOTS = {"laptop": "demo.png", "phone": "demo_phone.png"}


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
    options.add_argument("--window-size=1280,800")  # the viewport itself is emulated below
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    chrome = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    chrome.set_page_load_timeout(30)
    yield chrome
    chrome.quit()


@pytest.fixture(scope="module", params=list(VIEWPORTS))
def viewport(request: pytest.FixtureRequest, driver) -> str:
    """The viewport of the page, set through DevTools (exact, whatever the window's frame)."""
    width, height, ratio = VIEWPORTS[request.param]
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": ratio, "mobile": False},
    )
    return request.param


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


def _rect(driver, element) -> dict:
    return driver.execute_script("return arguments[0].getBoundingClientRect().toJSON();", element)


def _viewport_box(driver) -> tuple[float, float]:
    """The visible part of the page (without scrollbars), CSS pixels."""
    return tuple(
        driver.execute_script(
            "const e = document.documentElement; return [e.clientWidth, e.clientHeight];"
        )
    )


def _pointer_path(driver, client: list[tuple[int, int]], press: bool) -> None:
    """Move the mouse through ``client`` (viewport CSS pixels), pressed between the first
    and the last point when ``press``."""
    from selenium.webdriver.common.actions.action_builder import ActionBuilder

    actions = ActionBuilder(driver, duration=20)
    actions.pointer_action.move_to_location(*client[0])
    if press:
        actions.pointer_action.pointer_down()
    for point in client[1:]:
        actions.pointer_action.move_to_location(*point)
    if press:
        actions.pointer_action.pointer_up()
    actions.perform()


def _on_canvas(driver, points: list[tuple[float, float]]) -> tuple[list, np.ndarray, float]:
    """``points`` (fractions of the canvas' box) in viewport pixels (whole, as the pointer
    moves) and in photo pixels, and the photo's scale (photo pixels per CSS pixel), all from
    the canvas' rendered box. The canvas is scrolled fully into view first."""
    canvas = driver.find_element("id", "canvas")
    driver.execute_script("arguments[0].scrollIntoView({block: 'nearest'});", canvas)
    rect = _rect(driver, canvas)
    width, height = _viewport_box(driver)
    assert rect["left"] >= 0 and rect["top"] >= 0, rect
    assert rect["right"] <= width and rect["bottom"] <= height, (rect, width, height)
    scale = driver.execute_script("return arguments[0].width;", canvas) / rect["width"]
    client = [
        (int(rect["left"] + fx * rect["width"]), int(rect["top"] + fy * rect["height"]))
        for fx, fy in points
    ]
    photo = (np.array(client, dtype=float) - [rect["left"], rect["top"]]) * scale
    return client, photo, scale


def _paint(driver, points: list[tuple[float, float]]) -> tuple[np.ndarray, float]:
    """Drag the mouse through ``points`` (fractions of the canvas' box, from its top-left)
    and return them in photo pixels, with the brush radius in photo pixels."""
    canvas = driver.find_element("id", "canvas")
    client, photo, scale = _on_canvas(driver, points)
    before = _rect(driver, canvas)
    driver.execute_script(  # where the canvas is at each pointer event of the stroke
        "const canvas = arguments[0]; window.strokeRects = [];"
        "window.noteRect = () => strokeRects.push(canvas.getBoundingClientRect().toJSON());"
        "for (const kind of ['pointerdown', 'pointermove', 'pointerup'])"
        "  canvas.addEventListener(kind, noteRect, {capture: true});",
        canvas,
    )
    try:
        _pointer_path(driver, client, press=True)
        seen = driver.execute_script("return strokeRects;")
    finally:
        driver.execute_script(
            "for (const kind of ['pointerdown', 'pointermove', 'pointerup'])"
            "  arguments[0].removeEventListener(kind, noteRect, {capture: true});",
            canvas,
        )
    assert len(seen) >= len(client) + 1, seen  # every move, and the release
    assert all(rect == before for rect in seen), "the canvas moved while painting"
    return photo, BRUSH / 2 * scale


def _canvas_pixels(driver) -> np.ndarray:
    """The canvas' bitmap (photo pixels) once the page has drawn its next frame."""
    url = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "requestAnimationFrame(() => requestAnimationFrame(() =>"
        " done(document.getElementById('canvas').toDataURL('image/png'))));"
    )
    png = base64.b64decode(url.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def _check_outline(driver) -> None:
    """The brush outline under a hovering pointer is a circle of the radius a stroke is
    painted with (BRUSH / 2 CSS pixels at the page's measured scale)."""
    _pointer_path(driver, [(1, 1)], press=False)  # off the canvas: no outline
    plain = _canvas_pixels(driver)
    client, (centre,), scale = _on_canvas(driver, [(0.5, 0.5)])
    _pointer_path(driver, client, press=False)
    outlined = _canvas_pixels(driver)
    _pointer_path(driver, [(1, 1)], press=False)
    ring = np.argwhere((outlined != plain).any(axis=-1))[:, ::-1] + 0.5  # (x, y) centres
    distance = np.linalg.norm(ring - centre, axis=-1)
    radius = BRUSH / 2 * scale
    slack = 0.75 * scale + 1.0  # half the outline's width, plus antialiasing
    assert len(ring) > 4 * radius, "no outline under the pointer"
    assert distance.min() >= radius - slack and distance.max() <= radius + slack, (
        distance.min(),
        distance.max(),
        radius,
    )


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

    menu = Select(driver.find_element("id", "model"))
    menu.select_by_value(model)
    label = menu.first_selected_option.text
    _reset_state(driver)
    driver.find_element("id", "run").click()
    state = _wait_state(driver, "done", "error")
    assert state == "done", _status(driver)
    # the status names the model as the menu does ("tiny.pt (paper)", not "paper")
    assert _status(driver).startswith(f"Done: {label} in "), (_status(driver), label)
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


def _check_layout(driver, viewport: str) -> None:
    """No sideways scrolling; on the laptop, both panels whole in the window without
    scrolling and the controls on one row."""
    width, height, _ = VIEWPORTS[viewport]
    page = driver.execute_script(
        "const e = document.scrollingElement;"
        "return {scrollWidth: e.scrollWidth, clientWidth: e.clientWidth, inner: innerWidth};"
    )
    assert page["inner"] == width
    assert page["scrollWidth"] <= page["clientWidth"] <= page["inner"], page
    if viewport != "laptop":
        return
    driver.execute_script("window.scrollTo(0, 0);")
    assert driver.execute_script("return document.scrollingElement.scrollHeight;") <= height
    for panel in driver.find_elements("css selector", "main .panel"):
        box = _rect(driver, panel)
        assert box["top"] >= 0 and box["bottom"] <= height, box
    boxes = [_rect(driver, e) for e in driver.find_elements("css selector", "#controls > *")]
    assert max(b["top"] for b in boxes) < min(b["bottom"] for b in boxes), "controls wrap"


def _server_lines(server: _Server) -> list[tuple[str, str, str]]:
    """(method, path, status) of the API requests the server logged."""
    pattern = re.compile(r"(GET|POST) (/api/\S+) (\d{3}) \d+ ms$")
    lines = server.log.read_text().splitlines()
    return [m.groups() for m in map(pattern.search, lines) if m]


def test_paint_undo_run_compare_and_download(server, driver, viewport, downloads: Path) -> None:
    _open_page(driver, server.url())
    width, height, ratio = VIEWPORTS[viewport]
    metrics = driver.execute_script("return [innerWidth, innerHeight, devicePixelRatio];")
    assert metrics == [width, height, ratio]
    driver.get_log("browser")  # from here on the page must log no error
    options = [
        o.get_attribute("value") for o in driver.find_elements("css selector", "#model option")
    ]
    assert options == ["tiny.pt", "telea"]
    assert driver.find_element("id", "brush").get_attribute("value") == str(BRUSH)
    assert driver.find_element("id", "run").get_attribute("disabled") is not None
    _check_layout(driver, viewport)

    photo = _photo()
    original = np.asarray(Image.open(photo).convert("RGB"))
    _upload(driver, photo)
    driver.find_element("id", "run").click()  # nothing painted yet
    assert "Paint the region to fill first" in _status(driver)
    _check_outline(driver)
    kept, radius = _paint(driver, [(0.2, 0.3), (0.45, 0.32), (0.7, 0.3)])
    status = driver.find_element("id", "status")  # a stroke exists: the request is gone
    assert "Paint the region to fill first" not in status.text
    assert status.get_attribute("class") != "error"
    _paint(driver, [(0.5, 0.6), (0.5, 0.85)])  # a second stroke, then undone
    assert driver.find_element("id", "undo").is_enabled()
    driver.find_element("id", "undo").click()
    distance = _distance_to_polyline(original.shape[:2], kept)

    for model in ("tiny.pt", "telea"):
        shown = _run(driver, model)
        assert shown["displayed"] == original.shape[1]
        assert shown["href"] == shown["src"]
        assert shown["filename"] == f"{photo.stem}_{model.removesuffix('.pt')}.png"
        status, kind, png = _get(shown["href"])
        assert status == 200 and kind == "image/png" and png.startswith(b"\x89PNG")
        _check_fill(png, original, distance, radius)
    _check_layout(driver, viewport)
    folder = os.environ.get("INPAINTGAN_DEMO_SCREENSHOTS")
    if folder:  # the docs' pictures: the brush outline where the stroke ended
        client, _, _ = _on_canvas(driver, [(0.7, 0.3)])
        _pointer_path(driver, client, press=False)
        driver.execute_script("window.scrollTo(0, 0);")
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / SCREENSHOTS[viewport]))

    driver.find_element("id", "download").click()  # the browser saves the last result
    saved = downloads / shown["filename"]
    deadline = time.monotonic() + 10
    while not saved.is_file() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert saved.read_bytes() == png
    saved.unlink()  # the next viewport saves it again
    errors = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []
    logged = _server_lines(server)  # the server logs one line per API request
    assert ("GET", "/api/models", "200") in logged
    assert logged.count(("POST", "/api/inpaint", "200")) >= 2


def test_bad_input_is_shown_on_the_page(server, driver, viewport, tmp_path: Path) -> None:
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
    _check_layout(driver, viewport)
    assert ("POST", "/api/inpaint", "413") in _server_lines(server)
