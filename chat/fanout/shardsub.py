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

A node's subscription fails on a connection error or an unanswered PING (a primary killed), a
MOVED answer to SSUBSCRIBE, or an ``sunsubscribe`` the process did not ask for (Redis 7 sends it
to a slot's subscribers when the slot leaves the node: a migration, a primary demoted). Then:

- normally (``recover_nodes``) only that node's channels are recovered (``_recover``): every
  second at most, refresh the topology (CLUSTER SLOTS) and SSUBSCRIBE them on their owners; until
  the replica is promoted the topology still names the dead node and the attempt fails. Once all
  are confirmed, a ``resync`` message (``data``: those channels) asks the bus to resync their rooms
  from the store. The other
  shards' subscriptions go on untouched; rooms joined meanwhile wait with the failed ones.
- while the bus itself is subscribing everything again after an outage (a new subscription, until
  the bus sets ``recover_nodes``), the failure ends the whole subscription, and the bus retries.

``moved()`` lists channels whose slot changed owner without a word (the bus checks periodically).

Liveness is per node: a node quiet for ``idle_limit`` is pinged, and one that does not answer the
next ``idle_limit`` fails the subscription. ``ping()`` itself only answers at once, for the bus's
own idle check, which a plain subscription needs and this one does per node.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger("parley.pubsub")

# Seconds between attempts to resubscribe a failed node's channels, at most (from 0.1 s, doubling):
# a failover takes a node timeout and an election; until then the topology names the dead node.
RECOVERY_BACKOFF_MAX = 1.0
# Seconds a resubscription may take to be confirmed before it is tried again.
CONFIRM_TIMEOUT = 5.0


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
        # A node that fails is recovered alone (``_recover``) once the bus has said so
        # (``recover_nodes``); until then (while the bus itself subscribes everything after an
        # outage) a node's failure ends the whole subscription.
        self.recover_nodes = not refresh
        self._orphans: set[bytes] = set()  # channels whose node failed, waiting for their new owner
        self._pending: dict[bytes, asyncio.Future[None]] = {}  # the recovery's unconfirmed channels
        self._dropped: set[bytes] = set()  # orphans unsubscribed meanwhile (the recovery may subscribe them)
        self._recovery: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # one SSUBSCRIBE batch at a time: a node's first opens its connection

    @property
    def subscribed(self) -> bool:
        return bool(self._node_of) or bool(self._orphans)

    def nodes(self) -> dict[str, set[bytes]]:
        """The nodes subscribed on, and their channels (for tests and logs)."""
        return {name: set(node.channels) for name, node in self._nodes.items()}

    async def subscribe(self, *channels: bytes) -> None:
        """SSUBSCRIBE each channel on the primary that owns its slot; the confirmations come
        through ``get_message`` as ``subscribe`` messages.

        While a failed node's channels wait for their new owner, new channels wait with them and
        are confirmed at once: the ``resync`` that ends the recovery fills in what they missed.
        """
        if self._orphans:
            self._orphans.update(channels)
            self._dropped.difference_update(channels)
            for channel in channels:
                self._queue.put_nowait({"type": "subscribe", "channel": channel, "data": 1})
            return
        try:
            if self._refresh:
                await self._cluster.nodes_manager.initialize()
                self._refresh = False
            else:
                await self._cluster.initialize()  # learns the slots on first use only
            async with self._lock:
                await self._subscribe_on_owners(channels)
        except (RedisError, OSError) as exc:
            if not self.recover_nodes:
                raise
            # A shard failing over: these channels wait for it as a failed node's do.
            log.debug("subscribing %d channels failed (%s); recovering them", len(channels), exc)
            for channel in channels:
                if channel not in self._node_of:
                    self._orphans.add(channel)
                    self._queue.put_nowait({"type": "subscribe", "channel": channel, "data": 1})
            self._start_recovery()

    async def _subscribe_on_owners(self, channels: tuple[bytes, ...] | set[bytes]) -> None:
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
                by_slot.setdefault(key_slot(channel), []).append(channel)
            for same_slot in by_slot.values():  # one SSUBSCRIBE may name channels of one slot only
                try:
                    await node.pubsub.ssubscribe(*same_slot)
                except BaseException:
                    if node.reader is None and not node.channels:  # never connected: forget it
                        self._nodes.pop(name, None)
                        await node.aclose()
                    raise
                for channel in same_slot:
                    self._node_of[channel] = name
                    node.channels.add(channel)
            if node.reader is None:  # its connection is open now: read it
                node.reader = asyncio.get_running_loop().create_task(self._read(node))

    async def unsubscribe(self, *channels: bytes) -> None:
        """SUNSUBSCRIBE; a node left without channels is closed (a process listens only to the
        shards its rooms live on)."""
        for channel in channels:
            if channel in self._orphans:
                self._orphans.discard(channel)
                self._dropped.add(channel)
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
        if self._recovery is not None:
            self._recovery.cancel()
        nodes, self._nodes = list(self._nodes.values()), {}
        self._node_of.clear()
        for node in nodes:
            await node.aclose()

    # --- Inside ---------------------------------------------------------------------------------

    def _client(self, host: str, port: int) -> aioredis.Redis:
        # Waits for traffic as long as the rooms are quiet: no read timeout (liveness is our PINGs).
        # No retries inside redis-py: a node that drops the connection fails its reader at once, and
        # _recover finds the slot's owner (after a failover it is another node).
        return aioredis.Redis(
            host=host,
            port=port,
            socket_timeout=None,
            socket_connect_timeout=5,
            retry=Retry(NoBackoff(), 0),
            **self._connection_kwargs,
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
                    waiter = self._pending.pop(msg["channel"], None)
                    if waiter is not None and not waiter.done():
                        waiter.set_result(None)
                    msg["type"] = "subscribe"
                    self._queue.put_nowait(msg)
                elif kind == "sunsubscribe" and self._node_of.get(msg["channel"]) == node.name:
                    # Not asked for: the slot left this node (migrated, or the node was demoted).
                    if not self.recover_nodes:
                        raise RedisConnectionError(f"{node.name} dropped {msg['channel']!r}: its slot moved")
                    log.debug("%s dropped %r (its slot moved); resubscribing it", node.name, msg["channel"])
                    self._node_of.pop(msg["channel"], None)
                    node.channels.discard(msg["channel"])
                    self._orphans.add(msg["channel"])
                    self._start_recovery()
                    if not node.channels and self._nodes.get(node.name) is node:  # nothing left here
                        del self._nodes[node.name]
                        node.reader = None  # this task, which ends now
                        asyncio.get_running_loop().create_task(node.aclose())
                        return
        except (RedisError, OSError) as exc:
            if self.recover_nodes:
                self._lost_node(node, exc)
            else:
                self._queue.put_nowait(exc)

    def _lost_node(self, node: _Node, exc: BaseException) -> None:
        """Called by a node's reader when its subscription fails: its channels wait for their new
        owner (``_recover``); the other nodes' go on."""
        if self._nodes.get(node.name) is not node:
            return
        del self._nodes[node.name]
        log.warning(
            "Redis Cluster: lost the subscription on %s (%s: %s); %d channels wait for their shard's new primary",
            node.name,
            type(exc).__name__,
            exc,
            len(node.channels),
        )
        for channel in node.channels:
            self._node_of.pop(channel, None)
            self._orphans.add(channel)
            waiter = self._pending.pop(channel, None)
            if waiter is not None and not waiter.done():
                waiter.set_exception(RedisConnectionError(f"{node.name} failed"))
        node.reader = None  # this task: it ends by itself
        asyncio.get_running_loop().create_task(node.aclose())
        self._start_recovery()

    def _start_recovery(self) -> None:
        if self._recovery is None:
            self._recovery = asyncio.get_running_loop().create_task(self._recover())

    async def _recover(self) -> None:
        """Subscribe the failed nodes' channels on their owners as the refreshed topology names
        them, until every one is confirmed; then ask the bus to resync (a ``resync`` message)."""
        began = time.monotonic()
        backoff = 0.1
        recovered: set[bytes] = set()
        try:
            while self._orphans:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, RECOVERY_BACKOFF_MAX)
                channels = set(self._orphans)
                loop = asyncio.get_running_loop()
                waiters = {channel: loop.create_future() for channel in channels}
                self._pending.update(waiters)
                try:
                    await self._cluster.nodes_manager.initialize()
                    async with self._lock:
                        await self._subscribe_on_owners(channels)
                    async with asyncio.timeout(CONFIRM_TIMEOUT):
                        await asyncio.gather(*waiters.values())
                except (RedisError, OSError, TimeoutError) as exc:
                    log.debug("resubscribing %d channels failed: %s", len(channels), exc)
                    for channel in channels:
                        self._pending.pop(channel, None)
                        name = self._node_of.get(channel)
                        if not waiters[channel].done() and name is not None:
                            # not confirmed: subscribe it again (on its owner then) in the next round
                            self._node_of.pop(channel, None)
                            if name in self._nodes:
                                self._nodes[name].channels.discard(channel)
                    for waiter in waiters.values():
                        if waiter.done() and not waiter.cancelled():
                            waiter.exception()  # retrieved: no "never retrieved" warning
                    continue
                self._orphans -= channels
                recovered |= channels
                left = channels & self._dropped  # unsubscribed by the bus while being recovered
                self._dropped -= left
                if left:
                    await self.unsubscribe(*left)
        finally:
            self._recovery = None
        took = time.monotonic() - began
        log.warning("Redis Cluster: subscriptions back after %.1f s; resyncing the rooms from the store", took)
        self._queue.put_nowait({"type": "resync", "channel": None, "data": recovered})
