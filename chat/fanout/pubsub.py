"""The bus between processes: how a room's events reach every process that has members in it.

``LocalBus`` is the embedded default: one process, events handed straight to the hub.
``RedisBus`` carries them over Redis pub/sub: one PUBLISH per event, one subscription per room per
process, and a sorted set per room for presence. Both offer the same methods; ``broadcast.Hub``
is the only caller.

What travels is one bytes payload per event, encoded and decoded by ``busevents``; a bus only
moves the bytes (and keeps presence).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any, Protocol, cast

from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from chat.fanout import busevents, redisconn
from core import logs, metrics

if TYPE_CHECKING:
    from redis.asyncio.client import PubSub

    from chat.fanout.shardsub import ShardedSubscription

log = logging.getLogger("parley.pubsub")

# Unique per process: tags typing events and this process's presence entries in Redis.
PROCESS_ID = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"

# A process refreshes its presence entries this often; an entry not refreshed for PRESENCE_TTL is
# ignored, so a crashed process's users leave the list within a minute instead of staying forever.
PRESENCE_REFRESH = 20.0
PRESENCE_TTL = 60.0
# Rooms per pipeline when refreshing presence: big enough for few round trips, small enough that one
# pipeline's buffers stay small and other commands are not held up behind it for long.
REFRESH_BATCH = 500
# Redis connections for commands per process: enough for bursts of presence updates and publishes
# to overlap, few enough that many processes stay far below Redis's default 10,000 clients.
REDIS_POOL_SIZE = 32
# Seconds a join waits for Redis to confirm a room's subscription before going on without it (the
# reader then reconnects, subscribes it and resyncs): a hung Redis must not hold up handshakes.
SUBSCRIBE_TIMEOUT = 5.0


class Sink(Protocol):
    """What a bus delivers to: the hub."""

    def on_event(self, key: str, payload: bytes) -> None: ...

    def on_resync(self, keys: Collection[str] | None = None) -> None: ...


class LocalBus:
    """One process: publish is a direct call; presence is this process's own members."""

    # Shared by the buses of this process, so that pages (served in threads) can count who is online.
    names_everywhere: dict[str, Counter[str]] = {}

    def __init__(self, sink: Sink) -> None:
        self._sink = sink
        self._names = LocalBus.names_everywhere

    async def subscribe(self, key: str) -> None:
        pass

    def unsubscribe(self, key: str) -> None:
        self._names.pop(key, None)

    async def publish(self, key: str, payload: bytes) -> None:
        self._sink.on_event(key, payload)

    async def publish_many(self, events: list[tuple[str, bytes]]) -> None:
        for key, payload in events:
            self._sink.on_event(key, payload)

    async def presence_set(self, key: str, name: str, present: bool) -> None:
        names = self._names.setdefault(key, Counter())
        names[name] += 1 if present else -1
        if names[name] <= 0:
            del names[name]
        self._sink.on_event(key, busevents.PRESENCE)

    async def presence_names(self, key: str) -> list[str]:
        return sorted(self._names.get(key, ()))

    async def close(self) -> None:
        pass


