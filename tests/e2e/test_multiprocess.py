"""Two server processes on PostgreSQL + Redis: one room, one ordered and complete stream.

Clients are spread over the two processes; whatever process a client is on, it sees every message
exactly once and in id order, the same order as everyone else. These start their own servers on
PostgreSQL + Redis, so they run once (in the embedded run); the idle-minute test needs the scaled
run's configuration and runs there.
"""

from __future__ import annotations

import asyncio
import random

import pytest
import websockets.exceptions

from tests.redisserver import PrivateRedis
from tests.wsclient import (
    connect,
    drop,
    ids,
    join,
    messages,
    next_messages,
    no_more_messages,
    recv_until,
    room_url,
    send,
)


@pytest.fixture(scope="module")
def two(tmp_path_factory):
    from tests.servers import ServerFarm

    farm = ServerFarm(tmp=tmp_path_factory.mktemp("two"), scaled=True)
    servers = (farm.start(PARLEY_RATE_PER_SEC="0"), farm.start(PARLEY_RATE_PER_SEC="0"))
    yield servers
    farm.close()


async def send_all(ws, index: int, count: int, *, pause: float = 0.0) -> None:
    for n in range(count):
        await send(ws, {"message": f"{index}-{n}", "client_id": f"{index}-{n}"})
        if pause:
            await asyncio.sleep(pause)


@pytest.mark.embedded_only
async def test_clients_on_two_processes_see_one_ordered_complete_stream(two, room):
    a, b = two
    readers = [(await join(s.ws, room, f"?name=r{i}"))[0] for i, s in enumerate([a, b, a, b])]
    senders = [(await join(s.ws, room, f"?name=s{i}"))[0] for i, s in enumerate([a, b] * 4)]
    per_sender = 50
    total = len(senders) * per_sender
    results = await asyncio.gather(
        *(send_all(ws, i, per_sender) for i, ws in enumerate(senders)),
        *(next_messages(ws, total, within=60) for ws in readers + senders),
    )
    streams = results[len(senders) :]
    for stream in streams:
        assert ids(stream) == list(range(1, total + 1))
        assert [m["client_id"] for m in stream] == [m["client_id"] for m in streams[0]]
    for index in range(len(senders)):
        mine = [m["client_id"] for m in streams[0] if m["client_id"].startswith(f"{index}-")]
        assert mine == [f"{index}-{n}" for n in range(per_sender)]
    for ws in readers + senders:
        await no_more_messages(ws)
        await ws.close()


@pytest.mark.embedded_only
async def test_doors_on_two_processes_share_a_room(two, room):
    a, b = two
    native_a, _, _ = await join(a.ws, room, "?name=kim")
    seed_b = await connect(room_url(b.ws, "/chat/{}", room))
    tutorial_a = await connect(room_url(a.ws, "/ws/chat/{}/", room))
    await send(seed_b, {"sender": "lee", "message": "from b"})
    await send(native_a, {"message": "from a"})  # may be stored before or after: compare orders
    got = [await next_messages(native_a, 2), await messages(seed_b, 2), await messages(tutorial_a, 2)]
    for stream in got:
        assert ids(stream) == [1, 2]
        assert [m["message"] for m in stream] == [m["message"] for m in got[0]]
    for ws in (native_a, seed_b, tutorial_a):
        await ws.close()


@pytest.mark.embedded_only
async def test_presence_and_typing_across_processes(two, room):
    a, b = two
    kim, _, _ = await join(a.ws, room, "?name=kim")
    lee, _, _ = await join(b.ws, room, "?name=lee")
    while (await recv_until(kim, "presence"))["users"] != ["kim", "lee"]:
        pass
    # lee's first presence frame already had kim, who joined on the other process.
    await send(lee, {"type": "typing"})
    assert await recv_until(kim, "typing") == {"type": "typing", "sender": "lee"}
    park = await connect(room_url(b.ws, "/chat/{}", room, "?name=park"))
    while (await recv_until(kim, "presence"))["users"] != ["kim", "lee", "park"]:
        pass
    await lee.close()
    await park.close()
    while (await recv_until(kim, "presence"))["users"] != ["kim"]:
        pass
    await kim.close()


@pytest.mark.embedded_only
async def test_a_client_joining_on_the_first_process_sees_the_presence_of_the_second(two, room):
    a, b = two
    lee, _, _ = await join(b.ws, room, "?name=lee")
    kim = await connect(room_url(a.ws, "/ws/rooms/{}/", room, "?name=kim"))
    assert (await recv_until(kim, "presence"))["users"] == ["kim", "lee"]
    for ws in (kim, lee):
        await ws.close()


