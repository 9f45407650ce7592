"""Messages posted over HTTP to one process and sent over WebSockets to another (PostgreSQL +
Redis) reach a WebSocket member as one consecutive, complete, ordered stream."""

from __future__ import annotations

import asyncio

import pytest

from tests.api.client import new_user, request, room_path
from tests.wsclient import ids, join, next_messages, send


@pytest.fixture(scope="module")
def two(tmp_path_factory):
    from tests.servers import ServerFarm

    farm = ServerFarm(tmp=tmp_path_factory.mktemp("two"), scaled=True)
    servers = (farm.start(PARLEY_RATE_PER_SEC="0"), farm.start(PARLEY_RATE_PER_SEC="0"))
    for server in servers:
        server.db_name = farm._db_name  # type: ignore[attr-defined]
    yield servers
    farm.close()


@pytest.mark.embedded_only
async def test_http_posts_and_websocket_sends_make_one_stream(two, room):
    a, b = two
    user = await asyncio.to_thread(new_user, a.http)
    readers = [(await join(s.ws, room, f"?name=r{i}"))[0] for i, s in enumerate([a, b])]
    sender, _, _ = await join(b.ws, room, "?name=ws-sender")
    per_door = 60
    path = f"/api/v1/rooms/{room_path(room)}/messages"

    def post_all(worker: int) -> list[int]:
        got = []
        for n in range(per_door // 2):
            answer = request(a.http, "POST", path, {"message": f"http-{worker}-{n}"}, token=user.token)
            assert answer.status == 201, answer.text
            got.append(answer.json["id"])
        return got

    async def send_all() -> None:
        for n in range(per_door):
            await send(sender, {"message": f"ws-{n}", "client_id": f"ws-{n}"})

    total = 2 * per_door
    results = await asyncio.gather(
        asyncio.to_thread(post_all, 0),
        asyncio.to_thread(post_all, 1),
        send_all(),
        *(next_messages(ws, total, within=60) for ws in [*readers, sender]),
    )
    posted = results[0] + results[1]
    streams = results[3:]
    for stream in streams:
        assert ids(stream) == list(range(1, total + 1))
        assert stream == streams[0]
    texts = [m["message"] for m in streams[0]]
    assert sorted(t for t in texts if t.startswith("ws-")) == sorted(f"ws-{n}" for n in range(per_door))
    assert len([t for t in texts if t.startswith("http-")]) == per_door
    # Each HTTP answer holds the id its message has in the stream, in each poster's order.
    by_id = {m["id"]: m["message"] for m in streams[0]}
    for worker, got in enumerate((results[0], results[1])):
        assert [by_id[i] for i in got] == [f"http-{worker}-{n}" for n in range(per_door // 2)]
    assert sorted(posted) == sorted(i for i, t in by_id.items() if t.startswith("http-"))
    for ws in [*readers, sender]:
        await ws.close()


@pytest.mark.embedded_only
async def test_http_requests_share_the_processes_database_connections(two, room):
    """An HTTP request's database calls run on the process's database thread (or a read thread),
    not on a thread of their own: a hundred posts and reads open no connection each, and the
    group commit a request started goes on after the request ends (WebSocket sends meanwhile)."""
    import psycopg

    from tests.servers import PG_ADMIN_URL

    a = two[0]
    user = await asyncio.to_thread(new_user, a.http)
    sender, _, _ = await join(a.ws, room, "?name=ws")
    path = f"/api/v1/rooms/{room_path(room)}/messages"

    def sessions() -> int:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            query = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND backend_type = 'client backend'"
            row = conn.execute(query, [a.db_name]).fetchone()
        return int(row[0]) if row else 0

    def post_and_read(worker: int, count: int) -> int:
        for n in range(count):
            assert request(a.http, "POST", path, {"message": f"h{worker}-{n}"}, token=user.token).status == 201
            assert request(a.http, "GET", path, token=user.token).status == 200
        return sessions()

    before = await asyncio.to_thread(sessions)
    sends = [send(sender, {"message": f"w{n}", "client_id": f"w{n}"}) for n in range(50)]
    during = await asyncio.gather(*(asyncio.to_thread(post_and_read, w, 5) for w in range(10)), *sends)
    got = await next_messages(sender, 100, within=60)
    assert max(n for n in during if n is not None) - before <= 4  # ten requests at a time, no connection each
    await sender.close()
    assert sorted(ids(got)) == list(range(1, 101))  # nothing refused, nothing lost
    assert await asyncio.to_thread(sessions) - before <= 4
