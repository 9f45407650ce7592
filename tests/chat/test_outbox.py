"""The outbox's direct path: frames built once and written to uvicorn's transport."""

from __future__ import annotations

import asyncio
import json
import random
import socket

import pytest
import uvicorn
from websockets.asyncio.client import connect
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from chat.fanout import broadcast
from chat.fanout.outbox import Outbox, close_now, wire_frame
from tests.servers import free_port


def parse(data: bytes) -> Frame:
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        return done.value
    raise AssertionError("incomplete frame")


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_wire_frame_is_a_valid_text_frame(size):
    text = ("가" * size)[:size]  # multi-byte: the length field counts bytes, not characters
    frame = parse(wire_frame(text))
    assert frame.opcode is Opcode.TEXT and frame.fin
    assert frame.data.decode("utf-8") == text


def test_wire_frame_is_built_once_per_message():
    text = "x" * 300
    assert wire_frame(text) is wire_frame(text)
    assert parse(wire_frame("other")).data == b"other"


# The WebSocket protocol ``make run`` serves with (parley/serve.py), and uvicorn's own that it extends.
EDGE_WS = "parley.edge:EdgeWebSocketProtocol"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("ws", [EDGE_WS, "websockets-sansio"], ids=["edge", "uvicorn"])
@pytest.mark.parametrize("compression", [False, True], ids=["direct", "asgi-with-compression"])
async def test_frames_reach_every_door(compression, ws):
    """Without compression frames go straight to the transport; with it, through ASGI. Both deliver."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            "parley.asgi:application",
            port=port,
            ws=ws,
            ws_per_message_deflate=compression,
            lifespan="off",
            log_level="warning",
        )
    )
    serving = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:  # noqa: ASYNC110 - uvicorn offers no event for this
                await asyncio.sleep(0.02)
        client_compression = "deflate" if compression else None
        url = f"ws://127.0.0.1:{port}"
        async with (
            connect(f"{url}/ws/rooms/outbox/", compression=client_compression) as native,
            connect(f"{url}/chat/outbox", compression=client_compression) as seed,
        ):
            while json.loads(await asyncio.wait_for(native.recv(), 5))["type"] != "presence":
                pass
            members = [m for state in broadcast.get_hub().rooms.values() for m in state.members]
            assert len(members) == 2
            assert all((m._direct is not None) is (not compression) for m in members)
            bodies = ["hi", "가" * 100, "나" * 4000]  # 2, 300 and 12,000 bytes: every length encoding
            for body in bodies:
                await seed.send(json.dumps({"sender": "kim", "message": body}))
            for ws in (seed, native):
                got = []
                while len(got) < len(bodies):
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
                    if frame["type"] == "message":
                        got.append(frame["message"])
                assert got == bodies
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 10)


def test_close_now_needs_a_started_uvicorn_connection():
    async def other_servers_send(message):
        raise AssertionError("close_now must not send through ASGI")

    box = Outbox(send=other_servers_send, name="kim", ephemeral=False, limit=1, on_overflow=lambda: None)
    assert not box.close_now(1013)  # not started: the consumer closes through ASGI
    assert not close_now(other_servers_send, 1013)  # not uvicorn's sans-I/O protocol
    assert not close_now(None, 1013)


def _slow_reader(port: int, path: str, extensions: str) -> socket.socket:
    """A raw client that completes its handshake with a tiny receive buffer and never reads again."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extensions}\r\n".encode()
    )
    sock.settimeout(10)
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("compression", [False, True], ids=["direct", "asgi-with-compression"])
async def test_a_client_that_stops_reading_leaves_its_room(compression, settings):
    """Whether its frames go to the transport or through ASGI (compression), a client that stopped
    reading is closed as soon as it overflows: the consumer's disconnect runs and it leaves the hub."""
    settings.PARLEY_SEND_QUEUE_MAX = 20
    settings.PARLEY_RATE_PER_SEC = 0
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            "parley.asgi:application",
            port=port,
            ws=EDGE_WS,
            ws_per_message_deflate=compression,
            lifespan="off",
            log_level="warning",
        )
    )
    serving = asyncio.create_task(server.serve())
    slow = None
    try:
        async with asyncio.timeout(10):
            while not server.started:  # noqa: ASYNC110 - uvicorn offers no event for this
                await asyncio.sleep(0.02)
        extensions = "Sec-WebSocket-Extensions: permessage-deflate\r\n" if compression else ""
        slow = await asyncio.to_thread(_slow_reader, port, "/chat/slow", extensions)
        async with connect(f"ws://127.0.0.1:{port}/chat/slow", compression=None) as sender:
            hub = broadcast.get_hub()

            def members() -> int:
                return sum(len(state.members) for state in hub.rooms.values())

            async with asyncio.timeout(60):
                while members() < 2:  # noqa: ASYNC110 - polling the hub, which has no event for this
                    await asyncio.sleep(0.02)
                # Random Hangul (12 KB), so that compression cannot make it small.
                body = "".join(random.choices([chr(c) for c in range(0xAC00, 0xD7A4)], k=4000))
                while members() > 1:
                    for _ in range(10):
                        await sender.send(json.dumps({"sender": "flood", "message": body}))
                    while True:  # read what the sender is sent, so it is not the slow one
                        try:
                            await asyncio.wait_for(sender.recv(), 0.05)
                        except TimeoutError:
                            break
            assert members() == 1
    finally:
        if slow is not None:
            slow.close()
        server.should_exit = True
        await asyncio.wait_for(serving, 10)
