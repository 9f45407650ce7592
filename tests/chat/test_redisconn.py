"""chat.fanout.redisconn: REDIS_URL parsing (pure), and clients on a real primary, replica and sentinels."""

from __future__ import annotations

import asyncio
import re
import uuid

import pytest
import redis
from channels_redis.core import RedisChannelLayer
from redis.exceptions import ConnectionError as RedisConnectionError

from chat.fanout import pubsub, redisconn
from chat.fanout.redisconn import SentinelURL, channel_layer_host, parse_sentinel_url
from tests.sentinel import SERVICE, SentinelSet

# --- Parsing ------------------------------------------------------------------------------------


def test_plain_redis_urls_are_not_sentinel_urls():
    for url in ("redis://127.0.0.1:6379/0", "rediss://h:6380/1", "unix:///run/redis.sock", "redis+sentinelx://h/s"):
        assert parse_sentinel_url(url) is None


def test_a_sentinel_url_names_the_sentinels_and_the_service():
    assert parse_sentinel_url("redis+sentinel://10.0.0.1:26379,10.0.0.2:26380,sentinel-3/parley") == SentinelURL(
        sentinels=(("10.0.0.1", 26379), ("10.0.0.2", 26380), ("sentinel-3", 26379)), service="parley"
    )


def test_database_password_user_and_sentinel_password():
    url = "redis+sentinel://alice:p%40ss@[::1]:5000,h:5001/my%20service/3/?sentinel_password=s%3Dcret"
    assert parse_sentinel_url(url) == SentinelURL(
        sentinels=(("::1", 5000), ("h", 5001)),
        service="my service",
        db=3,
        username="alice",
        password="p@ss",
        sentinel_password="s=cret",
    )
    assert parse_sentinel_url("redis+sentinel://:secret@h:1/s").connection_kwargs() == {"db": 0, "password": "secret"}
    assert parse_sentinel_url("REDIS+SENTINEL://h/s").sentinels == (("h", 26379),)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("redis+sentinel:///parley", "names no sentinel"),
        ("redis+sentinel://h:1", "names no service"),
        ("redis+sentinel://h:1/", "names no service"),
        ("redis+sentinel://h:1/s/x", "database must be a number"),
        ("redis+sentinel://h:1/s/0/extra", "must be /<service>[/<db>]"),
        ("redis+sentinel://h:port/s", "bad sentinel port"),
        ("redis+sentinel://h:70000/s", "bad sentinel port"),
        ("redis+sentinel://h:1,,h:2/s", "host:port expected"),
        ("redis+sentinel://[::1/s", "bad sentinel address"),
        ("redis+sentinel://h:1/s?db=2", "unknown option(s) db"),
    ],
)
def test_a_sentinel_url_that_cannot_be_used_says_why(url, says):
    with pytest.raises(ValueError, match=re.escape(says)):
        parse_sentinel_url(url)


def test_a_cluster_url_names_some_nodes_and_credentials():
    assert redisconn.parse_cluster_url("redis://h:1/0") is None
    assert redisconn.parse_cluster_url("redis+sentinel://h:1/s") is None
    assert parse_sentinel_url("redis+cluster://h:1") is None
    assert redisconn.parse_cluster_url("redis+cluster://10.0.0.1:7000,10.0.0.2:7001,r3") == redisconn.ClusterURL(
        nodes=(("10.0.0.1", 7000), ("10.0.0.2", 7001), ("r3", 6379))
    )
    url = redisconn.parse_cluster_url("REDIS+CLUSTER://alice:p%40ss@[::1]:7000/")
    assert url == redisconn.ClusterURL(nodes=(("::1", 7000),), username="alice", password="p@ss")
    assert url.connection_kwargs() == {"username": "alice", "password": "p@ss"}
    assert redisconn.is_cluster("redis+cluster://h:1") and not redisconn.is_cluster("redis://h:1")


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("redis+cluster://", "names no node"),
        ("redis+cluster://h:1/0", "takes no database or options"),
        ("redis+cluster://h:1?x=1", "takes no database or options"),
        ("redis+cluster://h:port", "bad node port"),
        ("redis+cluster://h:1,,h:2", "host:port expected"),
    ],
)
def test_a_cluster_url_that_cannot_be_used_says_why(url, says):
    with pytest.raises(ValueError, match=re.escape(says)):
        redisconn.check_url(url)


def test_cluster_channels_and_presence_keys_share_their_room_s_slot():
    from redis.crc import key_slot

    key = "room.0123456789abcdef"
    channel = pubsub.channel_name("parley", key, cluster=True)
    presence = pubsub.presence_key("parley", key, cluster=True)
    assert (channel, presence) == (f"parley:{{{key}}}", f"parley:presence:{{{key}}}")
    assert key_slot(channel.encode()) == key_slot(presence.encode()) == key_slot(key.encode())
    # One Redis and Sentinel keep their names.
    assert (pubsub.channel_name("parley", key), pubsub.presence_key("parley", key)) == (
        f"parley:{key}",
        f"parley:presence:{key}",
    )


