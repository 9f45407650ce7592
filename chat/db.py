"""Database calls from async code: on Channels' one database thread, whichever door they came from.

Every write of a process (joins, the group commit, read cursors, tokens) runs on one thread, in
order, with its one persistent connection; history pages have their own threads (``reads``). A
WebSocket consumer gets that for free from ``database_sync_to_async``. An HTTP request does not:
Django runs each request in a ``ThreadSensitiveContext``, which would send its calls to a thread
(and a new database connection) of its own, and a task it starts (the group commit's) to a context
that ends with the request. ``call`` leaves that context for the duration of the call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from asgiref.sync import SyncToAsync
from channels.db import database_sync_to_async

P = ParamSpec("P")
R = TypeVar("R")


async def call(func: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """Run the sync ``func`` on the process's database thread; old connections are closed around
    it (as ``database_sync_to_async`` does)."""
    token = SyncToAsync.thread_sensitive_context.set(None)  # type: ignore[arg-type]  # None: no request's thread
    try:
        return await database_sync_to_async(func)(*args, **kwargs)
    finally:
        SyncToAsync.thread_sensitive_context.reset(token)
