"""``parley.edge.AddressLimits`` on its own: counts released on every way out, the refusal's shape,
addresses through trusted proxies only, and a bucket table that does not grow without end. The
end-to-end tests against real servers are in tests/e2e/test_edge.py."""

from __future__ import annotations

import asyncio
import json

import pytest

from parley.edge import AddressLimits


def scope_from(address: str = "192.0.2.1", *, forwarded: str | None = None, extensions: bool = True) -> dict:
    headers = [(b"host", b"127.0.0.1:8000")]
    if forwarded:
        headers.append((b"x-forwarded-for", forwarded.encode()))
    scope = {"type": "websocket", "path": "/ws/rooms/x/", "headers": headers, "client": (address, 50000)}
    if extensions:
        scope["extensions"] = {"websocket.http.response": {}}
    return scope


class Connection:
    """One handshake through the middleware, held open until ``finish`` (or failing on request)."""

    def __init__(self, limits: AddressLimits, scope: dict) -> None:
        self.sent: list[dict] = []
        self.task = asyncio.get_running_loop().create_task(limits(scope, self.receive, self.send))

    async def receive(self):
        return {"type": "websocket.connect"}

    async def send(self, message):
        self.sent.append(message)

    async def refused(self) -> int | None:
        """The HTTP status it was refused with, or None if it got through (and is still open)."""
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        if not self.sent:
            return None
        if self.sent[0]["type"] == "websocket.http.response.start":
            return self.sent[0]["status"]
        return self.sent[-1]["code"]  # accepted, then closed


@pytest.fixture
def limits(settings):
    settings.PARLEY_ADDRESS_MAX_CONNECTIONS = 2
    settings.PARLEY_ADDRESS_HANDSHAKE_RATE = 0
    return lambda app: AddressLimits(app)


async def test_counts_are_per_address_and_released_when_the_app_fails_or_is_cancelled(limits):
    async def failing(scope, receive, send):
        await asyncio.sleep(0)
        raise RuntimeError("a bug in the consumer")

    async def open_forever(scope, receive, send):
        await asyncio.Event().wait()

    middleware = limits(open_forever)
    a, b = Connection(middleware, scope_from()), Connection(middleware, scope_from())
    assert await a.refused() is None and await b.refused() is None
    c = Connection(middleware, scope_from())
    assert await c.refused() == 429
    body = json.loads(c.sent[1]["body"])
    assert body["error"]["code"] == "rate_limited"
    other = Connection(middleware, scope_from("192.0.2.2"))  # another address has its own count
    assert await other.refused() is None
    # A cancelled connection (the server shutting down, a task killed) gives its slot back.
    a.task.cancel()
    await asyncio.gather(a.task, return_exceptions=True)
    assert middleware.open["192.0.2.1"] == 1
    # So does one whose application raises.
    middleware.application = failing
    d = Connection(middleware, scope_from())
    with pytest.raises(RuntimeError):
        await d.task
    assert middleware.open["192.0.2.1"] == 1
    b.task.cancel()
    other.task.cancel()
    await asyncio.gather(b.task, other.task, return_exceptions=True)
    assert middleware.open == {}  # nothing left behind for addresses that left


async def test_without_the_denial_extension_the_handshake_is_accepted_and_closed_1013(limits):
    async def open_forever(scope, receive, send):
        await asyncio.Event().wait()

    middleware = limits(open_forever)
    held = [Connection(middleware, scope_from(extensions=False)) for _ in range(2)]
    refused = Connection(middleware, scope_from(extensions=False))
    assert await refused.refused() == 1013
    assert refused.sent == [{"type": "websocket.accept"}, {"type": "websocket.close", "code": 1013}]
    for conn in held:
        conn.task.cancel()
    await asyncio.gather(*(c.task for c in held), return_exceptions=True)


async def test_forwarded_for_counts_only_through_trusted_proxies(limits, settings):
    async def open_forever(scope, receive, send):
        await asyncio.Event().wait()

    middleware = limits(open_forever)
    # From an untrusted peer X-Forwarded-For is ignored: three "clients" are one address.
    conns = [Connection(middleware, scope_from("203.0.113.9", forwarded=f"198.51.100.{i}")) for i in range(3)]
    assert [await c.refused() for c in conns] == [None, None, 429]
    # From a trusted proxy each forwarded address counts on its own.
    settings.PARLEY_TRUSTED_PROXIES = ["10.0.0.1"]
    proxied = [Connection(middleware, scope_from("10.0.0.1", forwarded=f"198.51.100.{i}")) for i in range(3)]
    assert [await c.refused() for c in proxied] == [None, None, None]
    assert set(middleware.open) == {"203.0.113.9", "198.51.100.0", "198.51.100.1", "198.51.100.2"}
    for conn in conns + proxied:
        conn.task.cancel()
    await asyncio.gather(*(c.task for c in conns + proxied), return_exceptions=True)


async def test_handshake_rate_and_forgotten_buckets(settings):
    settings.PARLEY_ADDRESS_MAX_CONNECTIONS = 0
    settings.PARLEY_ADDRESS_HANDSHAKE_RATE = 1000.0
    settings.PARLEY_ADDRESS_HANDSHAKE_BURST = 3

    async def done(scope, receive, send):
        return None

    middleware = AddressLimits(done)
    middleware.rate = 0.001  # slow refill for the burst test, fast enough for nothing else
    assert [await Connection(middleware, scope_from()).refused() for _ in range(4)] == [None, None, None, 429]
    # Addresses that came once and whose buckets refilled are forgotten as the table grows.
    middleware.rate = 1e9
    for i in range(5000):
        await Connection(middleware, scope_from(f"10.1.{i // 250}.{i % 250}")).task
    assert len(middleware.buckets) <= 2048
