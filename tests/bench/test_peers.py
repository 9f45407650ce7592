"""The bench's peers and its load generator in several processes (bench.peers, bench.swarm, issue 19):
each peer's server, started as the bench starts it, takes a tiny B (3 rooms of 5) and a tiny K (one
room of 20) from two client processes, and every client gets every message of its room, in order.
The Node peers install bench/node's locked packages the first time (npm ci, then a stamp). No timing
is asserted."""

import pytest

from bench import servers, swarm
from bench.swarm import frame, parse_frames

pytestmark = pytest.mark.embedded_only  # servers of its own, on the machine's Redis (and PostgreSQL)


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
