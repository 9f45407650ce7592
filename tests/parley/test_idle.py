"""``parley.edge.EdgeWebSocketProtocol``: uvicorn's sans-I/O WebSocket protocol, lighter per idle
connection, and the middlewares that pass a connection on without a frame of their own."""

from __future__ import annotations

import asyncio
import json

import pytest
import uvicorn
from asgiref.compatibility import guarantee_single_callable, is_double_callable
from websockets.asyncio.client import connect
from websockets.http11 import Request

from parley import asgi
from parley.edge import EdgeWebSocketProtocol, _Inbox, _Writable
from tests.servers import free_port


async def test_inbox_hands_events_over_in_order_and_wakes_its_reader():
    inbox = _Inbox()
    assert inbox.empty()
    inbox.put_nowait(1)
    inbox.put_nowait(2)
    assert not inbox.empty()
    assert [await inbox.get(), await inbox.get()] == [1, 2]
    assert inbox.empty()
    waiting = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    assert not waiting.done()
    inbox.put_nowait(3)
    assert await asyncio.wait_for(waiting, 1) == 3


async def test_inbox_keeps_an_event_its_cancelled_reader_did_not_take():
    inbox = _Inbox()
    waiting = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    inbox.put_nowait("connect")
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert await asyncio.wait_for(inbox.get(), 1) == "connect"


async def test_inbox_has_one_reader():
    inbox = _Inbox()
    first = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError):
        await inbox.get()
    inbox.put_nowait("x")
    assert await asyncio.wait_for(first, 1) == "x"


async def test_writable_holds_its_waiters_until_set():
    flag = _Writable()
    assert flag.is_set()
    await asyncio.wait_for(flag.wait(), 1)  # set: no wait
    flag.clear()
    waiters = [asyncio.create_task(flag.wait()) for _ in range(3)]
    await asyncio.sleep(0.01)
    assert not any(w.done() for w in waiters)
    flag.set()
    await asyncio.wait_for(asyncio.gather(*waiters), 1)
    flag.clear()
    cancelled = asyncio.create_task(flag.wait())
    await asyncio.sleep(0)
    cancelled.cancel()
    flag.set()  # a cancelled waiter is simply dropped
    assert flag.is_set()


async def test_after_the_accept_a_connection_keeps_no_handshake_headers():
    """The application reads the handshake's headers before it accepts; after the accept the
    protocol keeps neither the request nor the headers, and frames go on both ways."""
    seen: dict[str, object] = {}

    async def app(scope, receive, send):
        if scope["type"] != "websocket":
            return
        assert (await receive())["type"] == "websocket.connect"
        seen["origin"] = dict(scope["headers"]).get(b"origin")
        await send({"type": "websocket.accept"})
        protocol = send.__self__
        seen["protocol"] = type(protocol)
        seen["request"], seen["response"] = protocol.request, protocol.response
        seen["headers_after"] = list(scope["headers"])
        while True:
            event = await receive()
            if event["type"] != "websocket.receive":
                return
            await send({"type": "websocket.send", "text": event["text"].upper()})

    port = free_port()
    config = uvicorn.Config(app, port=port, ws="parley.edge:EdgeWebSocketProtocol", lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:  # noqa: ASYNC110 - uvicorn offers no event for this
                await asyncio.sleep(0.02)
        async with connect(f"ws://127.0.0.1:{port}/x", origin="http://example.test") as ws:
            for text in ("one", "two"):
                await ws.send(text)
                assert await asyncio.wait_for(ws.recv(), 5) == text.upper()
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 10)
    assert seen["origin"] == b"http://example.test"
    assert seen["protocol"] is EdgeWebSocketProtocol
    assert seen["request"] is None and seen["response"] is None
    assert seen["headers_after"] == []


def test_middlewares_that_pass_on_are_asgi3_applications():
    """A middleware that returns the next application's coroutine (``edge.passes_on``) is still an
    ASGI 3 application to asgiref and Channels, which would otherwise wrap it as an ASGI 2 one."""
    apps = [asgi.doors]
    while hasattr(apps[-1], "application"):  # AddressLimits, OriginCheck, SessionAuth, then Doors
        apps.append(apps[-1].application)
    assert len(apps) == 4 and isinstance(apps[-1], asgi.Doors)
    routers = [asgi.application.application, *asgi.application.application.applications.values()]
    for app in [*apps, *routers]:  # Protocols, EventsRouter and ServerSend
        assert not is_double_callable(app)
        assert guarantee_single_callable(app) is app


def test_the_outermost_application_is_an_asgi3_one_to_uvicorn():
    """uvicorn tells an ASGI 3 application by a coroutine function ``__call__`` (its ``--interface
    auto``): the outermost one keeps its ``async def``, whatever the ones under it return."""
    config = uvicorn.Config("parley.asgi:application", lifespan="off")
    config.load()
    assert config.interface == "asgi3"


@pytest.mark.django_db(transaction=True)
async def test_a_native_door_joins_and_chats_through_the_edge_protocol():
    port = free_port()
    config = uvicorn.Config(
        "parley.asgi:application",
        port=port,
        ws="parley.edge:EdgeWebSocketProtocol",
        lifespan="off",
        log_level="warning",
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:  # noqa: ASYNC110 - uvicorn offers no event for this
                await asyncio.sleep(0.02)
        async with connect(f"ws://127.0.0.1:{port}/ws/rooms/edge-idle/?name=kim") as ws:
            kinds = []
            while "presence" not in kinds:
                kinds.append(json.loads(await asyncio.wait_for(ws.recv(), 5))["type"])
            assert kinds[:2] == ["hello", "history"]
            await ws.send(json.dumps({"type": "message", "message": "hi", "client_id": "c1"}))
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
                if frame["type"] == "message":
                    assert frame["message"] == "hi"
                    break
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 10)


