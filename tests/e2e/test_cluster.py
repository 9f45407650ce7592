"""Redis Cluster: two Parley processes on ``REDIS_URL=redis+cluster://...`` and PostgreSQL.

A cluster of the test's own (tests/rediscluster.py: 3 primaries, 3 replicas on loopback ports).
Rooms are picked so that they land on different shards (checked against the cluster's own slot
map), then: each process subscribes only on the shards its rooms live on; streams cross between
the processes in every shard; presence keys live on their room's shard; kicks (the control
channel) and mentions (a user's channel) cross between processes; a slot migrated under
traffic and a primary killed (SIGKILL) under traffic lose nothing and store nothing twice, every
reader's stream stays consecutive, and presence is right afterwards. These start their own Redis
and servers, so they run once (in the embedded run); the kill is last, as it changes the cluster.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import urllib.request
import uuid

import pytest
import redis

from chat import protocol
from chat.fanout import busevents
from tests.e2e.conftest import Core
from tests.e2e.test_moderation import Two, closed_removed, joined, still_open
from tests.e2e.test_sentinel import DROPPED, Sender, join_retrying
from tests.rediscluster import RedisClusterSet
from tests.servers import ServerFarm
from tests.wsclient import join, next_messages, recv_until, send


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = RedisClusterSet(tmp_path_factory.mktemp("cluster"))
    c.start()
    yield c
    c.stop()


@pytest.fixture(scope="module")
def two(cluster, tmp_path_factory):
    farm = ServerFarm(tmp=tmp_path_factory.mktemp("two"), scaled=True, extra_env={"REDIS_URL": cluster.url})
    servers = (farm.start(PARLEY_RATE_PER_SEC="0"), farm.start(PARLEY_RATE_PER_SEC="0"))
    farm.prefix = farm.env["PARLEY_REDIS_PREFIX"]  # type: ignore[attr-defined]
    yield farm, servers
    farm.close()


def room_on(cluster: RedisClusterSet, port: int, tag: str) -> str:
    """A new room name whose key's slot the primary on ``port`` owns."""
    while True:
        name = f"{tag}-{uuid.uuid4().hex[:8]}"
        if cluster.primary_of(protocol.room_key(name)) == port:
            return name


def subscribers(r: redis.Redis, channel: str) -> int:
    """PUBSUB SHARDNUMSUB of one channel on one node."""
    return int(dict(r.execute_command("PUBSUB SHARDNUMSUB", channel))[channel.encode()])


def get_json(server, path: str) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=10) as response:
        return json.load(response)


def online(server, room: str) -> int:
    rooms = get_json(server, "/rooms.json")["rooms"]
    return next((r["online"] for r in rooms if r["name"] == room), 0)


