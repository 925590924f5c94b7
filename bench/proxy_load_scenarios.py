"""What bench/proxy_load.py measures: its scenarios, the targets they are held to, and results."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import orjson

UPSTREAM_KEY = "bench-upstream-key"
MASTER_KEY = "sk-bench-master"
UPSTREAM_MODEL = "gemini-2.0-flash"
ALIAS = "gemini-flash"
UPSTREAM_PATH = f"/v1beta/models/{UPSTREAM_MODEL}"
LATENCY_CONCURRENCY = 32

# Targets of the gateway issue, all measured in the same run.
CHAT_SHARE = 0.05
STREAM_SHARE = 0.03
NATIVE_SHARE = 0.06
PEER_FACTOR = 30.0
ADDED_P50_MS = 1.0
ADDED_P99_MS = 3.0
RSS_LIMIT_MB = 120.0
# The bar for streams: what the /gemini pass-through adds to the time to first byte.
TTFB_ADDED_P50_MS = 1.0
TTFB_CONNECTIONS = (1, 32)
# A leak of 1 KB per request grows by ~900 MB over 5 minutes at 3,000 req/s, so 5 MB of slack
# tells a leak from allocator noise.
SOAK_GROWTH_LIMIT_MB = 5.0


class BenchError(Exception):
    """A step of one scenario that could not be carried out; the message is one line."""


@dataclass(frozen=True, slots=True)
class Call:
    """The one request a scenario repeats, and the body shape its answer must have."""

    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    answer: str  # a key of ANSWER_CHECKS


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    target: str  # "direct", "gemgate" or "litellm"
    call: Call
    baseline: str | None = None  # the direct scenario it is compared with
    min_share: float | None = None  # target: at least this share of the baseline's req/s
    is_slow_upstream: bool = False


@dataclass(frozen=True, slots=True)
class Measurement:
    """One measured wrk run (or why there is none); latencies in ms, memory in MB (10^6 B)."""

    scenario: str
    target: str
    concurrency: int
    requests_per_second: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    requests: int = 0
    non_2xx: int = 0
    socket_errors: int = 0
    rss_max_mb: float | None = None
    rss_samples_mb: tuple[float, ...] = field(default=(), repr=False)
    # ms per second of the run that the server's threads waited, runnable, for a core
    cpu_wait_ms_per_s: float | None = None
    failure: str | None = None


@dataclass(frozen=True, slots=True)
class Soak:
    """The long non-streaming chat run, with the gateway's RSS at its start and end."""

    seconds: int
    measurement: Measurement
    rss_start_mb: float | None
    rss_end_mb: float | None


def _native_body() -> bytes:
    return orjson.dumps({"contents": [{"role": "user", "parts": [{"text": "Hello"}]}]})


def _chat_body(*, stream: bool) -> bytes:
    body: dict[str, object] = {"model": ALIAS, "messages": [{"role": "user", "content": "Hello"}]}
    if stream:
        body["stream"] = True
    return orjson.dumps(body)


_UPSTREAM_AUTH = (("x-goog-api-key", UPSTREAM_KEY),)
_GOOGLE_AUTH = (("x-goog-api-key", MASTER_KEY),)
_OPENAI_AUTH = (("Authorization", f"Bearer {MASTER_KEY}"),)
DIRECT_NATIVE = Call(f"{UPSTREAM_PATH}:generateContent", _UPSTREAM_AUTH, _native_body(), "native")
DIRECT_STREAM = Call(
    f"{UPSTREAM_PATH}:streamGenerateContent?alt=sse", _UPSTREAM_AUTH, _native_body(), "sse"
)
CHAT = Call("/v1/chat/completions", _OPENAI_AUTH, _chat_body(stream=False), "chat")
CHAT_STREAM = Call("/v1/chat/completions", _OPENAI_AUTH, _chat_body(stream=True), "chat-stream")
NATIVE = Call(f"/v1beta/models/{ALIAS}:generateContent", _GOOGLE_AUTH, _native_body(), "native")
PASS_THROUGH = Call(f"/gemini{DIRECT_NATIVE.path}", _GOOGLE_AUTH, _native_body(), "native")
NATIVE_STREAM = Call(
    f"/v1beta/models/{ALIAS}:streamGenerateContent?alt=sse", _GOOGLE_AUTH, _native_body(), "sse"
)
PASS_THROUGH_STREAM = Call(f"/gemini{DIRECT_STREAM.path}", _GOOGLE_AUTH, _native_body(), "sse")

