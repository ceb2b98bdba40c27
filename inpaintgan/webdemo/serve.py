"""Serving the demo app: a port check with a one-line error, and a server in a thread."""

from __future__ import annotations

import errno
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

from inpaintgan.errors import UsageError

__all__ = ["check_port", "free_port", "serve", "serving_in_thread"]


def check_port(host: str, port: int) -> None:
    """Raise :class:`UsageError` (one line) when ``host:port`` cannot be listened on."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as err:
            cause = os.strerror(err.errno) if err.errno else str(err)
            hint = "; pick another with port=N" if err.errno == errno.EADDRINUSE else ""
            raise UsageError(f"cannot listen on {host}:{port}: {cause}{hint}") from None


def free_port(host: str = "127.0.0.1") -> int:
    """A port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def serve(app: FastAPI, host: str, port: int) -> None:
    """Serve ``app`` until Ctrl-C (uvicorn, no access log)."""
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


@contextmanager
def serving_in_thread(app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``app`` in a background thread; yields its base URL, stops it on exit.
    ``port=0`` picks a free port."""
    port = port or free_port(host)
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the demo server did not start on {host}:{port}")
        time.sleep(0.05)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
