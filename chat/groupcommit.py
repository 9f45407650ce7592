"""Group commit: the messages that arrive while one transaction runs are stored by the next one.

Each process stores messages from one task. A sender hands its draft over and waits; the task takes
everything waiting (up to MAX_BATCH), stores it in one transaction (``services.message_send_many``),
publishes the new messages in one pipelined round trip, in id order, and only then wakes the
senders. Alone, a message costs what it did before; under load, the per-transaction and
per-round-trip costs are shared by the whole batch.
"""

from __future__ import annotations

import asyncio
import logging

from channels.db import database_sync_to_async

from . import broadcast, protocol, pubsub, selectors, services

log = logging.getLogger("parley.groupcommit")

# The most messages one transaction stores: bounds how long room rows stay locked and how large a
# Redis pipeline gets, while already amortising the commit over a full busy moment.
MAX_BATCH = 256


class GroupCommit:
    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._waiting: list[tuple[services.Draft, asyncio.Future[tuple[str, bool]]]] = []
        self._running = False

    async def submit(self, draft: services.Draft) -> tuple[str, bool]:
        """Store and publish ``draft``; return its encoded frame and whether it was new. Raises
        ProtocolError (forbidden) for a guest draft under a registered user's name."""
        future: asyncio.Future[tuple[str, bool]] = self.loop.create_future()
        self._waiting.append((draft, future))
        if not self._running:
            self._running = True
            self.loop.create_task(self._run())
        return await future

    async def _run(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
                await self._commit(batch)
        finally:
            self._running = False

    async def _commit(self, batch: list[tuple[services.Draft, asyncio.Future[tuple[str, bool]]]]) -> None:
        drafts = [draft for draft, _ in batch]
        try:
            results = await database_sync_to_async(services.message_send_many)(drafts=drafts)
        except Exception as exc:
            if len(batch) == 1:
                _, future = batch[0]
                if not future.done():
                    future.set_exception(exc)
                return
            # One bad draft must not fail the others: store them one by one.
            log.exception("group commit of %d messages failed; storing them one by one", len(batch))
            for item in batch:
                await self._commit([item])
            return
        # A refused draft (a guest under a registered name) has a ProtocolError for a result: its
        # sender gets the error, the rest of the batch goes on.
        frames = [
            protocol.encode(selectors.message_to_frame(stored.message, room=draft.room.name))
            if isinstance(stored, services.Stored)
            else ""
            for draft, stored in zip(drafts, results, strict=True)
        ]
        events = [
            (protocol.room_key(draft.room.name), pubsub.message_event(stored.message.seq, text))
            for draft, stored, text in zip(drafts, results, frames, strict=True)
            if isinstance(stored, services.Stored) and stored.created
        ]
        if events:
            await broadcast.get_hub().publish_events(events)
        for (_, future), stored, text in zip(batch, results, frames, strict=True):
            if future.done():
                continue
            if isinstance(stored, services.Stored):
                future.set_result((text, stored.created))
            else:
                future.set_exception(stored)


_writer: GroupCommit | None = None


def get_writer() -> GroupCommit:
    """The group commit of the running event loop."""
    global _writer
    if _writer is None or _writer.loop is not asyncio.get_running_loop():
        _writer = GroupCommit()
    return _writer