SLOW = "50 ms upstream"
SCENARIOS = (
    Scenario("direct native", "direct", DIRECT_NATIVE),
    Scenario("direct stream", "direct", DIRECT_STREAM),
    Scenario("gemgate chat", "gemgate", CHAT, "direct native", CHAT_SHARE),
    Scenario("gemgate chat stream", "gemgate", CHAT_STREAM, "direct stream", STREAM_SHARE),
    Scenario("gemgate native", "gemgate", NATIVE, "direct native", NATIVE_SHARE),
    Scenario("gemgate pass-through", "gemgate", PASS_THROUGH, "direct native"),
    Scenario("litellm chat", "litellm", CHAT, "direct native"),
    Scenario("litellm chat stream", "litellm", CHAT_STREAM, "direct stream"),
    Scenario(f"direct native, {SLOW}", "direct", DIRECT_NATIVE, is_slow_upstream=True),
    Scenario(f"gemgate chat, {SLOW}", "gemgate", CHAT, is_slow_upstream=True),
    Scenario(f"gemgate native, {SLOW}", "gemgate", NATIVE, is_slow_upstream=True),
    Scenario(f"gemgate pass-through, {SLOW}", "gemgate", PASS_THROUGH, is_slow_upstream=True),
    Scenario(f"litellm chat, {SLOW}", "litellm", CHAT, is_slow_upstream=True),
)
SCENARIOS_BY_NAME = {scenario.name: scenario for scenario in SCENARIOS}
SOAK_SCENARIO = SCENARIOS_BY_NAME["gemgate chat"]
# (scenario through a gateway, the direct one it adds latency to, whether the targets apply)
LATENCY_PAIRS = (
    (f"gemgate chat, {SLOW}", f"direct native, {SLOW}", True),
    (f"gemgate native, {SLOW}", f"direct native, {SLOW}", True),
    (f"gemgate pass-through, {SLOW}", f"direct native, {SLOW}", False),
    (f"litellm chat, {SLOW}", f"direct native, {SLOW}", False),
)
# (gemgate scenario, LiteLLM scenario, minimum gemgate/LiteLLM req/s ratio)
PEER_PAIRS = (
    ("gemgate chat", "litellm chat", PEER_FACTOR),
    ("gemgate chat stream", "litellm chat stream", None),
)

TTFB = "first byte"
# Streams from the paced upstream, timed to their first body byte by
# bench/proxy_load_ttfb_client.py.
TTFB_SCENARIOS = (
    Scenario(f"direct stream, {TTFB}", "direct", DIRECT_STREAM),
    Scenario(f"gemgate pass-through stream, {TTFB}", "gemgate", PASS_THROUGH_STREAM),
    Scenario(f"gemgate native stream, {TTFB}", "gemgate", NATIVE_STREAM),
    Scenario(f"gemgate chat stream, {TTFB}", "gemgate", CHAT_STREAM),
)
# (scenario through gemgate, the direct one whose time to first byte it adds to, whether the
# target applies)
TTFB_PAIRS = (
    (f"gemgate pass-through stream, {TTFB}", f"direct stream, {TTFB}", True),
    (f"gemgate native stream, {TTFB}", f"direct stream, {TTFB}", False),
    (f"gemgate chat stream, {TTFB}", f"direct stream, {TTFB}", False),
)


def _is_native(body: bytes) -> bool:
    try:
        return bool(orjson.loads(body)["candidates"][0]["content"]["parts"])
    except (orjson.JSONDecodeError, LookupError, TypeError):
        return False


def _is_sse(body: bytes) -> bool:
    return body.startswith(b"data: ") and b'"finishReason"' in body


def _is_chat(body: bytes) -> bool:
    try:
        return bool(orjson.loads(body)["choices"][0]["message"]["content"])
    except (orjson.JSONDecodeError, LookupError, TypeError):
        return False


def _is_chat_stream(body: bytes) -> bool:
    return b'"delta"' in body and body.rstrip().endswith(b"data: [DONE]")


ANSWER_CHECKS: dict[str, Callable[[bytes], bool]] = {
    "native": _is_native,
    "sse": _is_sse,
    "chat": _is_chat,
    "chat-stream": _is_chat_stream,
}
