"""Connections to Redis from ``REDIS_URL``: one Redis server, or whichever one Redis Sentinel names.

``REDIS_URL`` is either a URL redis-py understands (``redis://host:port/db``, ``rediss://``,
``unix://``), or names a set of sentinels and the service they watch::

    redis+sentinel://[[user]:password@]host1:port1[,host2:port2,...]/<service>[/<db>][?sentinel_password=...]

or names some nodes of a Redis Cluster (any of them: the others are found from these)::

    redis+cluster://[[user]:password@]host1:port1[,host2:port2,...]

The password (and user) are those of the Redis servers; the sentinels' own, if they have one,
goes in ``sentinel_password``. A port left out is 26379, Sentinel's. Every client made here for a
sentinel URL asks the sentinels for the current primary whenever it opens a connection, so after a
failover each new connection goes to the new primary; redis-py turns a ``READONLY`` answer (the
old primary came back as a replica) into a ``ConnectionError`` after dropping that connection.

Everything in Parley that connects to Redis comes through here: the bus (``pubsub.RedisBus``), the
pages' presence counts (``pubsub.online_counts``) and the channel layer (``parley/settings.py``).
A cluster URL gets ``redis.asyncio.cluster.RedisCluster`` clients (``make_async_cluster``,
``make_sync_cluster``): they route each command by its key's slot and follow MOVED and failovers;
the bus's sharded subscriptions are its own (``chat/fanout/shardsub.py``).

This module does not import Django, so settings can use it.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode as AsyncClusterNode
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.asyncio.sentinel import SentinelConnectionPool as AsyncSentinelConnectionPool
from redis.cluster import ClusterNode as SyncClusterNode
from redis.cluster import RedisCluster as SyncRedisCluster
from redis.sentinel import Sentinel as SyncSentinel
from redis.sentinel import SentinelConnectionPool as SyncSentinelConnectionPool

SENTINEL_SCHEME = "redis+sentinel"
SENTINEL_DEFAULT_PORT = 26379
# Seconds a sentinel may take to accept a connection or answer "who is the primary?": a sentinel
# that does not answer in time is skipped for the next one in the list.
SENTINEL_TIMEOUT = 5.0


@dataclass(frozen=True)
class SentinelURL:
    """What a ``redis+sentinel://`` URL says."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_password: str | None = None

    def connection_kwargs(self) -> dict[str, Any]:
        """Options for connections to the Redis servers (the primary)."""
        kwargs: dict[str, Any] = {"db": self.db}
        if self.username is not None:
            kwargs["username"] = self.username
        if self.password is not None:
            kwargs["password"] = self.password
        return kwargs

    def sentinel_kwargs(self) -> dict[str, Any]:
        """Options for connections to the sentinels."""
        kwargs: dict[str, Any] = {"socket_timeout": SENTINEL_TIMEOUT, "socket_connect_timeout": SENTINEL_TIMEOUT}
        if self.sentinel_password is not None:
            kwargs["password"] = self.sentinel_password
        return kwargs


def parse_sentinel_url(url: str) -> SentinelURL | None:
    """The sentinels and service a ``redis+sentinel://`` URL names; None for any other URL.

    Raises ValueError, saying what is wrong, for a sentinel URL that cannot be used.
    """
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() != SENTINEL_SCHEME:
        return None
    rest = rest.partition("#")[0]
    rest, _, query = rest.partition("?")
    netloc, _, path = rest.partition("/")
    userinfo, at, hostlist = netloc.rpartition("@")
    username = password = None
    if at:
        # As redis-py reads redis://user:password@host: either part may be left out.
        user, _, secret = userinfo.partition(":")
        username = urllib.parse.unquote(user) or None
        password = urllib.parse.unquote(secret) or None
    sentinels = tuple(_host_port(item) for item in hostlist.split(",")) if hostlist else ()
    if not sentinels:
        raise ValueError(f"{SENTINEL_SCHEME} URL names no sentinel (host:port[,host:port...])")
    parts = [urllib.parse.unquote(p) for p in path.split("/")]
    if parts and parts[-1] == "":
        parts.pop()  # a trailing slash
    if not parts or not parts[0]:
        raise ValueError(f"{SENTINEL_SCHEME} URL names no service: {SENTINEL_SCHEME}://host:port/<service>[/<db>]")
    if len(parts) > 2:
        raise ValueError(f"{SENTINEL_SCHEME} URL path must be /<service>[/<db>], got /{path}")
    db = 0
    if len(parts) == 2:
        if not parts[1].isdigit():
            raise ValueError(f"{SENTINEL_SCHEME} URL database must be a number, got {parts[1]!r}")
        db = int(parts[1])
    options = urllib.parse.parse_qs(query, keep_blank_values=True)
    unknown = sorted(set(options) - {"sentinel_password"})
    if unknown:
        raise ValueError(f"{SENTINEL_SCHEME} URL: unknown option(s) {', '.join(unknown)} (known: sentinel_password)")
    sentinel_password = options["sentinel_password"][-1] if "sentinel_password" in options else None
    return SentinelURL(
        sentinels=sentinels,
        service=parts[0],
        db=db,
        username=username,
        password=password,
        sentinel_password=sentinel_password,
    )


