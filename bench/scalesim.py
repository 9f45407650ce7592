"""``python -m bench.scalesim``: Parley's Redis, database and network traffic for N processes and M
rooms of K members, without any server (the arithmetic of docs/scaling.md, room by room).

The model is Parley's fan-out (docs/architecture.md, "Fan-out without the channel layer"): a
message is stored once by the process its sender is connected to, published once on its room's
channel, delivered by Redis to every process that has a member of the room (each subscribes once
per room it has members of), and written by each such process to its own members. Members connect
to processes as a load balancer deals them: ``random`` (round robin or least connections: any
member anywhere) or ``room`` (the balancer hashes the room's URL, ``/ws/rooms/<room>/``, so a room's
members share one process). Rooms live on Redis Cluster shards by the CRC16 slot of their channel
name (``redis.crc.key_slot``; the room's key in braces, a hash tag, as presence and typing keys
need to be on the same shard), slots dealt to shards in equal ranges as ``redis-cli --cluster
create`` does.

Activity: every member sends ``rate`` messages an hour on average, times ``peak`` at the busy hour.
Costs per message and per delivery default to the numbers measured by ``make bench`` (scenario Q:
server CPU per unbatched message; A: per delivery; C: memory per connection; Q: WAL bytes and frame
bytes per message); override them with the options to see what a change would buy.
"""

from __future__ import annotations

import argparse
import bisect
import functools
import json
import math
import random
import sys
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

# Measured costs (docs/performance.md, "Quiet rooms (Q)" and "Results"; docs/scaling.md cites the runs).
Q_MEMBERS = 10
Q_CPU_PER_MESSAGE_US = 3385.0  # Q, PostgreSQL + Redis, one process: store, publish, receive, 10 deliveries
Q2_SENDER_US = 2975.0  # Q2: the sender's process, the 9 others elsewhere: store, publish, receive, 1 delivery
Q2_LISTENER_US = 315.0  # Q2: a process with 9 of the members, not the sender: receive + 9 deliveries
A_CPU_PER_DELIVERY_US = 6.5  # A: one more member to write a frame to
C_KIB_PER_CONNECTION = 15.0  # C: server memory per idle connection (issue 19)
FRAME_BYTES = 327  # Q: a message frame as the members get it (a 64-character text)
WAL_BYTES = 2001  # Q: PostgreSQL WAL per stored message (pg_waldump, this database's records only)
PUBSUB_OVERHEAD_BYTES = 60  # a pub/sub message's RESP envelope, channel name and event header
# bench.redispub on a private redis-server: Redis CPU per PUBLISH (one round trip each, 11-15 us with
# one subscriber) and per pub/sub message out (1.1-2.1 us more per subscriber); per presence entry
# refreshed (``--presence``: a ZADD per room in pipelines of 500, 1.2 us with 1 name, 12.5 with 10).
REDIS_PUBLISH_US = 12.0
REDIS_MESSAGE_OUT_US = 1.5
REDIS_PRESENCE_US = 1.25
PRESENCE_REFRESH_S = 20.0  # each process refreshes its presence entries this often (architecture.md)
RECEIVE_US = Q2_LISTENER_US - (Q_MEMBERS - 1) * A_CPU_PER_DELIVERY_US  # a pub/sub message into the hub
STORE_US = Q2_SENDER_US - RECEIVE_US - A_CPU_PER_DELIVERY_US  # store + publish


@dataclass
class Shard:
    """One Redis Cluster primary's share of the traffic."""

    rooms: int = 0
    subscriptions: int = 0  # (room, process) pairs: SSUBSCRIBEs held on this shard
    publishes_per_s: float = 0.0  # SPUBLISH in
    messages_out_per_s: float = 0.0  # pub/sub messages sent to subscribed processes
    presence_writes_per_s: float = 0.0  # presence entries refreshed (a ZADD per room and process carries them)

    def bytes_in_per_s(self, payload: int) -> float:
        return self.publishes_per_s * payload

    def bytes_out_per_s(self, payload: int) -> float:
        return self.messages_out_per_s * payload


