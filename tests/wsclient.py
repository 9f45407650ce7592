"""WebSocket helpers shared by the consumer and end-to-end tests.

Every helper takes either a real ``websockets`` client connection or a Channels
``WebsocketCommunicator`` and never waits without a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.parse
from typing import Any

import websockets.asyncio.client
import websockets.exceptions
from channels.testing import WebsocketCommunicator
from websockets.asyncio.client import ClientConnection

TIMEOUT = 10.0


async def recv_text(ws: Any, within: float = TIMEOUT) -> str:
    if isinstance(ws, WebsocketCommunicator):
        return await ws.receive_from(within)
    return await asyncio.wait_for(ws.recv(), within)


async def recv(ws: Any, within: float = TIMEOUT) -> dict[str, Any]:
    """The next frame, as a JSON object."""
    frame = json.loads(await recv_text(ws, within))
    assert isinstance(frame, dict), frame
    return frame


async def recv_until(ws: Any, kind: str, within: float = TIMEOUT) -> dict[str, Any]:
    """Skip frames until one of type ``kind`` arrives (all within ``within`` seconds)."""

    async def loop() -> dict[str, Any]:
        while (frame := await recv(ws, within))["type"] != kind:
            pass
        return frame

    return await asyncio.wait_for(loop(), within)


async def send(ws: Any, frame: Any) -> None:
    text = json.dumps(frame)
    if isinstance(ws, WebsocketCommunicator):
        await ws.send_to(text_data=text)
    else:
        await asyncio.wait_for(ws.send(text), TIMEOUT)


async def messages(ws: Any, count: int, within: float = TIMEOUT) -> list[dict[str, Any]]:
    """The next ``count`` message frames, skipping presence, typing and the like."""

    async def loop() -> list[dict[str, Any]]:
        got = []
        while len(got) < count:
            frame = await recv(ws, within)
            if frame.get("type", "message") == "message":
                got.append(frame)
        return got

    return await asyncio.wait_for(loop(), within)


async def read_history(
    ws: Any, *, paged: bool = False, within: float = TIMEOUT
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """Read a native door's hello and its history: (hello, messages, history frames).

    ``paged``: the URL had ``?after=``, so history frames follow until one has ``has_more`` false.
    """
    hello = await recv(ws, within)
    assert hello["type"] == "hello", hello
    got: list[dict[str, Any]] = []
    frames: list[dict[str, Any]] = []
    while True:
        frame = await recv(ws, within)
        assert frame["type"] == "history", frame
        frames.append(frame)
        got.extend(frame["messages"])
        if not paged or not frame["has_more"]:
            return hello, got, frames


def ids(frames: list[dict[str, Any]]) -> list[int]:
    return [f["id"] for f in frames]


# --- Real clients (end-to-end tests) ---------------------------------------------------------------


def room_url(base: str, door: str, room: str, query: str = "") -> str:
    """``door`` is a path pattern such as ``/ws/rooms/{}/``; the room name is percent-encoded."""
    return base + door.format(urllib.parse.quote(room, safe="")) + query


async def connect(url: str, **kw: Any) -> ClientConnection:
    kw.setdefault("proxy", None)
    kw.setdefault("open_timeout", TIMEOUT)
    kw.setdefault("compression", None)
    return await asyncio.wait_for(websockets.asyncio.client.connect(url, **kw), TIMEOUT + 1)


async def join(base: str, room: str, query: str = "", **kw: Any) -> tuple[ClientConnection, dict, list[dict]]:
    """Connect to the native door and read hello, history and the first presence frame.

    Returns the connection, the hello frame and the history's messages. Message frames that arrive
    before the presence frame (sent live while the history was being read) are kept in ``pending``
    on the returned connection, so that ``next_messages`` returns them first.
    """
    ws = await connect(room_url(base, "/ws/rooms/{}/", room, query), **kw)
    hello, got, _ = await read_history(ws, paged="after=" in query)
    early = []
    while (frame := await recv(ws))["type"] != "presence":
        if frame["type"] == "message":
            early.append(frame)
    ws.pending = early  # type: ignore[attr-defined]
    return ws, hello, got


async def next_messages(ws: ClientConnection, count: int, within: float = TIMEOUT) -> list[dict[str, Any]]:
    """Like ``messages``, but first hands back frames that ``join`` set aside."""
    pending = getattr(ws, "pending", [])
    taken, ws.pending = pending[:count], pending[count:]  # type: ignore[attr-defined]
    return taken + (await messages(ws, count - len(taken), within) if count > len(taken) else [])


async def close_code(ws: ClientConnection, within: float = TIMEOUT) -> int | None:
    """Read (and drop) frames until the server closes; the close code it sent."""

    async def loop() -> None:
        with contextlib.suppress(websockets.exceptions.ConnectionClosed):
            while True:
                await ws.recv()

    await asyncio.wait_for(loop(), within)
    return ws.close_code


async def no_more_messages(ws: Any) -> None:
    """Ping and read up to the pong: no message frame may come before it (nothing late, nothing twice)."""
    await send(ws, {"type": "ping"})
    while (frame := await recv(ws))["type"] != "pong":
        assert frame["type"] != "message", frame


async def drop(ws: ClientConnection) -> None:
    """Drop the connection without a closing handshake, as a lost network would."""
    ws.transport.abort()
    await asyncio.wait_for(ws.wait_closed(), TIMEOUT)
