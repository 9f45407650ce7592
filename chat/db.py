"""Database calls from async code: on the process's one database thread, whichever door they came from.

Every write of a process (joins, the group commit, read cursors, tokens) runs on one thread, in
order, with its one persistent connection; history pages have their own threads (``reads``). One
thread keeps SQLite's one writer at a time without waiting on its lock, and keeps a process's
changes in the order they were asked for (a join before the message it allows).

The thread is Parley's own, not asgiref's: ``database_sync_to_async`` costs, per call, an
executor's future, the asyncio future wrapping it and a shield's around that, a thread-sensitive
lookup and a wake-up of the loop, about 35 us of CPU more than this (docs/performance.md, "Fewer
hops"). Here a call is a tuple on a ``SimpleQueue``; the thread runs what is queued in order, and
hands the results of everything it ran back in one ``call_soon_threadsafe`` once the queue is empty
(one wake-up of the loop per busy moment, not per call; and at least every ``HAND_BACK_EVERY``
calls, so a queue that never empties holds no result for long). It also does not care which door a call
came from: an HTTP request's ``ThreadSensitiveContext`` (which would send asgiref's calls to a
thread and a connection of the request's own) plays no part.

Connections are handled as Django handles them per request and Channels per call: old ones
(``CONN_MAX_AGE``, or one whose query failed: the database went away) are closed before and after
each call, so the next call after an outage connects again. An exception fails only its caller.
"""

from __future__ import annotations

import asyncio
import contextvars
import queue
import threading
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from django.db import close_old_connections, connections

P = ParamSpec("P")
R = TypeVar("R")

# A call: its loop and future (where the result goes), the caller's context, the function and its arguments.
_Call = tuple[
    asyncio.AbstractEventLoop,
    "asyncio.Future[Any]",
    contextvars.Context,
    Callable[..., Any],
    tuple[Any, ...],
    dict[str, Any],
]
# A result on its way back: the future, and the value or the exception.
_Done = tuple["asyncio.Future[Any]", bool, Any]


# The most results a busy thread holds before it hands them back to their loops.
HAND_BACK_EVERY = 16


class Thread:
    """The database thread: a ``SimpleQueue`` of calls and the thread that runs them in order."""

    def __init__(self) -> None:
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="parley-db", daemon=True)
        self._thread.start()

    def submit(self, call: _Call) -> None:
        if threading.get_ident() == self._thread.ident:
            # A loop of this thread's own (``async_to_sync`` in a call) would wait for itself.
            raise RuntimeError("a database call from the database thread would wait for itself")
        self._calls.put(call)

    def stop(self, *, wait: bool) -> None:
        """Run what is queued, close the thread's connections, and end the thread (``wait``: before
        this returns)."""
        self._calls.put(None)
        if wait:
            self._thread.join()

    def _serve(self) -> None:
        done: dict[asyncio.AbstractEventLoop, list[_Done]] = {}
        held = 0  # results in ``done``
        while True:
            call = self._calls.get()
            if call is None:
                break
            loop, future, context, func, args, kwargs = call
            close_old_connections()
            try:
                done.setdefault(loop, []).append((future, True, context.run(func, *args, **kwargs)))
            except BaseException as exc:  # the caller's to handle, never the thread's end
                done.setdefault(loop, []).append((future, False, exc))
            finally:
                close_old_connections()
            held += 1
            if held >= HAND_BACK_EVERY or self._calls.empty():
                _hand_back(done)
                done, held = {}, 0
        _hand_back(done)
        connections.close_all()


def _hand_back(done: dict[asyncio.AbstractEventLoop, list[_Done]]) -> None:
    for loop, results in done.items():
        try:
            loop.call_soon_threadsafe(_resolve, results)
        except RuntimeError:  # that loop is closed: no one waits for these any more
            pass


def _resolve(results: list[_Done]) -> None:
    """On the loop: set each future (one whose caller gave up, cancelled, is left alone)."""
    for future, ok, value in results:
        if future.done():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


_thread: Thread | None = None
_lock = threading.Lock()


def _get() -> Thread:
    global _thread
    if _thread is None:
        with _lock:
            if _thread is None:
                _thread = Thread()
    return _thread


def call_soon(func: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> asyncio.Future[R]:
    """Queue the sync ``func`` on the database thread now; its result (or exception) comes in the
    future. The call is in the queue when this returns: calls are run in the order of this."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[R] = loop.create_future()
    _get().submit((loop, future, contextvars.copy_context(), func, args, kwargs))
    return future


async def call(func: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """Run the sync ``func`` on the process's database thread, after every call queued before it;
    old connections are closed around it (as ``database_sync_to_async`` does)."""
    return await call_soon(func, *args, **kwargs)


def close(*, wait: bool = True) -> None:
    """Stop the database thread after what is queued, closing its connection; the next call starts
    a new one. The test suite waits for it between tests (an open connection keeps PostgreSQL from
    dropping the test database): from async code, through a thread. A server shutting down does not
    wait (a call stuck on a database that went away must not hold the shutdown; the process's end
    closes the connection too)."""
    global _thread
    with _lock:
        thread, _thread = _thread, None
    if thread is not None:
        thread.stop(wait=wait)
