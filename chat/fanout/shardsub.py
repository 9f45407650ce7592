"""Sharded pub/sub on a Redis Cluster: one subscription connection per primary that owns a channel.

``ShardedSubscription`` is what ``clusterbus.ClusterBus`` reads instead of a ``PubSub``: it offers
the same few methods ``pubsub.RedisBus`` uses (``subscribe``, ``unsubscribe``, ``get_message``,
``ping``, ``aclose``, ``subscribed``), so the bus's reader, confirmations, reconnect and resync are
the same code for one Redis and for a cluster.

Inside, each channel goes to the primary that owns its slot (CRC16 of its ``{hash tag}``, as the
cluster client's topology says): SSUBSCRIBE on a connection of its own to that node, opened when
the process first needs that shard and closed when its last channel there goes. A task per node
reads it and puts what it reads on one queue (``smessage`` and ``ssubscribe`` renamed ``message``
and ``subscribe``, as a plain subscription names them); ``get_message`` takes from that queue.

Whatever breaks one node's subscription ends the whole subscription, so the bus's one recovery
path runs: a new ``ShardedSubscription`` refreshes the topology (CLUSTER SLOTS) before its first
SSUBSCRIBE, subscribes every room on its current owner, and the bus resyncs the rooms from the
store. That happens on:

- a connection error or an unanswered PING on any node (a primary killed: until its replica is
  promoted the refreshed topology still names it, the connect fails, and the bus retries);
- a MOVED answer to SSUBSCRIBE (the slot is elsewhere now);
- an ``sunsubscribe`` the process did not ask for: Redis 7 sends it to a slot's subscribers when
  the slot leaves the node (a migration, or a primary demoted to replica);
- ``moved()`` finding a channel whose slot changed owner (the bus checks it periodically).

Liveness is per node: a node quiet for ``idle_limit`` is pinged, and one that does not answer the
next ``idle_limit`` fails the subscription. ``ping()`` itself only answers at once, for the bus's
own idle check, which a plain subscription needs and this one does per node.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger("parley.pubsub")


class _Node:
    """One primary's subscription connection, its channels and its reader task."""

    def __init__(self, name: str, client: aioredis.Redis) -> None:
        self.name = name
        self.client = client
        self.pubsub: PubSub = client.pubsub()
        self.channels: set[bytes] = set()
        self.reader: asyncio.Task[None] | None = None

    async def aclose(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
        with contextlib.suppress(Exception):
            await self.pubsub.aclose()
        with contextlib.suppress(Exception):
            await self.client.aclose()


class ShardedSubscription:
    """Sharded subscriptions on the primaries that own their channels' slots (see the module)."""

    def __init__(
        self, cluster: RedisCluster, *, idle_limit: float, refresh: bool, connection_kwargs: dict[str, Any]
    ) -> None:
        self._cluster = cluster
        self._idle_limit = idle_limit
        self._refresh = refresh  # refresh the topology before the first SSUBSCRIBE
        self._connection_kwargs = connection_kwargs
        self._nodes: dict[str, _Node] = {}
        self._node_of: dict[bytes, str] = {}  # channel -> name ("host:port") of the node it is on
        self._queue: asyncio.Queue[dict[str, Any] | BaseException] = asyncio.Queue()

    @property
    def subscribed(self) -> bool:
        return bool(self._node_of)

    def nodes(self) -> dict[str, set[bytes]]:
        """The nodes subscribed on, and their channels (for tests and logs)."""
        return {name: set(node.channels) for name, node in self._nodes.items()}

    async def subscribe(self, *channels: bytes) -> None:
        """SSUBSCRIBE each channel on the primary that owns its slot; the confirmations come
        through ``get_message`` as ``subscribe`` messages."""
        if self._refresh:
            await self._cluster.nodes_manager.initialize()
            self._refresh = False
        else:
            await self._cluster.initialize()  # learns the slots on first use only
        by_node: dict[str, list[bytes]] = {}
        for channel in channels:
            owner = self._cluster.get_node_from_key(channel.decode())
            if owner is None:
                raise RedisConnectionError(f"no node owns the slot of {channel!r}")
            node = self._nodes.get(owner.name)
            if node is None:
                node = self._nodes[owner.name] = _Node(owner.name, self._client(owner.host, int(owner.port)))
            by_node.setdefault(owner.name, []).append(channel)
        for name, group in by_node.items():
            node = self._nodes[name]
            by_slot: dict[int, list[bytes]] = {}
            for channel in group:
                self._node_of[channel] = name
                node.channels.add(channel)
                by_slot.setdefault(key_slot(channel), []).append(channel)
            for same_slot in by_slot.values():  # one SSUBSCRIBE may name channels of one slot only
                await node.pubsub.ssubscribe(*same_slot)
            if node.reader is None:  # its connection is open now: read it
                node.reader = asyncio.get_running_loop().create_task(self._read(node))

    async def unsubscribe(self, *channels: bytes) -> None:
        """SUNSUBSCRIBE; a node left without channels is closed (a process listens only to the
        shards its rooms live on)."""
        for channel in channels:
            name = self._node_of.pop(channel, None)
            node = self._nodes.get(name) if name is not None else None
            if node is None:
                continue
            node.channels.discard(channel)
            if node.channels:
                await node.pubsub.sunsubscribe(channel)
            else:
                del self._nodes[node.name]
                await node.aclose()

    async def get_message(self, timeout: float | None = None) -> dict[str, Any] | None:  # noqa: ASYNC109  # as PubSub.get_message
        """The next message from any node, or None after ``timeout`` seconds; raises what broke a node."""
        try:
            item = await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None
        if isinstance(item, BaseException):
            raise item
        return item

    async def ping(self) -> None:
        """Answered at once: each node's reader pings its own node when it is quiet (see the module)."""
        self._queue.put_nowait({"type": "pong", "channel": None, "data": b""})

    def moved(self) -> list[bytes]:
        """Channels whose slot's owner, as the cluster client now knows it, is not the node they
        are subscribed on (call after refreshing the topology)."""
        moved = []
        for channel, name in self._node_of.items():
            owner = self._cluster.get_node_from_key(channel.decode())
            if owner is None or owner.name != name:
                moved.append(channel)
        return moved

    async def aclose(self) -> None:
        nodes, self._nodes = list(self._nodes.values()), {}
        self._node_of.clear()
        for node in nodes:
            await node.aclose()

    # --- Inside ---------------------------------------------------------------------------------

    def _client(self, host: str, port: int) -> aioredis.Redis:
        # Waits for traffic as long as the rooms are quiet: no read timeout (liveness is our PINGs).
        return aioredis.Redis(
            host=host, port=port, socket_timeout=None, socket_connect_timeout=5, **self._connection_kwargs
        )

    async def _read(self, node: _Node) -> None:
        """Read one node's subscription until it fails; its failure goes on the queue."""
        pinged = False
        try:
            while True:
                msg = await node.pubsub.get_message(timeout=self._idle_limit)
                if msg is None:
                    if pinged:
                        raise RedisTimeoutError(f"{node.name}: no answer to PING on the subscription")
                    await node.pubsub.ping()
                    pinged = True
                    continue
                pinged = False
                kind = msg["type"]
                if kind == "smessage":
                    msg["type"] = "message"
                    self._queue.put_nowait(msg)
                elif kind == "ssubscribe":
                    msg["type"] = "subscribe"
                    self._queue.put_nowait(msg)
                elif kind == "sunsubscribe" and self._node_of.get(msg["channel"]) == node.name:
                    # Not asked for: the slot left this node (migrated, or the node was demoted).
                    raise RedisConnectionError(f"{node.name} dropped {msg['channel']!r}: its slot moved")
        except (RedisError, OSError) as exc:
            self._queue.put_nowait(exc)