@dataclass
class Process:
    """One Parley server process's share of the traffic."""

    connections: int = 0
    subscriptions: int = 0  # rooms it has members of
    shards: set[int] = field(default_factory=set)  # shards it holds subscriptions on
    stores_per_s: float = 0.0  # messages its senders send: stored and published by it
    received_per_s: float = 0.0  # pub/sub messages it gets
    deliveries_per_s: float = 0.0  # WebSocket frames it writes to its members


@dataclass(frozen=True)
class Costs:
    """What a message and a delivery cost (defaults: measured; see the module's docstring)."""

    store_us: float = STORE_US
    delivery_us: float = A_CPU_PER_DELIVERY_US
    receive_us: float = RECEIVE_US
    kib_per_connection: float = C_KIB_PER_CONNECTION
    frame_bytes: int = FRAME_BYTES
    wal_bytes: int = WAL_BYTES
    redis_publish_us: float = REDIS_PUBLISH_US
    redis_message_out_us: float = REDIS_MESSAGE_OUT_US
    redis_presence_us: float = REDIS_PRESENCE_US


def slot_ranges(shards: int) -> list[tuple[int, int]]:
    """The (first, last) slot of each shard as ``redis-cli --cluster create`` deals them (its rounding)."""
    if shards < 1 or shards > REDIS_CLUSTER_HASH_SLOTS:
        raise ValueError("1 <= shards <= 16384")
    per = REDIS_CLUSTER_HASH_SLOTS / shards
    ranges, first, cursor = [], 0, 0.0
    for i in range(shards):
        last = math.floor(cursor + per - 1 + 0.5)  # C's lround
        if last > REDIS_CLUSTER_HASH_SLOTS or i == shards - 1:
            last = REDIS_CLUSTER_HASH_SLOTS - 1
        last = max(last, first)
        ranges.append((first, last))
        first, cursor = last + 1, cursor + per
    return ranges


def shard_of_slot(slot: int, shards: int) -> int:
    """The shard holding ``slot`` (``slot_ranges``' dealing)."""
    if not 0 <= slot < REDIS_CLUSTER_HASH_SLOTS:
        raise ValueError("0 <= slot < 16384")
    return bisect.bisect_left(_lasts(shards), slot)


@functools.cache
def _lasts(shards: int) -> list[int]:
    return [last for _, last in slot_ranges(shards)]


def room_channel(room: int, prefix: str = "parley") -> str:
    """The room's channel name, its key in braces (a hash tag) so its other keys share its slot."""
    return f"{prefix}:{{room.{room}}}"


def room_shard(room: int, shards: int, prefix: str = "parley") -> int:
    return shard_of_slot(key_slot(room_channel(room, prefix).encode()), shards)


def place_members(room: int, members: int, processes: int, placement: str, rng: random.Random) -> list[int]:
    """How many of the room's members connect to each process (a list of ``processes`` counts)."""
    counts = [0] * processes
    if placement == "room":
        counts[zlib.crc32(f"/ws/rooms/{room}/".encode()) % processes] = members
    elif placement == "random":
        for _ in range(members):
            counts[rng.randrange(processes)] += 1
    else:
        raise ValueError(f"placement is room or random, not {placement!r}")
    return counts


@dataclass
class Result:
    processes: list[Process]
    shards: list[Shard]
    messages_per_s: float
    deliveries_per_s: float
    connections: int


def simulate(
    processes: int,
    rooms: int,
    members: int,
    rate: float,
    shards: int = 1,
    peak: float = 1.0,
    placement: str = "random",
    seed: int = 1,
) -> Result:
    """Traffic per process and per shard: ``rooms`` rooms of ``members`` members, each member sending
    ``rate`` messages an hour, times ``peak``."""
    if min(processes, rooms, members, shards) < 1 or rate < 0 or peak <= 0:
        raise ValueError("processes, rooms, members, shards >= 1; rate >= 0; peak > 0")
    rng = random.Random(seed)
    procs = [Process() for _ in range(processes)]
    shard_list = [Shard() for _ in range(shards)]
    per_member = rate * peak / 3600.0  # messages a second from each member
    room_rate = per_member * members
    for room in range(rooms):
        shard_index = room_shard(room, shards)
        shard = shard_list[shard_index]
        shard.rooms += 1
        shard.publishes_per_s += room_rate
        counts = place_members(room, members, processes, placement, rng)
        for p, local in enumerate(counts):
            if not local:
                continue
            proc = procs[p]
            proc.connections += local
            proc.subscriptions += 1
            proc.shards.add(shard_index)
            proc.stores_per_s += per_member * local
            proc.received_per_s += room_rate
            proc.deliveries_per_s += room_rate * local
            shard.subscriptions += 1
            shard.messages_out_per_s += room_rate
            shard.presence_writes_per_s += local / PRESENCE_REFRESH_S
    return Result(
        processes=procs,
        shards=shard_list,
        messages_per_s=room_rate * rooms,
        deliveries_per_s=room_rate * rooms * members,
        connections=rooms * members,
    )


