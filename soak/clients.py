"""WebSocket clients of the soak: opening a connection and saying how it went, close codes, the
ghost check, and the tally every scenario fills in."""

from __future__ import annotations

import asyncio
import contextlib
import urllib.parse
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from .farm import Farm

DOORS = {"seed": "/chat/{}", "tutorial": "/ws/chat/{}/", "native": "/ws/rooms/{}/"}
OPEN_TIMEOUT = 10.0
ABNORMAL = 1006  # the connection ended without a close frame


def door_path(door: str, room: str, query: str = "") -> str:
    return DOORS[door].format(urllib.parse.quote(room, safe="")) + query


async def open_ws(url: str, **kw: Any) -> tuple[ClientConnection | None, str]:
    """Open a WebSocket; (connection, "ok") or (None, what happened: "http 500", "timeout", ...)."""
    kw.setdefault("compression", None)
    kw.setdefault("ping_interval", None)
    kw.setdefault("close_timeout", 2)
    kw.setdefault("max_size", 2**24)
    kw.setdefault("proxy", None)
    try:
        ws = await asyncio.wait_for(connect(url, open_timeout=OPEN_TIMEOUT, **kw), OPEN_TIMEOUT + 1)
    except InvalidStatus as exc:
        return None, f"http {exc.response.status_code}"
    except TimeoutError:
        return None, "timeout"
    except InvalidURI:
        return None, "invalid uri (client)"
    except InvalidHandshake as exc:
        return None, f"bad handshake ({type(exc).__name__})"
    except ConnectionClosed as exc:
        return None, f"closed {close_code_of(exc)}"
    except OSError:
        return None, "refused"
    return ws, "ok"


def close_code_of(exc: ConnectionClosed | None, ws: ClientConnection | None = None) -> int:
    """The close code the server sent, or 1006 when the connection ended without a close frame."""
    rcvd = exc.rcvd if exc is not None else ws.protocol.close_rcvd if ws is not None else None
    return rcvd.code if rcvd is not None else ABNORMAL


def abort(ws: ClientConnection) -> None:
    """Drop a connection without a closing handshake, as a lost network would."""
    with contextlib.suppress(Exception):
        ws.transport.abort()


async def close_all(conns: list[ClientConnection], graceful: bool = True) -> None:
    async def one(ws: ClientConnection) -> None:
        if graceful:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 3)
        abort(ws)

    await asyncio.gather(*(one(ws) for ws in conns))


def frame_kind(raw: str | bytes) -> str:
    """What a server frame is, for the tally: "message", "pong", "error:rate_limited", ... ."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return "not json"
    if not isinstance(data, dict):
        return "not an object"
    kind = str(data.get("type"))
    return f"error:{data.get('code')}" if kind == "error" else kind


# What each door may send (docs/protocol.md); anything else is an undocumented response.
NATIVE_KINDS = {"hello", "history", "message", "presence", "typing", "pong", "edit", "delete", "reaction", "thread"}
ERROR_CODES = {
    "invalid_json",
    "invalid_frame",
    "unknown_type",
    "empty_message",
    "too_large",
    "rate_limited",
    "invalid_room",
    "invalid_name",
    "forbidden",
    "not_found",
    "too_late",
    "unavailable",
}


def documented(door: str, kind: str, *, handshake: bool = False) -> bool:
    """Whether docs/protocol.md says ``door`` may send a frame of ``kind``: the seed and tutorial
    doors only message frames, except one error frame before the close of a refused handshake."""
    if door != "native" and not (handshake and kind.startswith("error:")):
        return kind == "message"
    if kind.startswith("error:"):
        return kind[6:] in ERROR_CODES
    return kind in NATIVE_KINDS


async def presence(url: str, within: float = 5.0) -> list[str] | None:
    """The users of a fresh native observer's first presence frame (``url`` has ``?name=``)."""
    ws, _ = await open_ws(url)
    if ws is None:
        return None
    try:

        async def first() -> list[str]:
            async for raw in ws:
                data = orjson.loads(raw)
                if data.get("type") == "presence":
                    return list(data["users"])
            return []

        return await asyncio.wait_for(first(), within)
    except (TimeoutError, ConnectionClosed, orjson.JSONDecodeError):
        return None
    finally:
        await close_all([ws])


