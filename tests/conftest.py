from __future__ import annotations

import pytest

from tests.servers import ServerFarm, scaled_configuration


def pytest_configure(config: pytest.Config) -> None:
    """Empty PostgreSQL's tables after a transactional test with ``DELETE``, not ``TRUNCATE``.

    Django's ``flush`` (which pytest-django runs after every ``transaction=True`` test) truncates
    every table in one statement: on PostgreSQL that makes new files for each of ~35 tables and their
    indexes, ~0.4 s a test here, and the PostgreSQL pass runs ~400 such tests. A ``DELETE`` of each
    of a test's few rows takes 2-13 ms. The rows left are the same (none), in one transaction whose
    deferred foreign keys are checked at its commit; sequences are not reset either way (a test that
    asks for ``reset_sequences`` gets Django's own SQL)."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    truncate = DatabaseOperations.sql_flush

    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):  # type: ignore[no-untyped-def]
        if reset_sequences or allow_cascade:
            return truncate(self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
        return [f"{style.SQL_KEYWORD('DELETE FROM')} {style.SQL_FIELD(self.quote_name(table))};" for table in tables]

    DatabaseOperations.sql_flush = sql_flush


@pytest.fixture
def farm(tmp_path):
    """Servers on the configuration of this run: SQLite alone, or PostgreSQL + Redis."""
    f = ServerFarm(tmp=tmp_path, scaled=scaled_configuration())
    yield f
    f.close()


@pytest.fixture
def scaled_farm(tmp_path):
    """Servers on PostgreSQL + Redis whatever this run's configuration: for multi-process tests."""
    f = ServerFarm(tmp=tmp_path, scaled=True)
    yield f
    f.close()


@pytest.fixture
def server(farm):
    """One live server on this run's configuration."""
    return farm.start()


@pytest.fixture(autouse=True)
def _forget_name_checks():
    """Each test starts with a full per-address budget of "that name is registered" answers
    (chat.identity.name_probes is per process, and most tests come from one address)."""
    from chat import identity

    identity.name_probes.clear()


@pytest.fixture(autouse=True)
def _forget_policies():
    """Each test resolves namespace policies afresh (chat.access.policies keeps them a few seconds
    per process; a test that changes a setting expects the next join to go by it)."""
    from chat import access

    access.policies.clear()


@pytest.fixture(autouse=True)
async def _close_hub():
    """Each test's event loop gets its own hub; close its Redis connections when the test ends."""
    yield
    from chat.fanout import broadcast

    hub = broadcast._hub
    if hub is not None:
        import asyncio

        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if hub.loop is running:
            await hub.close()
        broadcast._hub = None


@pytest.fixture
def private_redis(tmp_path):
    """A redis-server of the test's own on a free port, that the test may stop and start again."""
    from tests.redisserver import PrivateRedis

    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()
