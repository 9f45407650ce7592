"""``/metrics`` against live servers: off without PARLEY_METRICS_TOKEN, the token required with it,
counters that move with traffic, and one connection count across WORKERS=2."""

from __future__ import annotations

import asyncio
import uuid

import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.api.client import request
from tests.wsclient import connect, join, next_messages, room_url, send

TOKEN = "metrics-" + uuid.uuid4().hex


def scrape(base: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of ``/metrics``: (name, labels) -> value."""
    answer = request(base, "GET", "/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(answer.text)
        for s in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def until(base: str, check, what: str, within: float = 15.0) -> dict:
    """Scrape until ``check(samples)`` holds (a server counts when the event is handled)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        samples = await asyncio.to_thread(scrape, base)
        if check(samples):
            return samples
        assert asyncio.get_running_loop().time() < deadline, f"{what}: {sorted(k for k in samples if 'parley' in k[0])}"
        await asyncio.sleep(0.1)


def test_metrics_are_off_without_a_token(server):
    answer = request(server.http, "GET", "/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status == 404
    assert answer.json["error"]["code"] == "not_found"


def test_metrics_need_the_token(farm):
    server = farm.start(PARLEY_METRICS_TOKEN=TOKEN)
    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
    ):
        answer = request(server.http, "GET", "/metrics", headers=headers)
        assert answer.status == 401, headers
        assert answer.json == {"error": {"code": "unauthenticated", "detail": answer.json["error"]["detail"]}}
    samples = scrape(server.http)
    # Every metric of the issue is there from the start (labelled ones with their known labels at 0).
    for name in (
        "parley_events_in_total",
        "parley_events_out_total",
        "parley_fanout_latency_seconds_count",
        "parley_group_commit_batch_size_count",
        "parley_outbox_overflow_total",
    ):
        assert any(key[0] == name for key in samples), name
    for door in ("seed", "tutorial", "native"):
        assert (("parley_connections", frozenset({("door", door)}))) in samples
    for backend in ("database", "redis"):
        assert value(samples, "parley_backend_errors_total", backend=backend) == 0


async def test_counters_move_with_traffic(farm):
    server = farm.start(PARLEY_METRICS_TOKEN=TOKEN)
    room = f"metrics-{uuid.uuid4().hex[:8]}"
    before = await asyncio.to_thread(scrape, server.http)
    kim, _, _ = await join(server.ws, room, "?name=kim")
    lee, _, _ = await join(server.ws, room, "?name=lee")
    tutorial = await connect(room_url(server.ws, "/ws/chat/{}/", room))
    await until(
        server.http,
        lambda s: (
            value(s, "parley_connections", door="native") == 2 and value(s, "parley_connections", door="tutorial") == 1
        ),
        "connections counted",
    )
    for n in range(3):
        await send(kim, {"message": f"hello {n}", "client_id": f"k{n}"})
    await send(kim, {"type": "ping"})
    await send(kim, "not an object")
    assert [m["message"] for m in await next_messages(lee, 3)] == ["hello 0", "hello 1", "hello 2"]
    await send(kim, {"type": "reaction", "target": 1, "emoji": "👍", "op": "add"})

    def moved(s: dict) -> bool:
        grew = lambda name, **labels: value(s, name, **labels) - value(before, name, **labels)  # noqa: E731
        return (
            grew("parley_events_in_total", kind="message") == 3
            and grew("parley_events_in_total", kind="ping") == 1
            and grew("parley_events_in_total", kind="reaction") == 1
            and grew("parley_events_in_total", kind="invalid") == 1
            # 3 members (2 native, 1 tutorial) x 3 messages; the reaction to the native members only
            and grew("parley_events_out_total", kind="message") == 9
            and grew("parley_events_out_total", kind="reaction") == 2
            and grew("parley_events_out_total", kind="pong") == 1
            and grew("parley_events_out_total", kind="error") == 1
            and grew("parley_events_out_total", kind="hello") == 2
            and grew("parley_fanout_latency_seconds_count") == 4
            and grew("parley_group_commit_batch_size_sum") == 4
        )

    samples = await until(server.http, moved, "counters moved with the traffic")
    assert value(samples, "parley_fanout_latency_seconds_sum") >= 0
    for ws in (kim, lee, tutorial):
        await ws.close()
    await until(
        server.http,
        lambda s: all(value(s, "parley_connections", door=d) == 0 for d in ("seed", "tutorial", "native")),
        "connections counted out",
    )


def _workers_holding_connections(server) -> int:
    workers = 0
    for child in psutil.Process(server.process.pid).children(recursive=True):
        conns = child.net_connections(kind="tcp")
        if any(c.status == "ESTABLISHED" and c.laddr.port == server.port for c in conns):
            workers += 1
    return workers


@pytest.mark.embedded_only  # starts its own PostgreSQL + Redis servers: run once
async def test_two_workers_count_every_connection(scaled_farm):
    server = scaled_farm.start(WORKERS="2", PARLEY_METRICS_TOKEN=TOKEN)
    room = f"metrics-{uuid.uuid4().hex[:8]}"
    sockets = []
    try:
        # The kernel hands connections to whichever worker accepts first: join until both have some.
        while len(sockets) < 4 or (_workers_holding_connections(server) < 2 and len(sockets) < 64):
            sockets.append((await join(server.ws, room))[0])
        assert _workers_holding_connections(server) == 2, "every connection landed on one worker"
        total = len(sockets)
        # Whichever worker answers the scrape, it sums both workers' values.
        for _ in range(6):
            samples = await asyncio.to_thread(scrape, server.http)
            assert value(samples, "parley_connections", door="native") == total
        await send(sockets[0], {"message": "counted once per delivery", "client_id": "c1"})
        for ws in sockets:
            assert (await next_messages(ws, 1))[0]["message"] == "counted once per delivery"
        await until(
            server.http,
            lambda s: (
                value(s, "parley_events_out_total", kind="message") == total
                and value(s, "parley_events_in_total", kind="message") == 1
            ),
            "deliveries of both workers",
        )
        for ws in sockets[: total // 2]:
            await ws.close()
        await until(
            server.http,
            lambda s: value(s, "parley_connections", door="native") == total - total // 2,
            "connections counted out",
        )
    finally:
        for ws in sockets:
            await ws.close()