CLUSTER_SCHEME = "redis+cluster"
CLUSTER_DEFAULT_PORT = 6379


@dataclass(frozen=True)
class ClusterURL:
    """What a ``redis+cluster://`` URL says: some of the cluster's nodes, and its credentials."""

    nodes: tuple[tuple[str, int], ...]
    username: str | None = None
    password: str | None = None

    def connection_kwargs(self) -> dict[str, Any]:
        """Options for connections to the cluster's nodes."""
        kwargs: dict[str, Any] = {}
        if self.username is not None:
            kwargs["username"] = self.username
        if self.password is not None:
            kwargs["password"] = self.password
        return kwargs


def parse_cluster_url(url: str) -> ClusterURL | None:
    """The nodes a ``redis+cluster://`` URL names; None for any other URL.

    Raises ValueError, saying what is wrong, for a cluster URL that cannot be used (a cluster has
    one database, so the URL has no path; it takes no options).
    """
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() != CLUSTER_SCHEME:
        return None
    rest = rest.partition("#")[0]
    rest, _, query = rest.partition("?")
    netloc, _, path = rest.partition("/")
    if path.strip("/") or query:
        raise ValueError(
            f"{CLUSTER_SCHEME} URL takes no database or options: {CLUSTER_SCHEME}://host:port[,host:port...]"
        )
    userinfo, at, hostlist = netloc.rpartition("@")
    username = password = None
    if at:
        user, _, secret = userinfo.partition(":")
        username = urllib.parse.unquote(user) or None
        password = urllib.parse.unquote(secret) or None
    nodes = tuple(_host_port(item, CLUSTER_DEFAULT_PORT, "node") for item in hostlist.split(",")) if hostlist else ()
    if not nodes:
        raise ValueError(f"{CLUSTER_SCHEME} URL names no node (host:port[,host:port...])")
    return ClusterURL(nodes=nodes, username=username, password=password)


def check_url(url: str) -> None:
    """Raise ValueError, saying what is wrong, if ``url`` is a sentinel or cluster URL that cannot be used."""
    parse_sentinel_url(url)
    parse_cluster_url(url)


def _host_port(item: str, default_port: int = SENTINEL_DEFAULT_PORT, what: str = "sentinel") -> tuple[str, int]:
    item = item.strip()
    if item.startswith("["):  # [::1]:26379
        host, bracket, tail = item[1:].partition("]")
        if not bracket or (tail and not tail.startswith(":")):
            raise ValueError(f"bad {what} address {item!r}")
        port_text = tail[1:]
    else:
        host, _, port_text = item.partition(":")
    if not host:
        raise ValueError(f"bad {what} address {item!r}: host:port expected")
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"bad {what} port in {item!r}")
    return host, int(port_text)


# --- Clients -----------------------------------------------------------------------------------


class _AsyncSentinelPool(AsyncSentinelConnectionPool):
    """A pool of connections to the current primary that also closes its sentinel connections."""

    async def aclose(self) -> None:
        await super().aclose()
        await self.sentinel_manager.aclose()


