"""Real servers on loopback for end-to-end tests: uvicorn (ASGI apps) or aiohttp (the gateway)
in a background thread with its own event loop."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from aiohttp import web


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def serve(
    app: Any, *, port: int | None = None, ssl_context: ssl.SSLContext | None = None
) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 for the duration of the block; yield its base URL.
    An ``ssl_context`` (aiohttp apps only) serves it over TLS, at an https:// URL."""
    if isinstance(app, web.Application):
        with _serve_aiohttp(app, port or free_port(), ssl_context) as url:
            yield url
        return
    chosen = port or free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=chosen,
        log_level="warning",
        lifespan="auto",
        timeout_graceful_shutdown=1,
        ws="websockets-sansio",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{chosen}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def _serve_aiohttp(
    app: web.Application, port: int, ssl_context: ssl.SSLContext | None
) -> Iterator[str]:
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=1)
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(
            web.TCPSite(runner, "127.0.0.1", port, ssl_context=ssl_context).start()
        )
        started.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    if not started.wait(timeout=10):
        raise RuntimeError("test gateway did not start")
    try:
        yield f"{'https' if ssl_context else 'http'}://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
