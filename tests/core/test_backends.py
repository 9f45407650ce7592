"""``core.backends.down``: what says a backend cannot be reached (a client retries), and what is a bug."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError

from core import backends

pytestmark = pytest.mark.embedded_only  # no backend: the same on both passes


@pytest.mark.parametrize(
    "exc",
    [
        OperationalError("server closed the connection unexpectedly"),
        RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused."),
        ConnectionRefusedError(111, "refused"),
        # uvloop, when a Redis Cluster primary dies under redis-py mid-command (seen in test_cluster)
        RuntimeError("unable to perform operation on <TCPTransport closed=True reading=False>; the handler is closed"),
    ],
)
def test_unreachable_backends_are_down(exc):
    assert backends.down(exc)


@pytest.mark.parametrize("exc", [IntegrityError("duplicate key"), RuntimeError("a bug"), ValueError("bad")])
def test_bugs_are_not(exc):
    assert not backends.down(exc)
