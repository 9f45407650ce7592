"""A connection's outgoing frames: a bounded queue and one writer task.

The hub pushes into it without waiting; the writer hands frames to the ASGI server one at a time,
and waits there when the client reads slowly (the server applies TCP back-pressure). When a client
falls ``limit`` frames behind, the outbox gives up on it: ``on_overflow`` closes it with 1013 and
the client resumes with ``?after=<last id>``. Memory per slow client is bounded by ``limit``
references to frames that are shared with every other member.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from . import pubsub

_ids = itertools.count(1)


class Outbox:
    __slots__ = (
        "_limit",
        "_on_overflow",
        "_queue",
        "_send",
        "_task",
        "_waiter",
        "closed",
        "ephemeral",
        "floor",
        "name",
        "origin",
    )

    def __init__(
        self,
        *,
        send: Callable[[dict[str, Any]], Awaitable[None]],
        name: str,
        ephemeral: bool,
        limit: int,
        on_overflow: Callable[[], None],
    ) -> None:
        self.name = name
        self.origin = f"{pubsub.PROCESS_ID}:{next(_ids)}"
        self.ephemeral = ephemeral
        self.floor = 0  # message ids up to this one were already sent (as history)
        self._send = send
        self._queue: deque[tuple[str, int]] = deque()
        self._limit = limit
        self._on_overflow = on_overflow
        self._waiter: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self.closed = False

    def push(self, text: str, seq: int = 0) -> None:
        """Queue a frame; ``seq`` is the message id, 0 for frames that are not stored messages."""
        if self.closed or (seq and seq <= self.floor):
            return
        if len(self._queue) >= self._limit:
            self.closed = True
            self._queue.clear()
            self._on_overflow()
            return
        self._queue.append((text, seq))
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def start(self, *, floor: int) -> None:
        """Start writing, dropping queued messages with id <= ``floor`` (already sent as history)."""
        self.floor = floor
        self._queue = deque(item for item in self._queue if not item[1] or item[1] > floor)
        self._task = asyncio.get_running_loop().create_task(self._write())

    async def _write(self) -> None:
        queue = self._queue
        send = self._send
        while True:
            while queue:
                text, seq = queue.popleft()
                if not seq or seq > self.floor:
                    await send({"type": "websocket.send", "text": text})
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
            self._waiter = None

    def stop(self) -> None:
        self.closed = True
        self._queue.clear()
        if self._task is not None:
            self._task.cancel()
            self._task = None