class RedisBus:
    """Many processes: Redis pub/sub for events, a sorted set per room for presence.

    One connection is dedicated to the subscription and read by one task. If it drops, the task
    reconnects, subscribes again and asks the hub to resync every room from the store, so a message
    published while the connection was down is filled in, never skipped.
    """

    # Seconds between attempts to reconnect, at most (doubling from 0.1 s while Redis is away).
    RECONNECT_BACKOFF_MAX = 5.0

    def __init__(self, sink: Sink, *, url: str, prefix: str, socket_timeout: float) -> None:
        self._sink = sink
        self._prefix = prefix
        self._socket_timeout = socket_timeout
        self._redis: Any
        self._connect(url)
        self._pubsub: PubSub | ShardedSubscription = self._new_subscription(refresh=False)
        # One (UN)SUBSCRIBE at a time: a PubSub opens its connection on its first command, and
        # concurrent first commands would each open one; a SUBSCRIBE sent on a connection that the
        # reader does not read is never confirmed, and its channel's events are never seen.
        self._subscribing = asyncio.Lock()
        self._keys: set[str] = set()
        self._confirm: dict[bytes, asyncio.Future[None]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._mine: dict[str, Counter[str]] = {}  # presence entries this process holds
        # Presence updates waiting for the next batch (presence_set): names changed per room, and
        # the callers to wake once it is written.
        self._presence_dirty: dict[str, set[str]] = {}
        self._presence_waiters: list[asyncio.Future[None]] = []
        self._presence_writer: asyncio.Task[None] | None = None
        self._channel_to_key: dict[bytes, str] = {}
        # False from the moment Redis is found unreachable until the reader has subscribed every
        # room again: meanwhile joins subscribe nothing (the reconnect does), presence is local,
        # and the presence changes wait in _presence_dirty.
        self.healthy = True
        self._reconnecting = False
        self._closed = False

    def _connect(self, url: str) -> None:
        """Called once by ``__init__``: make the command client (``_redis``) and the client that
        subscriptions come from (``clusterbus.ClusterBus`` makes cluster clients instead)."""
        socket_timeout = self._socket_timeout
        # Commands: ordinary request/response with a timeout. A blocking pool: when every connection
        # is busy (a thousand clients leaving at once each update presence), a command waits for
        # one instead of failing with MaxConnectionsError.
        # With a redis+sentinel:// URL every connection goes to the primary the sentinels name.
        self._redis = redisconn.make_async_client(
            url,
            max_connections=REDIS_POOL_SIZE,
            pool_timeout=socket_timeout,
            socket_timeout=socket_timeout,
            socket_connect_timeout=5,
            health_check_interval=15,
        )  # closing the client closes the pool
        # The subscription waits for traffic for as long as a room is quiet: it must not time out
        # on a read (channels_redis #422). Liveness comes from our own PINGs in _read.
        self._sub_client = redisconn.make_async_client(url, socket_timeout=None, socket_connect_timeout=5)

    def _new_subscription(self, *, refresh: bool) -> PubSub | ShardedSubscription:
        """A subscription with no channel yet: at first, and for each reconnect (``refresh``)."""
        return self._sub_client.pubsub()

    def _channel(self, key: str) -> bytes:
        return channel_name(self._prefix, key).encode()

    def _presence_key(self, key: str) -> str:
        return presence_key(self._prefix, key)

    async def subscribe(self, key: str) -> None:
        """Subscribe to a room and return once Redis has confirmed it: from then on nothing is missed.

        While Redis cannot be reached this returns at once: the room is in ``_keys``, so the
        reader subscribes it with the others when Redis is back and then has the hub resync every
        room from the store; until then the hub delivers this process's own messages itself.
        """
        self._ensure_tasks()
        channel = self._channel(key)
        self._keys.add(key)
        self._channel_to_key[channel] = key
        if not self.healthy:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._confirm[channel] = waiter
        try:
            async with self._subscribing:
                await self._pubsub.subscribe(channel)
            await asyncio.wait_for(waiter, timeout=min(self._socket_timeout, SUBSCRIBE_TIMEOUT))
        except (RedisError, OSError, TimeoutError) as exc:
            self._confirm.pop(channel, None)
            self._lost(exc)

    def unsubscribe(self, key: str) -> None:
        self._keys.discard(key)
        self._mine.pop(key, None)
        channel = self._channel(key)
        self._channel_to_key.pop(channel, None)
        asyncio.get_running_loop().create_task(self._unsubscribe(channel))

    async def _unsubscribe(self, channel: bytes) -> None:
        async with self._subscribing:
            if self._channel_to_key.get(channel) is not None:
                return  # joined again meanwhile
            try:
                await self._pubsub.unsubscribe(channel)
            except (RedisError, OSError) as exc:
                log.debug("unsubscribe %s failed: %s", channel, exc)  # the reconnect subscribes only _keys

    async def publish(self, key: str, payload: bytes) -> None:
        await self._redis.publish(self._channel(key), payload)

    async def publish_many(self, events: list[tuple[str, bytes]]) -> None:
        """PUBLISH each event, in order, in one round trip."""
        if len(events) == 1:
            await self.publish(*events[0])
            return
        pipe = self._redis.pipeline(transaction=False)
        for key, payload in events:
            pipe.publish(self._channel(key), payload)
        await pipe.execute()

    async def presence_set(self, key: str, name: str, present: bool) -> None:
        """Count ``name`` in or out of the room and return once Redis has the room's new entry.

        Called for every join and leave. Updates wait in a batch while one is being written, then
        go in one pipeline: a ZADD or ZREM per room and name, one PUBLISH per room, so a class of
        300 arriving at once costs a few round trips, not 600. If Redis fails, the updates wait
        for it to come back (presence is a hint: a join or a leave does not fail for it).
        """
        names = self._mine.setdefault(key, Counter())
        names[name] += 1 if present else -1
        if names[name] <= 0:
            del names[name]
        self._presence_dirty.setdefault(key, set()).add(name)
        if not self.healthy:
            return  # written when Redis is back (_reconnect)
        done = asyncio.get_running_loop().create_future()
        self._presence_waiters.append(done)
        if self._presence_writer is None:
            self._presence_writer = asyncio.get_running_loop().create_task(
                self._write_presence(), context=logs.detached()
            )
        await done

    async def _write_presence(self) -> None:
        """Write the presence updates that have waited, batch after batch, until none is left."""
        try:
            while self._presence_dirty or self._presence_waiters:
                dirty, self._presence_dirty = self._presence_dirty, {}
                waiters, self._presence_waiters = self._presence_waiters, []
                failed = False
                try:
                    await self._write_presence_batch(dirty)
                except (RedisError, OSError) as exc:
                    for key, changed in dirty.items():  # again when Redis is back
                        self._presence_dirty.setdefault(key, set()).update(changed)
                    self._lost(exc)
                    failed = True
                for waiter in waiters:
                    if not waiter.done():  # its joiner may have been cancelled
                        waiter.set_result(None)
                if failed:
                    return
        finally:
            self._presence_writer = None

    async def _write_presence_batch(self, dirty: dict[str, set[str]]) -> None:
        expiry = time.time() + PRESENCE_TTL
        pipe = self._redis.pipeline(transaction=False)
        for key, changed in dirty.items():
            mine: Mapping[str, int] = self._mine.get(key, {})
            present = {_entry(n): expiry for n in changed if n in mine}
            gone = [_entry(n) for n in changed if n not in mine]
            if present:
                pipe.zadd(self._presence_key(key), present)
            if gone:
                pipe.zrem(self._presence_key(key), *gone)
            self._pipe_publish(pipe, self._channel(key), busevents.PRESENCE)
        await pipe.execute()

    def _pipe_publish(self, pipe: Any, channel: bytes, payload: bytes) -> None:
        """Add a publish of ``payload`` on ``channel`` to ``pipe`` (SPUBLISH on a cluster)."""
        pipe.publish(channel, payload)

    async def presence_names(self, key: str) -> list[str]:
        """Everyone in the room on every process; only this process's own while Redis is down."""
        if self.healthy:
            try:
                # The client does not decode responses: members are bytes.
                raw = cast("list[bytes]", await self._redis.zrangebyscore(self._presence_key(key), time.time(), "+inf"))
                return sorted({m.decode("utf-8").split("|", 1)[1] for m in raw})
            except (RedisError, OSError) as exc:
                self._lost(exc)
        return sorted(self._mine.get(key, ()))

    def _ensure_tasks(self) -> None:
        if self._reader is None and not self._closed:
            loop = asyncio.get_running_loop()
            self._reader = loop.create_task(self._read(), context=logs.detached())
            self._heartbeat = loop.create_task(self._refresh_presence(), context=logs.detached())

    def _lost(self, exc: BaseException) -> None:
        """Called when a command fails: Redis is down. Have the reader reconnect (it then subscribes
        every room, resyncs them from the store and writes the waiting presence)."""
        self._down(exc)
        if self._reader is not None and not self._reconnecting and not self._closed:
            self._reader.cancel()
            self._reader = asyncio.get_running_loop().create_task(
                self._read(reconnect_first=True), context=logs.detached()
            )

    def _down(self, exc: BaseException) -> None:
        """Mark Redis unreachable, with one warning per outage."""
        metrics.redis_errors.inc()
        if self.healthy:
            log.warning(
                "Redis unreachable (%s: %s); going on in this process until it is back", type(exc).__name__, exc
            )
        self.healthy = False

    async def _read(self, *, reconnect_first: bool = False) -> None:
        """The one reader of the subscription: hands events to the hub, reconnects on failure."""
        idle_limit = max(self._socket_timeout / 2, 1.0)
        while True:
            # Not healthy again after a reconnect: a command failed meanwhile, reconnect once more.
            if self.healthy and not reconnect_first:
                try:
                    await self._listen(idle_limit)
                except (RedisError, OSError) as exc:
                    self._down(exc)
            reconnect_first = False
            self._reconnecting = True
            try:
                backoff = 0.1
                while not await self._reconnect():  # until Redis is back
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self.RECONNECT_BACKOFF_MAX)
            finally:
                self._reconnecting = False

    async def _listen(self, idle_limit: float) -> None:
        """Read the subscription until it fails; a quiet one is pinged, and a ping unanswered fails it."""
        pinged = False
        while True:
            if not self._pubsub.subscribed:
                await asyncio.sleep(0.05)
                continue
            msg = await self._pubsub.get_message(timeout=idle_limit)
            if msg is None:
                if pinged:
                    raise RedisTimeoutError("no answer to PING on the subscription")
                await self._pubsub.ping()
                pinged = True
                continue
            pinged = False
            self._handle(msg)

    def _handle(self, msg: dict) -> None:
        """One message read from the subscription: an event for the hub, or a confirmation."""
        kind = msg["type"]
        if kind == "message":
            key = self._channel_to_key.get(msg["channel"])
            if key is not None:
                try:
                    self._sink.on_event(key, msg["data"])
                except Exception:
                    # Anything can be published on a channel: one bad payload must not end the
                    # reader, which is the process's only one.
                    log.exception("dropped an event on %r: %r", msg["channel"], msg["data"][:40])
        elif kind == "subscribe":
            waiter = self._confirm.pop(msg["channel"], None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
        elif kind == "resync":  # a cluster shard's channels are subscribed again (shardsub): its rooms
            self._sink.on_resync({self._channel_to_key[c] for c in msg["data"] if c in self._channel_to_key})

    async def _reconnect(self) -> bool:
        """Subscribe again on a new connection and resync; False while Redis cannot be reached."""
        async with self._subscribing:
            try:
                await self._pubsub.aclose()
            except Exception:
                pass
            self._pubsub = self._new_subscription(refresh=True)
            try:
                subscribed: set[bytes] = set()
                # Rooms joined while this runs are subscribed too, before Redis counts as back.
                while missing := {self._channel(k) for k in self._keys} - subscribed:
                    await self._pubsub.subscribe(*missing)
                    await self._await_confirmations(missing)
                    subscribed |= missing
                if not subscribed:
                    await self._pubsub.ping()  # no room yet: still check that Redis answers
            except (RedisError, OSError) as exc:
                metrics.redis_errors.inc()
                log.debug("resubscribe failed: %s", exc)
                return False
        # The command pool's connections are from before the outage: drop them, so the first
        # commands after it do not fail on a socket the old server closed.
        await self._drop_command_connections()
        self.healthy = True
        log.warning("Redis is back: %d rooms subscribed again, resyncing them from the store", len(self._keys))
        # Every room is subscribed again (Redis has confirmed it), so whatever was published
        # while we were away, up to that moment, is in the store: fetch it.
        self._sink.on_resync()
        if self._presence_dirty and self._presence_writer is None:
            self._presence_writer = asyncio.get_running_loop().create_task(
                self._write_presence(), context=logs.detached()
            )
        try:
            await self._republish_presence()
        except (RedisError, OSError) as exc:
            log.debug("presence republish failed (the refresh will retry): %s", exc)
        return True

    async def _drop_command_connections(self) -> None:
        with contextlib.suppress(Exception):
            await self._redis.connection_pool.disconnect()

    async def _await_confirmations(self, channels: set[bytes]) -> None:
        """Read the new subscription (this is its reader) until Redis has confirmed ``channels``;
        events that arrive meanwhile go to the hub as usual."""
        waiting = set(channels)
        deadline = asyncio.get_running_loop().time() + self._socket_timeout
        while waiting:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise RedisTimeoutError(f"{len(waiting)} subscriptions not confirmed")
            msg = await self._pubsub.get_message(timeout=left)
            if msg is None:
                continue
            if msg["type"] == "subscribe":
                waiting.discard(msg["channel"])
            self._handle(msg)

    async def _refresh_presence(self) -> None:
        while True:
            await asyncio.sleep(PRESENCE_REFRESH)
            if not self.healthy:
                continue  # the reconnect republishes
            try:
                await self._republish_presence()
            except (RedisError, OSError) as exc:
                self._lost(exc)

    async def _republish_presence(self) -> None:
        """Push the expiry of every presence entry this process holds, in pipelines of
        REFRESH_BATCH rooms: a process with thousands of rooms makes a few round trips, not thousands."""
        rooms = [(key, list(names)) for key, names in self._mine.items() if names]
        expiry = time.time() + PRESENCE_TTL
        for start in range(0, len(rooms), REFRESH_BATCH):
            pipe = self._redis.pipeline(transaction=False)
            for key, names in rooms[start : start + REFRESH_BATCH]:
                pipe.zadd(self._presence_key(key), {_entry(n): expiry for n in names})
            await pipe.execute()

    async def close(self) -> None:
        self._closed = True
        for task in (self._reader, self._heartbeat, self._presence_writer):
            if task is not None:
                task.cancel()
        await self._pubsub.aclose()
        await self._close_clients()

    async def _close_clients(self) -> None:
        await self._sub_client.aclose()
        await self._redis.aclose()


def channel_name(prefix: str, key: str, *, cluster: bool = False) -> str:
    """The pub/sub channel of a bus key (a room, a user, the control channel). On a cluster the
    key is a hash tag (``{key}``): the channel and the room's presence key share a slot, a shard."""
    return f"{prefix}:{{{key}}}" if cluster else f"{prefix}:{key}"


def presence_key(prefix: str, key: str, *, cluster: bool = False) -> str:
    """The sorted set of a room's presence entries (hash-tagged on a cluster, as its channel)."""
    return f"{prefix}:presence:{{{key}}}" if cluster else f"{prefix}:presence:{key}"


def _entry(name: str) -> str:
    """A name's presence entry in a room's sorted set: tagged with this process, so that two
    processes counting the same name each hold their own entry."""
    return f"{PROCESS_ID}|{name}"


Bus = LocalBus | RedisBus
BusFactory = Callable[[Sink], Bus]


def online_counts(*, keys: list[str]) -> dict[str, int]:
    """How many people are online in each room (sync; for pages). Keys are protocol.room_key()s."""
    from django.conf import settings

    if not keys:
        return {}
    if settings.REDIS_URL:
        cluster = redisconn.is_cluster(settings.REDIS_URL)
        timeout = settings.PARLEY_REDIS_SOCKET_TIMEOUT
        client: Any = (
            redisconn.make_sync_cluster(settings.REDIS_URL, socket_timeout=timeout)
            if cluster
            else redisconn.make_sync_client(settings.REDIS_URL, socket_timeout=timeout)
        )
        try:
            pipe = client.pipeline(transaction=False)
            now = time.time()
            for key in keys:
                pipe.zrangebyscore(presence_key(settings.PARLEY_REDIS_PREFIX, key, cluster=cluster), now, "+inf")
            results = pipe.execute()
        finally:
            client.close()
        return {key: len({m.split(b"|", 1)[1] for m in raw}) for key, raw in zip(keys, results, strict=True)}
    return {key: len(LocalBus.names_everywhere.get(key, ())) for key in keys}
