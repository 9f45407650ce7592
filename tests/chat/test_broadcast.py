"""chat.fanout.broadcast.Hub over real buses (LocalBus, and RedisBus on the real Redis).

Messages are really stored (so gap fills read them from the store) and events really travel through
the bus. Each test builds its own hub and, for Redis, its own key prefix.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import time
import uuid
from typing import Any

import pytest
import redis.asyncio as aioredis
from channels.db import database_sync_to_async

from chat import protocol, services
from chat.fanout import broadcast, busevents, pubsub
from chat.models import Room

pytestmark = pytest.mark.django_db(transaction=True)

REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
TIMEOUT = 10.0


class Member:
    """A hub member that records what it is given."""

    def __init__(self, name: str, *, ephemeral: bool = True) -> None:
        self.name = name
        self.origin = f"test:{uuid.uuid4().hex}"
        self.ephemeral = ephemeral
        self.bot = False
        self.frames: list[dict[str, Any]] = []
        self.seqs: list[int] = []
        self._changed = asyncio.Event()

    def push(self, text: str, seq: int = 0) -> None:
        frame = json.loads(text)
        if frame["type"] == "message":
            assert frame["id"] == seq
            self.seqs.append(seq)
        self.frames.append(frame)
        self._changed.set()

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [f for f in self.frames if f["type"] == kind]

    async def wait(self, predicate, within: float = TIMEOUT) -> None:
        async def loop() -> None:
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(loop(), within)

    async def wait_seqs(self, expected: list[int]) -> None:
        try:
            await self.wait(lambda: len(self.seqs) >= len(expected))
        finally:
            assert self.seqs == expected


def make_bus_factory(kind: str):
    if kind == "local":
        return pubsub.LocalBus
    prefix = f"parley-test-bus-{uuid.uuid4().hex[:8]}"
    return lambda sink: pubsub.RedisBus(sink, url=REDIS_URL, prefix=prefix, socket_timeout=5)


@pytest.fixture(params=["local", "redis"])
async def hub(request):
    hub = broadcast.Hub(make_bus_factory(request.param))
    yield hub
    await hub.close()


@pytest.fixture
async def room() -> Room:
    return await database_sync_to_async(services.room_get_or_create)(address=f"방-{uuid.uuid4().hex[:6]}")


async def store(room: Room, count: int) -> list[tuple[int, str]]:
    """Store ``count`` messages without publishing them: [(id, encoded frame)]."""
    drafts = [services.Post(room=room, sender="kim", body=f"body {i}") for i in range(count)]
    results = await database_sync_to_async(services.apply_changes)(drafts)
    return [(r.seq, r.text) for r in results]


def event(room: Room, stored: tuple[int, str]) -> tuple[str, bytes]:
    seq, text = stored
    return protocol.room_key(room.name), busevents.encode(busevents.RoomEvent(seq, text, message=True))


async def test_in_order_delivery_through_the_bus(hub, room):
    member = Member("kim")
    assert (await hub.join(room=room.name, member=member)).last_id == 0
    stored = await store(room, 5)
    await hub.publish_events([event(room, s) for s in stored])
    await member.wait_seqs([1, 2, 3, 4, 5])
    texts = [json.dumps(f, ensure_ascii=False) for f in member.of_type("message")]
    assert [json.loads(t) for t in texts] == [json.loads(s[1]) for s in stored]


async def test_join_returns_the_last_id_and_older_messages_are_not_replayed(hub, room):
    await store(room, 3)
    member = Member("kim")
    assert (await hub.join(room=room.name, member=member)).last_id == 3
    stored = await store(room, 1)
    await hub.publish_events([event(room, stored[0])])
    await member.wait_seqs([4])


async def test_out_of_order_events_are_delivered_in_order_after_a_fill(hub, room):
    member = Member("kim")
    await hub.join(room=room.name, member=member)
    stored = await store(room, 6)
    order = [5, 3, 1, 6, 2, 4]
    for seq in order:  # each event alone, as if from different processes
        await hub.publish_events([event(room, stored[seq - 1])])
    await member.wait_seqs([1, 2, 3, 4, 5, 6])


async def test_duplicates_are_dropped(hub, room):
    member = Member("kim")
    await hub.join(room=room.name, member=member)
    stored = await store(room, 3)
    events = [event(room, s) for s in stored]
    await hub.publish_events([events[0], events[0], events[1], events[0], events[2], events[1], events[2]])
    await member.wait_seqs([1, 2, 3])
    more = await store(room, 1)
    await hub.publish_events([events[2], event(room, more[0])])
    await member.wait_seqs([1, 2, 3, 4])


async def test_a_lost_event_is_filled_from_the_store(hub, room):
    member = Member("kim")
    await hub.join(room=room.name, member=member)
    stored = await store(room, 4)
    await hub.publish_events([event(room, stored[0]), event(room, stored[3])])  # 2 and 3 never published
    await member.wait_seqs([1, 2, 3, 4])


async def test_resync_delivers_what_was_stored_but_never_published(hub, room):
    member = Member("kim")
    await hub.join(room=room.name, member=member)
    await store(room, 2)
    hub.on_resync()
    await member.wait_seqs([1, 2])
    hub.on_resync()  # nothing new: nothing sent twice
    more = await store(room, 1)
    await hub.publish_events([event(room, more[0])])
    await member.wait_seqs([1, 2, 3])


async def test_every_member_gets_each_message_once(hub, room):
    members = [Member(f"m{i}", ephemeral=bool(i % 2)) for i in range(5)]
    for m in members:
        await hub.join(room=room.name, member=m)
    stored = await store(room, 20)
    await hub.publish_events([event(room, s) for s in reversed(stored)])
    for m in members:
        await m.wait_seqs(list(range(1, 21)))


async def test_many_first_joins_of_a_new_room_create_it_once(hub):
    name = f"새방-{uuid.uuid4().hex[:6]}"
    joined = await asyncio.gather(*(hub.join(room=name, member=Member(f"m{i}")) for i in range(20)))
    assert {(r.pk, r.name, r.last_id) for r in joined} == {(joined[0].pk, name, 0)}
    assert await database_sync_to_async(Room.objects.filter(name=name).count)() == 1


async def test_a_room_with_members_here_is_not_read_from_the_store_again(hub, room):
    first = await hub.join(room=room.name, member=Member("kim"))
    # Were the hub to ask the store again, it would now create a room with a new id.
    await database_sync_to_async(Room.objects.filter(pk=room.pk).delete)()
    again = await hub.join(room=room.name, member=Member("lee"))
    assert again.pk == first.pk == room.pk
    assert not await database_sync_to_async(Room.objects.filter(name=room.name).exists)()


async def test_a_failed_store_read_fails_every_joiner_and_is_not_remembered(hub, monkeypatch):
    calls = 0

    def broken(*, address):
        nonlocal calls
        calls += 1
        raise RuntimeError("store down")

    name = f"down-{uuid.uuid4().hex[:6]}"
    with monkeypatch.context() as patch:
        patch.setattr(broadcast.services, "room_get_or_create", broken)
        members = [Member(f"m{i}") for i in range(5)]
        results = await asyncio.gather(*(hub.join(room=name, member=m) for m in members), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results) and calls == 1
    assert protocol.room_key(name) not in hub.rooms
    joined = await hub.join(room=name, member=Member("later"))  # the store is back
    assert joined.last_id == 0
    assert await database_sync_to_async(Room.objects.filter(name=name).count)() == 1


async def test_members_of_other_rooms_get_nothing(hub, room):
    other_room = await database_sync_to_async(services.room_get_or_create)(address=f"other-{uuid.uuid4().hex[:6]}")
    here, there = Member("a"), Member("b")
    await hub.join(room=room.name, member=here)
    await hub.join(room=other_room.name, member=there)
    stored = await store(room, 2)
    await hub.publish_events([event(room, s) for s in stored])
    await here.wait_seqs([1, 2])
    marker = await store(other_room, 1)
    await hub.publish_events([event(other_room, marker[0])])
    await there.wait_seqs([1])
    assert there.of_type("message")[0]["room"] == other_room.name


async def join(hub: broadcast.Hub, room: Room, member: Member) -> int:
    """Join as a consumer does: join, (read history,) then get the first presence frame."""
    joined = await hub.join(room=room.name, member=member)
    if member.ephemeral:
        hub.greet(room=room.name, member=member)
    return joined.last_id


async def test_presence_and_typing(hub, room):
    kim, lee, seed = Member("kim"), Member("lee"), Member("park", ephemeral=False)
    await join(hub, room, kim)
    await join(hub, room, lee)
    await join(hub, room, seed)
    await kim.wait(lambda: kim.of_type("presence") and kim.of_type("presence")[-1]["users"] == ["kim", "lee", "park"])
    assert hub.presence_of(room.name) == ["kim", "lee", "park"]

    text = protocol.encode(protocol.typing_frame("kim"))
    await hub.publish_typing(room=room.name, origin=kim.origin, text=text)
    await lee.wait(lambda: lee.of_type("typing"))
    assert lee.of_type("typing") == [{"type": "typing", "sender": "kim"}]

    await hub.leave(room=room.name, member=lee)
    await kim.wait(lambda: kim.of_type("presence")[-1]["users"] == ["kim", "park"])
    # Send a message as a marker: everything before it has been delivered.
    stored = await store(room, 1)
    await hub.publish_events([event(room, stored[0])])
    await kim.wait_seqs([1])
    await seed.wait_seqs([1])
    assert kim.of_type("typing") == []  # not echoed to the typist
    assert seed.of_type("typing") == [] and seed.of_type("presence") == []  # not for the seed door
    assert all(frame["type"] == "message" for frame in seed.frames)


async def test_a_name_on_two_connections_is_one_name_until_both_leave(hub, room):
    a1, a2, b = Member("kim"), Member("kim"), Member("lee")
    for m in (a1, a2, b):
        await join(hub, room, m)
    await b.wait(lambda: b.of_type("presence") and b.of_type("presence")[-1]["users"] == ["kim", "lee"])
    await hub.leave(room=room.name, member=a1)
    assert await hub.bus.presence_names(protocol.room_key(room.name)) == ["kim", "lee"]
    await hub.leave(room=room.name, member=a2)
    await b.wait(lambda: b.of_type("presence")[-1]["users"] == ["lee"])
    # a1 leaving changed nothing: b was never sent the same list twice in a row.
    lists = [f["users"] for f in b.of_type("presence")]
    assert all(x != y for x, y in itertools.pairwise(lists)), lists


async def test_a_joiner_gets_one_presence_frame_and_others_get_the_change(hub, room):
    kim, lee = Member("kim"), Member("lee")
    await join(hub, room, kim)
    await asyncio.sleep(broadcast.PRESENCE_INTERVAL + 0.2)  # kim's own join has been announced
    await join(hub, room, lee)
    await kim.wait(lambda: kim.of_type("presence")[-1]["users"] == ["kim", "lee"])
    await asyncio.sleep(broadcast.PRESENCE_INTERVAL + 0.2)  # any later presence frame would be here by now
    assert [f["users"] for f in kim.of_type("presence")] == [["kim"], ["kim", "lee"]]
    assert [f["users"] for f in lee.of_type("presence")] == [["kim", "lee"]]
    # Nothing but presence frames so far, and the first frame a member got was its presence.
    assert lee.frames[0]["type"] == "presence"


async def test_rejoin_while_the_last_member_is_leaving(hub, room):
    """The last member leaves and someone joins the same room before the leave has finished."""
    first, second = Member("kim"), Member("lee")
    await hub.join(room=room.name, member=first)
    leaving = asyncio.get_running_loop().create_task(hub.leave(room=room.name, member=first))
    await asyncio.sleep(0)  # the leave is now waiting on the bus
    await hub.join(room=room.name, member=second)
    await asyncio.wait_for(leaving, TIMEOUT)
    await asyncio.sleep(0.05)  # let any unsubscribe the leave scheduled run

    stored = await store(room, 2)
    await hub.publish_events([event(room, s) for s in stored])
    await second.wait_seqs([1, 2])
    assert await hub.bus.presence_names(protocol.room_key(room.name)) == ["lee"]


async def test_join_after_everyone_left_subscribes_again(hub, room):
    first = Member("kim")
    await hub.join(room=room.name, member=first)
    await hub.leave(room=room.name, member=first)
    await asyncio.sleep(0.05)
    await store(room, 2)  # sent while nobody was here
    second = Member("lee")
    assert (await hub.join(room=room.name, member=second)).last_id == 2
    stored = await store(room, 1)
    await hub.publish_events([event(room, stored[0])])
    await second.wait_seqs([3])


async def _kill_subscription(bus: pubsub.RedisBus) -> None:
    """Close the bus's pub/sub connection from the Redis side (CLIENT KILL), as a network drop would."""
    conn = bus._pubsub.connection
    assert conn is not None and conn.is_connected
    host, port = conn._writer.get_extra_info("sockname")[:2]
    admin = aioredis.Redis.from_url(REDIS_URL)
    try:
        pubsub_clients = await admin.execute_command("CLIENT", "LIST", "TYPE", "pubsub")
        assert f"addr={host}:{port} ".encode() in pubsub_clients
        assert await admin.execute_command("CLIENT", "KILL", "ADDR", f"{host}:{port}")
    finally:
        await admin.aclose()


