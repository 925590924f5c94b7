"""Requests per second of httpx and aiohttp clients posting generateContent to the emulator.

Run: python -m bench.http_clients   (needs the `bench` extra for aiohttp)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx
import orjson

from bench.upstream import emulator_process

BODY = orjson.dumps({"contents": [{"role": "user", "parts": [{"text": "Hello there"}]}]})
HEADERS = {"x-goog-api-key": "bench-key", "content-type": "application/json"}
PATH = "/v1beta/models/gemini-2.5-flash:generateContent"
REQUESTS = 2000
CONCURRENCY = 32

Post = Callable[[], Awaitable[bytes]]


async def _rate(post: Post) -> float:
    for _ in range(50):  # warm the pool
        await post()
    remaining = REQUESTS
    started = time.perf_counter()

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await post()

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return REQUESTS / (time.perf_counter() - started)


async def _httpx_rate(url: str) -> float:
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, limits=limits) as client:

        async def post() -> bytes:
            response = await client.post(PATH, content=BODY, headers=HEADERS)
            return response.content

        return await _rate(post)


async def _aiohttp_rate(url: str) -> float | None:
    try:
        import aiohttp
    except ImportError:
        return None
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(base_url=url, connector=connector) as session:

        async def post() -> bytes:
            async with session.post(PATH, data=BODY, headers=HEADERS) as response:
                return await response.read()

        return await _rate(post)


async def main() -> None:
    with emulator_process() as url:
        for name, measure in (("httpx", _httpx_rate), ("aiohttp", _aiohttp_rate)):
            rate = await measure(url)
            print(f"{name:8} {'n/a' if rate is None else f'{rate:8.0f} req/s'}")


if __name__ == "__main__":
    asyncio.run(main())
