"""Screenshot of the demo page after a run (docs/images/demo.png, demo_telea.png).

Serves ``inpaintgan.webdemo`` in a thread, opens it in headless Chromium (Selenium) in a
1280x800 window, uploads a photo, paints over the butterfly with the mouse, runs the first
model of the menu and saves the window:

    .venv/bin/python scripts/demo_screenshot.py \\
        --ckpt outputs/results_scenes_small/train/paper_resize_s3/checkpoints/last.ckpt

    .venv/bin/python scripts/demo_screenshot.py --out docs/images/demo_telea.png

Without ``--ckpt`` only the classical methods are offered (Telea runs). Needs chromium and
chromedriver (``apt-get install chromium chromium-driver``) and the dev extra (selenium).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.support.ui import Select, WebDriverWait

from inpaintgan.data.datasets import sample_root
from inpaintgan.webdemo import create_app, load_inpainters
from inpaintgan.webdemo.serve import serving_in_thread

REPO = Path(__file__).resolve().parents[1]
PHOTO = "lxqt_Butterfly-Kenneth-Wimer.jpg"
# A scribble over the butterfly, in fractions of the photo (x, y).
STROKE = [
    (0.43, 0.49),
    (0.6, 0.49),
    (0.62, 0.56),
    (0.43, 0.56),
    (0.43, 0.62),
    (0.62, 0.62),
    (0.5, 0.67),
    (0.45, 0.7),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", action="append", default=[], help="checkpoint(s) for the menu")
    parser.add_argument("--photo", type=Path, default=sample_root() / PHOTO)
    parser.add_argument("--brush", type=int, default=44, help="brush size in screen pixels")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images" / "demo.png")
    args = parser.parse_args()

    inpainters = load_inpainters(args.ckpt, ["telea", "ns", "mean_fill"], "cpu")
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or shutil.which("google-chrome") or ""
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    options.add_argument("--window-size=1280,800")
    options.add_argument("--hide-scrollbars")
    service = Service(executable_path=shutil.which("chromedriver"))
    with serving_in_thread(create_app(inpainters)) as url:
        driver = webdriver.Chrome(service=service, options=options)
        try:
            # a 1280x800 viewport: the window is larger by its own frame
            frame = driver.execute_script(
                "return [outerWidth - innerWidth, outerHeight - innerHeight];"
            )
            driver.set_window_size(1280 + frame[0], 800 + frame[1])
            driver.get(url)
            wait = WebDriverWait(driver, 30)
            wait.until(lambda d: d.find_element("tag name", "body").get_attribute("data-ready"))
            driver.find_element("id", "file").send_keys(str(args.photo.resolve()))
            wait.until(
                lambda d: d.find_element("tag name", "body").get_attribute("data-state") == "ready"
            )
            driver.execute_script(
                "const b = document.getElementById('brush'); b.value = arguments[0];"
                "b.dispatchEvent(new Event('input'));",
                args.brush,
            )
            canvas = driver.find_element("id", "canvas")
            width, height = canvas.size["width"], canvas.size["height"]
            offsets = [(round((x - 0.5) * width), round((y - 0.5) * height)) for x, y in STROKE]
            chain = ActionChains(driver, duration=30)
            chain.move_to_element_with_offset(canvas, *offsets[0]).click_and_hold()
            for (x0, y0), (x1, y1) in zip(offsets, offsets[1:], strict=False):
                chain.move_by_offset(x1 - x0, y1 - y0)
            chain.release().perform()
            Select(driver.find_element("id", "model")).select_by_index(0)
            driver.find_element("id", "run").click()
            wait.until(
                lambda d: (
                    d.find_element("tag name", "body").get_attribute("data-state")
                    in ("done", "error")
                )
            )
            # leave the brush outline where the stroke ended, as a person would see it
            ActionChains(driver).move_to_element_with_offset(canvas, *offsets[-1]).perform()
            print(driver.find_element("id", "status").text)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(args.out))
            print(f"wrote {args.out}")
        finally:
            driver.quit()


if __name__ == "__main__":
    main()
