from __future__ import annotations

import asyncio
import contextlib
import urllib.parse
import uuid

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connections

from chat import db, reads
from parley.asgi import application
from tests.wsclient import read_history, recv_until

TIMEOUT = 10


@pytest.fixture(autouse=True)
async def _close_thread_connections():
    """Close the database connections of the database thread (``chat.db``), of asgiref's worker
    thread (Channels' session middleware) and of the history read threads.

    Nothing else closes them in tests, and on PostgreSQL an open connection keeps the flush after a
    transactional test waiting and the test database from being dropped at the end of the run.
    """
    yield
    await asyncio.to_thread(db.close)
    await sync_to_async(connections.close_all, thread_sensitive=True)()
    await sync_to_async(reads.close, thread_sensitive=False)()  # the history read threads' own


@pytest.fixture
def room() -> str:
    return f"방-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def connect():
    """Open communicators; each is disconnected (and its consumer finished) at the end of the test."""
    opened: list[tuple[WebsocketCommunicator, float]] = []

    async def open_(path: str, *, headers=(), expect: bool = True) -> WebsocketCommunicator:
        comm = WebsocketCommunicator(application, path, headers=list(headers))
        # A refused handshake is served by Channels' WebsocketDenier, which uses the default channel
        # layer: with Redis, the first one in a process lingers on its layer receive. Do not wait.
        opened.append((comm, TIMEOUT if expect else 0.5))
        connected, _ = await comm.connect(timeout=TIMEOUT)
        assert connected == expect
        return comm

    yield open_
    for comm, timeout in opened:
        with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError):
            await comm.disconnect(timeout=timeout)


@pytest.fixture
async def native(connect):
    """Join a room through the native door; returns the communicator after hello, history and presence."""

    async def join(room: str, query: str = "", **kw) -> WebsocketCommunicator:
        comm = await connect(f"/ws/rooms/{urllib.parse.quote(room)}/{query}", **kw)
        await read_history(comm, paged="after=" in query)
        await recv_until(comm, "presence")
        return comm

    return join