def process_cpu(proc: Process, costs: Costs) -> float:
    """Cores a process needs: its stores (and publishes), the pub/sub messages it receives (its own
    rooms' included: the storing process learns of its message from Redis too), its deliveries."""
    us = proc.stores_per_s * costs.store_us + proc.received_per_s * costs.receive_us
    return (us + proc.deliveries_per_s * costs.delivery_us) / 1e6


def shard_cpu(shard: Shard, costs: Costs) -> float:
    """Redis cores a shard needs for its publishes, its pub/sub messages out and presence refreshes."""
    us = shard.publishes_per_s * costs.redis_publish_us + shard.messages_out_per_s * costs.redis_message_out_us
    return (us + shard.presence_writes_per_s * costs.redis_presence_us) / 1e6


def summary(result: Result, costs: Costs) -> dict[str, object]:
    """Totals and the busiest process and shard, as printed (``--json``: all of it)."""
    payload = costs.frame_bytes + PUBSUB_OVERHEAD_BYTES
    cores = [process_cpu(p, costs) for p in result.processes]
    return {
        "connections": result.connections,
        "messages_per_s": result.messages_per_s,
        "deliveries_per_s": result.deliveries_per_s,
        "db_writes_per_s": result.messages_per_s,
        "wal_bytes_per_s": result.messages_per_s * costs.wal_bytes,
        "websocket_bytes_out_per_s": result.deliveries_per_s * costs.frame_bytes,
        "redis_publishes_per_s": sum(s.publishes_per_s for s in result.shards),
        "redis_messages_out_per_s": sum(s.messages_out_per_s for s in result.shards),
        "redis_bytes_out_per_s": sum(s.bytes_out_per_s(payload) for s in result.shards),
        "cores": sum(cores),
        "busiest_process_cores": max(cores),
        "memory_gib": result.connections * costs.kib_per_connection / 2**20,
        "processes": [
            {**{k: v for k, v in asdict(p).items() if k != "shards"}, "shards": len(p.shards), "cores": c}
            for p, c in zip(result.processes, cores, strict=True)
        ],
        "shards": [
            {
                **asdict(s),
                "bytes_in_per_s": s.bytes_in_per_s(payload),
                "bytes_out_per_s": s.bytes_out_per_s(payload),
                "cores": shard_cpu(s, costs),
            }
            for s in result.shards
        ],
    }


def _si(x: float) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= size:
            return f"{x / size:,.1f}{unit}"
    return f"{x:,.1f}"


