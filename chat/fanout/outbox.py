"""A connection's outgoing frames: a bounded queue, written without a task switch when possible.

The hub pushes into the outbox without waiting. When the connection is served by uvicorn's
sans-I/O WebSocket protocol without compression (``make run``), a frame that can be written at once
is written at once: the message's WebSocket frame is built once for all members (``wire_frame``)
and handed to each member's transport, as a bare ``websockets`` broadcast does. Otherwise (another
server, compression on, or a socket whose buffer is full) frames wait in the queue and a writer
task sends them when the socket can take more, through the ASGI ``send`` or the transport. The
queue and the task exist only while frames wait, so an idle connection costs neither.

When a client falls ``limit`` frames behind, the outbox gives up on it: ``on_overflow`` closes it
with 1013 and the client resumes with ``?after=<last id>``. Memory per slow client is bounded by
``limit`` references to frames that are shared with every other member, plus what the socket's
buffer holds (uvicorn's high-water mark, 64 KiB, and the frame that crossed it). ``close_now``
closes such a client at once: uvicorn's own close would wait until the socket can take more, which
a client that stopped reading never allows.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import struct
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeGuard, cast

from asgiref.typing import ASGISendCallable, WebSocketSendEvent

from core import metrics

from . import pubsub

if TYPE_CHECKING:
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

_ids = itertools.count(1)

# Seconds a slow client's socket stays open after ``close_now`` wrote its close frame, by default:
# time for a client that reads again to get what was sent and then the 1013. Then the socket is
# aborted (a TCP reset), whatever its buffer still holds, and the memory is freed. The connection
# itself is over at once (the application is told, the member leaves its room); only the socket
# waits. PARLEY_SLOW_CLIENT_GRACE sets it (the consumer passes it in).
CLOSE_GRACE = 10.0


def new_origin() -> str:
    """A connection id unique across processes (typing is not echoed to it; its log lines carry it)."""
    return f"{pubsub.PROCESS_ID}:{next(_ids)}"


class Outbox:
    __slots__ = (
        "_after",
        "_direct",
        "_limit",
        "_on_overflow",
        "_on_remove",
        "_queue",
        "_send",
        "_server_send",
        "_started",
        "_task",
        "bot",
        "closed",
        "ephemeral",
        "floor",
        "guest",
        "name",
        "origin",
        "user_id",
    )

    def __init__(
        self,
        *,
        send: ASGISendCallable,
        name: str,
        ephemeral: bool,
        limit: int,
        on_overflow: Callable[[], None],
        on_remove: Callable[[int, str, str, str | None], None] | None = None,
        origin: str | None = None,
        user_id: int | None = None,
        guest: bool = True,
        bot: bool = False,
    ) -> None:
        self.name = name
        self.user_id = user_id
        self.guest = guest
        self.bot = bot
        self._on_remove = on_remove
        self.origin = origin or new_origin()
        self.ephemeral = ephemeral
        self.floor = 0  # event ids up to this one were sent (as history) or are on their way
        self._after: list[tuple[int, str]] | None = None  # frames waiting for an event (push_after)
        self._send = send
        self._direct: _Direct | None = None
        self._server_send: ASGISendCallable | None = None  # the ASGI server's own send, once started
        self._queue: deque[tuple[str, int]] | None = None  # created when a frame has to wait
        self._limit = limit
        self._on_overflow = on_overflow
        self._task: asyncio.Task[None] | None = None  # the writer, while frames wait
        self._started = False
        self.closed = False

    def push(self, text: str, seq: int = 0) -> None:
        """Queue a frame; ``seq`` is the event id, 0 for frames that are not room events."""
        if self.closed or (seq and seq <= self.floor):
            return
        if seq:
            self.floor = seq  # the hub delivers in id order: every id up to this one is on its way
        queue = self._queue
        direct = self._direct
        if queue:
            if len(queue) >= self._limit:
                self.closed = True
                queue.clear()
                metrics.OUTBOX_OVERFLOW.inc()
                self._on_overflow()
                return
        elif direct is not None and direct.writable():
            direct.write(text)
            queue = None
        elif queue is None:
            queue = self._queue = deque()
        if queue is not None:
            queue.append((text, seq))
            if self._task is None and self._started:
                self._task = asyncio.get_running_loop().create_task(self._write())
        if self._after is not None and seq:
            self._release(seq)

    def remove(self, code: int, reason: str, *, note: str = "", until: str | None = None) -> None:
        """Called by the hub when the connection is kicked, banned or no longer a member (``note``:
        the moderator's reason; ``until``: a timed ban's end)."""
        if not self.closed and self._on_remove is not None:
            self._on_remove(code, reason, note, until)

    def push_after(self, seq: int, text: str) -> None:
        """Queue a frame that must reach the client after every event up to ``seq``: a snapshot of
        messages as they were at event ``seq`` (a history page, a thread), which the client puts
        in place of what it has, so the events it already had are not applied twice and those
        after ``seq`` follow it."""
        if seq <= self.floor:
            self.push(text)
        else:
            if self._after is None:
                self._after = []
            self._after.append((seq, text))

    def _release(self, seq: int) -> None:
        """Event ``seq`` is on its way: the frames that waited for it follow it."""
        after, self._after = self._after or [], None
        for waiting_seq, text in after:
            self.push_after(waiting_seq, text)

    def start(self, *, floor: int, server_send: ASGISendCallable | None = None) -> None:
        """Start writing, dropping queued messages with id <= ``floor`` (already sent as history).

        Called once the handshake is done. ``server_send`` is the ASGI server's own send; when it
        belongs to uvicorn's sans-I/O protocol and no compression was negotiated, frames go
        straight to the transport.
        """
        self.floor = max(floor, self.floor)
        self._server_send = server_send
        self._direct = _Direct.attach(server_send)
        self._started = True
        if self._queue:
            self._queue = deque(item for item in self._queue if not item[1] or item[1] > floor)
            self._task = asyncio.get_running_loop().create_task(self._write())

    async def _write(self) -> None:
        """Drain the queue, then end: an idle connection holds no task (memory per connection)."""
        queue = self._queue
        direct = self._direct
        try:
            while queue:
                text, _ = queue[0]  # frames at or below the join's floor were dropped by start()
                if direct is not None:
                    if not direct.writable():
                        if direct.gone():
                            return
                        await direct.wait_writable()
                        continue
                    queue.popleft()
                    direct.write(text)
                else:
                    queue.popleft()
                    # One of "text" and "bytes", as the ASGI spec says (Channels' test client insists);
                    # asgiref's WebSocketSendEvent has both keys.
                    await self._send(cast("WebSocketSendEvent", {"type": "websocket.send", "text": text}))
        finally:
            self._task = None
            if not queue:
                self._queue = None  # drained: an idle connection keeps no queue

    def close_now(self, code: int, *, grace: float = CLOSE_GRACE, reason: str = "") -> bool:
        """Close the connection with ``code`` at once, however full its socket is. False when it
        cannot be done here (not started, another server, already closing): close through ASGI."""
        return close_now(self._server_send, code, grace=grace, reason=reason)

    def stop(self) -> None:
        self.closed = True
        self._queue = None
        if self._task is not None:
            self._task.cancel()
            self._task = None


def _is_sansio(protocol: object) -> TypeGuard[WebSocketsSansIOProtocol]:
    """Whether ``protocol`` is uvicorn's sans-I/O WebSocket protocol (or ``parley.edge``'s lighter
    kind of it), told by its classes' names: this module does not import uvicorn (other servers,
    such as Daphne in tests, run it too)."""
    return any(cls.__name__ == "WebSocketsSansIOProtocol" for cls in type(protocol).__mro__)


def close_now(server_send: ASGISendCallable | None, code: int, *, grace: float = CLOSE_GRACE, reason: str = "") -> bool:
    """Close a uvicorn sans-I/O WebSocket connection with ``code`` now, without waiting for its socket.

    Called for a client that stopped reading. uvicorn's ASGI close waits until the socket's buffer
    drains, which it never does, so the connection (and its member in the room) would live on until
    the keepalive gives up ~40 s later. Instead: write the close frame to the transport (which always
    takes a few bytes more), tell the application the connection is gone (``websocket.disconnect``
    with ``code``, as uvicorn does on close: the consumer leaves its room), and abort the socket
    ``grace`` seconds later unless the client has answered the close by then. A graceful
    close would not do: the kernel would keep the unsent frames until its own timeouts.
    """
    protocol = getattr(server_send, "__self__", None)
    if not _is_sansio(protocol):
        return False
    if not protocol.handshake_complete or protocol.close_sent or protocol.disconnected:
        return False
    protocol.conn.send_close(code, reason)
    protocol.transport.write(b"".join(protocol.conn.data_to_send()))
    protocol.close_sent = True
    protocol.queue.put_nowait({"type": "websocket.disconnect", "code": code})
    if protocol.read_paused:  # read on: the client's answer to the close is all that is left
        protocol.read_paused = False
        protocol.transport.resume_reading()
    # uvicorn's own close timer: cancelled if the client answers the close (then the socket is closed
    # gracefully, its buffer having drained), otherwise it fires and the socket is reset.
    protocol.close_timer = protocol.loop.call_later(grace, _abort_unless_gone, protocol)
    return True


def _abort_unless_gone(protocol: WebSocketsSansIOProtocol) -> None:
    """Called ``grace`` seconds after ``close_now`` unless the client answered the close: reset
    the connection. Closing a socket with unsent data leaves it to the kernel, which keeps trying to
    send it (megabytes, for minutes); with a zero linger time the close resets it and frees all."""
    if protocol.disconnected:
        return
    sock = protocol.transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    protocol.transport.abort()


class _Direct:
    """Writes frames to a uvicorn sans-I/O WebSocket connection's transport, bypassing ASGI."""

    __slots__ = ("_protocol",)

    def __init__(self, protocol: WebSocketsSansIOProtocol) -> None:
        self._protocol = protocol

    @classmethod
    def attach(cls, server_send: ASGISendCallable | None) -> _Direct | None:
        protocol = getattr(server_send, "__self__", None)
        if not _is_sansio(protocol):
            return None
        # The handshake is over and uvicorn does not look at its request and response again:
        # let go of them (about 4 KiB per idle connection).
        protocol.request = protocol.response = None  # type: ignore[assignment]  # typed as set; unread from here
        if getattr(protocol.conn, "extensions", None):
            return None  # compression negotiated: frames must go through websockets
        return cls(protocol)

    def writable(self) -> bool:
        protocol = self._protocol
        return protocol.writable.is_set() and not protocol.close_sent and not protocol.disconnected

    def gone(self) -> bool:
        return self._protocol.close_sent or self._protocol.disconnected

    async def wait_writable(self) -> None:
        await self._protocol.writable.wait()

    def write(self, text: str) -> None:
        # The protocol's transport of the moment: during the join's turn of the event loop, the
        # edge's cork (``parley.edge``), which sends the join's first frames in one write.
        self._protocol.transport.write(wire_frame(text))


_last_text: str | None = None
_last_frame = b""


def wire_frame(text: str) -> bytes:
    """A server-to-client WebSocket text frame (FIN, unmasked, RFC 6455 section 5.2).

    The hub hands the same string to every member of a room in turn, so the last one is remembered:
    the frame is built once per message, not once per recipient.
    """
    global _last_text, _last_frame
    if text is _last_text:
        return _last_frame
    payload = text.encode("utf-8")
    size = len(payload)
    if size < 126:
        header = bytes((0x81, size))
    elif size < 65536:
        header = bytes((0x81, 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + size.to_bytes(8, "big")
    _last_text, _last_frame = text, header + payload
    return _last_frame
