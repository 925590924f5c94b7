"""The SDK's own cost: `acompletion` against the emulator vs a bare HTTP post of the same body,
and the time `import gemgate` takes. Both in one run, as ratios.

Run: python -m bench.sdk_overhead     Targets: overhead per call <= 15 %, import < 0.3 s.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

import aiohttp
import orjson

import gemgate
from bench.upstream import emulator_process
from gemgate.client_pool import DEFAULT_POOL
from gemgate.openai_api import chat_body, resolve_chat
from gemgate.transports import new_session

MODEL = "gemini/gemini-2.0-flash"
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there"}]
CALLS = 200
# An odd count: the median is one pair's ratio. The machine's state drifts over tens of seconds:
# 21 pairs (about 10 s) gave runs from +11 % to +24 % on the same code, 61 pairs +12.5 % to +14.7 %.
PAIRS = 61


async def _sdk_round(url: str) -> float:
    started = time.perf_counter()
    for _ in range(CALLS):
        await gemgate.acompletion(model=MODEL, messages=MESSAGES, api_key="bench-key", api_base=url)
    return (time.perf_counter() - started) / CALLS


async def _bare_round(session: aiohttp.ClientSession, url: str, body: bytes) -> float:
    path = f"{url}/v1beta/models/gemini-2.0-flash:generateContent"
    headers = {"x-goog-api-key": "bench-key", "content-type": "application/json"}
    started = time.perf_counter()
    for _ in range(CALLS):
        async with session.post(path, data=body, headers=headers) as response:
            orjson.loads(await response.read())
    return (time.perf_counter() - started) / CALLS


@dataclass(frozen=True)
class CallTimes:
    sdk: float  # median seconds per call
    bare: float
    overhead: float  # the median of the pairs' ratios, minus one


async def measure_calls(url: str) -> CallTimes:
    """Seconds per call of the SDK and of the bare post, in adjacent rounds (pairs) whose order
    alternates: the machine's drift (other processes, CPU frequency) hits both sides of a pair,
    and the overhead is the median of the pairs' ratios, not a ratio of two separate medians."""
    target = resolve_chat(MODEL, MESSAGES, {"api_key": "bench-key", "api_base": url})
    body = orjson.dumps(chat_body(target, {}))
    sdk, bare = [], []
    # The bare post uses the same HTTP library and pool settings as the SDK's async client.
    async with new_session() as client:
        await _bare_round(client, url, body)  # warm both pools
        await _sdk_round(url)
        for pair in range(PAIRS):
            if pair % 2:
                bare.append(await _bare_round(client, url, body))
                sdk.append(await _sdk_round(url))
            else:
                sdk.append(await _sdk_round(url))
                bare.append(await _bare_round(client, url, body))
    await DEFAULT_POOL.aclose_running_loop()
    ratios = [one / other for one, other in zip(sdk, bare, strict=True)]
    return CallTimes(statistics.median(sdk), statistics.median(bare), statistics.median(ratios) - 1)


def measure_import(code: str = "import gemgate", runs: int = 7) -> float:
    """Median seconds ``code`` (an import) adds to a bare interpreter start."""

    def timed(code: str) -> float:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        return time.perf_counter() - started

    empty = statistics.median(timed("pass") for _ in range(runs))
    loaded = statistics.median(timed(code) for _ in range(runs))
    return loaded - empty


def main() -> None:
    with emulator_process() as url:
        calls = asyncio.run(measure_calls(url))
    seconds = measure_import()
    # The call functions load the HTTP stack on first use: what a program pays before its first call.
    first_use = measure_import("from gemgate import acompletion")
    print(f"acompletion per call: {calls.sdk * 1e3:.3f} ms; bare post: {calls.bare * 1e3:.3f} ms; "
          f"overhead {calls.overhead:+.1%} (median of {PAIRS} pairs; target <= +15%)")  # fmt: skip
    print(f"import gemgate: {seconds:.3f} s (target < 0.3 s); "
          f"with the call functions loaded: {first_use:.3f} s")  # fmt: skip


if __name__ == "__main__":
    main()