def render(result: Result, costs: Costs, show: int = 8) -> str:
    """The tables: per shard, per process (the ``show`` busiest and the spread), totals."""
    s = summary(result, costs)
    lines = [
        f"{'shard':>5} {'rooms':>8} {'subs':>8} {'publish/s':>10} {'msgs out/s':>11} {'MB/s in':>8} "
        f"{'MB/s out':>9} {'presence/s':>11} {'cores':>6}"
    ]
    for i, sh in enumerate(s["shards"]):  # type: ignore[arg-type]
        lines.append(
            f"{i:>5} {sh['rooms']:>8,} {sh['subscriptions']:>8,} {sh['publishes_per_s']:>10,.0f} "
            f"{sh['messages_out_per_s']:>11,.0f} {sh['bytes_in_per_s'] / 1e6:>8.2f} "
            f"{sh['bytes_out_per_s'] / 1e6:>9.2f} "
            f"{sh['presence_writes_per_s']:>11,.0f} {sh['cores']:>6.2f}"
        )
    procs: list[dict[str, float]] = s["processes"]  # type: ignore[assignment]
    order = sorted(range(len(procs)), key=lambda i: -procs[i]["cores"])
    lines.append("")
    lines.append(
        f"{'process':>7} {'conns':>8} {'subs':>8} {'shards':>6} {'stores/s':>9} {'pubsub in/s':>12} "
        f"{'ws out/s':>10} {'cores':>6}"
    )
    for i in order[:show]:
        p = procs[i]
        lines.append(
            f"{i:>7} {p['connections']:>8,} {p['subscriptions']:>8,} {p['shards']:>6} {p['stores_per_s']:>9,.1f} "
            f"{p['received_per_s']:>12,.0f} {p['deliveries_per_s']:>10,.0f} {p['cores']:>6.2f}"
        )
    if len(procs) > show:
        lines.append(f"  ... {len(procs) - show} more processes; the {show} busiest shown")
    cores = [p["cores"] for p in procs]
    lines += [
        "",
        f"connections {s['connections']:,}; messages {s['messages_per_s']:,.0f}/s; "
        f"deliveries {s['deliveries_per_s']:,.0f}/s",
        f"database: {s['db_writes_per_s']:,.0f} messages stored/s, WAL {_si(s['wal_bytes_per_s'])}B/s "
        f"({costs.wal_bytes:,} B per message)",
        f"Redis: {s['redis_publishes_per_s']:,.0f} publishes/s in, {s['redis_messages_out_per_s']:,.0f} pub/sub "
        f"messages/s out ({_si(s['redis_bytes_out_per_s'])}B/s)",
        f"WebSocket out: {_si(s['websocket_bytes_out_per_s'] * 8)}bit/s ({costs.frame_bytes} B per frame)",
        f"server CPU: {s['cores']:,.1f} cores in all (busiest process {max(cores):.2f}, idlest {min(cores):.2f}); "
        f"memory {s['memory_gib']:,.1f} GiB for connections ({costs.kib_per_connection} KiB each)",
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.scalesim", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--processes", type=int, required=True, help="Parley server processes")
    p.add_argument("--rooms", type=int, required=True, help="rooms")
    p.add_argument("--members", type=int, required=True, help="connected members per room")
    p.add_argument("--rate", type=float, required=True, help="messages each member sends an hour")
    p.add_argument("--shards", type=int, default=1, help="Redis Cluster primaries (default 1: one Redis)")
    p.add_argument("--peak", type=float, default=1.0, help="busy-hour factor on --rate (default 1)")
    p.add_argument(
        "--placement",
        choices=("random", "room"),
        default="random",
        help="random: members connect to any process; room: the balancer hashes the room's URL",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--store-us", type=float, default=Costs.store_us, help="server CPU per stored message (us)")
    p.add_argument("--delivery-us", type=float, default=Costs.delivery_us, help="server CPU per delivery (us)")
    p.add_argument(
        "--receive-us",
        type=float,
        default=Costs.receive_us,
        help="server CPU per pub/sub message for a room the process did not store it for (us, a guess)",
    )
    p.add_argument("--frame-bytes", type=int, default=Costs.frame_bytes)
    p.add_argument("--wal-bytes", type=int, default=Costs.wal_bytes)
    p.add_argument("--show", type=int, default=8, help="processes listed (the busiest)")
    p.add_argument("--json", action="store_true", help="print everything as JSON")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    costs = Costs(
        store_us=args.store_us,
        delivery_us=args.delivery_us,
        receive_us=args.receive_us,
        frame_bytes=args.frame_bytes,
        wal_bytes=args.wal_bytes,
    )
    try:
        result = simulate(
            args.processes, args.rooms, args.members, args.rate, args.shards, args.peak, args.placement, args.seed
        )
    except ValueError as exc:
        print(f"scalesim: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary(result, costs), indent=2) if args.json else render(result, costs, args.show))
    return 0


if __name__ == "__main__":
    sys.exit(main())
