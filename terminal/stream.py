"""One room's native WebSocket connection that survives drops: connect with the token, read frames,
and on a drop reconnect with ``?after=<the last event id seen>`` so the missed events come back,
each once, in order (docs/protocol.md, "Resuming after a dropped connection").

Used by ``parley chat``/``dm`` (the Textual app) and ``parley tail``. The stream keeps the cursor
itself (from the hello and the history on the first join, then from every room event), so its
callers only apply what ``on_frame`` hands them.

Messages sent through it form a queue, sent one at a time in the order written: the next goes when
the server has echoed the last (its ``client_id``) or refused it for good. One refused with
``rate_limited`` or ``unavailable`` (not stored) goes again after RESEND_AFTER seconds, and after a
reconnect the head goes again: always with the same ``client_id``, which the server stores at most
once. So a room gets a user's messages once each and in their order, whatever the rate limit or the
network does; for a person typing, waiting for each echo costs nothing they could see.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection, connect

from terminal.address import Target, ws_base
from terminal.room import ROOM_EVENTS

FINAL_CLOSES = {  # close codes after which reconnecting cannot help (docs/protocol.md, "Close codes")
    4400: "refused: a bad room name",
    4401: "the token is not valid any more: run `parley login` again",
    4403: "not allowed in this room (or it does not exist)",
    4410: "removed from the room",
}
BACKOFF = (0.2, 0.5, 1.0, 2.0, 3.0, 5.0)  # seconds between reconnect attempts, the last repeating
MAX_FRAME_BYTES = 2**20  # a history page stays under 512 KiB (PARLEY_HISTORY_FRAME_BYTES)
USER_AGENT = "parley-terminal/0.1"
RESEND_CODES = ("rate_limited", "unavailable")  # a message refused with these was not stored: send it again
RESEND_AFTER = 1.0  # seconds


@dataclass
class State:
    """What the status line shows: ``connecting``, ``connected``, ``reconnecting`` or ``closed``."""

    kind: str
    detail: str = ""  # English (a message id: translate it to show it)
    attempt: int = 0
    delay: float = 0.0  # seconds until the next attempt


@dataclass
class Stream:
    server: str
    target: Target
    token: str
    on_frame: Callable[[dict[str, Any]], None]
    on_state: Callable[[State], None] = lambda state: None
    cursor: int | None = None  # last room event id seen; None until the first join's history
    pending: dict[str, dict[str, Any]] = field(default_factory=dict)  # client_id -> unconfirmed message
    hello: dict[str, Any] = field(default_factory=dict)
    _ws: ClientConnection | None = None
    _joining: bool = True  # until the join's (or the resume's last) history frame
    _stopped: bool = False
    _discard: bool = False  # the rest of this connection's frames are dropped (see the hello check)
    _in_flight: str | None = None  # the client_id sent and not yet answered (the queue's head)
    _sends: int = 0  # how many times a queued message was sent (a resend timer checks nothing went since)
    _tasks: set[asyncio.Future[None]] = field(default_factory=set)

    @property
    def url(self) -> str:
        query = f"?after={self.cursor}" if self.cursor is not None else ""
        return ws_base(self.server) + self.target.ws_path + query

    @property
    def connected(self) -> bool:
        return self._ws is not None and not self._joining

    async def run(self) -> State:
        """Connect, and reconnect after every drop, until ``stop()`` or a close that says not to
        (4401, 4403, 4410, 4400). Returns the final state."""
        attempt = 0
        while not self._stopped:
            self.on_state(State("connecting" if attempt == 0 else "reconnecting", attempt=attempt))
            try:
                async with connect(
                    self.url,
                    additional_headers={"Authorization": f"Bearer {self.token}"},
                    user_agent_header=USER_AGENT,
                    max_size=MAX_FRAME_BYTES,
                    open_timeout=10,
                    ping_interval=20,
                    ping_timeout=20,
                ) as ws:
                    self._ws, self._joining, self._discard = ws, True, False
                    async for text in ws:
                        try:
                            frame = json.loads(text)
                        except ValueError:
                            continue  # not JSON: not a frame of Parley's (a proxy's page?), skip it
                        if isinstance(frame, dict):
                            self._receive(frame)
                        if self.connected:
                            attempt = 0  # back off again only after a join that worked
                    code = ws.close_code
            except (OSError, websockets.exceptions.WebSocketException, TimeoutError):
                code = self._ws.close_code if self._ws is not None else None
            finally:
                self._ws = None
            if self._stopped:
                break
            if code in FINAL_CLOSES:
                final = State("closed", FINAL_CLOSES[code])
                self.on_state(final)
                return final
            delay = BACKOFF[min(attempt, len(BACKOFF) - 1)]
            attempt += 1
            self.on_state(State("reconnecting", attempt=attempt, delay=delay))
            await asyncio.sleep(delay)
        final = State("closed", "closed")
        self.on_state(final)
        return final

    def _receive(self, frame: dict[str, Any]) -> None:
        """Keep the cursor and the unconfirmed messages, then hand the frame on."""
        if self._discard:  # this connection is being closed: its frames are not ours to apply
            return
        kind = frame.get("type")
        if kind == "hello":
            self.hello = frame
            if self.cursor is not None and int(frame.get("last_id", 0)) < self.cursor:
                # The room's stream is behind what we saw: not the store we were reading (a server
                # started on a new database). A resume would bring nothing; join afresh instead.
                self.cursor, self._discard = None, True
                if self._ws is not None:
                    self._spawn(self._ws.close(code=1000, reason="the room's stream went back"))
                return
            frame = {**frame, "resumed": self.cursor is not None}
        elif kind == "history" and self._joining:
            if self.cursor is None:  # a first join: the newest messages as they are
                self.cursor = int(self.hello.get("last_id", 0))
                self._forget_confirmed(frame.get("messages", []))
                self._joined()
                frame = {**frame, "join": True}
            else:  # a resume: exactly the events after the cursor, in id order
                events = frame.get("messages", [])
                for event in events:
                    self._note(event)
                frame = {**frame, "resume": True}
                if not frame.get("has_more"):
                    self._joined()
        elif kind in ROOM_EVENTS:
            self._note(frame)
        elif kind == "error" and frame.get("client_id") in self.pending:
            client_id = frame["client_id"]
            if frame.get("code") in RESEND_CODES:  # not stored: the same one again in a moment
                if client_id == self._in_flight:
                    self._spawn(self._resend_later(client_id))
            else:  # refused for good (too long, muted, ...): the caller shows why; the next one goes
                self.pending.pop(client_id)
                if client_id == self._in_flight:
                    self._in_flight = None
                    self._pump()
        self.on_frame(frame)

    async def _resend_later(self, client_id: str) -> None:
        sent = self._sends
        await asyncio.sleep(RESEND_AFTER)
        if self._in_flight == client_id and self._sends == sent:  # not sent again meanwhile (a reconnect)
            self._in_flight = None
            self._pump()

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _pump(self) -> None:
        """Send the queue's head if nothing is in flight and the connection is live."""
        if self._in_flight is not None or not self.pending or not self.connected:
            return
        client_id, frame = next(iter(self.pending.items()))
        self._in_flight = client_id
        self._sends += 1
        self._spawn(self._send_queued(client_id, frame))

    async def _send_queued(self, client_id: str, frame: dict[str, Any]) -> None:
        if not await self._send_now(frame) and self._in_flight == client_id:
            self._in_flight = None  # the connection went: the head goes again once it is back

    def _note(self, event: dict[str, Any]) -> None:
        event_id = event.get("id")
        if isinstance(event_id, int) and (self.cursor is None or event_id > self.cursor):
            self.cursor = event_id
        self._forget_confirmed([event])

    def _forget_confirmed(self, frames: list[dict[str, Any]]) -> None:
        for frame in frames:
            if frame.get("type") == "message" and frame.get("client_id") in self.pending:
                self.pending.pop(frame["client_id"])
                if frame["client_id"] == self._in_flight:
                    self._in_flight = None
                    self._pump()

    def _joined(self) -> None:
        """The history is in: the connection is live. Send what is still unconfirmed, in order."""
        self._joining = False
        self.on_state(State("connected", self.hello.get("you", {}).get("name", "")))
        self._in_flight = None  # whatever was in flight is answered by the resume, or goes again
        self._pump()

    async def _send_now(self, frame: dict[str, Any]) -> bool:
        ws = self._ws
        if ws is None:
            return False
        try:
            await ws.send(json.dumps(frame, ensure_ascii=False))
        except websockets.exceptions.WebSocketException:
            return False
        return True

    async def send_message(self, text: str, reply_to: int | None = None) -> str:
        """Send a message (now, or as soon as the connection is back). Returns its client_id."""
        client_id = uuid.uuid4().hex
        frame: dict[str, Any] = {"type": "message", "message": text, "client_id": client_id}
        if reply_to is not None:
            frame["reply_to"] = reply_to
        self.pending[client_id] = frame
        self._pump()
        return client_id

    async def send(self, frame: dict[str, Any]) -> bool:
        """Send any other frame (edit, delete, reaction, typing, read, history): False when not
        connected (these are not kept for later: the user sees it and tries again)."""
        if not self.connected:
            return False
        return await self._send_now(frame)

    async def stop(self) -> None:
        self._stopped = True
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