def test_channel_layer_hosts():
    assert channel_layer_host("redis://h:1/0", socket_timeout=3) == {"address": "redis://h:1/0", "socket_timeout": 3}
    assert channel_layer_host("redis+sentinel://:pw@a:1,b:2/svc/4", socket_timeout=3) == {
        "sentinels": [("a", 1), ("b", 2)],
        "master_name": "svc",
        "sentinel_kwargs": {"socket_timeout": redisconn.SENTINEL_TIMEOUT, "socket_connect_timeout": 5.0},
        "db": 4,
        "password": "pw",
        "socket_timeout": 3,
    }


# --- Real sentinels -----------------------------------------------------------------------------
# These start their own Redis servers and sentinels, so they run once (in the embedded run).


@pytest.fixture(scope="module")
def sentinels(tmp_path_factory):
    group = SentinelSet(tmp_path_factory.mktemp("sentinels"))
    group.start()
    yield group
    group.stop()


def replica_port(group: SentinelSet) -> int:
    primary = group.primary_port()
    return next(port for port in group.redis_ports if port != primary)


@pytest.mark.embedded_only
async def test_clients_on_a_sentinel_url_reach_the_primary(sentinels):
    key = f"parley-test-{uuid.uuid4().hex}"
    client = redisconn.make_async_client(sentinels.url, max_connections=2, pool_timeout=5, socket_timeout=5)
    try:
        await client.set(key, "async")
        assert await client.get(key) == b"async"
    finally:
        await client.aclose()
    sync = redisconn.make_sync_client(sentinels.url, socket_timeout=5)
    try:
        assert sync.get(key) == b"async"
        assert sync.connection_pool.get_master_address() == ("127.0.0.1", sentinels.primary_port())
    finally:
        sync.close()
    layer = RedisChannelLayer(hosts=[channel_layer_host(sentinels.url, socket_timeout=5)], prefix=key)
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "hello"})
    assert await asyncio.wait_for(layer.receive(channel), 5) == {"type": "hello"}
    sentinel_manager = layer.connection(0).connection_pool.sentinel_manager
    await layer.flush()
    await layer.close_pools()
    await sentinel_manager.aclose()  # channels_redis leaves its connections to the sentinels open


@pytest.mark.embedded_only
async def test_a_connection_to_a_demoted_primary_reconnects_to_the_current_one(sentinels):
    """The old primary came back as a replica while a connection was open to it: its READONLY
    answer to a write drops the connection, and connecting again asks the sentinels."""
    client = redisconn.make_async_client(sentinels.url, socket_timeout=5)
    try:
        connection = await client.connection_pool.get_connection()
        await connection.disconnect()
        await connection.connect_to(("127.0.0.1", replica_port(sentinels)))
        await connection.send_command("SET", "parley-test-readonly", "x")
        with pytest.raises(RedisConnectionError, match="now a slave"):
            await connection.read_response()
        await connection.connect()
        assert connection.port == sentinels.primary_port()
        await connection.send_command("ROLE")
        assert (await connection.read_response())[0] == b"master"
        await client.connection_pool.release(connection)
    finally:
        await client.aclose()


class Recorder:
    """A bus's sink that records events and resyncs."""

    def __init__(self) -> None:
        self.events: list[bytes] = []
        self.resyncs = 0

    def on_event(self, key: str, payload: bytes) -> None:
        self.events.append(payload)

    def on_resync(self) -> None:
        self.resyncs += 1


async def eventually(predicate, within: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        if predicate():
            return
        assert asyncio.get_running_loop().time() < deadline, "not within the time"
        await asyncio.sleep(0.05)


@pytest.mark.embedded_only
async def test_the_bus_follows_a_failover(sentinels):
    """A failover (the old primary demoted to a replica, its clients cut off by the sentinels): the
    bus's subscription comes back on the new primary, resyncs, and publishes reach it again."""
    prefix = f"parley-test-{uuid.uuid4().hex[:8]}"
    sink = Recorder()
    bus = pubsub.RedisBus(sink, url=sentinels.url, prefix=prefix, socket_timeout=5)
    try:
        await bus.subscribe("room")
        await bus.publish_many([("room", b"m1\n{}"), ("room", b"m2\n{}")])
        await eventually(lambda: sink.events == [b"m1\n{}", b"m2\n{}"])

        old = await asyncio.to_thread(sentinels.primary_port)
        with redis.Redis(port=sentinels.sentinel_ports[0], socket_timeout=5) as sentinel:
            sentinel.execute_command("SENTINEL", "FAILOVER", SERVICE)
        new = await asyncio.to_thread(sentinels.wait_failover, old)
        await eventually(lambda: sink.resyncs == 1)

        async def publish_until_delivered() -> None:
            while b"m3\n{}" not in sink.events:
                try:
                    await bus.publish("room", b"m3\n{}")
                except RedisConnectionError:
                    pass  # a pooled connection to the old primary, cut by the failover
                await asyncio.sleep(0.2)

        await asyncio.wait_for(publish_until_delivered(), 30)
        with redis.Redis(port=new, socket_timeout=5) as primary:
            assert primary.pubsub_numsub(f"{prefix}:room".encode()) == [(f"{prefix}:room".encode(), 1)]
    finally:
        await bus.close()
