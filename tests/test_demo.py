"""`inpaintgan.webdemo` (the demo's API, through FastAPI's TestClient) and `inpaintgan.demo`.

The page itself, driven in a real browser, is tested in test_demo_browser.py.
"""

from __future__ import annotations

import io
import logging
import re
import socket
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import box_mask, compose_config
from PIL import Image
from torch import nn

from inpaintgan.data.datasets import sample_root
from inpaintgan.demo import demo
from inpaintgan.errors import UsageError, UserError
from inpaintgan.inpainter import Inpainter, inpaint_any_size, load_inpainter
from inpaintgan.webdemo import classical_configs, create_app, load_inpainters
from inpaintgan.webdemo.app import ResultStore
from inpaintgan.webdemo.models import unique_labels

with warnings.catch_warnings():  # Starlette's notice about httpx's successor, not ours
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

MAX_PIXELS = 400 * 400
MAX_UPLOAD_MB = 0.25


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _photo_bytes() -> bytes:
    return sorted(sample_root().rglob("*.jpg"))[0].read_bytes()


def _decoded(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def _mask(height: int, width: int) -> np.ndarray:
    return box_mask(height, width, (40, 50, 90, 140))


def _canvas_mask(mask: np.ndarray) -> bytes:
    """The mask as the page sends it: white opaque strokes on a transparent RGBA canvas."""
    rgba = np.zeros((*mask.shape, 4), np.uint8)
    rgba[mask > 0] = 255
    return _png(rgba)


def _bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A few hundred bytes whose header claims ``width x height`` pixels (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 1000))
        + chunk(b"IEND", b"")
    )


class _Broken(nn.Module):
    size_multiple = 1

    def forward(self, image: torch.Tensor, mask: torch.Tensor):
        raise RuntimeError("simulated failure\nsecond line with internals")


@pytest.fixture(scope="module")
def inpainters(tiny_checkpoint: Path) -> dict[str, Inpainter]:
    return {
        "tiny": load_inpainter(str(tiny_checkpoint), None, "cpu"),
        "telea": load_inpainter(None, classical_configs()["telea"], "cpu"),
        "broken": Inpainter(_Broken(), "broken", torch.device("cpu")),
    }


@pytest.fixture(scope="module")
def client(inpainters: dict[str, Inpainter]) -> TestClient:
    app = create_app(inpainters, max_side=None, max_upload_mb=MAX_UPLOAD_MB, max_pixels=MAX_PIXELS)
    return TestClient(app)


def _post(client: TestClient, image: bytes, mask: bytes | None, model: str = "telea", **kw):
    files = {"image": ("photo.jpg", image, "image/jpeg")}
    if mask is not None:
        files["mask"] = ("mask.png", mask, "image/png")
    return client.post("/api/inpaint", files=files, data={"model": model}, **kw)


def test_page_and_static_files_are_served(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<canvas id="canvas"' in page.text and "/static/app.js" in page.text
    for name, kind in (("app.js", "javascript"), ("style.css", "text/css")):
        answer = client.get(f"/static/{name}")
        assert answer.status_code == 200 and kind in answer.headers["content-type"]
    assert "http" not in client.get("/static/app.js").text.replace("http.", "")  # no CDN


def test_models_lists_the_menu_in_order(client: TestClient) -> None:
    info = client.get("/api/models").json()
    assert [m["name"] for m in info["models"]] == ["tiny", "telea", "broken"]
    assert info["default"] == "tiny"
    assert info["models"][0]["checkpoint"].endswith("tiny.pt")
    assert info["models"][1]["checkpoint"] is None
    assert (info["max_upload_mb"], info["max_pixels"]) == (MAX_UPLOAD_MB, MAX_PIXELS)


@pytest.mark.parametrize("model", ["tiny", "telea"])
def test_good_request_changes_only_the_masked_pixels(client: TestClient, model: str) -> None:
    photo = _photo_bytes()
    original = _decoded(photo)
    mask = _mask(*original.shape[:2]) > 0
    answer = _post(client, photo, _canvas_mask(mask), model)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["width"], body["height"]) == original.shape[1::-1]
    assert body["filename"] == f"photo_{model}.png" and body["downscaled"] is False
    png = client.get(body["result"])
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    result = _decoded(png.content)
    assert result.shape == original.shape
    changed = (result != original).any(axis=-1)
    assert not changed[~mask].any()
    assert changed[mask].mean() > 0.5