async def _handshakes_through(http: str, requests: list[bytes]) -> tuple[list[dict], list[bytes]]:
    """Serve an application that records each WebSocket scope, accepts with the first subprotocol
    asked for and echoes one frame, through uvicorn with ``http`` and Parley's WebSocket protocol;
    send each raw request (and a masked frame "hi" after it) and return the scopes and the replies."""
    scopes: list[dict] = []

    async def app(scope, receive, send):
        if scope["type"] != "websocket":
            return
        assert (await receive())["type"] == "websocket.connect"
        scopes.append(
            {k: v for k, v in scope.items() if k not in ("client", "server", "state")}
            | {
                "headers": list(scope["headers"]),
                "server": (scope["server"][0], scope["server"][1] == port),
                "client": (scope["client"][0], scope["client"][1] > 0),
            }
        )
        await send({"type": "websocket.accept", "subprotocol": (scope["subprotocols"] or [None])[0]})
        event = await receive()
        if event["type"] == "websocket.receive":
            await send({"type": "websocket.send", "text": event["text"] + "!"})

    port = free_port()
    config = uvicorn.Config(
        app, port=port, http=http, ws="parley.edge:EdgeWebSocketProtocol", lifespan="off", log_level="warning"
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    replies = []
    try:
        async with asyncio.timeout(10):
            while not server.started:  # noqa: ASYNC110 - uvicorn offers no event for this
                await asyncio.sleep(0.02)
        for request in requests:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            if head.startswith(b"HTTP/1.1 101"):
                writer.write(bytes([0x81, 0x82, 1, 2, 3, 4, ord("h") ^ 1, ord("i") ^ 2]))  # "hi", masked
                head += await asyncio.wait_for(reader.readexactly(5), 5)  # 0x81, 3, "hi!"
            replies.append(head)
            writer.close()
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 10)
    return scopes, replies


def _upgrade(path: str, *extra: str) -> bytes:
    lines = [
        f"GET {path} HTTP/1.1",
        "Host: 127.0.0.1",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
        *extra,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def test_the_http_protocol_hands_its_parsed_upgrade_over_as_uvicorn_would(monkeypatch):
    """``EdgeHttpProtocol`` gives ``EdgeWebSocketProtocol`` the request it parsed (no second parse
    by the websockets library): the application sees the scope uvicorn's own hand-over gives it
    (path decoded, query, subprotocols, every header with its repeats, a Latin-1 value), and the
    connection answers the same bytes: 101 with the same accept key and subprotocol, then frames."""
    requests = [
        _upgrade(
            "/ws/rooms/caf%C3%A9/?after=3&name=kim",
            "Sec-WebSocket-Protocol: chat, parley",
            "Origin: http://example.test",
            "X-Repeated: one",
            "X-Repeated: two",
            "X-Latin: caf\xe9",
        ),
        _upgrade("/plain"),
        # Refused by websockets' own checks, which still run on Parley's hand-over: the same answers.
        _upgrade("/no-key").replace(b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", b""),
        _upgrade("/old-version").replace(b"Sec-WebSocket-Version: 13", b"Sec-WebSocket-Version: 8"),
    ]
    parsed = []
    parse = Request.parse.__func__  # type: ignore[attr-defined]

    def counted(cls, *args, **kwargs):  # websockets starts a parser with every connection: count those that end
        request = yield from parse(cls, *args, **kwargs)
        parsed.append(request.path)
        return request

    monkeypatch.setattr(Request, "parse", classmethod(counted))
    ours, our_replies = await _handshakes_through("parley.edge:EdgeHttpProtocol", requests)
    assert parsed == []  # parsed once, by httptools
    theirs, their_replies = await _handshakes_through("httptools", requests)
    assert parsed == ["/ws/rooms/caf%C3%A9/?after=3&name=kim", "/plain", "/no-key", "/old-version"]  # uvicorn: again
    assert len(ours) == 2 and ours == theirs
    assert ours[0]["path"] == "/ws/rooms/café/" and ours[0]["query_string"] == b"after=3&name=kim"
    assert ours[0]["subprotocols"] == ["chat", "parley"]
    assert (b"x-latin", "café".encode("latin-1")) in ours[0]["headers"]
    assert [v for k, v in ours[0]["headers"] if k == b"x-repeated"] == [b"one", b"two"]

    def without_date(reply: bytes) -> bytes:
        return b"\r\n".join(line for line in reply.split(b"\r\n") if not line.lower().startswith(b"date:"))

    assert [without_date(r) for r in our_replies] == [without_date(r) for r in their_replies]
    assert our_replies[0].startswith(b"HTTP/1.1 101")
    assert b"sec-websocket-protocol: chat" in our_replies[0].lower()
    assert b"s3pplmbitxaq9kygzzhzrbk+xoo=" in our_replies[0].lower()  # RFC 6455's example key
    assert our_replies[0].endswith(b"\x81\x03hi!")
    assert our_replies[2].startswith(b"HTTP/1.1 400") and our_replies[3].startswith(b"HTTP/1.1 400")
