"""Real Parley server processes for end-to-end, multi-process and browser tests.

``ServerFarm.start()`` gives the farm a fresh, migrated database, then runs ``python -m parley.serve``
(uvicorn, as ``make run`` does) on a free port and waits until it answers HTTP. Each farm has its own
database (a SQLite file, or a PostgreSQL database created for it) and its own Redis key prefix, so
servers of one farm share rooms with each other and with nothing else.

The migrations run once per test run and backend, into a template (``_template``): each farm's
database is a copy of it (a file copy, or PostgreSQL's ``CREATE DATABASE ... TEMPLATE``, 0.2 s),
not ``manage.py migrate`` again (4-5 s here, and a run makes about a hundred farms).
"""

from __future__ import annotations

import atexit
import http.client
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_URL = "postgres://postgres@127.0.0.1:5432/{name}"
REDIS_URL = "redis://127.0.0.1:6379/0"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(port: int) -> bool:
    """Whether a server on ``port`` serves ``GET /``: 200, or the 301 to https of PARLEY_HTTPS=1."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/")
        return conn.getresponse().status in (200, 301)
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


@dataclass
class Server:
    port: int
    process: subprocess.Popen
    log_path: Path

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class ServerFarm:
    """Servers sharing one database and one Redis prefix. ``scaled`` picks PostgreSQL + Redis."""

    tmp: Path
    scaled: bool
    extra_env: dict[str, str] = field(default_factory=dict)
    servers: list[Server] = field(default_factory=list)
    _db_name: str | None = None
    _sqlite: Path | None = None

    def __post_init__(self) -> None:
        tag = uuid.uuid4().hex[:10]
        self.env = _server_env()
        self.env["PARLEY_REDIS_PREFIX"] = f"parley-e2e-{tag}"
        if self.scaled:
            self._db_name = f"parley_e2e_{tag}"
            self.env["DATABASE_URL"] = PG_URL.format(name=self._db_name)
            self.env["REDIS_URL"] = REDIS_URL
        else:
            self._sqlite = self.tmp / f"e2e-{tag}.sqlite3"
            self.env["DATABASE_URL"] = f"sqlite:///{self._sqlite}"
        self.env.update(self.extra_env)
        # The farm's database, migrated: a copy of this run's template.
        template = _template(self.scaled)
        if self._db_name:
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self._db_name}" TEMPLATE "{template}"')
        else:
            shutil.copyfile(template, str(self._sqlite))

    def manage(self, *args: str) -> None:
        _manage(self.env, *args)

    def start(self, **env: str) -> Server:
        port = free_port()
        log_path = self.tmp / f"server-{port}.log"
        proc_env = {**self.env, **env, "HOST": "127.0.0.1", "PORT": str(port)}
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "parley.serve"], cwd=ROOT, env=proc_env, stdout=log, stderr=subprocess.STDOUT
            )
        server = Server(port=port, process=process, log_path=log_path)
        self.servers.append(server)
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}:\n{server.log()}")
            if answers(port):
                return server
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"server did not answer within 30 s:\n{server.log()}")
            time.sleep(0.1)

    def close(self) -> None:
        for server in self.servers:
            server.stop()
        if self._db_name:
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self._db_name}" WITH (FORCE)')


def scaled_configuration() -> bool:
    """Whether this test run is the PostgreSQL + Redis one (make test-scaled)."""
    return bool(os.environ.get("REDIS_URL"))


def _server_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "PARLEY_REDIS_PREFIX")}
    env.update({"PYTHONUNBUFFERED": "1", "PARLEY_SERVER_LOG_LEVEL": "warning"})
    return env


def _manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True)


_templates: dict[bool, str] = {}


def _template(scaled: bool) -> str:
    """This run's migrated template for ``scaled`` (made on first use, removed when the run ends):
    a PostgreSQL database's name, or a SQLite file's path."""
    if scaled in _templates:
        return _templates[scaled]
    env = _server_env()
    if scaled:
        template = f"parley_template_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{template}"')
        atexit.register(_drop_database, template)
        env["DATABASE_URL"] = PG_URL.format(name=template)
    else:
        folder = tempfile.mkdtemp(prefix="parley-template-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        template = os.path.join(folder, "template.sqlite3")
        env["DATABASE_URL"] = f"sqlite:///{template}"
    _manage(env, "migrate", "--noinput", "-v", "0")
    if not scaled:  # the whole database in its one file (WAL mode keeps recent pages beside it)
        db = sqlite3.connect(template)
        try:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            db.execute("PRAGMA journal_mode=DELETE")
        finally:
            db.close()
    _templates[scaled] = template  # only once migrated: a failed migration fails every farm, not just the first
    return template


def _drop_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
