"""Two Parley server processes on PostgreSQL + Redis, each backend behind a switch.

Redis is a private ``redis-server`` of the soak's own (``PrivateRedis``: stop it and start it on the
same port and Redis is down, then up); PostgreSQL is the shared one reached through a ``TcpProxy``
(cut it and the database is down for the servers only). The shared Redis and PostgreSQL are never
stopped. The run has its own database (created, migrated, dropped at the end) and Redis prefix.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from pathlib import Path

import psycopg

from bench import servers
from tests.redisserver import PrivateRedis
from tests.tcpproxy import TcpProxy

# Every process of the run gets these. Handshakes all come from 127.0.0.1, so the per-address limits
# are off (429s are still counted apart from 500s); everything else is at its default.
SERVER_ENV = {
    "PARLEY_ADDRESS_MAX_CONNECTIONS": "0",
    "PARLEY_ADDRESS_HANDSHAKE_RATE": "0",
    "PARLEY_ADDRESS_HANDSHAKE_BURST": "0",
    "PARLEY_RATE_PER_SEC": "10",
    # The defaults, set here because the bench's server settings (which these start from) turn them off.
    "PARLEY_FRAME_RATE_PER_SEC": "10",
    "PARLEY_FRAME_BURST": "50",
    "PARLEY_LOG_LEVEL": "WARNING",
}


class Farm:
    """``processes`` servers sharing one database (through the proxy) and one private Redis."""

    def __init__(self, tmp: Path | None = None, processes: int = 2, env: dict[str, str] | None = None) -> None:
        self._tmpdir = None
        if tmp is None:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="parley-soak-")
            tmp = Path(self._tmpdir.name)
        self.tmp = tmp
        self.redis = PrivateRedis(tmp)
        self.redis.start()
        self.proxy = TcpProxy("127.0.0.1", 5432).start()
        self.target = servers.Target(
            name="parley", tmp=tmp, logs=tmp, env={**SERVER_ENV, "REDIS_URL": self.redis.url, **(env or {})}
        )
        assert self.target.db_name is not None
        self.target.env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:{self.proxy.port}/{self.target.db_name}"
        self.servers: list[servers.Server] = [self.target.start() for _ in range(processes)]

    def url(self, index: int, path: str) -> str:
        return self.servers[index % len(self.servers)].url(path)

    def redis_down(self) -> None:
        self.redis.stop()

    def redis_up(self) -> None:
        self.redis.start()

    def database_down(self) -> None:
        self.proxy.cut()

    def database_up(self) -> None:
        self.proxy.restore()

    def last_id(self, room: str) -> int:
        """The room's newest message id, read from PostgreSQL directly (not through the proxy)."""
        url = servers.PG_URL.format(name=self.target.db_name).replace("postgres://", "postgresql://")
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute("select last_id from chat_room where name = %s", (room,)).fetchone()
        return int(row[0]) if row else 0

    def dead(self) -> list[str]:
        """Servers that have exited, with their last log lines; restarted so the run can go on."""
        found = []
        for i, server in enumerate(self.servers):
            if server.process.poll() is not None:
                found.append(f"process {i} exited with {server.process.returncode}: {server.log_tail(5)}")
                self.servers[i] = self.target.start()
        return found

    def restart(self) -> None:
        """Fresh server processes (on new ports), so that one scenario's damage is not the next one's."""
        for server in self.servers:
            server.stop()
        self.servers = [self.target.start() for _ in self.servers]

    def log_count(self, needle: str) -> int:
        """How many lines of the servers' logs contain ``needle`` (e.g. "Traceback")."""
        total = 0
        for server in self.servers:
            with contextlib.suppress(OSError):
                total += server.log_path.read_text(errors="replace").count(needle)
        return total

    def close(self) -> None:
        for server in self.servers:
            server.stop()
        self.proxy.close()
        self.redis.stop()
        # The database is dropped through the real port: the proxy may be cut.
        time.sleep(0.1)
        self.target.close()
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
