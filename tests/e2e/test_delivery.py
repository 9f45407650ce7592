"""End to end: the delivery guarantees with a real server and real clients. Every client receives
every message of its room exactly once and in id order, from its history on: with many senders at
once, across reconnects with ``?after=``, while joining, and next to a client that stopped reading."""

from __future__ import annotations

import asyncio
import socket

import websockets.exceptions

from tests.wsclient import close_code, connect, drop, ids, join, next_messages, no_more_messages, recv, room_url, send

SENDERS = 8
PER_SENDER = 50


async def send_all(ws, index: int, count: int, *, size: int = 0, pause: float = 0.0) -> None:
    pad = "." * size
    for n in range(count):
        await send(ws, {"message": f"{index}-{n}{pad}", "client_id": f"{index}-{n}"})
        if pause:
            await asyncio.sleep(pause)


def assert_one_stream(streams: list[list[dict]], total: int, senders: int, per_sender: int) -> None:
    """Every stream is ids 1..total in order, all streams agree, each sender's order is kept."""
    for stream in streams:
        assert ids(stream) == list(range(1, total + 1))
        assert [m["client_id"] for m in stream] == [m["client_id"] for m in streams[0]]
    for index in range(senders):
        mine = [m["client_id"] for m in streams[0] if m["client_id"].startswith(f"{index}-")]
        assert mine == [f"{index}-{n}" for n in range(per_sender)]


async def test_many_senders_many_readers_one_complete_ordered_stream(unlimited, room):
    readers = [(await join(unlimited.ws, room, f"?name=reader{i}"))[0] for i in range(4)]
    senders = [(await join(unlimited.ws, room, f"?name=sender{i}"))[0] for i in range(SENDERS)]
    total = SENDERS * PER_SENDER
    everyone = readers + senders
    results = await asyncio.gather(
        *(send_all(ws, i, PER_SENDER) for i, ws in enumerate(senders)),
        *(next_messages(ws, total, within=60) for ws in everyone),
    )
    assert_one_stream(list(results[SENDERS:]), total, SENDERS, PER_SENDER)
    # Nothing more arrives: no duplicate after the last one.
    for ws in everyone:
        await no_more_messages(ws)
    # A newcomer's history is the same stream's tail.
    late, hello, history = await join(unlimited.ws, room)
    # The history holds the messages as they are now: the live frames plus their state.
    live = results[SENDERS][-50:]
    assert hello["last_id"] == total and [{k: m[k] for k in live[0]} for m in history] == live
    assert all(m["edited"] is False and m["deleted"] is False and m["reactions"] == {} for m in history)
    for ws in [*everyone, late]:
        await ws.close()


async def test_reconnect_with_after_misses_nothing_and_repeats_nothing(unlimited, room):
    senders = [(await join(unlimited.ws, room, f"?name=s{i}"))[0] for i in range(4)]
    per_sender = 100
    total = 4 * per_sender
    sending = asyncio.gather(
        *(send_all(ws, i, per_sender) for i, ws in enumerate(senders)),
        *(next_messages(ws, total, within=30) for ws in senders),  # senders read too (and must get all)
    )
    reader, _, history = await join(unlimited.ws, room, "?after=0&name=reader")
    seen: list[dict] = list(history)
    reconnects = 0
    while len(seen) < total:
        # Read a little, drop the connection (messages keep coming meanwhile), resume after the last id.
        got = await next_messages(reader, min(23, total - len(seen)), within=30)
        seen.extend(got)
        if len(seen) < total:
            await drop(reader)
            reader, hello, history = await join(unlimited.ws, room, f"?after={seen[-1]['id']}&name=reader")
            assert hello["last_id"] >= seen[-1]["id"]
            seen.extend(history)
            reconnects += 1
    streams = (await asyncio.wait_for(sending, 30))[len(senders) :]
    assert reconnects >= 3
    assert ids(seen) == list(range(1, total + 1))
    assert all(stream == seen for stream in streams)
    await reader.close()
    for ws in senders:
        await ws.close()