class _AsyncBlockingSentinelPool(_AsyncSentinelPool, aioredis.BlockingConnectionPool):
    """The same, where a command waits for a free connection instead of failing when all are busy."""


class _SyncSentinelPool(SyncSentinelConnectionPool):
    def close(self) -> None:
        super().close()
        self.sentinel_manager.close()


def make_async_client(
    url: str, *, max_connections: int | None = None, pool_timeout: float | None = None, **kwargs: Any
) -> aioredis.Redis:
    """A ``redis.asyncio`` client for ``url``; ``kwargs`` are connection options (timeouts...).

    With ``max_connections`` its pool blocks: when that many connections are busy, a command waits
    up to ``pool_timeout`` seconds for one instead of failing. Closing the client closes its pool
    (and, for a sentinel URL, its connections to the sentinels).
    """
    blocking = {} if max_connections is None else {"max_connections": max_connections, "timeout": pool_timeout}
    target = parse_sentinel_url(url)
    if target is None:
        if max_connections is None:
            return aioredis.Redis.from_url(url, **kwargs)
        return aioredis.Redis.from_pool(aioredis.BlockingConnectionPool.from_url(url, **blocking, **kwargs))
    sentinel = AsyncSentinel(target.sentinels, sentinel_kwargs=target.sentinel_kwargs())
    pool_class = _AsyncSentinelPool if max_connections is None else _AsyncBlockingSentinelPool
    pool = pool_class(target.service, sentinel, **target.connection_kwargs(), **blocking, **kwargs)
    return aioredis.Redis.from_pool(pool)


def make_sync_client(url: str, **kwargs: Any) -> redis.Redis:
    """A blocking ``redis`` client for ``url``; closing it closes its pool (and sentinel connections)."""
    target = parse_sentinel_url(url)
    if target is None:
        return redis.Redis.from_url(url, **kwargs)
    sentinel = SyncSentinel(target.sentinels, sentinel_kwargs=target.sentinel_kwargs())
    return redis.Redis.from_pool(_SyncSentinelPool(target.service, sentinel, **target.connection_kwargs(), **kwargs))


def channel_layer_host(url: str, **kwargs: Any) -> dict[str, Any]:
    """One entry of channels_redis' ``hosts`` for ``url``, with connection options ``kwargs``.

    channels_redis builds a sentinel-managed pool from ``sentinels`` and ``master_name``.
    """
    target = parse_sentinel_url(url)
    if target is None:
        return {"address": url, **kwargs}
    return {
        "sentinels": list(target.sentinels),
        "master_name": target.service,
        "sentinel_kwargs": target.sentinel_kwargs(),
        **target.connection_kwargs(),
        **kwargs,
    }


def make_async_cluster(url: str, **kwargs: Any) -> AsyncRedisCluster:
    """A ``redis.asyncio`` cluster client for a ``redis+cluster://`` URL; ``kwargs`` are connection
    options. It learns the slots from the nodes named on its first command, sends each command to
    its key's primary, and finds the new owner on MOVED and on a connection error (a failover)."""
    target = parse_cluster_url(url)
    if target is None:
        raise ValueError(f"not a {CLUSTER_SCHEME} URL")
    nodes = [AsyncClusterNode(host, port) for host, port in target.nodes]
    return AsyncRedisCluster(startup_nodes=nodes, **target.connection_kwargs(), **kwargs)


def make_sync_cluster(url: str, **kwargs: Any) -> SyncRedisCluster:
    """The blocking twin of ``make_async_cluster`` (for pages' presence counts)."""
    target = parse_cluster_url(url)
    if target is None:
        raise ValueError(f"not a {CLUSTER_SCHEME} URL")
    nodes = [SyncClusterNode(host, port) for host, port in target.nodes]
    return SyncRedisCluster(startup_nodes=nodes, **target.connection_kwargs(), **kwargs)


def is_cluster(url: str) -> bool:
    """Whether ``url`` is a ``redis+cluster://`` URL (whose keys and channels are hash-tagged)."""
    scheme, sep, _ = url.partition("://")
    return bool(sep) and scheme.lower() == CLUSTER_SCHEME
