"""The SSE door: a room's WebSocket frames as Server-Sent Events, for networks that block WebSocket.

``GET /api/v1/rooms/<room>/events`` (and ``/api/v1/ns/<ns>/rooms/<room>/events``,
``/api/v1/dm/<username>/events``) is the native WebSocket door (``/ws/rooms/<room>/``,
``/ws/ns/<ns>/<room>/``, ``/ws/dm/<username>/``) behind an adapter, not a second implementation of
the protocol: ``SseDoor`` hands the WebSocket application (the same stack as a WebSocket: the
per-address limits, the Origin check, the session or Bearer token, the router and the consumers) a
WebSocket scope of its own making, answers its ``receive`` with ``websocket.connect`` and later
``websocket.disconnect``, and turns what it ``send``s into the HTTP response:

- the frames before ``hello``: an ``error`` then a close is a refused handshake, answered with the
  API's status and error shape (401, 403, 404 for a room that is hidden or missing, 429...);
- from ``hello`` on, each text frame is one event, ``data:`` its JSON as the WebSocket carries it,
  ``id:`` the room's event id where it has one (a live ``message``, ``edit``, ``delete`` or
  ``reaction``; the join's history: the hello's ``last_id``; a resume's history page: its last
  event), so that a reconnecting ``EventSource`` resumes with nothing lost or doubled;
- a comment (``: keepalive``) after ``PARLEY_SSE_KEEPALIVE`` seconds without an event;
- a close ends the stream; the client going away is the consumer's ``websocket.disconnect``.

``Last-Event-ID`` (sent by a reconnecting ``EventSource``) is the door's ``?after=``, and wins over
one in the URL (the URL's is where the stream began, the header where it stopped). The connection
is a member of its room like any other (presence, the send queue's limit, the address's connection
count); nothing holds a thread while it is open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import orjson
from django.conf import settings

from . import access
from .protocol import CloseCode, ErrorCode

log = logging.getLogger("parley.sse")

# GET paths of the door, as the API spells its rooms (a name holds no "/": the router's rule).
EVENTS_PATH = re.compile(
    r"^/api/v1/(?:rooms/(?P<room>[^/]+)|ns/(?P<ns>[^/]+)/rooms/(?P<ns_room>[^/]+)|dm/(?P<dm>[^/]+))/events/?$"
)
# Frames that are room events: their "id" is the room's event id.
ROOM_EVENTS = frozenset({"message", "edit", "delete", "reaction"})
# A refused handshake's close code -> the HTTP answer when no error frame came before it.
_CLOSE_STATUS: dict[int, tuple[int, str]] = {
    CloseCode.UNAUTHENTICATED: (401, "unauthenticated"),
    CloseCode.FORBIDDEN: (403, "forbidden"),
    CloseCode.TRY_AGAIN_LATER: (503, "unavailable"),
}
HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),  # nginx: pass each event on at once
    (b"x-content-type-options", b"nosniff"),
]


def websocket_path(path: str) -> str | None:
    """The WebSocket door's path for an SSE path, or None when ``path`` is not one."""
    match = EVENTS_PATH.match(path)
    if match is None:
        return None
    if match["room"] is not None:
        return f"/ws/rooms/{match['room']}/"
    if match["ns"] is not None:
        return f"/ws/ns/{match['ns']}/{match['ns_room']}/"
    return f"/ws/dm/{match['dm']}/"


def is_events_request(scope: Mapping[str, Any]) -> bool:
    """Whether an HTTP request is for the SSE door (a GET of an events path)."""
    return scope.get("method") == "GET" and EVENTS_PATH.match(scope.get("path", "")) is not None


class SseDoor:
    """The ASGI application of the SSE door, over ``websocket_app`` (what a WebSocket handshake
    reaches). ``status`` is the API's table of error codes to HTTP statuses (``api.errors.STATUS``:
    the API is above this app, so it is handed in)."""

    def __init__(self, websocket_app: Any, *, status: Mapping[str, int]) -> None:
        self.websocket_app = websocket_app
        self.status = status

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await Stream(self, scope, receive, send).run()


