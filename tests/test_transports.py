"""The HTTP libraries' failures inside a transport's block, mapped once to gemgate errors."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import aiohttp
import httpx
import pytest

from gemgate import errors
from gemgate.calls import Call, build_call
from gemgate.providers.gemini_api import GeminiApi
from gemgate.transports import aiohttp_errors, httpx_errors

Mapping = Callable[[Call], AbstractContextManager[None]]
CALL = build_call(
    GeminiApi(api_key="secret-key", api_base="http://upstream.test:8090"),
    "gemini-2.5-flash",
    "generateContent",
    {"contents": []},
    timeout=5,
)


@pytest.mark.parametrize(
    ("mapping", "failure", "expected", "message"),
    [
        (aiohttp_errors, TimeoutError(), errors.Timeout, "upstream.test:8090 did not answer in time (TimeoutError)"),
        (aiohttp_errors, aiohttp.ServerDisconnectedError(), errors.APIConnectionError, "could not talk to upstream.test:8090: ServerDisconnectedError Server disconnected"),
        (aiohttp_errors, aiohttp.ClientError(), errors.APIConnectionError, "could not talk to upstream.test:8090: ClientError"),
        (aiohttp_errors, ConnectionResetError("reset"), errors.APIConnectionError, "could not talk to upstream.test:8090: ConnectionResetError reset"),
        (httpx_errors, httpx.ReadTimeout("slow"), errors.Timeout, "upstream.test:8090 did not answer in time (ReadTimeout)"),
        (httpx_errors, httpx.ConnectError("refused"), errors.APIConnectionError, "could not talk to upstream.test:8090: ConnectError refused"),
    ],
)  # fmt: skip
def test_a_library_failure_becomes_a_gemgate_error_naming_the_host(
    mapping: Mapping, failure: Exception, expected: type[errors.GemgateError], message: str
) -> None:
    with pytest.raises(expected) as raised:
        with mapping(CALL):
            raise failure
    assert raised.value.message == message
    assert raised.value.__cause__ is failure
    assert (raised.value.provider, raised.value.model) == ("gemini", "gemini-2.5-flash")


@pytest.mark.parametrize("mapping", [aiohttp_errors, httpx_errors])
def test_a_key_in_the_failure_is_redacted(mapping: Mapping) -> None:
    failure = aiohttp.ClientError if mapping is aiohttp_errors else httpx.ConnectError
    with pytest.raises(errors.APIConnectionError) as raised:
        with mapping(CALL):
            raise failure("GET http://upstream.test:8090/x?key=secret-key failed")
    assert "secret-key" not in raised.value.message


@pytest.mark.parametrize("mapping", [aiohttp_errors, httpx_errors])
def test_other_exceptions_pass_through_unchanged(mapping: Mapping) -> None:
    bug = KeyError("a bug of ours")
    with pytest.raises(KeyError) as raised:
        with mapping(CALL):
            raise bug
    assert raised.value is bug


@pytest.mark.parametrize("mapping", [aiohttp_errors, httpx_errors])
def test_a_block_that_succeeds_returns_its_value(mapping: Mapping) -> None:
    def answer() -> int:
        with mapping(CALL):
            return 200
        raise AssertionError("unreachable")  # pragma: no cover

    assert answer() == 200
