"""Group commit: the changes that arrive while one transaction runs are stored by the next one.

Each process stores changes (messages, edits, deletes, reactions) from one task. A sender hands
its change over and waits; the task takes everything waiting (up to MAX_BATCH), applies it in one
transaction (``services.apply_changes``), publishes the new events (``events.publish``: one
pipelined round trip, in id order), and only then wakes the senders. Alone, a change costs what it
did before; under load, the per-transaction and per-round-trip costs are shared by the whole batch.
"""

from __future__ import annotations

import asyncio
import logging
import time

from core import logs, metrics

from . import db, services
from .fanout import events

log = logging.getLogger("parley.groupcommit")

# The most messages one transaction stores: bounds how long room rows stay locked and how large a
# Redis pipeline gets, while already amortising the commit over a full busy moment.
MAX_BATCH = 256


Waiting = tuple[services.Change, asyncio.Future[services.Outcome]]


class GroupCommit:
    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._waiting: list[Waiting] = []
        self._running = False

    async def submit(self, change: services.Change) -> services.Outcome:
        """Store and publish ``change``; return its outcome. Raises the ProtocolError that refused
        it (not_found, forbidden, too_late), or whatever the store raised (it is down)."""
        future: asyncio.Future[services.Outcome] = self.loop.create_future()
        self._waiting.append((change, future))
        if not self._running:
            self._running = True
            self.loop.create_task(self._run(), context=logs.detached())  # serves everyone: no one's log id
        return await future

    async def _run(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
                await self._commit(batch)
                # A turn of the loop before the next batch, so the frames that arrived during this
                # commit are read and join it: the database thread's answer takes no turn of its
                # own, and without this D's batches were half as large (docs/performance.md).
                await asyncio.sleep(0)
        finally:
            self._running = False

    async def _commit(self, batch: list[Waiting]) -> None:
        changes = [change for change, _ in batch]
        try:
            results = await db.call(services.apply_changes, changes)
        except Exception as exc:
            if len(batch) == 1:
                metrics.backend_error(exc)
                _, future = batch[0]
                if not future.done():
                    future.set_exception(exc)
                return
            # One bad change must not fail the others: store them one by one.
            log.warning("group commit of %d changes failed (%s); storing them one by one", len(batch), exc)
            for item in batch:
                await self._commit([item])
            return
        metrics.observe_batch(len(batch))
        # The commit time travels with the publish: the in-process bus delivers inside it (metrics.delivered).
        committed = metrics.COMMITTED_AT.set(time.time())
        try:
            await events.publish(
                [(c.room, r) for c, r in zip(changes, results, strict=True) if isinstance(r, services.Outcome)]
            )
        finally:
            metrics.COMMITTED_AT.reset(committed)
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, services.Outcome):
                future.set_result(result)
            else:
                future.set_exception(result)


_writer: GroupCommit | None = None


def get_writer() -> GroupCommit:
    """The group commit of the running event loop."""
    global _writer
    if _writer is None or _writer.loop is not asyncio.get_running_loop():
        _writer = GroupCommit()
    return _writer