async def test_a_join_storm_writes_presence_in_a_few_batches(room):
    """300 clients join at once, a third of them leave at once: each one is counted, and the other
    processes are told in a handful of PUBLISHes, not one per join."""
    hub = broadcast.Hub(make_bus_factory("redis"))
    watcher = aioredis.Redis.from_url(REDIS_URL)
    listening = watcher.pubsub()
    await listening.subscribe(hub.bus._channel(protocol.room_key(room.name)))
    assert (await listening.get_message(timeout=TIMEOUT))["type"] == "subscribe"
    try:
        members = [Member(f"m{i:03}") for i in range(300)]
        await asyncio.wait_for(asyncio.gather(*(hub.join(room=room.name, member=m) for m in members)), TIMEOUT)
        key = protocol.room_key(room.name)
        assert await hub.bus.presence_names(key) == sorted(m.name for m in members)
        await asyncio.gather(*(hub.leave(room=room.name, member=m) for m in members[:100]))
        assert await hub.bus.presence_names(key) == sorted(m.name for m in members[100:])
        published = 0
        while (msg := await listening.get_message(timeout=0.2)) is not None:
            assert msg["data"] == busevents.PRESENCE
            published += 1
        assert 2 <= published <= 40  # one per batch: at least one for the joins and one for the leaves
    finally:
        await listening.aclose()
        await watcher.aclose()
        await hub.close()


