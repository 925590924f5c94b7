"""EmulatorState: the mutable stores of one emulator instance (caches, files, tokens, request log)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import HTTPConnection

from gemgate.emulator.settings import EmulatorSettings

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as it reached the emulator, kept so tests can see what a client sent."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any


@dataclass
class EmulatorState:
    """Per-instance stores; owned by the app, never module globals."""

    settings: EmulatorSettings
    clock: Clock = time.time
    # access token -> expiry (epoch seconds), issued by the OAuth token endpoint
    access_tokens: dict[str, float] = field(default_factory=dict)
    # resource name -> stored resource (cachedContents/..., files/..., projects/.../cachedContents/...)
    cached_contents: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    # upload id -> {"file": resource, "data": bytearray}
    uploads: dict[str, dict[str, Any]] = field(default_factory=dict)
    # "{location}/{collection}/{id}" -> Vertex batch prediction or tuning job resource
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: deque[RecordedRequest] = field(default_factory=lambda: deque(maxlen=1000))

    def record(self, entry: RecordedRequest) -> None:
        self.requests.append(entry)


def state_of(connection: HTTPConnection) -> EmulatorState:
    """The EmulatorState of the app serving ``connection`` (HTTP request or WebSocket)."""
    state: EmulatorState = connection.app.state.emulator
    return state