@pytest.mark.embedded_only
async def test_reconnect_to_the_other_process_with_after(two, room):
    a, b = two
    sender, _, _ = await join(a.ws, room)
    reader, _, _ = await join(a.ws, room, "?name=reader")
    for n in range(20):
        await send(sender, {"message": f"{n}"})
    first = await next_messages(reader, 8)
    await reader.close()
    for n in range(20, 150):
        await send(sender, {"message": f"{n}"})
    assert ids(await next_messages(sender, 150, within=30)) == list(range(1, 151))
    resumed, _, history = await join(b.ws, room, f"?after={first[-1]['id']}")
    assert ids(first + history) == list(range(1, 151))
    await send(sender, {"message": "live"})
    assert ids(await next_messages(resumed, 1)) == [151]
    for ws in (sender, resumed):
        await ws.close()


@pytest.mark.embedded_only
async def test_joining_on_either_process_while_both_send_is_race_free(two, room):
    a, b = two
    senders = [(await join(s.ws, room, f"?name=s{i}"))[0] for i, s in enumerate([a, b, a, b])]
    per_sender = 100
    total = len(senders) * per_sender
    watcher, _, _ = await join(a.ws, room)
    sending = asyncio.gather(
        *(send_all(ws, i, per_sender) for i, ws in enumerate(senders)),
        *(next_messages(ws, total, within=60) for ws in senders),
    )
    joiners = []
    seen = 0
    for n, point in enumerate(range(10, total, 40)):
        seen += len(await next_messages(watcher, point - seen, within=30))
        server = (a, b)[n % 2]
        joiners.append(await join(server.ws, room, "?after=0"))
        joiners.append(await join(server.ws, room))
    for stream in (await asyncio.wait_for(sending, 60))[len(senders) :]:
        assert ids(stream) == list(range(1, total + 1))
    assert ids(await next_messages(watcher, total - seen, within=30)) == list(range(seen + 1, total + 1))
    mid_stream = [hello["last_id"] for _, hello, _ in joiners if 0 < hello["last_id"] < total]
    assert len(mid_stream) >= len(joiners) // 2, "the joins should land while messages flow"
    for ws, hello, history in joiners:
        live = await next_messages(ws, total - hello["last_id"], within=30)
        stream = history + live
        assert ids(stream) == list(range(ids(stream)[0], total + 1))
        assert ids(history)[-1:] in ([hello["last_id"]], [])
        await no_more_messages(ws)
    for ws, *_ in joiners:
        await ws.close()
    for ws in [*senders, watcher]:
        await ws.close()


@pytest.mark.scaled_only
async def test_an_idle_spell_past_every_redis_timeout_then_messages_flow_both_ways(farm, room):
    """redis-py's default 5 s read timeout broke idle subscriptions (channels_redis #422). Nothing
    happens for longer than any of Parley's Redis timers at their defaults: the socket timeout
    (``PARLEY_REDIS_SOCKET_TIMEOUT``, 30 s), the subscription's idle check (every 15 s), the
    commands' health check (15 s) and the presence refresh (20 s: ``chat.fanout.pubsub``)."""
    a, b = farm.start(), farm.start()
    kim, _, _ = await join(a.ws, room, "?name=kim")
    lee, _, _ = await join(b.ws, room, "?name=lee")
    while (await recv_until(kim, "presence"))["users"] != ["kim", "lee"]:
        pass
    await asyncio.sleep(35)  # the point of the test: nothing at all happens for that long
    await send(kim, {"message": "after a minute, a to b"})
    assert [m["message"] for m in await next_messages(lee, 1)] == ["after a minute, a to b"]
    await send(lee, {"message": "and b to a"})
    got = await next_messages(kim, 2)
    assert [(m["id"], m["message"]) for m in got] == [(1, "after a minute, a to b"), (2, "and b to a")]
    for server in (a, b):
        assert "Traceback" not in server.log()
    await kim.close()
    await lee.close()


@pytest.mark.embedded_only
async def test_a_redis_restart_loses_nothing_across_processes(scaled_farm, tmp_path, room):
    """Redis stops for a while and comes back: messages sent meanwhile (stored, but their publish
    fails) reach the clients of the other process once its subscription is back."""
    redis = PrivateRedis(tmp_path)
    redis.start()
    try:
        a = scaled_farm.start(REDIS_URL=redis.url, PARLEY_RATE_PER_SEC="0")
        b = scaled_farm.start(REDIS_URL=redis.url, PARLEY_RATE_PER_SEC="0")
        on_a, _, _ = await join(a.ws, room, "?name=on-a")
        on_b, _, _ = await join(b.ws, room, "?name=on-b")
        await send(on_a, {"message": "before"})
        assert ids(await next_messages(on_b, 1)) == [1]

        await asyncio.to_thread(redis.stop)
        for n in range(3):
            await send(on_a, {"message": f"during {n}", "client_id": f"during-{n}"})
        # a's own client gets them at once (delivered locally when the publish fails)
        assert ids(await next_messages(on_a, 4, within=60)) == [1, 2, 3, 4]
        await asyncio.to_thread(redis.start)

        assert ids(await next_messages(on_b, 3, within=30)) == [2, 3, 4]
        await send(on_b, {"message": "after"})
        assert ids(await next_messages(on_a, 1, within=30)) == [5]
        assert ids(await next_messages(on_b, 1, within=30)) == [5]
        for ws in (on_a, on_b):
            await no_more_messages(ws)
            await ws.close()
    finally:
        await asyncio.to_thread(redis.stop)