async def test_the_presence_refresh_renews_every_room_in_pipelines(monkeypatch):
    """Entries that are about to expire are pushed back by the refresh, in every room, also when the
    rooms do not fit in one pipeline."""
    monkeypatch.setattr(pubsub, "REFRESH_BATCH", 2)
    hub = broadcast.Hub(make_bus_factory("redis"))
    redis = aioredis.Redis.from_url(REDIS_URL)
    try:
        names = [f"방-{i}-{uuid.uuid4().hex[:6]}" for i in range(5)]
        for name in names:
            await hub.join(room=name, member=Member("kim"))
        keys = [hub.bus._presence_key(protocol.room_key(name)) for name in names]
        member = pubsub._entry("kim")
        for key in keys:  # as if the last refresh were almost PRESENCE_TTL ago
            await redis.zadd(key, {member: 1.0})
        assert [await hub.bus.presence_names(protocol.room_key(n)) for n in names] == [[]] * 5
        await hub.bus._republish_presence()
        for name, key in zip(names, keys, strict=True):
            assert await redis.zscore(key, member) > time.time() + pubsub.PRESENCE_TTL - 5
            assert await hub.bus.presence_names(protocol.room_key(name)) == ["kim"]
    finally:
        await redis.aclose()
        await hub.close()


async def test_redis_reconnect_resyncs_and_loses_nothing(room):
    hub = broadcast.Hub(make_bus_factory("redis"))
    try:
        member = Member("kim")
        await hub.join(room=room.name, member=member)
        first = await store(room, 1)
        await hub.publish_events([event(room, first[0])])
        await member.wait_seqs([1])

        # Stored while the subscription is about to drop: its publish is lost with the connection.
        await store(room, 2)
        await _kill_subscription(hub.bus)
        await member.wait_seqs([1, 2, 3])  # the resync found them in the store

        # The subscription works again: live events flow without another fill.
        await _until_subscribed(hub.bus)
        more = await store(room, 1)
        await hub.publish_events([event(room, more[0])])
        await member.wait_seqs([1, 2, 3, 4])

        # And again, with a message published (not only stored) right after the drop.
        await _kill_subscription(hub.bus)
        during = await store(room, 1)
        await hub.publish_events([event(room, during[0])])
        await member.wait_seqs([1, 2, 3, 4, 5])
    finally:
        await hub.close()


