"""A Redis Cluster of the test's own: 3 primaries and 3 replicas on free loopback ports.

Debian's ``redis-server`` in cluster mode, each node in a directory of its own under the test's tmp
dir, joined by ``redis-cli --cluster create ... --cluster-replicas 1 --cluster-yes``.
``RedisClusterSet.start()`` returns once every node says ``cluster_state:ok`` and every replica
has synced, so that killing a primary leads to its replica's promotion. A node that stops
answering for ``NODE_TIMEOUT_MS`` counts as failed (Redis's default is 15 s).
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import redis
from redis.crc import key_slot

from tests.servers import free_port

NODE_TIMEOUT_MS = 1000


class RedisClusterSet:
    def __init__(self, tmp: Path, nodes: int = 6) -> None:
        self.dir = tmp
        self.ports = [_node_port() for _ in range(nodes)]
        self.processes: dict[int, subprocess.Popen] = {}

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in self.ports[:3])

    def start(self, within: float = 30.0) -> None:
        """Start the nodes and join them; if that fails, stop whatever started, and raise."""
        try:
            self._start(within)
        except BaseException:
            self.stop()
            raise

    def _start(self, within: float) -> None:
        for port in self.ports:
            self._redis_server(port)
        addresses = [f"127.0.0.1:{port}" for port in self.ports]
        subprocess.run(
            ["redis-cli", "--cluster", "create", *addresses, "--cluster-replicas", "1", "--cluster-yes"],
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=within,
        )
        deadline = time.monotonic() + within
        while not self._ready():
            assert time.monotonic() < deadline, "the cluster did not come up"
            time.sleep(0.1)

    def live_ports(self) -> list[int]:
        return [port for port, process in self.processes.items() if process.poll() is None]

    def shards(self) -> list[dict]:
        """CLUSTER SHARDS as a live node sees it: each shard's slot ranges and nodes."""
        for port in self.live_ports():
            try:
                with redis.Redis(port=port, socket_timeout=2) as r:
                    return _shards(r.execute_command("CLUSTER SHARDS"))
            except redis.ConnectionError:
                continue
        raise AssertionError("no node answers")

    def primary_of(self, key: str | bytes) -> int:
        """The port of the primary that owns ``key``'s slot."""
        slot = key_slot(key.encode() if isinstance(key, str) else key)
        for shard in self.shards():
            if any(start <= slot <= end for start, end in shard["slots"]):
                for node in shard["nodes"]:
                    if node["role"] == "master" and node["health"] == "online":
                        return int(node["port"])
        raise AssertionError(f"no online primary owns slot {slot}")

    def primaries(self) -> list[int]:
        return [p for p in self.live_ports() if self._role(p) == "master"]

    def kill(self, port: int) -> None:
        """kill -9 the node on ``port``."""
        process = self.processes[port]
        process.kill()
        process.wait(timeout=10)

    def wait_failover(self, old: int, slot_key: str, within: float = 30.0) -> int:
        """Wait until ``slot_key``'s slot is owned by a promoted primary other than ``old``, every
        live node sees the cluster as ok, and the new primary takes writes; its port."""
        deadline = time.monotonic() + within
        while True:
            try:
                new = self.primary_of(slot_key)
                if new != old and self._role(new) == "master" and self._all_ok():
                    with redis.Redis(port=new, socket_timeout=2) as r:
                        r.set(f"{{{slot_key}}}:probe", "1")
                    return new
            except (AssertionError, redis.RedisError):
                pass
            assert time.monotonic() < deadline, f"no failover from {old} within {within}s"
            time.sleep(0.05)

    def migrate_slot(self, slot: int, source: int, target: int) -> None:
        """Move ``slot`` (and its keys) from the primary on ``source`` to the one on ``target``, as
        ``redis-cli --cluster reshard`` does: IMPORTING, MIGRATING, MIGRATE the keys, then NODE."""
        with redis.Redis(port=source, socket_timeout=5) as src, redis.Redis(port=target, socket_timeout=5) as dst:
            source_id = src.execute_command("CLUSTER MYID").decode()
            target_id = dst.execute_command("CLUSTER MYID").decode()
            dst.execute_command("CLUSTER SETSLOT", slot, "IMPORTING", source_id)
            src.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", target_id)
            while keys := src.execute_command("CLUSTER GETKEYSINSLOT", slot, 100):
                src.execute_command("MIGRATE", "127.0.0.1", target, "", 0, 5000, "KEYS", *keys)
            dst.execute_command("CLUSTER SETSLOT", slot, "NODE", target_id)
            src.execute_command("CLUSTER SETSLOT", slot, "NODE", target_id)
        for port in self.primaries():
            if port not in (source, target):
                with redis.Redis(port=port, socket_timeout=5) as r:
                    r.execute_command("CLUSTER SETSLOT", slot, "NODE", target_id)

    def subscriptions(self) -> dict[int, int]:
        """Sharded-pubsub connections per live primary (clients with ``ssub`` > 0 in CLIENT LIST)."""
        counts = {}
        for port in self.primaries():
            with redis.Redis(port=port, socket_timeout=2) as r:
                clients = r.client_list()
            counts[port] = sum(1 for c in clients if int(c.get("ssub", 0)) > 0)
        return counts

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

    def _redis_server(self, port: int) -> None:
        data = self.dir / f"node-{port}"
        data.mkdir()
        command = [
            "redis-server",
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--cluster-enabled", "yes",
            "--cluster-config-file", str(data / "nodes.conf"),
            "--cluster-port", str(free_port()),
            "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
            "--cluster-replica-validity-factor", "0",
            "--dir", str(data),
            "--logfile", str(data / "log"),
        ]  # fmt: skip
        self.processes[port] = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                with redis.Redis(port=port, socket_timeout=1) as r:
                    r.ping()
                    return
            except redis.ConnectionError:
                assert self.processes[port].poll() is None, f"redis-server on {port} exited"
                assert time.monotonic() < deadline, f"redis-server on {port} did not start"
                time.sleep(0.05)

    def _role(self, port: int) -> str:
        with redis.Redis(port=port, socket_timeout=2) as r:
            return str(r.info("replication")["role"])

    def _all_ok(self) -> bool:
        for port in self.live_ports():
            with redis.Redis(port=port, socket_timeout=2) as r:
                if r.cluster("info")["cluster_state"] != "ok":
                    return False
        return True

    def _ready(self) -> bool:
        if not self._all_ok():
            return False
        replicas = 0
        for port in self.ports:
            with redis.Redis(port=port, socket_timeout=2) as r:
                info = r.info("replication")
            if info["role"] == "slave":
                if info.get("master_link_status") != "up":
                    return False
                replicas += 1
        return replicas == len(self.ports) // 2


def _node_port() -> int:
    """A free port Redis accepts for a cluster node (at most 55535, its default bus port's limit)."""
    while (port := free_port()) > 55535:
        pass
    return port


def _shards(raw: list) -> list[dict]:
    """CLUSTER SHARDS (as redis-py parses it) with plain keys: ``slots`` as (start, end) pairs,
    ``nodes`` as dicts of str."""
    shards = []
    for shard in raw:
        fields = {_text(k): v for k, v in shard.items()}
        flat = [int(n) for n in fields["slots"]]
        nodes = [{_text(k): _text(v) for k, v in node.items()} for node in fields["nodes"]]
        shards.append({"slots": list(zip(flat[::2], flat[1::2], strict=True)), "nodes": nodes})
    return shards


def _text(value: object) -> object:
    return value.decode() if isinstance(value, bytes) else value
