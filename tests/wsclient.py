"""WebSocket helpers shared by the consumer and end-to-end tests.

Every helper takes either a real ``websockets`` client connection or a Channels
``WebsocketCommunicator`` and never waits without a timeout.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from channels.testing import WebsocketCommunicator

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
