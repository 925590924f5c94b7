"""A fake Gemini API that answers like the nginx one, but only after a fixed delay.

bench/proxy_load.py runs it to measure the latency a gateway adds to a slow upstream:
    python slow_upstream.py PORT DELAY_SECONDS API_KEY ANSWER.json ANSWER.sse
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import uvloop
from aiohttp import web

GENERATE = ":generateContent"
STREAM = ":streamGenerateContent"


def create_app(delay: float, api_key: str, answer: bytes, stream: bytes) -> web.Application:
    """An app serving `answer` to generateContent and `stream` to streamGenerateContent?alt=sse."""

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        if api_key not in (request.headers.get("x-goog-api-key"), request.query.get("key")):
            return web.Response(status=403)
        await asyncio.sleep(delay)
        if request.path.endswith(GENERATE):
            return web.Response(body=answer, content_type="application/json")
        if request.path.endswith(STREAM) and request.query.get("alt") == "sse":
            return web.Response(body=stream, content_type="text/event-stream")
        return web.Response(status=404)

    app = web.Application()
    app.router.add_post("/v1beta/models/{method}", handle)
    return app


def main(argv: list[str]) -> None:
    """Serve on 127.0.0.1 until killed."""
    port, delay, api_key, answer_path, stream_path = argv
    app = create_app(
        float(delay), api_key, Path(answer_path).read_bytes(), Path(stream_path).read_bytes()
    )
    web.run_app(
        app,
        host="127.0.0.1",
        port=int(port),
        print=None,
        access_log=None,
        loop=uvloop.new_event_loop(),
    )


if __name__ == "__main__":
    main(sys.argv[1:])