class Stream:
    """One open SSE response and the WebSocket connection it stands for."""

    def __init__(self, door: SseDoor, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.door = door
        self.http_scope = scope
        self.http_receive = receive
        self.http_send = send
        self.connected = False  # websocket.connect was handed to the application
        self.started = False  # the 200 and its headers are sent: events flow
        self.answered = False  # an HTTP response (the stream or a refusal) has begun
        self.refusal: dict[str, Any] | None = None  # the error frame of a refused handshake
        self.ended = asyncio.Event()  # the application closed, or the client went away
        self.close_code = 1000
        self.write_lock = asyncio.Lock()
        self.last_write = time.monotonic()
        self.after = 0  # the id the client resumes after: ids at or below it get no "id:"
        self.resuming = False
        self.hello_last_id = 0
        self.last_sent_id = 0

    def websocket_scope(self) -> dict[str, Any]:
        """The WebSocket scope the door's application sees: the door's path, the request's headers
        (cookie, Authorization, Origin, Host, X-Forwarded-*) and query, ``?after=`` from
        ``Last-Event-ID`` when there is one; the denial-response extension, so a refusal before the
        door (the address's limits, the Origin) is a real HTTP answer."""
        scope = self.http_scope
        path = websocket_path(scope["path"])
        assert path is not None
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        last_event_id = None
        for name, value in scope.get("headers", ()):
            if name == b"last-event-id":
                last_event_id = value.decode("latin-1").strip()
        if last_event_id:
            query = [(k, v) for k, v in query if k != "after"] + [("after", last_event_id)]
        for key, value in query:
            if key == "after" and value.isascii() and value.isdigit() and len(value) < 20:
                self.after, self.resuming = int(value), True
        self.last_sent_id = self.after
        extensions = dict(scope.get("extensions") or {})
        extensions["websocket.http.response"] = {}
        return {
            "type": "websocket",
            "asgi": scope.get("asgi", {"version": "3.0"}),
            "http_version": scope.get("http_version", "1.1"),
            "scheme": "wss" if scope.get("scheme") == "https" else "ws",
            "server": scope.get("server"),
            "client": scope.get("client"),
            "root_path": scope.get("root_path", ""),
            "path": path,
            "raw_path": quote(path).encode("ascii"),
            "query_string": urlencode(query).encode("latin-1"),
            "headers": list(scope.get("headers", ())),
            "subprotocols": [],
            "state": dict(scope.get("state") or {}),
            "extensions": extensions,
            "parley.transport": "sse",
        }

    async def run(self) -> None:
        """Run the WebSocket application to its end, with a watcher for the client going away and
        the keepalive beside it; then finish the response."""
        loop = asyncio.get_running_loop()
        watcher = loop.create_task(self._watch_client())
        keepalive = loop.create_task(self._keepalive())
        try:
            await self.door.websocket_app(self.websocket_scope(), self.ws_receive, self.ws_send)
        finally:
            watcher.cancel()
            keepalive.cancel()
        if not self.answered:  # closed with no frame at all (a door that refuses without a word)
            await self._refuse()
        elif self.started and self.close_code != 1001:  # the client is still there: end the stream
            grace = settings.PARLEY_SLOW_CLIENT_GRACE
            with contextlib.suppress(Exception):
                async with asyncio.timeout(grace):  # a client that stopped reading is dropped
                    await self.http_send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _watch_client(self) -> None:
        """The client went away: the consumer gets ``websocket.disconnect`` (1001, "going away")."""
        while True:
            message = await self.http_receive()
            if message["type"] == "http.disconnect":
                self._end(1001)
                return

    async def _keepalive(self) -> None:
        """A comment after ``PARLEY_SSE_KEEPALIVE`` seconds without a write, so that proxies do not
        close an idle stream (and a client can tell a dead one)."""
        every = settings.PARLEY_SSE_KEEPALIVE
        if every <= 0:
            return
        while not self.ended.is_set():
            wait = self.last_write + every - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            if self.started:
                await self._write(b": keepalive\n\n")
            else:
                self.last_write = time.monotonic()

    def _end(self, code: int) -> None:
        if not self.ended.is_set():
            self.close_code = code
            self.ended.set()

    # --- The WebSocket application's side ---------------------------------------------------------

    async def ws_receive(self) -> dict[str, Any]:
        if not self.connected:
            self.connected = True
            return {"type": "websocket.connect"}
        await self.ended.wait()
        return {"type": "websocket.disconnect", "code": self.close_code}

    async def ws_send(self, message: Mapping[str, Any]) -> None:
        kind = message["type"]
        if kind == "websocket.send":
            text = message.get("text")
            if text is not None:
                await self._frame(text)
        elif kind == "websocket.close":
            code = message.get("code") or 1000
            if not self.answered:
                await self._refuse(code)
            self._end(code)
        elif kind == "websocket.http.response.start":  # refused before the door (parley.edge)
            self.answered = True
            headers = [*message.get("headers", ()), (b"cache-control", b"no-store")]
            await self.http_send({"type": "http.response.start", "status": message["status"], "headers": headers})
        elif kind == "websocket.http.response.body":
            more = bool(message.get("more_body", False))
            await self.http_send({"type": "http.response.body", "body": message.get("body", b""), "more_body": more})
            if not more:
                self._end(1000)
        # websocket.accept: nothing yet; the first frame says whether it is a hello or a refusal

    async def _frame(self, text: str) -> None:
        """A frame from the door: before hello, a refusal's error is kept for the close that follows;
        from hello on, one event."""
        if self.ended.is_set() and self.close_code == 1001:
            return  # the client is gone
        kind, frame = _peek(text)
        if not self.started:
            if kind == "error":
                self.refusal = frame
                return
            self.started = self.answered = True
            await self.http_send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        event_id = self._event_id(kind, frame)
        head = b"id: %d\n" % event_id if event_id else b""
        await self._write(head + b"data: " + _one_line(text) + b"\n\n")

    def _event_id(self, kind: str | None, frame: Any) -> int:
        """The event's ``id:`` (0: none): the room's event id where the frame has one, only ever
        growing, never one the client said it has."""
        event_id = 0
        if kind in ROOM_EVENTS:
            event_id = frame if isinstance(frame, int) else frame.get("id") or 0
        elif kind == "hello":
            self.hello_last_id = int(frame.get("last_id") or 0)
        elif kind == "history":
            if self.resuming and frame.get("has_more"):
                events = frame.get("messages") or ()
                event_id = max((e.get("id") or 0 for e in events), default=0)
            else:  # the join's history, or a resume's last page: every event up to hello's last_id
                event_id = self.hello_last_id
        if not isinstance(event_id, int) or event_id <= self.last_sent_id:
            return 0
        self.last_sent_id = event_id
        return event_id

    async def _write(self, data: bytes) -> None:
        async with self.write_lock:
            if self.ended.is_set() and self.close_code == 1001:
                return  # the client is gone
            self.last_write = time.monotonic()
            await self.http_send({"type": "http.response.body", "body": data, "more_body": True})

    async def _refuse(self, code: int = CloseCode.FORBIDDEN) -> None:
        """The handshake was refused before hello: the API's status and error shape."""
        self.answered = True
        frame = self.refusal
        if frame is None:
            status, error = _CLOSE_STATUS.get(code, (403, "forbidden"))
            body: dict[str, Any] = {"code": error, "detail": "the room's events cannot be opened"}
        else:
            body = {k: v for k, v in frame.items() if k not in ("type", "client_id")}
            error = str(body.get("code", "forbidden"))
            if error == ErrorCode.FORBIDDEN and body.get("detail") == access.NOT_YOURS:
                error, body["code"], body["detail"] = ErrorCode.NOT_FOUND, ErrorCode.NOT_FOUND, "not found"
            status = self.door.status.get(error, 400)
        headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]
        if status == 401:
            headers.append((b"www-authenticate", b'Bearer realm="parley"'))
        if status in (429, 503):
            headers.append((b"retry-after", b"5"))
        await self.http_send({"type": "http.response.start", "status": status, "headers": headers})
        await self.http_send({"type": "http.response.body", "body": orjson.dumps({"error": body})})


# A frame's type and, for a room event, its id, read from the text's start: Parley encodes "type"
# first and a room event's "id" second (``protocol``), so a live event is not parsed again.
_HEAD = re.compile(r'\{"type":"(\w+)"(?:,"id":(\d+)[,}])?')


def _peek(text: str) -> tuple[str | None, Any]:
    """The frame's type, and its id (a room event), its parsed JSON (hello, history, error) or None
    (the rest, which need nothing more)."""
    head = _HEAD.match(text)
    if head is not None:
        kind = head[1]
        if kind in ROOM_EVENTS and head[2] is not None:
            return kind, int(head[2])
        if kind not in ("hello", "history", "error") and kind not in ROOM_EVENTS:
            return kind, None
    frame = orjson.loads(text)
    return (frame.get("type"), frame) if isinstance(frame, dict) else (None, frame)


def _one_line(text: str) -> bytes:
    """A frame as one ``data:`` line. JSON escapes line breaks inside strings, so there are none
    outside them; should one appear, each line becomes a ``data:`` line of its own."""
    data = text.encode("utf-8")
    if b"\n" in data or b"\r" in data:
        lines = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
        return b"\ndata: ".join(lines)
    return data
