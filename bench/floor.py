"""The bare-websockets floor: no framework, no store, one encoded frame per message for the whole room.

``python -m bench.floor`` (HOST, PORT): ``websockets`` 17's asyncio server on uvloop, compression off
(as Parley), the tutorial's wire format (``/ws/chat/<room>/``, ``{"message": ...}``); each message is
encoded once and handed to ``broadcast()``. What a Python chat server costs at the least: the target
says Parley should come within 1.5x of its CPU per delivery.
"""

from __future__ import annotations

import json
import os
import sys

import uvloop
from websockets.asyncio.server import ServerConnection, broadcast, serve

rooms: dict[str, set[ServerConnection]] = {}


async def handler(ws: ServerConnection) -> None:
    room = rooms.setdefault(ws.request.path, set())
    room.add(ws)
    try:
        async for raw in ws:
            try:
                message = json.loads(raw)["message"]
            except (ValueError, KeyError, TypeError):
                continue
            broadcast(room, json.dumps({"message": message}))
    finally:
        room.discard(ws)
        if not room:
            rooms.pop(ws.request.path, None)


async def main() -> None:
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8002"))
    async with serve(handler, host, port, compression=None, ping_interval=None, max_size=64 * 1024) as server:
        await server.serve_forever()


if __name__ == "__main__":
    sys.exit(uvloop.run(main()))
