from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.db import connections


@pytest.fixture(autouse=True)
async def _close_thread_connections():
    """Close the database connection that database_sync_to_async opened in asgiref's worker thread.

    Nothing else closes it in tests, and on PostgreSQL an open connection keeps the flush after a
    transactional test waiting and the test database from being dropped at the end of the run.
    """
    yield
    await sync_to_async(connections.close_all, thread_sensitive=True)()
