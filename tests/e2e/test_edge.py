"""The network edge against real servers (``python -m parley.serve``, as ``make run``): per-address
limits, request-head limits, the handshake deadline, the Origin check, and slow readers dropped."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
import uuid

import psutil
import pytest
import websockets.exceptions

from tests.wsclient import connect, drop, join, next_messages, recv, recv_until, room_url, send

# The edge (uvicorn's protocols, parley.edge, the outbox's slow-reader drop) is the same on every
# backend: run once, in test-embedded.
pytestmark = pytest.mark.embedded_only

WS_HEADERS = (
    b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
)


def server_sockets(server) -> int:
    """Sockets the server process holds for clients on its port (any state but LISTEN)."""
    conns = psutil.Process(server.process.pid).net_connections(kind="tcp")
    return sum(1 for c in conns if c.laddr.port == server.port and c.status != psutil.CONN_LISTEN)


async def eventually(check, within: float = 15.0, every: float = 0.1):
    """Poll ``check`` (sync, run in a thread) until it returns something true; that value."""
    deadline = time.monotonic() + within
    while True:
        value = await asyncio.to_thread(check)
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(every)


async def raw_exchange(port: int, data: bytes, within: float = 10.0) -> bytes:
    """Send ``data`` on a fresh socket and read until the server closes it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), within)
    finally:
        writer.close()


def status_of(response: bytes) -> int:
    match = re.match(rb"HTTP/1\.1 (\d{3}) ", response)
    assert match, response[:200]
    return int(match.group(1))


async def refused(url: str, **kw) -> websockets.exceptions.InvalidStatus:
    with pytest.raises(websockets.exceptions.InvalidStatus) as info:
        await connect(url, **kw)
    return info.value


async def connect_eventually(url: str, within: float = 10.0, **kw):
    """Connect, retrying while the server still counts connections that are on their way out."""
    deadline = time.monotonic() + within
    while True:
        try:
            return await connect(url, **kw)
        except websockets.exceptions.InvalidStatus as exc:
            if exc.response.status_code != 429 or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def refused_eventually(url: str, **kw) -> int:
    """The status a refused handshake gets once the server no longer counts closed connections."""
    with pytest.raises(websockets.exceptions.InvalidStatus) as info:
        await connect_eventually(url, **kw)
    return info.value.response.status_code


# --- Per-address limits ---------------------------------------------------------------------------


async def test_open_connections_per_address_are_limited_and_released(module_farm, room):
    server = module_farm.start(PARLEY_ADDRESS_MAX_CONNECTIONS="3")
    url = room_url(server.ws, "/ws/rooms/{}/", room)
    a, b, c = [await connect(url) for _ in range(3)]
    error = await refused(url)
    assert error.response.status_code == 429
    body = json.loads(error.response.body)
    assert body["error"]["code"] == "rate_limited" and body["error"]["detail"]

    # Every way out gives the slot back: a clean close, a dropped socket.
    await a.close()
    await drop(b)
    d = await connect_eventually(url)
    e = await connect_eventually(url)
    assert (await refused(url)).response.status_code == 429

    # Handshakes the application refuses (foreign Origin: 403; bad room: 4400) give theirs back too.
    await c.close()
    for _ in range(5):
        assert await refused_eventually(url, origin="http://evil.example") == 403
        bad = await connect_eventually(room_url(server.ws, "/ws/rooms/{}/", "a b"))
        assert (await recv(bad))["code"] == "invalid_room"
        await bad.close()
    f = await connect_eventually(url)  # had the refused ones kept their slots, none would be left
    assert (await refused(url)).response.status_code == 429
    for ws in (d, e, f):
        await ws.close()


async def test_handshakes_per_second_per_address_are_limited(module_farm, room):
    server = module_farm.start(PARLEY_ADDRESS_HANDSHAKE_RATE="0.01", PARLEY_ADDRESS_HANDSHAKE_BURST="3")
    url = room_url(server.ws, "/ws/rooms/{}/", room)
    for _ in range(3):  # the burst
        ws = await connect(url)
        await ws.close()
    error = await refused(url)
    assert error.response.status_code == 429
    assert json.loads(error.response.body)["error"]["code"] == "rate_limited"
    assert int(error.response.headers["Retry-After"]) >= 1


async def test_no_limits_when_turned_off(module_farm, room):
    server = module_farm.start(PARLEY_ADDRESS_MAX_CONNECTIONS="0", PARLEY_ADDRESS_HANDSHAKE_RATE="0")
    url = room_url(server.ws, "/ws/rooms/{}/", room)
    sockets = [await connect(url) for _ in range(20)]
    for ws in sockets:
        await ws.close()


