"""bench.scalesim's arithmetic: slots to shards as Redis Cluster deals them, rooms to processes, traffic."""

import itertools
import json

import pytest
from redis.crc import key_slot

from bench.scalesim import (
    A_CPU_PER_DELIVERY_US,
    Q2_LISTENER_US,
    Q2_SENDER_US,
    Q_CPU_PER_MESSAGE_US,
    Costs,
    main,
    place_members,
    process_cpu,
    room_channel,
    room_shard,
    shard_of_slot,
    simulate,
    slot_ranges,
    summary,
)

pytestmark = pytest.mark.embedded_only  # no backend: the same on both passes


def test_slots_are_dealt_as_redis_cli_deals_them():
    assert slot_ranges(1) == [(0, 16383)]
    assert slot_ranges(3) == [(0, 5460), (5461, 10922), (10923, 16383)]  # redis-cli --cluster create, 3 masters
    for shards in (2, 5, 6, 7, 100):
        ranges = slot_ranges(shards)
        assert ranges[0][0] == 0 and ranges[-1][1] == 16383
        assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(ranges))  # no gap, no overlap
        sizes = [last - first + 1 for first, last in ranges]
        assert max(sizes) - min(sizes) <= 1
    assert [shard_of_slot(s, 3) for s in (0, 5460, 5461, 10922, 10923, 16383)] == [0, 0, 1, 1, 2, 2]
    with pytest.raises(ValueError):
        shard_of_slot(16384, 3)
    with pytest.raises(ValueError):
        slot_ranges(0)


def test_a_rooms_channel_and_its_other_keys_share_a_slot():
    channel = room_channel(42)
    assert channel == "parley:{room.42}"
    assert key_slot(channel.encode()) == key_slot(b"parley:presence:{room.42}") == key_slot(b"room.42")
    assert room_shard(42, 3) == shard_of_slot(key_slot(b"room.42"), 3)


def test_members_are_placed_on_one_process_per_room_or_anywhere():
    import random

    rng = random.Random(1)
    one = place_members(7, 10, 4, "room", rng)
    assert sorted(one) == [0, 0, 0, 10]
    assert place_members(7, 10, 4, "room", rng) == one  # the same room, the same process
    spread = place_members(7, 1000, 4, "random", rng)
    assert sum(spread) == 1000 and min(spread) > 150
    with pytest.raises(ValueError):
        place_members(7, 10, 4, "sticky", rng)


def test_totals_follow_from_rooms_members_and_rate():
    r = simulate(processes=5, rooms=200, members=10, rate=36.0, shards=3, peak=2.0)
    per_room = 10 * 36.0 * 2.0 / 3600  # 0.2 messages/s
    assert r.messages_per_s == pytest.approx(200 * per_room)
    assert r.deliveries_per_s == pytest.approx(200 * per_room * 10)
    assert r.connections == sum(p.connections for p in r.processes) == 2000
    assert sum(s.rooms for s in r.shards) == 200
    assert sum(s.publishes_per_s for s in r.shards) == pytest.approx(r.messages_per_s)
    assert sum(p.stores_per_s for p in r.processes) == pytest.approx(r.messages_per_s)
    assert sum(p.deliveries_per_s for p in r.processes) == pytest.approx(r.deliveries_per_s)
    # Every (room, process) subscription gets every message of its room from its shard.
    assert sum(s.subscriptions for s in r.shards) == sum(p.subscriptions for p in r.processes)
    assert sum(s.messages_out_per_s for s in r.shards) == pytest.approx(sum(p.received_per_s for p in r.processes))
    assert sum(s.presence_writes_per_s for s in r.shards) == pytest.approx(2000 / 20)


def test_room_placement_sends_each_message_to_one_process_random_to_many():
    hashed = simulate(processes=8, rooms=500, members=10, rate=60.0, placement="room")
    assert sum(p.subscriptions for p in hashed.processes) == 500
    assert hashed.shards[0].messages_out_per_s == pytest.approx(hashed.messages_per_s)
    spread = simulate(processes=8, rooms=500, members=10, rate=60.0, placement="random")
    fanout = spread.shards[0].messages_out_per_s / spread.messages_per_s
    # A room of 10 on 8 processes dealt at random reaches 8 * (1 - (7/8)**10) = 5.8 of them on average.
    assert fanout == pytest.approx(8 * (1 - (7 / 8) ** 10), rel=0.05)
    one = simulate(processes=1, rooms=50, members=10, rate=60.0, placement="random")
    assert one.shards[0].messages_out_per_s == pytest.approx(one.messages_per_s)


def test_the_default_costs_give_back_what_q2_measured_and_q_within_its_noise():
    # Q2's sender's process: its one member sends a message a second.
    sender = simulate(processes=1, rooms=1, members=1, rate=3600.0)
    assert sender.messages_per_s == pytest.approx(1.0)
    assert process_cpu(sender.processes[0], Costs()) == pytest.approx(Q2_SENDER_US / 1e6)
    # Q2's other process: 9 members, none sending; it receives the message and delivers it 9 times.
    listener = simulate(processes=1, rooms=1, members=9, rate=0.0).processes[0]
    listener.received_per_s, listener.deliveries_per_s = 1.0, 9.0
    assert process_cpu(listener, Costs()) == pytest.approx(Q2_LISTENER_US / 1e6)
    # Q: one process, a room of 10, a message a second (10 % apart: A's batched cost per delivery is
    # less than a quiet room's, and Q and Q2 are two runs a minute apart).
    room = simulate(processes=1, rooms=1, members=10, rate=360.0)
    assert process_cpu(room.processes[0], Costs()) == pytest.approx(Q_CPU_PER_MESSAGE_US / 1e6, rel=0.15)


def test_summary_bytes_and_memory():
    costs = Costs(frame_bytes=300, wal_bytes=2000, kib_per_connection=16.0, delivery_us=A_CPU_PER_DELIVERY_US)
    r = simulate(processes=2, rooms=1000, members=10, rate=3.6, placement="room")  # 10 messages/s
    s = summary(r, costs)
    assert s["messages_per_s"] == pytest.approx(10.0)
    assert s["wal_bytes_per_s"] == pytest.approx(20_000)
    assert s["websocket_bytes_out_per_s"] == pytest.approx(100 * 300)
    assert s["memory_gib"] == pytest.approx(10_000 * 16 / 2**20)
    assert len(s["processes"]) == 2 and len(s["shards"]) == 1
    # Redis: 10 publishes/s, each to the one process of its room, 10,000 presence refreshes per 20 s.
    redis_us = 10 * costs.redis_publish_us + 10 * costs.redis_message_out_us + 500 * costs.redis_presence_us
    assert s["shards"][0]["cores"] == pytest.approx(redis_us / 1e6)


def test_the_command_prints_tables_or_json(capsys):
    assert main(["--processes", "3", "--rooms", "30", "--members", "10", "--rate", "6", "--shards", "2"]) == 0
    out = capsys.readouterr().out
    assert "publish/s" in out and "pubsub in/s" in out and "WAL" in out
    assert main(["--processes", "2", "--rooms", "4", "--members", "5", "--rate", "6", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["connections"] == 20 and len(doc["shards"]) == 1
    assert main(["--processes", "0", "--rooms", "4", "--members", "5", "--rate", "6"]) == 2
