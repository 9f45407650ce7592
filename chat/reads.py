"""The read path: history pages are read on threads of their own, apart from the write path.

Every other database call of a process (joins, the group commit, gap fills) runs on the process's one
database thread (``db``), in order. A history page is the largest read a client can ask for, and clients
may ask for many: on that thread, 100 clients paging through history at their allowed rate queued
every message of every room behind them. Here they run on at most
``PARLEY_HISTORY_READ_THREADS`` threads (each with its own database connection), so the writes
never wait behind a read, and a flood of reads waits for itself (each connection has at most one
read under way: its receive loop awaits it).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import threading
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from channels.db import DatabaseSyncToAsync
from django.conf import settings
from django.db import connections

P = ParamSpec("P")
R = TypeVar("R")

_executor: concurrent.futures.ThreadPoolExecutor | None = None


def _pool() -> concurrent.futures.ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=settings.PARLEY_HISTORY_READ_THREADS, thread_name_prefix="parley-read"
        )
    return _executor


async def read(func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run the selector ``func`` on the read path; old connections are closed around it, as
    ``database_sync_to_async`` does."""
    return await DatabaseSyncToAsync(func, thread_sensitive=False, executor=_pool())(*args, **kwargs)


def close() -> None:
    """Let the read threads go, closing their database connections (the test suite, between tests).

    Each thread runs one ``close_all`` (a barrier makes every thread of the pool take one)."""
    global _executor
    executor, _executor = _executor, None
    if executor is None:
        return
    count = settings.PARLEY_HISTORY_READ_THREADS
    barrier = threading.Barrier(count)

    def close_here() -> None:
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=5)
        connections.close_all()

    for _ in range(count):
        executor.submit(close_here)
    executor.shutdown(wait=True)