# --- Request heads and the handshake deadline -----------------------------------------------------


async def test_oversized_request_heads_are_refused_and_closed(live, room):
    long_line = b"a" * 9 * 1024  # a 9 KB request line
    head = b"Host: 127.0.0.1\r\n"
    cases = [
        (b"GET /?" + long_line + b" HTTP/1.1\r\n" + head + b"\r\n", 414),
        (b"GET /ws/rooms/x/?" + long_line + b" HTTP/1.1\r\n" + head + WS_HEADERS + b"\r\n", 414),
        (b"GET / HTTP/1.1\r\n" + head + b"".join(b"X-%d: %s\r\n" % (i, b"v" * 2000) for i in range(10)) + b"\r\n", 431),
        (b"GET /ws/rooms/x/ HTTP/1.1\r\n" + head + b"X-Big: " + b"v" * 9000 + b"\r\n" + WS_HEADERS + b"\r\n", 431),
        (
            b"GET /ws/rooms/x/ HTTP/1.1\r\n"
            + head
            + b"".join(b"X-%d: 1\r\n" % i for i in range(200))
            + WS_HEADERS
            + b"\r\n",
            431,
        ),
        (b"GET / HTTP/1.1\r\n" + head + b"X-Endless: " + b"v" * 40000, 431),  # a header that never ends
    ]
    for data, status in cases:
        response = await raw_exchange(live.port, data)  # read to the end: the server closed it
        assert status_of(response) == status, data[:60]

    # At the limit exactly (8,192 bytes with its CRLF) a WebSocket handshake goes through; a byte more
    # is refused by Parley, before the websockets library refuses it without an answer.
    for size, status in ((8192, 101), (8193, 414)):
        target = b"/ws/rooms/x/?" + b"a" * (size - len(b"GET /ws/rooms/x/? HTTP/1.1\r\n"))
        reader, writer = await asyncio.open_connection("127.0.0.1", live.port)
        writer.write(b"GET " + target + b" HTTP/1.1\r\n" + head + WS_HEADERS + b"\r\n")
        assert status_of(await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)) == status
        writer.close()

    # A browser's requests with a crowded cookie jar still pass, page and WebSocket alike.
    cookies = "; ".join(f"other_app_{i}={'c' * 180}" for i in range(20))  # ~4 KB
    response = await raw_exchange(
        live.port, f"GET / HTTP/1.1\r\n{head.decode()}Connection: close\r\nCookie: {cookies}\r\n\r\n".encode()
    )
    assert status_of(response) == 200
    ws, _, _ = await join(live.ws, room, additional_headers={"Cookie": cookies})
    await ws.close()


async def test_half_open_sockets_are_closed_and_the_server_keeps_serving(module_farm, room):
    server = module_farm.start(PARLEY_HANDSHAKE_TIMEOUT="3")
    before = await asyncio.to_thread(server_sockets, server)
    partial = [
        b"",  # connects and says nothing
        b"GE",
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n",  # headers never end
        b"GET /ws/rooms/x/ HTTP/1.1\r\nHost: 127.0.0.1\r\n" + WS_HEADERS,  # a handshake never finished
    ]
    opened = []
    for i in range(300):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(partial[i % len(partial)])
        opened.append((reader, writer))
    try:
        assert await eventually(lambda: server_sockets(server) >= before + 250, within=5)
        # Meanwhile a normal client joins and chats.
        ws, _, _ = await join(server.ws, room, "?name=kim")
        await send(ws, {"message": "still here", "client_id": str(uuid.uuid4())})
        assert (await next_messages(ws, 1))[0]["message"] == "still here"

        # The server closes every half-open socket without an answer...
        for reader, _ in opened:
            assert await asyncio.wait_for(reader.read(), 30) == b""
        # ...and lets go of them: only the chat client's socket is left.
        assert await eventually(lambda: server_sockets(server) <= before + 1, within=15)
        await send(ws, {"message": "and still", "client_id": str(uuid.uuid4())})
        assert (await next_messages(ws, 1))[0]["message"] == "and still"
        await ws.close()
    finally:
        for _, writer in opened:
            writer.close()


# --- Origin ---------------------------------------------------------------------------------------