async def test_joining_while_others_send_is_race_free(unlimited, room):
    """Clients join at many points of a busy stream: each sees history then live messages as one
    gapless run of ids ending at the last message, with nothing twice."""
    senders = [(await join(unlimited.ws, room, f"?name=s{i}"))[0] for i in range(4)]
    per_sender = 100
    total = 4 * per_sender
    watcher, _, _ = await join(unlimited.ws, room, "?name=watcher")
    sending = asyncio.gather(
        # Paced: the server takes messages as fast as they come (a connection's receive loop does
        # not wait for commits), and the joins below must land while the stream flows.
        *(send_all(ws, i, per_sender, pause=0.01) for i, ws in enumerate(senders)),
        *(next_messages(ws, total, within=30) for ws in senders),
    )

    joiners = []
    seen = 0
    for point in range(10, total, 40):  # join after the watcher has seen id 10, 50, 90, ...
        seen += len(await next_messages(watcher, point - seen, within=30))
        for query in ("", "?after=0"):
            ws, hello, history = await join(unlimited.ws, room, query)
            joiners.append((ws, hello, history, query))
    for stream in (await asyncio.wait_for(sending, 30))[len(senders) :]:
        assert ids(stream) == list(range(1, total + 1))
    assert ids(await next_messages(watcher, total - seen, within=30)) == list(range(seen + 1, total + 1))

    mid_stream = [hello["last_id"] for _, hello, _, _ in joiners if 0 < hello["last_id"] < total]
    assert len(mid_stream) >= len(joiners) // 2, "the joins should land while messages flow"
    for ws, hello, history, query in joiners:
        last = hello["last_id"]
        if query:
            assert ids(history) == list(range(1, last + 1))
        else:
            assert ids(history) == list(range(max(1, last - 49), last + 1))
        live = await next_messages(ws, total - last, within=30)
        stream = history + live
        assert ids(stream) == list(range(ids(stream)[0], total + 1)), f"joined at {last}"
        await no_more_messages(ws)
    for ws, *_ in joiners:
        await ws.close()
    for ws in [*senders, watcher]:
        await ws.close()


async def test_a_client_that_stops_reading_is_closed_with_1013_and_others_are_not_slowed(module_farm, room):
    server = module_farm.start(PARLEY_SEND_QUEUE_MAX="50", PARLEY_RATE_PER_SEC="0")
    # The slow client: a tiny receive buffer and a one-frame client queue, and it never reads.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    sock.setblocking(False)
    slow = await connect(room_url(server.ws, "/ws/rooms/{}/", room, "?name=slow"), sock=sock, max_queue=1)

    readers = [(await join(server.ws, room, f"?name=fast{i}"))[0] for i in range(2)]
    senders = [(await join(server.ws, room, f"?name=s{i}"))[0] for i in range(4)]
    per_sender = 300
    total = 4 * per_sender
    size = 3900  # about 4 KB a frame: 1200 of them are several MB, more than any socket buffer holds
    results = await asyncio.gather(
        *(send_all(ws, i, per_sender, size=size) for i, ws in enumerate(senders)),
        *(next_messages(ws, total, within=60) for ws in readers + senders),
    )
    for stream in results[len(senders) :]:
        assert ids(stream) == list(range(1, total + 1))

    # Now the slow client reads what reached it: a gapless prefix, then the close with 1013.
    got = []
    try:
        while True:
            frame = await recv(slow, within=30)
            if frame["type"] == "message":
                got.append(frame["id"])
    except websockets.exceptions.ConnectionClosed:
        pass
    assert slow.close_code == 1013
    assert got == list(range(1, len(got) + 1)) and len(got) < total
    # It resumes where it stopped and gets exactly the rest.
    again, _, history = await join(server.ws, room, f"?after={got[-1] if got else 0}")
    assert ids(history) == list(range(len(got) + 1, total + 1))
    for ws in [again, *readers, *senders]:
        await ws.close()
    assert await close_code(again) is not None
