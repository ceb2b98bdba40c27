"""The demo's web app: one static page and a small JSON API over :class:`Inpainter` objects.

Routes:

- ``GET /``: the page (``static/index.html``, ``app.js``, ``style.css``; no external assets).
- ``GET /api/models``: the menu (``models``, ``default``) and the limits.
- ``POST /api/inpaint`` (multipart: ``image`` file, ``mask`` PNG of the same size, white or
  opaque = fill, ``model`` name): inpaints and answers ``{"result": URL, "filename", ...}``.
- ``GET /api/result/{id}.png``: a result (the last ``keep_results`` are kept in memory).

Every refusal is JSON ``{"detail": "<one line>"}`` with a 4xx status (400 bad content, 404,
413 too large, 422 a missing field); a failure during inpainting is a 500 with one line
(the traceback goes to the server log only).

Each API request is logged as one INFO line on the ``inpaintgan.webdemo.app`` logger:
``POST /api/inpaint 200 412 ms`` (method, path, status, milliseconds), refusals included.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections import OrderedDict
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from inpaintgan.inpainter import Inpainter, inpaint_any_size
from inpaintgan.pixels import array_to_batch, to_uint8_image
from inpaintgan.webdemo.uploads import (
    UploadError,
    decode_mask,
    decode_photo,
    encode_png,
    megabytes,
)

__all__ = ["STATIC_DIR", "ResultStore", "create_app"]

log = logging.getLogger(__name__)

STATIC_DIR = Path(str(resources.files("inpaintgan.webdemo") / "static"))
"""The page's files, shipped as package data."""

MASK_ALLOWANCE = 8 * 2**20
"""Bytes a request may carry beyond the photo limit (the mask PNG and the form fields)."""


class ResultStore:
    """The latest results as PNG bytes, by id; the oldest go first past ``keep`` results or
    ``max_bytes`` in all (so a long session cannot fill the memory)."""

    def __init__(self, keep: int = 32, max_bytes: int = 512 * 2**20) -> None:
        self.keep, self.max_bytes = keep, max_bytes
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, png: bytes) -> str:
        """Store ``png``; returns its id."""
        key = uuid.uuid4().hex
        with self._lock:
            self._items[key] = png
            while len(self._items) > self.keep or (
                len(self._items) > 1 and sum(map(len, self._items.values())) > self.max_bytes
            ):
                self._items.popitem(last=False)
        return key

    def get(self, key: str) -> bytes | None:
        """The PNG stored as ``key``, or None (unknown or evicted)."""
        with self._lock:
            return self._items.get(key)


class _RequestLog:
    """ASGI middleware: one INFO line per ``/api/`` request once it is answered: method,
    path, status and milliseconds (``POST /api/inpaint 200 412 ms``). Outermost, so the
    refusals of :class:`_BodyLimit` are logged too; a request that fails without an answer
    is logged with status 500."""

    def __init__(self, app: Any, prefix: str = "/api/") -> None:
        self.app, self.prefix = app, prefix

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def noting_send(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, noting_send)
        finally:
            ms = (time.perf_counter() - start) * 1000
            log.info("%s %s %d %.0f ms", scope.get("method", "?"), path, status, ms)