def test_result_is_exactly_what_the_library_computes(client, inpainters) -> None:
    """The API adds nothing of its own: the PNG equals inpaint_any_size on the same arrays."""
    photo = _photo_bytes()
    original = _decoded(photo)
    mask = _mask(*original.shape[:2]) > 0
    body = _post(client, photo, _canvas_mask(mask), "tiny").json()
    result = _decoded(client.get(body["result"]).content)
    image = torch.from_numpy(original.copy()).permute(2, 0, 1)[None].float() / 255
    direct = inpaint_any_size(
        inpainters["tiny"], image, torch.from_numpy(mask)[None, None].float(), None
    )
    expected = (direct[0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(result, expected)


def test_the_default_model_is_the_first(client: TestClient) -> None:
    photo = _photo_bytes()
    mask = _mask(*_decoded(photo).shape[:2])
    body = _post(client, photo, _png(mask), model="").json()
    assert body["model"] == "paper" and body["filename"] == "photo_tiny.png"


def test_a_photo_over_max_side_is_filled_downscaled(inpainters) -> None:
    client = TestClient(create_app({"telea": inpainters["telea"]}, max_side=64))
    photo = _photo_bytes()
    original = _decoded(photo)
    mask = _mask(*original.shape[:2]) > 0
    body = _post(client, photo, _png(mask.astype(np.uint8) * 255)).json()
    assert body["downscaled"] is True and body["max_side"] == 64
    result = _decoded(client.get(body["result"]).content)
    assert result.shape == original.shape  # the result keeps the photo's size
    changed = (result != original).any(axis=-1)
    assert not changed[~mask].any() and changed[mask].mean() > 0.5


def _bad_cases() -> dict[str, tuple]:
    photo = _photo_bytes()
    height, width = _decoded(photo).shape[:2]
    good_mask = _png(_mask(height, width))
    noise = np.random.default_rng(0).integers(0, 256, (300, 300, 3), dtype=np.uint8)
    big_file = _png(noise)  # ~270 kB > 0.25 MB, 90 k pixels (within MAX_PIXELS)
    many_pixels = _png(np.zeros((500, 500, 3), np.uint8))  # small file, 250 k pixels
    return {
        "not an image": (b"just some text", good_mask, "telea", 400, "not an image file"),
        "empty file": (b"", good_mask, "telea", 400, "empty (0 bytes)"),
        "truncated": (photo[: len(photo) // 3], good_mask, "telea", 400, "broken image"),
        "empty mask": (photo, _png(np.zeros((height, width), np.uint8)), "telea", 400, "empty"),
        "transparent mask": (photo, _canvas_mask(np.zeros((height, width))), "telea", 400, "empty"),
        "mask of another size": (photo, _png(_mask(64, 48)), "telea", 400, "48x64 but the photo"),
        "mask not an image": (photo, b"nope", "telea", 400, "the mask is not an image"),
        "unknown model": (photo, good_mask, "nope", 400, "unknown model 'nope'"),
        "photo over max_upload_mb": (big_file, good_mask, "telea", 413, "at most 0.25 MB"),
        "too many pixels": (many_pixels, good_mask, "telea", 413, "500x500 = 0.25 megapixels"),
        "header claims too many pixels": (
            _bomb_png(10_000, 10_000),
            good_mask,
            "telea",
            413,
            "10000x10000 = 100 megapixels; this demo takes at most 0.16 megapixels",
        ),
        "decompression bomb": (_bomb_png(), good_mask, "telea", 413, "decompression bomb"),
        "model fails": (photo, good_mask, "broken", 500, "inpainting failed: simulated failure"),
    }


@pytest.mark.parametrize("case", list(_bad_cases()))
def test_bad_input_is_a_json_line_with_a_4xx(client: TestClient, case: str) -> None:
    image, mask, model, status, words = _bad_cases()[case]
    answer = _post(client, image, mask, model)
    assert answer.status_code == status, answer.text
    detail = answer.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and "Traceback" not in detail
    assert words in detail


def test_the_bombs_are_tiny_files_claiming_many_pixels() -> None:
    assert len(_bomb_png()) < 200
    with pytest.warns(Image.DecompressionBombWarning):
        assert Image.open(io.BytesIO(_bomb_png(10_000, 10_000))).size == (10_000, 10_000)
    with pytest.raises(Image.DecompressionBombError):
        Image.open(io.BytesIO(_bomb_png()))


def test_a_missing_field_is_a_422_line(client: TestClient) -> None:
    answer = _post(client, _photo_bytes(), None)
    assert answer.status_code == 422
    assert answer.json()["detail"] == "bad request: missing or invalid field(s) mask"


def test_an_oversized_body_is_refused_before_it_is_read(client: TestClient) -> None:
    declared = client.post(
        "/api/inpaint", content=b"x" * 10, headers={"content-length": str(10**9)}
    )
    assert declared.status_code == 413 and "upload too large" in declared.json()["detail"]

    def chunks():  # no Content-Length: counted while it streams
        yield b'--XYZ\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\n'
        for _ in range(40):
            yield b"y" * 2**20

    streamed = client.post(
        "/api/inpaint",
        content=chunks(),
        headers={"content-type": "multipart/form-data; boundary=XYZ"},
    )
    assert streamed.status_code == 413 and "upload too large" in streamed.json()["detail"]


def test_unknown_result_is_404(client: TestClient) -> None:
    answer = client.get("/api/result/0123abcd.png")
    assert answer.status_code == 404 and "no such result" in answer.json()["detail"]


def test_each_api_request_is_one_log_line(client: TestClient, caplog) -> None:
    """Method, path, status and milliseconds, for answers and refusals; not the page."""
    photo = _decoded(_photo_bytes())
    with caplog.at_level(logging.INFO, logger="inpaintgan.webdemo.app"):
        client.get("/")
        client.get("/static/app.js")
        client.get("/api/models")
        _post(client, _photo_bytes(), _canvas_mask(_mask(*photo.shape[:2])))
        _post(client, _photo_bytes(), None)  # 422
        client.post("/api/inpaint", content=b"x", headers={"content-length": str(10**9)})  # 413
        client.get("/api/result/0123abcd.png")  # 404
    lines = [r.getMessage() for r in caplog.records if r.name == "inpaintgan.webdemo.app"]
    pattern = re.compile(r"(GET|POST) (/api/\S+) (\d{3}) (\d+) ms")
    parsed = [pattern.fullmatch(line) for line in lines]
    assert all(parsed), lines
    assert [(m[1], m[2], m[3]) for m in parsed] == [
        ("GET", "/api/models", "200"),
        ("POST", "/api/inpaint", "200"),
        ("POST", "/api/inpaint", "422"),
        ("POST", "/api/inpaint", "413"),
        ("GET", "/api/result/0123abcd.png", "404"),
    ]
    assert all(r.levelno == logging.INFO for r in caplog.records if r.name.endswith("app"))


def test_result_store_keeps_the_latest() -> None:
    store = ResultStore(keep=2, max_bytes=10)
    first, second = store.add(b"1234"), store.add(b"5678")
    assert store.get(first) == b"1234"
    third = store.add(b"9")
    assert store.get(first) is None and store.get(second) == b"5678" and store.get(third) == b"9"
    big = store.add(b"x" * 20)  # over max_bytes alone: kept, the others go
    assert store.get(big) and store.get(second) is None and store.get(third) is None


def test_load_inpainters_menu_order_and_errors(tiny_checkpoint: Path) -> None:
    ckpt = tiny_checkpoint
    menu = load_inpainters([ckpt], ["ns", "telea"], "cpu", classical_configs()["telea"])
    assert list(menu) == ["tiny.pt", "telea", "ns"]
    assert menu["tiny.pt"].checkpoint == str(ckpt) and menu["ns"].name == "ns"
    assert set(classical_configs()) == {"telea", "ns", "mean_fill"}
    with pytest.raises(UsageError, match="paper is not a classical method"):
        load_inpainters([], ["paper"], "cpu")
    with pytest.raises(UsageError, match="nothing to offer"):
        load_inpainters([], [], "cpu")


def test_unique_labels_add_folders_only_to_tell_apart() -> None:
    assert unique_labels(["a/x/last.ckpt", "b/y/best.ckpt"]) == ["last.ckpt", "best.ckpt"]
    assert unique_labels(["runs/a/last.ckpt", "runs/b/last.ckpt"]) == ["a/last.ckpt", "b/last.ckpt"]
    assert unique_labels([]) == []


def _demo_cfg(overrides: list[str]):
    return compose_config("demo", ["device=cpu", *overrides])


def test_demo_config_composes_the_menu_as_documented() -> None:
    cfg = _demo_cfg(["model=telea", "models=[ns]", "ckpts=[a.ckpt,b.ckpt]"])
    assert cfg.model.name == "telea" and cfg.model.inpainter is not None
    assert list(cfg.models) == ["ns"] and list(cfg.ckpts) == ["a.ckpt", "b.ckpt"]
    default = _demo_cfg([])
    assert default.get("model") is None and list(default.models) == ["telea", "ns", "mean_fill"]
    assert (default.host, default.max_side, default.max_upload_mb) == ("127.0.0.1", 1024, 20)


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        (["model=paper"], "model=paper needs trained weights"),
        (["ckpt=/no/such.ckpt"], "checkpoint file not found"),
        (["models=[paper]"], "paper is not a classical method"),
        (["models=[]"], "nothing to offer"),
        (["max_upload_mb=0"], "must be positive"),
    ],
)
def test_demo_usage_errors_before_serving(overrides: list[str], words: str) -> None:
    with pytest.raises(UserError, match=re.escape(words)):
        demo(_demo_cfg(["port=0", *overrides]))


def test_a_busy_port_is_one_line() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(UsageError) as caught:
            demo(_demo_cfg(["model=telea", f"port={port}"]))
    assert str(caught.value) == (
        f"cannot listen on 127.0.0.1:{port}: Address already in use; pick another with port=N"
    )