async def until(check, within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while not await asyncio.to_thread(check):
        assert time.monotonic() < deadline, "not within the time allowed"
        await asyncio.sleep(0.1)


async def send_all(ws, tag: str, count: int, *, pause: float = 0.0) -> None:
    for n in range(count):
        await send(ws, {"message": f"{tag}-{n}", "client_id": f"{tag}-{n}"})
        if pause:
            await asyncio.sleep(pause)


@pytest.mark.embedded_only
async def test_a_process_listens_only_on_the_shards_of_its_rooms(cluster, two):
    farm, (a, b) = two
    assert cluster.subscriptions() == dict.fromkeys(cluster.primaries(), 0)
    control = cluster.primary_of(busevents.CONTROL)
    elsewhere = next(p for p in cluster.primaries() if p != control)
    untouched = next(p for p in cluster.primaries() if p not in (control, elsewhere))
    room = room_on(cluster, elsewhere, "one")
    kim, _, _ = await join(a.ws, room, "?name=kim")
    lee, _, _ = await join(b.ws, room, "?name=lee")
    # Each process: one sharded subscription on its room's shard, one on the control channel's,
    # none on the third shard.
    assert cluster.subscriptions() == {control: 2, elsewhere: 2, untouched: 0}
    # The room's channel and presence set are on its shard (hash-tagged by the room's key).
    with redis.Redis(port=elsewhere, socket_timeout=5) as r:
        key = protocol.room_key(room)
        assert subscribers(r, f"{farm.prefix}:{{{key}}}") == 2
        names = {m.split(b"|", 1)[1] for m in r.zrange(f"{farm.prefix}:presence:{{{key}}}", 0, -1)}
        assert names == {b"kim", b"lee"}
    await send(kim, {"message": "a to b"})
    assert [m["message"] for m in await next_messages(lee, 1)] == ["a to b"]
    await kim.close()
    await lee.close()
    # The last member gone, the process leaves the shard.
    await until(lambda: cluster.subscriptions()[elsewhere] == 0)


@pytest.mark.embedded_only
async def test_rooms_on_every_shard_stream_across_processes(cluster, two):
    _, servers = two
    rooms = [room_on(cluster, port, "spread") for port in cluster.primaries()]
    assert len({cluster.primary_of(protocol.room_key(r)) for r in rooms}) == 3
    per_sender, senders_per_room = 40, 2

    async def one_room(room: str) -> None:
        senders = [(await join(servers[i % 2].ws, room, f"?name=s{i}"))[0] for i in range(senders_per_room)]
        readers = [(await join(servers[i % 2].ws, room, f"?name=r{i}"))[0] for i in range(2)]
        total = per_sender * senders_per_room
        results = await asyncio.gather(
            *(send_all(ws, f"{room}-{i}", per_sender) for i, ws in enumerate(senders)),
            *(next_messages(ws, total, within=30) for ws in senders + readers),
        )
        streams = results[senders_per_room:]
        for stream in streams:
            assert [m["id"] for m in stream] == list(range(1, total + 1))
            assert [m["client_id"] for m in stream] == [m["client_id"] for m in streams[0]]
        for ws in senders + readers:
            await ws.close()

    await asyncio.gather(*(one_room(r) for r in rooms))


@pytest.mark.embedded_only
async def test_presence_and_typing_across_processes_on_a_shard(cluster, two):
    _, (a, b) = two
    room = room_on(cluster, cluster.primaries()[0], "presence")
    kim, _, _ = await join(a.ws, room, "?name=kim")
    lee, _, _ = await join(b.ws, room, "?name=lee")
    while (await recv_until(kim, "presence"))["users"] != ["kim", "lee"]:
        pass
    await send(lee, {"type": "typing"})
    assert await recv_until(kim, "typing") == {"type": "typing", "sender": "lee"}
    assert await asyncio.to_thread(online, a, room) == 2  # the page's count, read from the shard
    assert await asyncio.to_thread(get_json, b, "/healthz") == {"database": "ok", "redis": "ok"}
    await lee.close()
    while (await recv_until(kim, "presence"))["users"] != ["kim"]:
        pass
    await kim.close()


@pytest.fixture(scope="module")
def accounts(two):
    """Accounts and namespaces on the cluster's farm (the core door: tests/e2e/conftest.py)."""
    farm, (a, b) = two
    core = Core(farm)
    yield Two(a, b, core, {}, uuid.uuid4().hex[:6])
    core.close()


@pytest.mark.embedded_only
async def test_a_kick_on_the_control_channel_closes_the_connections_on_both_processes(accounts):
    """Kicks travel on the control channel (``{control}``, on its own shard) to every process."""
    mod = accounts
    owner, victim, other = (mod.user(p) for p in ("own", "vic", "oth"))
    ns = mod.namespace(owner)
    victims = [await joined(mod, mod.a, ns, "hall", victim), await joined(mod, mod.b, ns, "hall", victim)]
    observer = await joined(mod, mod.b, ns, "hall", other)
    answer = mod.api("POST", f"/api/v1/ns/{ns}/rooms/hall/kick", {"username": victim}, as_=owner)
    assert answer.status == 200, answer.text
    since = time.monotonic()
    await asyncio.gather(*(closed_removed(ws, since) for ws in victims))
    await still_open(observer)
    await observer.close()


@pytest.mark.embedded_only
async def test_a_mention_reaches_the_user_on_the_other_process_through_their_user_channel(accounts):
    """Mentions travel on the user's channel (``{user.<id>}``, on its own shard)."""
    mod = accounts
    owner, ann, cho = (mod.user(p) for p in ("own", "ann", "cho"))
    ns = mod.namespace(owner)
    speaker = await joined(mod, mod.a, ns, "hall", ann)
    mentioned = await joined(mod, mod.b, ns, "lobby", cho)  # another room, the other process
    await send(speaker, {"message": f"@{cho} look"})
    frame = await recv_until(mentioned, "mention")
    assert (frame["room"], frame["sender"], frame["message"]) == ("hall", ann, f"@{cho} look")
    for ws in (speaker, mentioned):
        await ws.close()


class Reader:
    """Reads a room from id 1 on, resuming with ``?after=`` when dropped; notes when each came."""

    def __init__(self, base: str, room: str) -> None:
        self.base, self.room = base, room
        self.stream: list[dict] = []
        self.times: list[float] = []

    @property
    def last_id(self) -> int:
        return self.stream[-1]["id"] if self.stream else 0

    def _got(self, frames: list[dict]) -> None:
        self.stream.extend(frames)
        self.times.extend([time.monotonic()] * len(frames))

    async def run(self, until: asyncio.Event) -> None:
        ws, _, history = await join_retrying(self.base, self.room, "?name=reader&after=0")
        self._got(history)
        while not until.is_set():
            try:
                self._got(await next_messages(ws, 1, within=1))
            except TimeoutError:
                continue
            except DROPPED:
                ws, _, history = await join_retrying(self.base, self.room, f"?name=reader&after={self.last_id}")
                self._got(history)
        await ws.close()

    def longest_wait(self, start: float) -> float:
        """The longest time without a new message after ``start``."""
        times = [start, *(t for t in self.times if t > start)]
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


async def traffic(servers, rooms: list[str], disrupt) -> dict[str, object]:
    """Numbered senders and readers on both processes in each room; ``disrupt()`` runs once each
    room has some traffic; then every reader must reach its room's last id with a consecutive
    stream holding every acknowledged message once."""
    readers = {room: [Reader(servers[i % 2].ws, room) for i in range(2)] for room in rooms}
    senders = {room: [Sender(i, servers[i % 2].ws, room) for i in range(2)] for room in rooms}
    stop, after, done_reading = asyncio.Event(), asyncio.Event(), asyncio.Event()
    reading = [asyncio.create_task(r.run(done_reading)) for rs in readers.values() for r in rs]
    sending = [asyncio.create_task(s.run(stop, after)) for ss in senders.values() for s in ss]
    all_senders = [s for ss in senders.values() for s in ss]

    async def acked(count: int, *, after_disruption: bool = False) -> None:
        while True:
            for task in sending:
                if task.done():
                    task.result()
            if all((s.acked_after_failover if after_disruption else len(s.acked)) >= count for s in all_senders):
                return
            await asyncio.sleep(0.05)

    await asyncio.wait_for(acked(15), 30)
    started = time.monotonic()

    def add_reader(server, room: str) -> None:
        """Start one more reader (from id 1) in ``room``: e.g. joining while a shard fails over."""
        reader = Reader(server.ws, room)
        readers[room].append(reader)
        reading.append(asyncio.create_task(reader.run(done_reading)))

    figures = await disrupt(add_reader)
    after.set()
    await asyncio.wait_for(acked(10, after_disruption=True), 45)
    stop.set()
    await asyncio.wait_for(asyncio.gather(*sending), 40)
    for room in rooms:
        probe, hello, _ = await join_retrying(servers[0].ws, room, "?name=probe")
        await probe.close()
        last = hello["last_id"]

        def caught_up(room: str = room, last: int = last) -> bool:
            return all(r.last_id >= last for r in readers[room])

        await until(caught_up, within=30)
        acknowledged = {cid: mid for s in senders[room] for cid, mid in s.acked.items()}
        for reader in readers[room]:
            assert [m["id"] for m in reader.stream] == list(range(1, last + 1)), "a gap, a repeat or a reordering"
            client_ids = [m["client_id"] for m in reader.stream]
            assert len(set(client_ids)) == len(client_ids), "a message stored twice"
            got = {m["client_id"]: m["id"] for m in reader.stream}
            lost = sorted(cid for cid in acknowledged if got.get(cid) != acknowledged[cid])
            assert not lost, f"{len(lost)} acknowledged messages lost: {lost[:10]}"
    done_reading.set()
    await asyncio.gather(*reading)
    waits = {room: max(r.longest_wait(started) for r in readers[room]) for room in rooms}
    return {**figures, "longest_wait": waits, "messages": sum(len(s.acked) for s in all_senders)}


@pytest.mark.embedded_only
async def test_a_slot_migrated_under_traffic_loses_nothing(cluster, two):
    _, servers = two
    source, target = cluster.primaries()[:2]
    moving = room_on(cluster, source, "moving")
    staying = room_on(cluster, target, "staying")

    async def migrate(add_reader) -> dict[str, object]:
        slot = redis.crc.key_slot(protocol.room_key(moving).encode())
        began = time.monotonic()
        await asyncio.to_thread(cluster.migrate_slot, slot, source, target)
        return {"migration_s": round(time.monotonic() - began, 3)}

    figures = await traffic(servers, [moving, staying], migrate)
    assert cluster.primary_of(protocol.room_key(moving)) == target
    print(f"\nslot migration under traffic: {figures}")
    # The processes now listen for the room on its new shard, and messages cross.
    channel = f"{two[0].prefix}:{{{protocol.room_key(moving)}}}"
    kim, _, _ = await join(servers[0].ws, moving, "?name=kim")
    lee, _, _ = await join(servers[1].ws, moving, "?name=lee")
    with redis.Redis(port=target, socket_timeout=5) as r:
        assert subscribers(r, channel) == 2
    with redis.Redis(port=source, socket_timeout=5) as r:
        assert subscribers(r, channel) == 0
    await send(kim, {"message": "moved", "client_id": "kim-moved"})
    assert (await next_messages(lee, 1))[0]["client_id"] == "kim-moved"
    for ws in (kim, lee):
        await ws.close()


@pytest.mark.embedded_only
async def test_a_primary_killed_under_traffic_loses_nothing(cluster, two):
    _, (a, b) = two
    victim = cluster.primaries()[0]
    survivor = next(p for p in cluster.primaries() if p != victim)
    hit = room_on(cluster, victim, "hit")
    spared = room_on(cluster, survivor, "spared")

    async def kill(add_reader) -> dict[str, object]:
        began = time.monotonic()
        await asyncio.to_thread(cluster.kill, victim)
        await asyncio.sleep(0.3)
        for server in (a, b):  # joins while the shard has no primary: they catch up once it has
            add_reader(server, hit)
        promoted = await asyncio.to_thread(cluster.wait_failover, victim, protocol.room_key(hit))
        return {"promoted": promoted, "failover_s": round(time.monotonic() - began, 3)}

    figures = await traffic((a, b), [hit, spared], kill)
    print(f"\nprimary killed under traffic: {figures}")
    # Presence after the failover: members on both processes see each other in the room whose
    # shard failed over, and the page's count (read from the promoted replica) is right.
    kim, _, _ = await join_retrying(a.ws, hit, "?name=kim")
    lee, _, _ = await join_retrying(b.ws, hit, "?name=lee")
    while (await recv_until(kim, "presence"))["users"] != ["kim", "lee"]:
        pass
    assert await asyncio.to_thread(online, b, hit) == 2
    await send(lee, {"message": "after the failover", "client_id": "lee-after"})
    frame = (await next_messages(kim, 1, within=10))[0]
    assert frame["client_id"] == "lee-after"
    for ws in (kim, lee):
        await ws.close()
    for server in (a, b):
        log = server.log()
        assert "Traceback" not in log
        # The failed shard alone is resubscribed (the others go on), logged once, not per message.
        assert log.count("lost the subscription on") == 1, log
        assert log.count("Redis unreachable") == 0, log