async def _until_healthy(bus: pubsub.RedisBus) -> None:
    """Poll until the bus has reconnected and subscribed every room again."""
    for _ in range(int(TIMEOUT / 0.02)):
        if bus.healthy and bus._presence_writer is None and not bus._presence_dirty:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the bus did not come back")


async def _until_subscribed(bus: pubsub.RedisBus) -> None:
    """Poll (nothing to await on) until the new subscription is up."""
    for _ in range(int(TIMEOUT / 0.02)):
        conn = bus._pubsub.connection
        if conn is not None and conn.is_connected and bus._pubsub.subscribed:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the subscription did not come back")


async def test_a_malformed_event_on_the_channel_does_not_deafen_the_process(room):
    """Anything may be published on a Redis channel; the reader must log it and go on."""
    hub = broadcast.Hub(make_bus_factory("redis"))
    admin = aioredis.Redis.from_url(REDIS_URL)
    try:
        member = Member("kim")
        await hub.join(room=room.name, member=member)
        channel = hub.bus._channel(protocol.room_key(room.name))
        for junk in (b"", b"m", b"mabc\n{}", b"m1", b"t\xff", b"x", b"m1\n\xff\xfe"):
            await admin.publish(channel, junk)
        stored = await store(room, 2)
        await hub.publish_events([event(room, s) for s in stored])
        await member.wait_seqs([1, 2])
    finally:
        await admin.aclose()
        await hub.close()


