"""``make run``'s server: WORKERS, and the refusal without Redis."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import psutil
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.servers import ROOT

pytestmark = pytest.mark.embedded_only  # starts its own PostgreSQL + Redis servers: run once


def test_workers_without_redis_is_refused():
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(WORKERS="2", PORT="1")
    result = subprocess.run(
        [sys.executable, "-m", "parley.serve"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "WORKERS=2 needs REDIS_URL" in result.stderr


def _worker_connections(server) -> list[int]:
    """ESTABLISHED connections on the server's port, per process that holds any."""
    counts = []
    for child in psutil.Process(server.process.pid).children(recursive=True):
        conns = child.net_connections(kind="tcp")
        count = sum(1 for c in conns if c.status == "ESTABLISHED" and c.laddr.port == server.port)
        if count:
            counts.append(count)
    return counts


async def _join(server, room):
    ws = await connect(f"{server.ws}/ws/rooms/{room}/")
    while json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] != "presence":
        pass
    return ws


async def test_two_workers_one_ordered_stream(scaled_farm):
    server = scaled_farm.start(WORKERS="2", PARLEY_RATE_PER_SEC="0")
    room = "workers"
    sockets = [await _join(server, room) for _ in range(8)]
    try:
        # The kernel hands connections to whichever worker accepts first: join until both have some.
        while len(_worker_connections(server)) < 2 and len(sockets) < 64:
            sockets.append(await _join(server, room))
        assert len(_worker_connections(server)) == 2, "every connection landed on one worker"

        per_sender = 25
        senders = sockets[:4]

        async def send_all(index, ws):
            for n in range(per_sender):
                await ws.send(json.dumps({"message": f"{index}-{n}", "client_id": f"{index}-{n}"}))

        await asyncio.gather(*(send_all(i, ws) for i, ws in enumerate(senders)))
        total = per_sender * len(senders)

        async def collect(ws):
            ids, bodies = [], []
            while len(ids) < total:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 15))
                if frame["type"] == "message":
                    ids.append(frame["id"])
                    bodies.append(frame["message"])
            return ids, bodies

        results = await asyncio.gather(*(collect(ws) for ws in sockets))
        expected_ids = list(range(1, total + 1))
        first_bodies = results[0][1]
        for ids, bodies in results:
            assert ids == expected_ids
            assert bodies == first_bodies  # one order, the same everywhere
        for index in range(len(senders)):  # each sender's own messages kept their order
            mine = [b for b in first_bodies if b.startswith(f"{index}-")]
            assert mine == [f"{index}-{n}" for n in range(per_sender)]
    finally:
        for ws in sockets:
            await ws.close()


async def test_forwarded_for_is_believed_from_trusted_proxies_only(farm):
    """uvicorn's proxy headers are off: it would take X-Forwarded-For from 127.0.0.1 as the client's
    address. Parley believes it only from PARLEY_TRUSTED_PROXIES (seen here through the per-address
    connection limit: two clients behind one address get one slot)."""
    untrusted = farm.start(PARLEY_ADDRESS_MAX_CONNECTIONS="1")
    trusted = farm.start(PARLEY_ADDRESS_MAX_CONNECTIONS="1", PARLEY_TRUSTED_PROXIES="127.0.0.1")
    opened = []
    try:
        for server, second_gets_in in ((untrusted, False), (trusted, True)):
            url = f"{server.ws}/ws/rooms/proxied/"
            opened.append(await connect(url, additional_headers={"X-Forwarded-For": "198.51.100.1"}))
            if second_gets_in:
                opened.append(await connect(url, additional_headers={"X-Forwarded-For": "198.51.100.2"}))
            else:
                with pytest.raises(InvalidStatus) as info:
                    await connect(url, additional_headers={"X-Forwarded-For": "198.51.100.2"})
                assert info.value.response.status_code == 429
    finally:
        for ws in opened:
            await ws.close()
