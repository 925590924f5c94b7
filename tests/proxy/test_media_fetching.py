"""Media URLs the gateway fetches for a caller: public hosts only, every hop checked, unless the
config allows private networks."""

from __future__ import annotations

from collections.abc import Iterator
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any

import httpx
import pytest
from aiohttp import web

from gemgate import errors
from gemgate.media import fetch_media
from gemgate.proxy import create_app
from gemgate.proxy.media_fetching import is_public, media_session
from tests.proxy.conftest import CHAT_MODEL, MASTER_KEY, model_list_config
from tests.servers import serve

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(32))
AUTH = {"authorization": f"Bearer {MASTER_KEY}"}


@pytest.mark.parametrize(
    ("address", "public"),
    [("8.8.8.8", True), ("2001:4860:4860::8888", True), ("127.0.0.1", False), ("10.1.2.3", False),
     ("172.16.0.1", False), ("192.168.1.1", False), ("169.254.169.254", False), ("100.64.0.1", False),
     ("0.0.0.0", False), ("224.0.0.1", False), ("255.255.255.255", False), ("::1", False),
     ("fd00::1", False), ("fe80::1", False), ("::ffff:127.0.0.1", False), ("::ffff:8.8.8.8", True),
     ("64:ff9b::7f00:1", False), ("2002:7f00:1::", False), ("ff02::1", False)],
)  # fmt: skip
def test_only_public_addresses_count_as_public(address: str, public: bool) -> None:
    assert is_public(ip_address(address)) is public


class MediaHost:
    """A loopback media server noting each path asked for; `/away` redirects to 127.0.0.2."""

    def __init__(self) -> None:
        self.visits: list[str] = []
        self.app = web.Application()
        self.app.router.add_get("/cat.png", self._png)
        self.app.router.add_get("/away", self._away)

    async def _png(self, request: web.Request) -> web.Response:
        self.visits.append(request.path)
        return web.Response(body=PNG, content_type="image/png")

    async def _away(self, request: web.Request) -> web.Response:
        self.visits.append(request.path)
        raise web.HTTPFound(f"http://127.0.0.2:{request.url.port}/cat.png")


@pytest.fixture
def media() -> Iterator[tuple[MediaHost, int]]:
    host = MediaHost()
    with serve(host.app) as url:
        yield host, httpx.URL(url).port or 0


def _chat(url: str) -> dict[str, Any]:
    content = [{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": url}}]  # fmt: skip
    return {"model": CHAT_MODEL, "messages": [{"role": "user", "content": content}]}


def _gateway(emulator_url: str, **settings: Any) -> Iterator[httpx.Client]:
    with serve(create_app(model_list_config(emulator_url, **settings))) as url:
        with httpx.Client(base_url=url, headers=AUTH, timeout=30) as client:
            yield client


REFUSED = "only fetched from public hosts"
PRIVATE_URLS = [
    ("http://127.0.0.1:{port}/cat.png", REFUSED), ("http://localhost:{port}/cat.png", REFUSED),
    ("http://[::1]:{port}/cat.png", REFUSED), ("http://[::ffff:127.0.0.1]:{port}/cat.png", REFUSED),
    ("http://169.254.169.254/latest/meta-data/", REFUSED), ("http://10.0.0.1/cat.png", REFUSED),
    # Not a canonical address: the HTTP library refuses it before any lookup.
    ("http://2130706433:{port}/cat.png", "the URL is not valid"),
]  # fmt: skip


@pytest.mark.parametrize(("template", "reason"), PRIVATE_URLS)
def test_the_gateway_refuses_media_on_private_addresses(
    template: str, reason: str, media: tuple[MediaHost, int], emulator_url: str
) -> None:
    host, port = media
    httpx.delete(f"{emulator_url}/emulator/requests")
    for gateway in _gateway(emulator_url):
        response = gateway.post("/v1/chat/completions", json=_chat(template.format(port=port)))
        assert response.status_code == 400
        error = response.json()["error"]
        assert reason in error["message"]
        assert error["type"] == "invalid_request_error"
        assert gateway.get("/health/liveliness").status_code == 200
    assert host.visits == []
    assert httpx.get(f"{emulator_url}/emulator/requests").json()["requests"] == []


def test_private_media_are_fetched_when_the_config_allows_them(
    media: tuple[MediaHost, int], emulator_url: str
) -> None:
    host, port = media
    for gateway in _gateway(emulator_url, allow_private_media_urls=True):
        response = gateway.post("/v1/chat/completions", json=_chat(f"http://127.0.0.1:{port}/cat.png"))  # fmt: skip
        assert response.status_code == 200
    assert host.visits == ["/cat.png"]


async def test_every_redirect_hop_is_checked(media: tuple[MediaHost, int]) -> None:
    host, port = media

    def allowed(address: IPv4Address | IPv6Address) -> bool:  # loopback stands in for the internet
        return address != IPv4Address("127.0.0.2")

    async with media_session(allow_private=False, allowed=allowed) as session:
        [blob] = (await fetch_media([f"http://127.0.0.1:{port}/cat.png"], session=session)).values()
        assert blob["mimeType"] == "image/png"
        with pytest.raises(errors.BadRequestError, match="127.0.0.2 is a private"):
            await fetch_media([f"http://127.0.0.1:{port}/away"], session=session)
    assert host.visits == ["/cat.png", "/away"]


async def test_names_are_judged_by_the_addresses_they_resolve_to(media: tuple[MediaHost, int]) -> None:  # fmt: skip
    host, port = media
    async with media_session(allow_private=False, allowed=lambda address: not address.is_loopback) as session:  # fmt: skip
        with pytest.raises(errors.BadRequestError, match="localhost is a private"):
            await fetch_media([f"http://localhost:{port}/cat.png"], session=session)
    assert host.visits == []
