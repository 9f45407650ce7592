"""The outbox's direct path: frames built once and written to uvicorn's transport."""

from __future__ import annotations

import asyncio
import json

import pytest
import uvicorn
from websockets.asyncio.client import connect
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from chat import broadcast
from chat.outbox import wire_frame
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


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("compression", [False, True], ids=["direct", "asgi-with-compression"])
async def test_frames_reach_every_door(compression):
    """Without compression frames go straight to the transport; with it, through ASGI. Both deliver."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            "parley.asgi:application",
            port=port,
            ws="websockets-sansio",
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
