"""The python-socketio peer: Socket.IO 5 as an ASGI app under uvicorn, with its ``AsyncRedisManager``
so it is set up to scale out (every emit to a room goes through Redis pub/sub, also to this process).

``python -m bench.sio`` (HOST, PORT, REDIS_URL, BENCH_REDIS_PREFIX). The same events as
bench/node/socketio.js: "join" (a room name, answered by "joined"), then "message" (a text),
broadcast to the sender's room as "message". WebSocket only, the same uvicorn flags as the baseline.
"""

from __future__ import annotations

import os
import sys

import socketio
import uvicorn

from .baseline.serve import uvicorn_options

# redis-py's pool holds 100 connections by default and raises beyond them; python-socketio then drops
# its client and makes a new one (a new pool) on every failed publish, so B's 200 senders at once cost
# it 250 us per delivery, mostly in making connections. Its peer is set up as a deployment would be:
# a pool larger than the emits in flight.
manager = socketio.AsyncRedisManager(
    os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
    channel=os.environ.get("BENCH_REDIS_PREFIX", "socketio"),
    redis_options={"max_connections": 1000},
)
sio = socketio.AsyncServer(
    async_mode="asgi",
    client_manager=manager,
    transports=["websocket"],
    http_compression=False,
    max_http_buffer_size=64 * 1024,
    logger=False,
    engineio_logger=False,
)
app = socketio.ASGIApp(sio)
room_of: dict[str, str] = {}  # sid -> its room (a dict: cheaper than the session's lock and copy)


@sio.on("join")
async def join(sid: str, room: str) -> None:
    await sio.enter_room(sid, room)
    room_of[sid] = room
    await sio.emit("joined", room, to=sid)


@sio.on("message")
async def message(sid: str, text: str) -> None:
    if (room := room_of.get(sid)) is not None:
        await sio.emit("message", text, room=room)


@sio.on("disconnect")
async def disconnect(sid: str, reason: str) -> None:
    room_of.pop(sid, None)


def main() -> int:
    uvicorn.run("bench.sio:app", **uvicorn_options(8005))  # an import string: WORKERS works too
    return 0


if __name__ == "__main__":
    sys.exit(main())