async def test_redis_restart_resubscribes_and_resyncs(room, private_redis):
    """Redis goes away for a while (a restart, a failover): when it is back, the bus subscribes
    again and the hub fills in what was stored meanwhile."""
    prefix = f"parley-test-bus-{uuid.uuid4().hex[:8]}"
    hub = broadcast.Hub(lambda sink: pubsub.RedisBus(sink, url=private_redis.url, prefix=prefix, socket_timeout=5))
    try:
        member = Member("kim")
        await hub.join(room=room.name, member=member)
        first = await store(room, 1)
        await hub.publish_events([event(room, first[0])])
        await member.wait_seqs([1])

        await asyncio.to_thread(private_redis.stop)
        await store(room, 1)  # stored while Redis is down (its publish would have failed)
        await asyncio.sleep(1.0)  # an outage long enough for the reader's first reconnect attempts to fail
        await asyncio.to_thread(private_redis.start)

        await member.wait_seqs([1, 2])  # the resync after resubscribing found it in the store
        await _until_subscribed(hub.bus)
        more = await store(room, 1)
        await hub.publish_events([event(room, more[0])])
        await member.wait_seqs([1, 2, 3])
    finally:
        await hub.close()


async def test_first_joins_of_several_rooms_at_once_on_a_new_bus():
    """A process has just started: clients of different rooms join at the same moment."""
    rooms = [
        await database_sync_to_async(services.room_get_or_create)(address=f"동시-{i}-{uuid.uuid4().hex[:6]}")
        for i in range(4)
    ]
    hub = broadcast.Hub(make_bus_factory("redis"))
    try:
        members = [Member(f"m{i}") for i in range(len(rooms))]
        await asyncio.wait_for(
            asyncio.gather(*(hub.join(room=r.name, member=m) for r, m in zip(rooms, members, strict=True))),
            TIMEOUT,
        )
        for r in rooms:
            stored = await store(r, 1)
            await hub.publish_events([event(r, stored[0])])
        for m in members:
            await m.wait_seqs([1])
    finally:
        await hub.close()


async def test_joins_and_leaves_while_redis_is_down_go_on_locally_and_leave_no_ghost(room, private_redis):
    """Someone is in the room; Redis goes down; a second client joins (it is not refused: presence is
    local meanwhile) and a third joins and leaves. When Redis is back the joiner is subscribed and
    counted, the one who left is not (no ghost), and messages flow through Redis again."""
    prefix = f"parley-test-bus-{uuid.uuid4().hex[:8]}"
    hub = broadcast.Hub(lambda sink: pubsub.RedisBus(sink, url=private_redis.url, prefix=prefix, socket_timeout=5))
    key = protocol.room_key(room.name)
    try:
        kim, lee, ghost = Member("kim"), Member("lee"), Member("ghost")
        await join(hub, room, kim)
        await asyncio.to_thread(private_redis.stop)
        await asyncio.wait_for(join(hub, room, lee), 10)
        await asyncio.wait_for(join(hub, room, ghost), 10)
        await asyncio.wait_for(hub.leave(room=room.name, member=ghost), 10)
        assert await hub.bus.presence_names(key) == ["kim", "lee"]  # this process's own, meanwhile
        stored = await store(room, 1)
        await hub.publish_events([event(room, stored[0])])  # fails on the bus: delivered here
        await kim.wait_seqs([1])
        await lee.wait_seqs([1])
        await asyncio.to_thread(private_redis.start)
        await _until_healthy(hub.bus)
        assert await hub.bus.presence_names(key) == ["kim", "lee"]
        await hub.bus._republish_presence()  # what the periodic refresh does
        assert await hub.bus.presence_names(key) == ["kim", "lee"]
        more = await store(room, 1)
        await hub.publish_events([event(room, more[0])])
        await kim.wait_seqs([1, 2])
        await lee.wait_seqs([1, 2])
        assert ghost.seqs == []  # it had left before the first message
    finally:
        await hub.close()