async def ghosts(farm: Farm, rooms: list[str], within: float = 8.0) -> list[str]:
    """Names still in a room's presence list after every connection of the attack has closed.

    A fresh observer joins each room on each process until every list holds only itself, or
    ``within`` seconds have passed (presence changes reach others within about a second)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    checks = [(room, i) for room in rooms for i in range(len(farm.servers))]
    left: dict[tuple[str, int], list[str]] = {}
    while True:
        me = f"ghostcheck-{uuid.uuid4().hex[:6]}"
        seen = await asyncio.gather(
            *(presence(farm.url(i, door_path("native", room, f"?name={me}"))) for room, i in checks)
        )
        left = {}
        for check, users in zip(checks, seen, strict=True):
            if users is None:
                left[check] = ["(no presence frame)"]
            elif others := [u for u in users if u != me]:
                left[check] = others
        if not left or loop.time() > deadline:
            break
        await asyncio.sleep(0.5)
    return sorted({f"{name}@{room}" for (room, _), names in left.items() for name in names})


@dataclass
class Tally:
    """What the clients of one attack saw."""

    frames: int = 0  # frames sent by the attack
    closes: Counter = field(default_factory=Counter)  # close code -> connections the server closed
    unexpected: Counter = field(default_factory=Counter)  # "what: code" -> closes nobody documented
    handshakes: Counter = field(default_factory=Counter)  # outcome ("ok", "http 429", ...) -> count
    responses: Counter = field(default_factory=Counter)  # frame kind -> count
    undocumented: Counter = field(default_factory=Counter)  # "door kind" -> responses no doc allows

    def handshake(self, outcome: str) -> None:
        self.handshakes[outcome] += 1

    def response(self, door: str, raw: str | bytes, where: str = "", *, handshake: bool = False) -> str:
        kind = frame_kind(raw)
        self.responses[kind] += 1
        if not documented(door, kind, handshake=handshake):
            self.undocumented[f"{door}{where} {kind}"] += 1
        return kind

    @property
    def http_500(self) -> int:
        return sum(n for outcome, n in self.handshakes.items() if outcome.startswith("http 5"))

    @property
    def http_429(self) -> int:
        return self.handshakes.get("http 429", 0)


async def crosstalk(farm: Farm, within: float = 5.0) -> list[str]:
    """Whether a message sent on one process reaches a member on the other, both ways, in a new room:
    what breaks when a process's Redis subscription did not come back after an attack."""
    failures = []
    room = f"crosstalk-{uuid.uuid4().hex[:6]}"
    for a, b in ((0, 1), (1, 0)):
        reader, _ = await open_ws(farm.url(b, door_path("native", room, f"?name=xr{b}")))
        sender, _ = await open_ws(farm.url(a, door_path("native", room, f"?name=xs{a}")))
        if reader is None or sender is None:
            failures.append(f"crosstalk: could not join on process {a} or {b}")
            await close_all([ws for ws in (reader, sender) if ws is not None])
            continue
        cid = f"x{a}{b}-{uuid.uuid4().hex[:6]}"
        try:
            async with asyncio.timeout(within):
                while orjson.loads(await reader.recv()).get("type") != "presence":
                    pass
                await sender.send(orjson.dumps({"message": "crosstalk", "client_id": cid}).decode())
                while orjson.loads(await reader.recv()).get("client_id") != cid:
                    pass
        except (TimeoutError, ConnectionClosed):
            failures.append(f"a message sent on process {a} did not reach process {b} within {within:g} s")
        await close_all([reader, sender])
    return failures