async def test_origin_must_be_the_sites_own_or_listed(module_farm, room):
    server = module_farm.start(PARLEY_ALLOWED_ORIGINS="https://class.example.org")
    url = room_url(server.ws, "/ws/rooms/{}/", room)
    for origin in (f"http://127.0.0.1:{server.port}", "https://class.example.org", None):
        ws = await connect(url, origin=origin)
        assert (await recv(ws))["type"] == "hello"
        await ws.close()
    for origin in (
        f"http://127.0.0.1:{server.port + 1}",  # another port of the same host
        f"https://127.0.0.1:{server.port}",  # another scheme
        "http://127.0.0.1",  # port 80
        "http://class.example.org",  # the listed origin's host, another scheme
        "http://evil.example",
    ):
        error = await refused(url, origin=origin)
        assert error.response.status_code == 403, origin
        assert json.loads(error.response.body)["error"]["code"] == "forbidden"


# --- Slow readers ---------------------------------------------------------------------------------


def _open_slow_reader(port: int, path: str) -> socket.socket:
    """A raw WebSocket client with a tiny receive buffer that completes its handshake, then never reads."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode() + WS_HEADERS + b"\r\n")
    sock.settimeout(10)
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        assert chunk, "closed during the handshake"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def _holds_peer(server, port: int) -> bool:
    conns = psutil.Process(server.process.pid).net_connections(kind="tcp")
    return any(c.raddr and c.raddr.port == port for c in conns)


async def test_a_client_that_stops_reading_is_dropped_soon_after_its_queue_overflows(module_farm, room):
    server = module_farm.start(PARLEY_RATE_PER_SEC="0", PARLEY_SEND_QUEUE_MAX="50", PARLEY_SLOW_CLIENT_GRACE="2")
    process = psutil.Process(server.process.pid)
    watcher, _, _ = await join(server.ws, room, "?name=watcher")
    path = room_url("", "/ws/rooms/{}/", room, "?name=slowpoke")
    slow = await asyncio.to_thread(_open_slow_reader, server.port, path)
    slow_port = slow.getsockname()[1]
    try:
        while "slowpoke" not in (await recv_until(watcher, "presence"))["users"]:
            pass
        rss_before = process.memory_info().rss
        body = "가" * 4000  # 12 KB a message
        overflowed_at = None
        gone_at = None
        sent = received = 0

        async def read_all():
            nonlocal received
            while True:
                frame = await recv(watcher, 30)
                if frame["type"] == "message":
                    received += 1
                    progress.set()
                elif frame["type"] == "presence" and "slowpoke" not in frame["users"]:
                    presence_without_slowpoke.set()

        presence_without_slowpoke = asyncio.Event()
        progress = asyncio.Event()

        async def until_received(count: int) -> None:
            while received < count:
                progress.clear()
                await asyncio.wait_for(progress.wait(), 30)

        reader = asyncio.create_task(read_all())
        deadline = time.monotonic() + 60
        while gone_at is None or sent < 2000:
            assert time.monotonic() < deadline, "the slow client was never dropped"
            for _ in range(20):
                await watcher.send(json.dumps({"message": body, "client_id": str(uuid.uuid4())}))
            sent += 20
            await until_received(sent - 100)  # the watcher keeps up: it is not a slow reader itself
            if overflowed_at is None and "closing a slow client" in server.log():
                overflowed_at = time.monotonic()
            if (
                overflowed_at is not None
                and gone_at is None
                and not await asyncio.to_thread(_holds_peer, server, slow_port)
            ):
                gone_at = time.monotonic()
        # Dropped within a few seconds of the grace (PARLEY_SLOW_CLIENT_GRACE, 2 s on this server)
        # after the overflow, not ~40 s later by the keepalive.
        assert gone_at - overflowed_at < 10
        # Its name left the presence list, and the room keeps working.
        await asyncio.wait_for(presence_without_slowpoke.wait(), 10)
        await until_received(sent)
        reader.cancel()
        late, _, _ = await join(server.ws, room, "?name=late")
        await send(late, {"message": "after", "client_id": str(uuid.uuid4())})
        assert [m["message"] for m in await next_messages(late, 1)] == ["after"]
        await late.close()
        # Memory stayed bounded: ~24 MB of messages went through; the server did not keep them.
        grown = process.memory_info().rss - rss_before
        assert grown < 12 * 2**20, f"RSS grew by {grown / 2**20:.1f} MiB"
        # The client itself finds its socket reset once it reads again.
        slow.settimeout(10)
        with pytest.raises(ConnectionResetError):
            while slow.recv(65536):
                pass
    finally:
        slow.close()
        await watcher.close()