class _BodyLimit:
    """ASGI middleware: refuses a POST body over ``limit`` bytes with 413 and a JSON line,
    from its Content-Length before reading it, or as soon as a streamed body passes it."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length", b"").decode() or "0"
        if declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send, int(declared))
            return
        seen = 0

        async def counting_receive() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:  # FastAPI passes an HTTPException from the body through
                raise HTTPException(413, self._message(seen))
            return message

        await self.app(scope, counting_receive, send)

    def _message(self, size: int) -> str:
        return f"upload too large ({megabytes(size)}); at most {megabytes(self.limit)}"

    async def _refuse(self, send: Any, size: int) -> None:
        body = JSONResponse({"detail": self._message(size)}, status_code=413)
        await send({"type": "http.response.start", "status": 413, "headers": body.raw_headers})
        await send({"type": "http.response.body", "body": body.body})


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def create_app(
    inpainters: dict[str, Inpainter],
    max_side: int | None = 1024,
    max_upload_mb: float = 20,
    max_pixels: int = 50_000_000,
    keep_results: int = 32,
    title: str = "inpaintgan demo",
) -> FastAPI:
    """The demo app over ``inpainters`` (``{menu label: inpainter}``, the first is the default).

    ``max_side``: longer sides above it are inpainted downscaled and only the fill is
    upscaled back (:func:`inpaint_any_size`); ``max_upload_mb``: the largest photo file
    accepted; ``max_pixels``: the largest photo (checked from the header, before decoding);
    ``keep_results``: how many results stay downloadable.
    """
    if not inpainters:
        raise ValueError("create_app needs at least one inpainter")
    upload_limit = int(max_upload_mb * 2**20)
    results = ResultStore(keep=keep_results)
    run_lock = threading.Lock()  # one inference at a time: bounded memory, fair order
    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(_BodyLimit, limit=upload_limit + MASK_ALLOWANCE)
    app.add_middleware(_RequestLog)  # added last: the outermost, it sees every answer
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.exception_handler(RequestValidationError)
    async def _missing_field(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = sorted({str(e.get("loc", ["", "?"])[-1]) for e in exc.errors()})
        return JSONResponse(
            {"detail": f"bad request: missing or invalid field(s) {', '.join(fields)}"},
            status_code=422,
        )

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    @app.get("/api/models")
    def models() -> dict[str, Any]:
        return {
            "models": [
                {
                    "name": name,
                    "model": inp.name,
                    "device": str(inp.device),
                    "checkpoint": inp.checkpoint,
                }
                for name, inp in inpainters.items()
            ],
            "default": next(iter(inpainters)),
            "max_side": max_side,
            "max_upload_mb": max_upload_mb,
            "max_pixels": max_pixels,
            "title": title,
        }

    @app.post("/api/inpaint")
    def inpaint(
        image: UploadFile = File(...),
        mask: UploadFile = File(...),
        model: str = Form(""),
    ) -> dict[str, Any]:
        try:
            chosen = inpainters[model or next(iter(inpainters))]
        except KeyError:
            raise HTTPException(
                400, f"unknown model {model!r}; one of: {', '.join(inpainters)}"
            ) from None
        try:
            if image.size is not None and image.size > upload_limit:
                raise UploadError(
                    f"the photo is {megabytes(image.size)}; at most {megabytes(upload_limit)}",
                    status=413,
                )
            data = image.file.read(upload_limit + 1)
            if len(data) > upload_limit:
                raise UploadError(
                    f"the photo is over {megabytes(upload_limit)}, the most this demo takes",
                    status=413,
                )
            photo = decode_photo(data, max_pixels)
            painted = decode_mask(mask.file.read(), photo.shape[:2], max_pixels)
        except UploadError as err:
            raise HTTPException(err.status, str(err)) from None
        height, width = photo.shape[:2]
        start = time.perf_counter()
        try:
            with run_lock:
                batch, hole = array_to_batch(photo), array_to_batch(painted)
                result = inpaint_any_size(chosen, batch, hole, max_side)
        except Exception as err:  # a bug or out of memory: one line here, details in the log
            log.exception("inpainting with %s failed", model)
            if chosen.device.type == "cuda":
                torch.cuda.empty_cache()
            raise HTTPException(500, f"inpainting failed: {_first_line(err)}") from None
        seconds = time.perf_counter() - start
        key = results.add(encode_png(to_uint8_image(result)))
        stem = Path(image.filename or "photo").stem or "photo"
        return {
            "result": f"/api/result/{key}.png",
            "filename": f"{stem}_{_safe(str(model or next(iter(inpainters))))}.png",
            "width": width,
            "height": height,
            "model": chosen.name,
            "seconds": round(seconds, 3),
            "downscaled": bool(max_side and max(height, width) > max_side),
            "max_side": max_side,
        }

    @app.get("/api/result/{key}.png")
    def result(key: str) -> Response:
        png = results.get(key)
        if png is None:
            raise HTTPException(404, "no such result (the server keeps only the latest ones)")
        return Response(png, media_type="image/png")

    return app


def _safe(label: str) -> str:
    """A file-name-safe version of a menu label (without a checkpoint's suffix)."""
    label = re.sub(r"\.(ckpt|pt|pth)$", "", label)
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in label).strip("_") or "model"
