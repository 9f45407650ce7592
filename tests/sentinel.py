"""A Redis primary, a replica and three sentinels of the test's own, on free loopback ports.

``SentinelSet.start()`` returns once the replica has synced and every sentinel sees the replica
and the two other sentinels, so that killing the primary leads to a failover. The sentinels are
Debian's ``redis-sentinel`` (``scripts/services.sh`` installs it).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import redis

from tests.servers import free_port

SERVICE = "parleytest"
# A primary that does not answer for this long is down (Sentinel's default is 30 s).
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 3000


class SentinelSet:
    def __init__(self, tmp: Path) -> None:
        self.dir = tmp
        self.redis_ports = [free_port(), free_port()]
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.processes: dict[int, subprocess.Popen] = {}

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{SERVICE}"

    def start(self, within: float = 30.0) -> None:
        primary, replica = self.redis_ports
        self._redis_server(primary)
        self._redis_server(replica, "--replicaof", "127.0.0.1", str(primary))
        for port in self.sentinel_ports:
            self._sentinel(port, primary)
        deadline = time.monotonic() + within
        while not self._ready():
            assert time.monotonic() < deadline, "the sentinels did not see the replica and each other"
            time.sleep(0.1)

    def primary_port(self) -> int:
        """The primary's port as the first sentinel that answers sees it."""
        for port in self.sentinel_ports:
            try:
                with redis.Redis(port=port, socket_timeout=2) as s:
                    _, primary = s.sentinel_get_master_addr_by_name(SERVICE)
                    return int(primary)
            except redis.ConnectionError:
                continue
        raise AssertionError("no sentinel answers")

    def kill(self, port: int) -> None:
        """kill -9 the redis-server on ``port``."""
        process = self.processes[port]
        process.kill()
        process.wait(timeout=10)

    def wait_failover(self, old: int, within: float = 30.0) -> int:
        """Wait until every sentinel names a primary other than ``old`` and it takes writes; its port."""
        deadline = time.monotonic() + within
        while True:
            named = set()
            for port in self.sentinel_ports:
                with redis.Redis(port=port, socket_timeout=2) as s:
                    named.add(int(s.sentinel_get_master_addr_by_name(SERVICE)[1]))
            if len(named) == 1 and old not in named:
                new = named.pop()
                with redis.Redis(port=new, socket_timeout=2) as r:
                    if r.info("replication")["role"] == "master":
                        return new
            assert time.monotonic() < deadline, f"no failover from {old} within {within}s (sentinels name {named})"
            time.sleep(0.1)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    # --- Inside ---------------------------------------------------------------------------------

    def _redis_server(self, port: int, *args: str) -> None:
        data = self.dir / f"redis-{port}"
        data.mkdir()
        command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self._run(port, [*command, "--dir", str(data), "--logfile", str(data / "log"), *args])

    def _sentinel(self, port: int, primary: int) -> None:
        conf = self.dir / f"sentinel-{port}.conf"
        conf.write_text(
            f"port {port}\n"
            "bind 127.0.0.1\n"
            f"dir {self.dir}\n"
            f"logfile {self.dir / f'sentinel-{port}.log'}\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {primary} 2\n"
            f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {SERVICE} {FAILOVER_TIMEOUT_MS}\n"
            f"sentinel parallel-syncs {SERVICE} 1\n"
        )
        binary = shutil.which("redis-sentinel")
        assert binary, "redis-sentinel is missing: scripts/services.sh installs it (Debian's redis-sentinel)"
        self._run(port, [binary, str(conf)])

    def _run(self, port: int, command: list[str]) -> None:
        self.processes[port] = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                with redis.Redis(port=port, socket_timeout=1) as r:
                    r.ping()
                    return
            except redis.ConnectionError:
                assert self.processes[port].poll() is None, f"{command[0]} on {port} exited"
                assert time.monotonic() < deadline, f"{command[0]} on {port} did not start"
                time.sleep(0.05)

    def _ready(self) -> bool:
        primary, replica = self.redis_ports
        with redis.Redis(port=replica, socket_timeout=2) as r:
            if r.info("replication").get("master_link_status") != "up":
                return False
        for port in self.sentinel_ports:
            with redis.Redis(port=port, socket_timeout=2) as s:
                state = s.sentinel_master(SERVICE)
                replicas = s.sentinel_slaves(SERVICE)
            if state["num-other-sentinels"] < 2 or state["port"] != primary:
                return False
            if not any(r["port"] == replica and not r["is_sdown"] for r in replicas):
                return False
        return True
