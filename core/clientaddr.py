"""Who is on the other end: the client's address, through trusted proxies only.

A request's peer is the TCP address the server sees. Behind a reverse proxy that is the proxy, and
the client is named in ``X-Forwarded-For``; but anyone can send that header, so it is believed only
when the peer is listed in ``PARLEY_TRUSTED_PROXIES`` (addresses or CIDR networks). The header is
read from the right: each trusted hop appended the address it saw, and the first address that is
not a trusted proxy is the client. ``X-Forwarded-Proto`` is believed on the same terms.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(raw: Iterable[str]) -> tuple[Network, ...]:
    """``["10.0.0.1", "10.1.0.0/16", "::1"]`` -> networks; raises ValueError for a malformed entry."""
    return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in raw if item.strip())


@functools.cache
def _trusted(raw: tuple[str, ...]) -> tuple[Network, ...]:
    return parse_networks(raw)


def is_trusted_proxy(address: str | None) -> bool:
    if not address:
        return False
    networks = _trusted(tuple(settings.PARLEY_TRUSTED_PROXIES))
    if not networks:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_address(peer: str | None, forwarded_for: str | None) -> str:
    """The client's address: ``peer``, or the nearest untrusted hop of ``X-Forwarded-For`` when
    ``peer`` is a trusted proxy. "unknown" when the server names no peer (a unix socket, tests)."""
    address = peer or "unknown"
    if forwarded_for and is_trusted_proxy(peer):
        for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
            address = hop
            if not is_trusted_proxy(hop):
                break
    return address


def scope_header(scope: Mapping[str, Any], name: bytes) -> str | None:
    """The last value of an ASGI scope's header ``name`` (lower-case bytes), decoded as latin-1."""
    value = None
    for key, raw in scope.get("headers", ()):
        if key == name:
            value = raw.decode("latin-1")
    return value


def scope_client_address(scope: Mapping[str, Any]) -> str:
    """``client_address`` for an ASGI scope (HTTP or WebSocket)."""
    client = scope.get("client")
    peer = client[0] if client else None
    return client_address(peer, scope_header(scope, b"x-forwarded-for"))
