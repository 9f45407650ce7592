"""Degrade, don't fail: real server processes whose Redis (a redis-server of the test's own) or
PostgreSQL (through a TCP proxy the test cuts) goes down and comes back. These start their own
servers on PostgreSQL + Redis, so they run once (in the embedded run)."""

from __future__ import annotations

import asyncio

import pytest
from django.conf import settings

from tests.servers import PG_URL, ServerFarm
from tests.tcpproxy import TcpProxy
from tests.wsclient import close_code, connect, ids, join, next_messages, recv, recv_until, room_url, send

pytestmark = pytest.mark.embedded_only


async def acked(ws, text: str, client_id: str) -> dict:
    """Send a message and wait for its echo (skipping presence, typing...)."""
    await send(ws, {"message": text, "client_id": client_id})
    while True:
        frame = await recv(ws)
        if frame["type"] == "message" and frame["client_id"] == client_id:
            return frame
        assert frame["type"] != "error", frame


async def usable(ws) -> None:
    await send(ws, {"type": "ping"})
    await recv_until(ws, "pong")


async def test_redis_down_connections_keep_sending_and_new_ones_join(tmp_path, private_redis, room):
    farm = ServerFarm(tmp=tmp_path, scaled=True, extra_env={"REDIS_URL": private_redis.url})
    try:
        a, b = farm.start(), farm.start()
        kim, _, _ = await join(a.ws, room, "?name=kim")
        lee, _, _ = await join(b.ws, room, "?name=lee")
        assert (await acked(kim, "before", "k0"))["id"] == 1
        assert ids(await next_messages(lee, 1)) == [1]

        await asyncio.to_thread(private_redis.stop)
        sent = [await acked(kim, f"during {i}", f"k{i}") for i in range(1, 6)]  # stored, acknowledged
        assert ids(sent) == [2, 3, 4, 5, 6]
        await send(kim, {"type": "typing"})  # a hint: fails quietly, the connection stays
        await usable(kim)
        # A new handshake still joins: history from the store, presence local.
        park, hello, history = await join(a.ws, room, "?name=park")
        assert hello["last_id"] == 6 and ids(history) == [1, 2, 3, 4, 5, 6]
        fresh, _, _ = await join(b.ws, room + "-new", "?name=fresh")  # a room new to the process
        assert (await acked(fresh, "hello", "f1"))["id"] == 1

        await asyncio.to_thread(private_redis.start)
        # lee, on the other process, gets everything in order once Redis is back (resync).
        assert ids(await next_messages(lee, 5, within=30)) == [2, 3, 4, 5, 6]
        # And Redis carries messages between the processes again.
        await asyncio.sleep(0.5)
        assert (await acked(lee, "after", "l1"))["id"] == 7
        assert ids(await next_messages(kim, 1, within=15)) == [7]
        for ws in (kim, lee, park, fresh):
            await ws.close()
        for server in (a, b):
            log = server.log()
            assert log.count("Redis unreachable") <= 1, log  # one warning per outage, per process
            assert "Traceback" not in log, log
    finally:
        farm.close()


async def test_database_down_sends_get_unavailable_and_handshakes_1013_then_all_recovers(tmp_path, room):
    proxy = TcpProxy("127.0.0.1", 5432).start()
    farm = ServerFarm(tmp=tmp_path, scaled=True)
    try:
        farm.env["DATABASE_URL"] = PG_URL.format(name=farm._db_name).replace(":5432/", f":{proxy.port}/")
        server = farm.start()
        kim, _, _ = await join(server.ws, room, "?name=kim")
        assert (await acked(kim, "before", "k0"))["id"] == 1

        await asyncio.to_thread(proxy.cut)
        await send(kim, {"message": "while down", "client_id": "k1"})
        error = await recv_until(kim, "error", within=30)
        assert error["code"] == "unavailable" and error["client_id"] == "k1"
        await usable(kim)  # the connection stays open
        # Handshakes are refused cleanly, with 1013, never an HTTP 500: into a room with members
        # here (its history cannot be read) and into a room new to the process.
        for name in (room, room + "-new"):
            ws = await connect(room_url(server.ws, "/ws/rooms/{}/", name, "?name=lee"))
            frame = await recv(ws, within=30)
            assert frame["type"] == "error" and frame["code"] == "unavailable", (name, frame)
            assert await close_code(ws, within=30) == 1013

        await asyncio.to_thread(proxy.restore)
        # The client resends the same message (same client_id): stored once, without a restart.
        for _ in range(50):
            await send(kim, {"message": "while down", "client_id": "k1"})
            frame = await recv(kim, within=30)
            while frame["type"] not in ("message", "error"):
                frame = await recv(kim, within=30)
            if frame["type"] == "message":
                break
            assert frame["code"] == "unavailable"
            await asyncio.sleep(0.2)
        assert frame["id"] == 2 and frame["client_id"] == "k1"
        # A join may meet a read thread's connection that died in the outage: it is closed after its
        # first failed query (parley/settings.py: no health checks), so that join is refused with
        # 1013, "try again", and the client's next one succeeds. Never more than one per read thread.
        for attempt in range(settings.PARLEY_HISTORY_READ_THREADS + 1):
            lee = await connect(room_url(server.ws, "/ws/rooms/{}/", room, "?name=lee"))
            frame = await recv(lee, within=30)
            if frame["type"] == "hello":
                break
            assert frame["code"] == "unavailable" and attempt < settings.PARLEY_HISTORY_READ_THREADS, frame
            assert await close_code(lee, within=30) == 1013
        history = await recv(lee, within=30)
        assert history["type"] == "history", history
        history = history["messages"]
        assert ids(history) == [1, 2]
        assert "500 Internal Server Error" not in server.log()
        for ws in (kim, lee):
            await ws.close()
    finally:
        farm.close()
        proxy.close()
