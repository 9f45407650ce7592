"""The bench's peers and its load generator in several processes (bench.peers, bench.swarm, issue 19):
each peer's server, started as the bench starts it, takes a tiny B (3 rooms of 5) and a tiny K (one
room of 20) from two client processes, and every client gets every message of its room, in order.
The Node peers install bench/node's locked packages the first time (npm ci, then a stamp). No timing
is asserted."""

import pytest

from bench import curves, peers, servers, swarm
from bench.swarm import frame, parse_frames


def test_frames_round_trip_whatever_the_length_and_however_they_arrive():
    payloads = [b"", b"x" * 125, b"y" * 126, b"z" * 70_000]
    # A server's frames are a client's without the mask bit and key (the zero key leaves the payload as is).
    wire = b""
    for p in payloads:
        f = frame(1, p)
        head = len(f) - len(p) - 4
        wire += bytes((f[0], f[1] & 0x7F)) + f[2:head] + f[head + 4 :]
    got: list[bytes] = []
    buf = bytearray()
    for i in range(0, len(wire), 1000):  # in pieces that cut headers and payloads
        buf += wire[i : i + 1000]
        frames, used = parse_frames(buf)
        del buf[:used]
        got += [payload for opcode, fin, payload in frames if opcode == 1 and fin]
    assert got == payloads
    assert not buf


def test_b_target_is_met_only_at_or_below_socketio_node_and_the_tables_show_every_target():
    def b(us):
        return {"B": {"server_cpu_per_delivery_us": us, "deliveries_per_s": 1000.0, "lost": 0}}

    results = {"parley": b(20.0), "socketio-node": b(25.0), "ws-node": b(5.0)}
    assert peers.b_target_row(results) == (20.0, 25.0, 0.8, True)
    assert peers.target_line(results).endswith("met: yes")
    results["parley"] = b(30.0)
    assert peers.b_target_row(results)[3] is False
    assert peers.target_line(results).endswith("met: NO")
    assert peers.b_target_row({"parley": b(30.0)}) is None  # no Socket.IO in the run: no verdict
    rows = peers.table(results)
    assert [r[0] for r in rows[1:]] == [peers.LABELS[n] for n in ("socketio-node", "ws-node", "parley")]
    assert rows[1][-1] == "0.83x"  # 25 / 30
    k = {"parley": {"K": {"10": {"server_cpu_per_delivery_us": 50.0, "deliveries_per_s": 9.0, "lost": 0}}}}
    k["parley"]["K"]["1000"] = {"server_cpu_per_delivery_us": 5.0, "deliveries_per_s": 90.0, "lost": 0}
    assert curves.curve(k, "parley") == [(10, 50.0), (1000, 5.0)]
    assert curves.table(k)[1][1:] == ["50.0 (9)", "5.0 (90)", "0"]


@pytest.mark.embedded_only  # servers of its own, on the machine's Redis (and PostgreSQL)
@pytest.mark.parametrize("name", ["ws-node", "socketio-node", "socketio-py", "parley"])
async def test_a_peer_delivers_every_message_of_b_and_k_from_two_processes(name, tmp_path):
    target = servers.Target(name=name, tmp=tmp_path)
    shapes = [("B", 3, 5, 1)] if name == "parley" else [("B", 3, 5, 1), ("K", 1, 20, 2)]
    try:
        for label, rooms, members, senders in shapes:
            server = target.start()
            try:
                m = await swarm.run_rooms(
                    server,
                    target,
                    label=label,
                    rooms=rooms,
                    members=members,
                    senders_per_room=senders,
                    duration=1.0,
                    warmup=0.3,
                    drain=5.0,
                    settle=0.3,
                    procs=2,
                    log=lambda _: None,
                )
            finally:
                server.stop()
            assert (m["connections"], m["connect_failures"], m["client_processes"]) == (rooms * members, 0, 2)
            assert m["messages_sent"] > 0
            assert m["expected_deliveries"] == m["messages_sent"] * members
            assert (m["lost"], m["disorder"], m["errors"], m["closed_early"]) == (0, 0, 0, 0)
            assert m["deliveries"] > 0 and m["server_cpu_s"] >= 0
    finally:
        target.close()
