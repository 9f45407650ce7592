"""The WebSocket Origin check (``parley.edge.OriginCheck``): scheme, host and port of the page must be
the site's own (its Host, http for ws and https for wss) or listed in PARLEY_ALLOWED_ORIGINS."""

from __future__ import annotations

import json

import pytest
from channels.testing import WebsocketCommunicator

from parley.edge import OriginCheck, parse_origin


async def accept_all(scope, receive, send):
    """Stands in for Parley behind the check: accepts every handshake it is given."""
    await receive()
    await send({"type": "websocket.accept"})
    while (await receive())["type"] != "websocket.disconnect":
        pass


async def handshake(origin: str | None, host: str = "127.0.0.1:8000", *, scheme: str = "ws", client=None) -> bool:
    headers = [(b"host", host.encode())] if host else []
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    if client:
        headers.append((b"x-forwarded-proto", client[1].encode()))
    comm = WebsocketCommunicator(OriginCheck(accept_all), "/ws/rooms/x/", headers=headers)
    comm.scope["scheme"] = scheme
    comm.scope["client"] = (client[0], 50000) if client else ("127.0.0.1", 50000)
    connected, _ = await comm.connect(timeout=5)
    await comm.disconnect()
    return connected


async def test_the_sites_own_origin_is_accepted():
    assert await handshake("http://127.0.0.1:8000")
    assert await handshake("http://localhost", host="localhost")
    assert await handshake("http://LOCALHOST:80", host="localhost:80")  # case and default port


async def test_no_origin_is_accepted():
    """Not a browser page: a bot or a command-line client, which a foreign page cannot drive."""
    assert await handshake(None)
    assert await handshake(None, host="")


async def test_another_port_of_the_same_host_is_refused():
    assert not await handshake("http://127.0.0.1:8001")
    assert not await handshake("http://127.0.0.1")  # port 80
    assert not await handshake("http://localhost:8001", host="localhost:8000")


async def test_another_scheme_is_refused():
    assert not await handshake("https://127.0.0.1:8000")
    assert not await handshake("http://127.0.0.1:443", host="127.0.0.1:443", scheme="wss")
    assert await handshake("https://127.0.0.1", host="127.0.0.1", scheme="wss")


async def test_foreign_and_malformed_origins_are_refused():
    for origin in (
        "http://evil.example",
        "http://127.0.0.1.evil.example:8000",
        "null",
        "file://",
        "ws://127.0.0.1:8000",
    ):
        assert not await handshake(origin), origin


async def test_the_host_must_be_allowed():
    """A page whose Host is not in ALLOWED_HOSTS (DNS rebinding) is refused even if it matches."""
    assert not await handshake("http://rebound.example:8000", host="rebound.example:8000")
    assert not await handshake("http://127.0.0.1:8000", host="")


async def test_listed_origins_are_accepted(settings):
    settings.PARLEY_ALLOWED_ORIGINS = ["https://chat.example.org", "http://class.example.org:8080"]
    assert await handshake("https://chat.example.org")
    assert await handshake("https://chat.example.org:443")
    assert await handshake("http://class.example.org:8080")
    assert not await handshake("http://chat.example.org")
    assert not await handshake("http://class.example.org")
    assert await handshake("http://127.0.0.1:8000")  # the site's own still is


async def test_https_deployments(settings):
    settings.ALLOWED_HOSTS = ["chat.example.org"]
    # Behind a TLS proxy the server sees ws; a trusted proxy's X-Forwarded-Proto says https.
    settings.PARLEY_TRUSTED_PROXIES = ["10.0.0.1"]
    assert await handshake("https://chat.example.org", host="chat.example.org", client=("10.0.0.1", "https"))
    assert not await handshake("http://chat.example.org", host="chat.example.org", client=("10.0.0.1", "https"))
    # The same header from anyone else is not believed.
    assert not await handshake("https://chat.example.org", host="chat.example.org", client=("10.9.9.9", "https"))
    # PARLEY_HTTPS=1: the site is https, whatever the proxy says.
    settings.PARLEY_HTTPS = True
    assert await handshake("https://chat.example.org", host="chat.example.org")
    assert not await handshake("http://chat.example.org", host="chat.example.org")


async def test_a_refusal_is_http_403_with_a_json_error():
    sent = []
    scope = {
        "type": "websocket",
        "path": "/ws/rooms/x/",
        "headers": [(b"host", b"127.0.0.1:8000"), (b"origin", b"http://127.0.0.1:9999")],
        "scheme": "ws",
        "client": ("127.0.0.1", 5000),
        "extensions": {"websocket.http.response": {}},
    }

    async def receive():
        return {"type": "websocket.connect"}

    async def send(message):
        sent.append(message)

    await OriginCheck(accept_all)(scope, receive, send)
    assert sent[0]["type"] == "websocket.http.response.start" and sent[0]["status"] == 403
    assert json.loads(sent[1]["body"])["error"]["code"] == "forbidden"


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("https://Chat.Example.org", ("https", "chat.example.org", 443)),
        ("http://127.0.0.1:8000", ("http", "127.0.0.1", 8000)),
        ("http://[::1]:8000", ("http", "::1", 8000)),
        ("null", None),
        ("http://x:99999", None),
        ("https://chat.example.org/path", None),
        ("ftp://chat.example.org", None),
    ],
)
def test_parse_origin(value, parsed):
    assert parse_origin(value) == parsed
