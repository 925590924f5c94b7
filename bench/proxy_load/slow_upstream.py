"""A fake Gemini API that answers like the nginx one, but only after a fixed delay, and can pace
its streams: the first event at once, each further one after a gap.

bench/proxy_load.py runs it to measure the latency a gateway adds to a slow upstream, and (delay 0,
with a gap) the time to the first byte of a stream:
    python slow_upstream.py PORT DELAY_SECONDS API_KEY ANSWER.json ANSWER.sse [EVENT_GAP_SECONDS]
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import uvloop
from aiohttp import web

GENERATE = ":generateContent"
STREAM = ":streamGenerateContent"
EVENT_END = b"\r\n\r\n"


def split_events(stream: bytes) -> list[bytes]:
    """The SSE events of `stream`, each with its CRLF CRLF ending."""
    return [event + EVENT_END for event in stream.split(EVENT_END) if event]


async def _paced(request: web.Request, events: list[bytes], gap: float) -> web.StreamResponse:
    # Chunked, one event per chunk, as Google streams: a relay that waits for the whole answer
    # shows up as a first byte `gap` late.
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    for index, event in enumerate(events):
        if index:
            await asyncio.sleep(gap)
        await response.write(event)
    await response.write_eof()
    return response


def create_app(
    delay: float, api_key: str, answer: bytes, stream: bytes, event_gap: float = 0.0
) -> web.Application:
    """An app serving `answer` to generateContent and `stream` to streamGenerateContent?alt=sse
    (whole, or event by event `event_gap` seconds apart when that is above 0)."""
    events = split_events(stream)

    async def handle(request: web.Request) -> web.StreamResponse:
        await request.read()
        if api_key not in (request.headers.get("x-goog-api-key"), request.query.get("key")):
            return web.Response(status=403)
        if delay:
            await asyncio.sleep(delay)
        if request.path.endswith(GENERATE):
            return web.Response(body=answer, content_type="application/json")
        if request.path.endswith(STREAM) and request.query.get("alt") == "sse":
            if event_gap > 0:
                return await _paced(request, events, event_gap)
            return web.Response(body=stream, content_type="text/event-stream")
        return web.Response(status=404)

    app = web.Application()
    app.router.add_post("/v1beta/models/{method}", handle)
    return app


def main(argv: list[str]) -> None:
    """Serve on 127.0.0.1 until killed."""
    port, delay, api_key, answer_path, stream_path, *rest = argv
    app = create_app(
        float(delay),
        api_key,
        Path(answer_path).read_bytes(),
        Path(stream_path).read_bytes(),
        float(rest[0]) if rest else 0.0,
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
