"""Which failures mean a backend is down, and which are bugs.

A client told ``unavailable`` (HTTP 503, WebSocket close 1013) retries later, forever if need be,
and an operator sees an outage. So that answer is kept for what it says: the database or Redis
could not be reached, or timed out. Anything else that escapes a request (a query the database
refused because of what it held, a constraint, a type error) is a bug: HTTP 500 ``internal``,
WebSocket ``internal`` (or close 1011), logged with its traceback.
"""

from __future__ import annotations

import functools


def down(exc: BaseException) -> bool:
    """Whether ``exc`` says a backend (the database, Redis) cannot be reached now."""
    from django.db import InterfaceError, OperationalError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import ReadOnlyError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    # OperationalError: the connection failed or broke, the server shut down, a statement timed
    # out; InterfaceError: a connection already closed. ReadOnlyError: a Redis replica answered,
    # mid-failover. OSError: a socket (ConnectionRefusedError, TimeoutError, ...).
    if isinstance(exc, RuntimeError) and "handler is closed" in str(exc):
        # uvloop refusing a write on a transport the peer has closed, which redis-py lets through when
        # a Redis Cluster primary dies mid-command (tests/e2e/test_cluster.py, kill -9).
        return True
    return isinstance(
        exc, (OperationalError, InterfaceError, RedisConnectionError, RedisTimeoutError, ReadOnlyError, OSError)
    )


@functools.cache
def postgresql() -> bool:
    """Whether the default database is PostgreSQL (else SQLite). Fixed for a process, so asked of
    Django once: ``connection.vendor`` goes through the connection proxy and asgiref's ``Local``
    (about 1 us), and the store asked it about ten times per message (issue 19)."""
    from django.db import connection

    return connection.vendor == "postgresql"
