"""Server processes under test: Parley (PostgreSQL + Redis, or SQLite alone), the tutorial baseline
(on RedisChannelLayer, or on RedisPubSubChannelLayer: "layer"), the bare-websockets floor and the
peers of ``bench.peers`` (python-socketio, Socket.IO on Node with its Redis adapter, bare ``ws``).

Each target gets a fresh database (Parley) and its own Redis prefix, so runs never see each other's
rooms, and every server is started fresh for each scenario so its memory and CPU are its own.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import psycopg
import redis

from . import peers

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_URL = "postgres://postgres@127.0.0.1:5432/{name}"
REDIS_URL = "redis://127.0.0.1:6379/0"
# The cores every server started from here runs on (``pin``; None: wherever the kernel puts it).
SERVER_CPUS: set[int] | None = None


def pin(cpus: set[int] | None) -> None:
    """Run the servers started from now on on ``cpus`` (the bench itself and its load-generator
    processes run on the others: ``sched_setaffinity`` by the caller)."""
    global SERVER_CPUS
    SERVER_CPUS = cpus


def pin_cores(spec: str, workers: int = 1) -> tuple[list[int], list[int]] | None:
    """``--pin``: run the servers on the given cores and this process (so its load-generator
    processes) on the others; (servers' cores, clients') or None when not pinned. ``auto``: core 0,
    unless there is only one core or the servers have several workers (which one core would squeeze)."""
    cores = sorted(os.sched_getaffinity(0))
    if spec == "off" or (spec == "auto" and (len(cores) < 2 or workers > 1)):
        return None
    chosen: set[int] = set()
    for part in ("0" if spec == "auto" else spec).split(","):
        low, _, high = part.partition("-")
        chosen.update(range(int(low), int(high or low) + 1))
    rest = [c for c in cores if c not in chosen]
    if not rest or not chosen <= set(cores):
        raise SystemExit(f"--pin {spec}: leaves no core for the clients (cores {cores})")
    os.sched_setaffinity(0, rest)
    pin(chosen)
    return sorted(chosen), rest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(proc: psutil.Process) -> float:
    """User + system CPU seconds of a process and its living children."""
    total = 0.0
    for p in [proc, *_children(proc)]:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system
    return total


def loop_cpu_seconds(proc: psutil.Process) -> float:
    """User + system CPU seconds of the main thread (an asyncio server's event loop) of a process
    and of each of its living children: what ``cpu_seconds`` counts less the other threads' (Parley's
    database thread, executors)."""
    total = 0.0
    for p in [proc, *_children(proc)]:
        with contextlib.suppress(psutil.Error):
            total += sum(t.user_time + t.system_time for t in p.threads() if t.id == p.pid)
    return total


def rss_bytes(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *_children(proc)]:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


def _children(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return proc.children(recursive=True)
    except psutil.Error:
        return []


def backend_processes() -> list[psutil.Process]:
    """Redis and PostgreSQL server processes on this machine (their CPU is reported separately)."""
    found = []
    for p in psutil.process_iter(["name"]):
        if p.info["name"] in ("redis-server", "postgres", "postmaster"):
            found.append(p)
    return found


def backend_cpu_seconds() -> dict[int, float]:
    """CPU seconds of each Redis and PostgreSQL process now running, by pid (backends come and go)."""
    found: dict[int, float] = {}
    for p in backend_processes():
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            found[p.pid] = t.user + t.system
    return found


def backend_cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU used between two ``backend_cpu_seconds``: a process that started meanwhile counts whole,
    one that exited meanwhile is lost (a short PostgreSQL backend: a small undercount)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def pg_stats(db_name: str | None) -> tuple[int, int] | None:
    """(transactions committed, sessions opened) so far in a PostgreSQL database, from pg_stat_database."""
    if not db_name:
        return None
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            row = conn.execute(
                "select xact_commit, sessions from pg_stat_database where datname = %s", (db_name,)
            ).fetchone()
    except psycopg.Error:
        return None
    return (int(row[0]), int(row[1])) if row else None


SERVER_DIRS = ("chat", "parley", "core", "accounts", "api", "markup", "uploads")  # the server's code


def git_revision() -> str:
    """The commit of the code under test, with ``-dirty`` if the server's code has local changes.

    BENCH_REVISION overrides it (for a run from an exported tree: ``git archive HEAD``, no .git)."""
    if os.environ.get("BENCH_REVISION"):
        return os.environ["BENCH_REVISION"]
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
        dirty = subprocess.run(
            ["git", "status", "--porcelain", *SERVER_DIRS], cwd=ROOT, capture_output=True, text=True
        ).stdout
    except OSError:
        return "unknown"
    return rev.strip() + ("-dirty" if dirty.strip() else "")


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen
    log_path: Path

    @property
    def ps(self) -> psutil.Process:
        return psutil.Process(self.process.pid)

    def url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class Target:
    """One system under test: how to start its server and which WebSocket path it serves rooms on."""

    name: str  # "parley", "parley-sqlite", "baseline", "layer", "floor", or "parley@<rev>" (``root``: its tree)
    tmp: Path
    root: Path = ROOT  # the source tree the server runs from (another revision's: ``bench.revisions``)
    workers: int = 1
    logs: Path | None = None  # where server logs go (default: tmp)
    env: dict[str, str] = field(default_factory=dict)
    _db_name: str | None = None
    _migrated: bool = False
    _prefix: str = ""

    def __post_init__(self) -> None:
        tag = uuid.uuid4().hex[:8]
        self._prefix = f"bench-{self.name}-{tag}"
        base = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "REDIS_URL", "PARLEY_REDIS_PREFIX", "DJANGO_SETTINGS_MODULE")
        }
        base.update(
            {
                "PYTHONUNBUFFERED": "1",
                "PARLEY_SERVER_LOG_LEVEL": "warning",
                "WORKERS": str(self.workers),
                "HOST": "127.0.0.1",
            }
        )
        if self.name in ("baseline", "layer"):
            base.update({"REDIS_URL": REDIS_URL, "BASELINE_REDIS_PREFIX": self._prefix})
            base["BASELINE_LAYER"] = "pubsub" if self.name == "layer" else "core"
        elif self.name == "floor" or self.name == "ws-node":
            pass
        elif self.name in peers.SOCKETIO:
            base.update({"REDIS_URL": REDIS_URL, "BENCH_REDIS_PREFIX": self._prefix})
        else:
            base.update(
                {
                    "PARLEY_REDIS_PREFIX": self._prefix,
                    "PARLEY_RATE_PER_SEC": "0",  # the bench sends faster than a person
                    "PARLEY_FRAME_RATE_PER_SEC": "0",  # ...edits, deletes and reactions too (M)
                    # ...and every client comes from one address (C opens 5,000 at ~1,750/s).
                    "PARLEY_ADDRESS_MAX_CONNECTIONS": "0",
                    "PARLEY_ADDRESS_HANDSHAKE_RATE": "0",
                    "PARLEY_LOG_LEVEL": "WARNING",
                    # F: every sender uploads before the load (30 a minute would throttle it), into
                    # a folder of the run's, removed with it (never the working tree's media/).
                    "PARLEY_UPLOADS_PER_MINUTE": "0",
                    "PARLEY_MEDIA_ROOT": str(self.tmp / f"media-{tag}"),
                }
            )
            if self.name == "parley" or self.compared:
                self._db_name = f"parley_bench_{tag}"
                with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                    conn.execute(f'CREATE DATABASE "{self._db_name}"')
                base["DATABASE_URL"] = PG_URL.format(name=self._db_name)
                base["REDIS_URL"] = REDIS_URL
            else:  # parley-sqlite: the embedded configuration, no Redis
                base["DATABASE_URL"] = f"sqlite:///{self.tmp / f'bench-{tag}.sqlite3'}"
        base.update(self.env)
        self.env = base

    @property
    def dialect(self) -> str:
        """What the clients speak to it (``bench.swarm``): "parley", "socketio" or "tutorial"."""
        return "parley" if self.parley else "socketio" if self.name in peers.SOCKETIO else "tutorial"

    @property
    def parley(self) -> bool:
        return self.name.startswith("parley")

    @property
    def compared(self) -> bool:
        """Parley from another revision's tree (``--compare``), on PostgreSQL + Redis like ``parley``."""
        return self.name.startswith("parley@")

    @property
    def mixed(self) -> bool:
        """Whether this server takes edits, deletes and reactions (scenario M): Parley on PostgreSQL
        from a tree whose protocol has them (revisions before issue 9 do not)."""
        if not (self.name == "parley" or self.compared):
            return False
        try:
            return "class Edit" in (self.root / "chat" / "protocol.py").read_text()
        except OSError:
            return False

    @property
    def api(self) -> bool:
        """Whether this server has the REST API's ``POST /api/v1/rooms/<room>/messages`` (scenario H):
        Parley on PostgreSQL from a tree that has it (revisions before issue 10 do not)."""
        if not (self.name == "parley" or self.compared):
            return False
        for path in ("api/routes.py", "api/routes/rooms.py"):  # a module, then a package (issue 11)
            try:
                if "async def post_message" in (self.root / path).read_text():
                    return True
            except OSError:
                continue
        return False

    @property
    def uploads(self) -> bool:
        """Whether this server takes uploads and attachments (scenario F): Parley on PostgreSQL from
        a tree that has them (revisions before issue 16 do not)."""
        if not (self.name == "parley" or self.compared):
            return False
        return (self.root / "api" / "routes" / "uploads.py").exists()

    @property
    def room_path(self) -> str:
        return "/ws/rooms/{room}/" if self.parley else "/ws/chat/{room}/"

    @property
    def db_name(self) -> str | None:
        return self._db_name

    @property
    def database_url(self) -> str | None:
        return self.env.get("DATABASE_URL")

    def migrate(self) -> None:
        if self.parley and not self._migrated:
            subprocess.run(
                [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
                cwd=self.root,
                env={**self.env, "DJANGO_SETTINGS_MODULE": "parley.settings"},
                check=True,
                capture_output=True,
            )
            self._migrated = True

    def command(self) -> list[str]:
        if self.name in peers.COMMANDS:
            return peers.command(self.name)
        module = {"baseline": "bench.baseline.serve", "layer": "bench.baseline.serve", "floor": "bench.floor"}.get(
            self.name, "parley.serve"
        )
        if self.env.get("BENCH_MEMTRACE_OUT") and self.parley:
            module = "bench.memtrace"
        return [sys.executable, "-m", module]

    def start(self) -> Server:
        self.migrate()
        port = free_port()
        log_path = (self.logs or self.tmp) / f"{self.name}-{port}.log"
        with open(log_path, "wb") as log:
            cpus = SERVER_CPUS
            process = subprocess.Popen(
                self.command(),
                cwd=self.root,
                env={**self.env, "PORT": str(port)},
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=None if cpus is None else lambda: os.sched_setaffinity(0, cpus),
            )
        server = Server(name=self.name, port=port, process=process, log_path=log_path)
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{self.name} server exited with {process.returncode}:\n{server.log_tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2):
                    break
            except urllib.error.HTTPError:
                break  # it answers (the baseline has no pages)
            except OSError:
                pass
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"{self.name} server did not answer within 30 s:\n{server.log_tail()}")
            time.sleep(0.1)
        time.sleep(0.3)  # workers > 1: let the others come up too
        return server

    def close(self) -> None:
        if self._db_name:
            with contextlib.suppress(psycopg.Error), psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self._db_name}" WITH (FORCE)')
        with contextlib.suppress(redis.RedisError):
            client = redis.Redis.from_url(REDIS_URL)
            try:
                keys = list(client.scan_iter(match=f"{self._prefix}*", count=1000))
                for i in range(0, len(keys), 500):
                    client.delete(*keys[i : i + 500])
            finally:
                client.close()