@pytest.mark.embedded_only
async def test_churn_across_processes_in_several_rooms(two):
    """Three rooms at once, each with senders on both processes and clients that keep dropping
    their connection (or closing it) and resuming with ?after= on the other process."""
    rnd = random.Random(2)
    per_sender, senders_per_room, churners_per_room = 120, 4, 5
    total = per_sender * senders_per_room

    async def churn(room: str, index: int) -> int:
        ws, _, seen = await join(two[index % 2].ws, room, "?after=0")
        resumes = 0
        while len(seen) < total:
            seen.extend(await next_messages(ws, min(rnd.randint(1, 60), total - len(seen)), within=30))
            if len(seen) < total:
                resumes += 1
                await (drop(ws) if rnd.random() < 0.5 else ws.close())
                ws, _, history = await join(two[(index + resumes) % 2].ws, room, f"?after={seen[-1]['id']}")
                seen.extend(history)
        await no_more_messages(ws)
        await ws.close()
        assert ids(seen) == list(range(1, total + 1)), (room, index)
        return resumes

    async def one_room(n: int) -> int:
        room = f"churn-{n}-{random.randbytes(3).hex()}"
        senders = [(await join(two[i % 2].ws, room, f"?name=s{i}"))[0] for i in range(senders_per_room)]
        results = await asyncio.gather(
            # Paced (~1.2 s of sending), so the churners drop and resume while the stream flows
            # (unpaced, a loaded machine's senders could finish before the churners' first drop).
            *(send_all(ws, i, per_sender, pause=0.01) for i, ws in enumerate(senders)),
            *(next_messages(ws, total, within=60) for ws in senders),
            *(churn(room, c) for c in range(churners_per_room)),
        )
        for stream in results[senders_per_room : 2 * senders_per_room]:
            assert ids(stream) == list(range(1, total + 1))
        for ws in senders:
            await ws.close()
        return sum(results[2 * senders_per_room :])

    resumes = await asyncio.gather(*(one_room(n) for n in range(3)))
    assert all(r >= churners_per_room * 2 for r in resumes), resumes


@pytest.mark.embedded_only
async def test_a_server_killed_mid_stream_loses_nothing_and_stores_nothing_twice(scaled_farm, room):
    """Process A dies (SIGKILL) while its client is sending. The client resumes on process B with
    ?after= and resends what it had no frame for, with the same client_ids: every message is
    stored exactly once and everyone sees one gapless stream."""
    a = scaled_farm.start(PARLEY_RATE_PER_SEC="0")
    b = scaled_farm.start(PARLEY_RATE_PER_SEC="0")
    count = 60
    reader, _, _ = await join(b.ws, room, "?name=reader")
    other, _, _ = await join(b.ws, room, "?name=other")
    mover, _, _ = await join(a.ws, room, "?name=mover")

    async def other_sends() -> None:
        for n in range(count):
            await send(other, {"message": f"other {n}", "client_id": f"other-{n}"})
            await asyncio.sleep(0.005)

    async def mover_sends() -> int:
        ws, seen, n, resumes = mover, [], 0, 0
        while n < count:
            try:
                await send(ws, {"message": f"mover {n}", "client_id": f"mover-{n}"})
                while True:  # wait for our own frame: the server has stored it
                    frame = (await next_messages(ws, 1, within=15))[0]
                    seen.append(frame["id"])
                    if frame["client_id"] == f"mover-{n}":
                        break
                n += 1
                if n == count // 3:
                    a.process.kill()  # mid-stream, with the next message about to be sent
            except (websockets.exceptions.ConnectionClosed, OSError, TimeoutError):
                resumes += 1
                ws, _, history = await join(b.ws, room, f"?after={seen[-1]}&name=mover")
                seen.extend(m["id"] for m in history)
                # Then resend message n (it may or may not have been stored: the client_id decides).
        await ws.close()
        return resumes

    results = await asyncio.gather(
        other_sends(),
        mover_sends(),
        next_messages(reader, 2 * count, within=60),
        next_messages(other, 2 * count, within=60),
    )
    assert results[1] == 1  # the mover resumed once
    for stream in results[2:]:
        assert ids(stream) == list(range(1, 2 * count + 1))
        client_ids = [m["client_id"] for m in stream]
        assert sorted(client_ids) == sorted([f"mover-{n}" for n in range(count)] + [f"other-{n}" for n in range(count)])
    await no_more_messages(reader)
    for ws in (reader, other):
        await ws.close()
