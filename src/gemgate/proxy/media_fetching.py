"""Media URLs fetched on a caller's behalf reach the public internet only.

A chat message's `image_url` makes the gateway fetch that URL, from inside the network it runs in.
Without a guard any caller could make it read internal services or a cloud metadata endpoint.
Every hop is checked, redirects included: names by the resolver (the connection goes to exactly
the addresses it approved, so a name cannot resolve one way for the check and another for the
connection), address literals by a client middleware (aiohttp does not resolve those).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from ipaddress import IPv4Address, IPv6Address

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.client_middlewares import ClientHandlerType, ClientMiddlewareType
from aiohttp.resolver import DefaultResolver

from gemgate.media import RefusedAddressError
from gemgate.transports import new_session

IpAddress = IPv4Address | IPv6Address
AddressCheck = Callable[[IpAddress], bool]
# NAT64's well-known prefix carries an IPv4 address in its last 32 bits.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def is_public(address: IpAddress) -> bool:
    """Whether ``address`` is on the public internet (IPv4 inside IPv6 judged as IPv4)."""
    if isinstance(address, IPv6Address):
        inner = address.ipv4_mapped or address.sixtofour
        if inner is None and address in _NAT64:
            inner = IPv4Address(int(address) & 0xFFFFFFFF)
        if inner is not None:
            return is_public(inner)
    return address.is_global and not address.is_multicast


class PublicResolver(AbstractResolver):
    """Resolves names as usual, keeping only the addresses ``allowed`` accepts."""

    def __init__(self, allowed: AddressCheck = is_public) -> None:
        self._inner = DefaultResolver()
        self._allowed = allowed

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        kept = [result for result in found if self._allowed(ipaddress.ip_address(result["host"]))]
        if not kept:
            raise RefusedAddressError(host)
        return kept

    async def close(self) -> None:
        await self._inner.close()


def literal_guard(allowed: AddressCheck = is_public) -> ClientMiddlewareType:
    """A client middleware refusing hops to address literals ``allowed`` rejects."""

    async def guard(request: aiohttp.ClientRequest, handler: ClientHandlerType) -> aiohttp.ClientResponse:  # fmt: skip
        host = request.url.raw_host or ""
        try:
            address = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return await handler(request)  # a name: the resolver checks it
        if not allowed(address):
            raise RefusedAddressError(host)
        return await handler(request)

    return guard


def media_session(*, allow_private: bool, allowed: AddressCheck = is_public) -> aiohttp.ClientSession:  # fmt: skip
    """The session media URLs are fetched with; ``allow_private`` lifts the guard entirely."""
    if allow_private:
        return new_session()
    connector = aiohttp.TCPConnector(limit=64, resolver=PublicResolver(allowed))
    return aiohttp.ClientSession(
        connector=connector,
        cookie_jar=aiohttp.DummyCookieJar(),
        middlewares=(literal_guard(allowed),),
    )
