"""``/livez`` and ``/healthz`` against live servers, with a Redis and a database that go away."""

from __future__ import annotations

import asyncio

import pytest

from tests.api.client import Answer, request
from tests.servers import PG_URL, ServerFarm, scaled_configuration
from tests.tcpproxy import TcpProxy


def health(base: str) -> Answer:
    return request(base, "GET", "/healthz")


async def until_health(base: str, status: int, body: dict, within: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        answer = await asyncio.to_thread(health, base)
        if answer.status == status and answer.json == body:
            return
        assert asyncio.get_running_loop().time() < deadline, (answer.status, answer.text)
        await asyncio.sleep(0.2)


def test_livez_and_healthz(server):
    live = request(server.http, "GET", "/livez")
    assert live.status == 200 and live.json == {"status": "ok"}
    answer = health(server.http)
    assert answer.status == 200
    assert answer.json == {"database": "ok", "redis": "ok" if scaled_configuration() else "unused"}
    assert answer.headers["content-type"] == "application/json"
    assert "x-request-id" in answer.headers


@pytest.mark.embedded_only  # starts its own PostgreSQL + Redis servers: run once
async def test_healthz_names_redis_while_it_is_down(tmp_path, private_redis):
    farm = ServerFarm(tmp=tmp_path, scaled=True, extra_env={"REDIS_URL": private_redis.url})
    try:
        server = farm.start()
        await until_health(server.http, 200, {"database": "ok", "redis": "ok"})
        await asyncio.to_thread(private_redis.stop)
        answer = await asyncio.to_thread(health, server.http)
        assert answer.status == 503
        assert answer.json == {"database": "ok", "redis": "down"}
        assert request(server.http, "GET", "/livez").status == 200  # the process still serves
        await asyncio.to_thread(private_redis.start)
        await until_health(server.http, 200, {"database": "ok", "redis": "ok"})
    finally:
        farm.close()


@pytest.mark.embedded_only  # starts its own PostgreSQL + Redis servers: run once
async def test_healthz_names_the_database_while_it_is_cut_off(tmp_path):
    proxy = TcpProxy("127.0.0.1", 5432).start()
    farm = ServerFarm(tmp=tmp_path, scaled=True)
    try:
        farm.env["DATABASE_URL"] = PG_URL.format(name=farm._db_name).replace(":5432/", f":{proxy.port}/")
        server = farm.start()
        await until_health(server.http, 200, {"database": "ok", "redis": "ok"})
        await asyncio.to_thread(proxy.cut)
        answer = await asyncio.to_thread(health, server.http)
        assert answer.status == 503
        assert answer.json == {"database": "down", "redis": "ok"}
        await asyncio.to_thread(proxy.restore)
        await until_health(server.http, 200, {"database": "ok", "redis": "ok"})
    finally:
        farm.close()
        proxy.close()
