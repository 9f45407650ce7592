"""The bus on a Redis Cluster (``REDIS_URL=redis+cluster://...``): sharded pub/sub, keys per shard.

``ClusterBus`` is ``pubsub.RedisBus`` with other clients and names; its reader, confirmations,
reconnect, resync and batched presence are the same code:

- every channel and key is hash-tagged by its bus key: a room's channel ``<prefix>:{room.<sha1>}``
  and its presence set ``<prefix>:presence:{room.<sha1>}`` share a slot, so they live on one
  shard, and so do a user's channel ``<prefix>:{user.<id>}`` and the control channel
  ``<prefix>:{control}`` (each on the shard its own tag hashes to);
- events go out with SPUBLISH, to the shard's primary only (a cluster's plain PUBLISH goes to
  every node of the cluster), through ``redis.asyncio.cluster.RedisCluster``, which routes each
  command by slot and follows MOVED and failovers; a pipeline (presence, a batch of events) is
  split by the client into one per node;
- the subscription is ``shardsub.ShardedSubscription``: SSUBSCRIBE on one connection per primary
  that owns one of this process's channels, so a process listens only to the shards its rooms
  (and users) live on.

Slot migrations and failovers: the subscription recovers a failed shard alone (its channels
subscribed again on the slot's owner as the refreshed topology names it, then a ``resync`` that
has the hub fill in from the store what the rooms missed), while the other shards go on. A command
that fails (a presence write, on a shard failing over) does not resubscribe anything: the waiting
presence changes are written again a second later (the failed shard's rooms run locally until it
is back, the whole cluster's if every shard is lost). Only when ``TOPOLOGY_CHECK`` finds a channel
on a node that no longer owns its slot is everything subscribed again, as after a Redis outage. One
warning when a shard is lost, one when it is back.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from chat.fanout import pubsub, redisconn
from chat.fanout.shardsub import ShardedSubscription
from core import logs, metrics

log = logging.getLogger("parley.pubsub")

# Seconds between checks that every subscribed channel is still on the node that owns its slot.
TOPOLOGY_CHECK = 30.0
# Seconds before presence changes that failed to be written (a shard failing over) are tried again.
PRESENCE_RETRY = 1.0


class ClusterBus(pubsub.RedisBus):
    """``RedisBus`` on a Redis Cluster: sharded pub/sub and hash-tagged keys (see the module)."""

    _pubsub: ShardedSubscription
    # A shard's failover takes a node timeout and an election (seconds); until then the refreshed
    # topology still names the dead primary and the reconnect fails. Retrying each second (one
    # CLUSTER SLOTS and a connect) resumes delivery within a second of the promotion.
    RECONNECT_BACKOFF_MAX = 1.0

    def _connect(self, url: str) -> None:
        target = redisconn.parse_cluster_url(url)
        assert target is not None, "ClusterBus needs a redis+cluster:// URL"
        self._node_kwargs = target.connection_kwargs()
        # One retry, at once (after the client has read the slots again): a command to a shard that
        # has just failed over goes to its new primary, and one to a shard without a primary fails
        # in milliseconds. redis-py's default (3 retries, backing off) held every publish of the
        # process for ~2 s, stalling the rooms of the healthy shards too; a failed publish is
        # delivered here and filled in from the store elsewhere.
        self._redis = redisconn.make_async_cluster(
            url,
            socket_timeout=self._socket_timeout,
            socket_connect_timeout=5,
            health_check_interval=15,
            retry=Retry(NoBackoff(), 1),
        )
        self._watcher: asyncio.Task[None] | None = None
        self._presence_retry: asyncio.Task[None] | None = None
        self._commands_failing = False

    def _new_subscription(self, *, refresh: bool) -> ShardedSubscription:
        idle_limit = max(self._socket_timeout / 2, 1.0)
        return ShardedSubscription(
            self._redis, idle_limit=idle_limit, refresh=refresh, connection_kwargs=self._node_kwargs
        )

    def _channel(self, key: str) -> bytes:
        return pubsub.channel_name(self._prefix, key, cluster=True).encode()

    def _presence_key(self, key: str) -> str:
        return pubsub.presence_key(self._prefix, key, cluster=True)

    def shards(self) -> dict[str, set[bytes]]:
        """The nodes this process is subscribed on, and its channels there."""
        return self._pubsub.nodes()

    async def publish(self, key: str, payload: bytes) -> None:
        await self._redis.spublish(self._channel(key), payload)

    async def publish_many(self, events: list[tuple[str, bytes]]) -> None:
        """SPUBLISH each event; the cluster client sends one pipeline per shard, in order within it
        (a room's events are on one shard, so they stay in order)."""
        if len(events) == 1:
            await self.publish(*events[0])
            return
        pipe = self._redis.pipeline(transaction=False)
        for key, payload in events:
            pipe.spublish(self._channel(key), payload)
        await pipe.execute()

    def _pipe_publish(self, pipe: Any, channel: bytes, payload: bytes) -> None:
        pipe.spublish(channel, payload)

    def _lost(self, exc: BaseException) -> None:
        """Called when a command fails (a presence write or read). On a cluster that is one shard
        failing over or a slot moving, not Redis gone: the subscription watches its own nodes and
        recovers a failed one alone, so nothing is resubscribed here; the presence changes that
        wait are written again a second later (and again, until the shard is back)."""
        metrics.redis_errors.inc()
        if not self._commands_failing:
            self._commands_failing = True
            log.warning("Redis Cluster: a command failed (%s: %s); presence waits for it", type(exc).__name__, exc)
        if self._presence_retry is None and not self._closed:
            self._presence_retry = asyncio.get_running_loop().create_task(
                self._retry_presence(), context=logs.detached()
            )

    async def _retry_presence(self) -> None:
        try:
            await asyncio.sleep(PRESENCE_RETRY)
        finally:
            self._presence_retry = None
        if self._presence_writer is None and self._presence_dirty:
            self._presence_writer = asyncio.get_running_loop().create_task(
                self._write_presence(), context=logs.detached()
            )

    async def _write_presence_batch(self, dirty: dict[str, set[str]]) -> None:
        await super()._write_presence_batch(dirty)
        if self._commands_failing:
            self._commands_failing = False
            log.warning("Redis Cluster: commands work again")

    async def _reconnect(self) -> bool:
        """Subscribe everything on a new subscription; from then on a node's failure is recovered
        alone (its channels resubscribed on the new owner, the others untouched)."""
        if not await super()._reconnect():
            return False
        self._pubsub.recover_nodes = True
        return True

    async def _drop_command_connections(self) -> None:
        """Nothing to do: the cluster client drops a failed node's connections and refreshes the
        slots itself on the first command that fails."""

    def _ensure_tasks(self) -> None:
        super()._ensure_tasks()
        if self._watcher is None and not self._closed:
            self._watcher = asyncio.get_running_loop().create_task(self._watch_topology(), context=logs.detached())

    async def _watch_topology(self) -> None:
        """Every TOPOLOGY_CHECK seconds: reconnect if a subscribed channel's slot has moved (a
        migration that Redis did not announce with an ``sunsubscribe``, a failover not yet seen)."""
        while True:
            await asyncio.sleep(TOPOLOGY_CHECK)
            if not self.healthy or self._reconnecting:
                continue
            try:
                await self._redis.nodes_manager.initialize()
            except (RedisError, OSError) as exc:
                log.debug("topology check failed: %s", exc)
                continue
            moved = self._pubsub.moved()
            if moved:
                # Resubscribe everything (the pub/sub reader's own path; rare: Redis announces moves).
                pubsub.RedisBus._lost(self, RedisConnectionError(f"{len(moved)} channels' slots moved"))

    async def close(self) -> None:
        for task in (self._watcher, self._presence_retry):
            if task is not None:
                task.cancel()
        await super().close()

    async def _close_clients(self) -> None:
        await self._redis.aclose()
