"""Redis Sentinel: the primary is killed under traffic and Parley follows the failover.

A primary, a replica and three sentinels on loopback ports (tests/sentinel.py); two Parley
processes on PostgreSQL with ``REDIS_URL=redis+sentinel://...``. Numbered senders on both
processes send without pause and resend what was not acknowledged (same client_id); resuming
readers on both processes read the room. The primary is killed with SIGKILL mid-traffic. Then:
every acknowledged message is in every reader's stream exactly once, in id order without a gap,
and messages sent after the failover cross between processes (pub/sub follows the new primary).
This starts its own Redis and servers, so it runs once (in the embedded run).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import pytest
import websockets.exceptions

from tests.sentinel import SentinelSet
from tests.wsclient import join, next_messages, recv, send

SENDERS = 4  # two per process
BEFORE_KILL = 100  # acknowledged messages before the primary is killed
AFTER_FAILOVER = 20  # acknowledged messages per sender sent after the failover is complete
ACK_WITHIN = 30.0  # a message not acknowledged by then fails the test
DROPPED = (websockets.exceptions.ConnectionClosed, websockets.exceptions.InvalidStatus, OSError, TimeoutError)


async def join_retrying(base: str, room: str, query: str, within: float = 30.0):
    """``join``, again until it works: a handshake may be refused while Redis fails over."""
    deadline = time.monotonic() + within
    while True:
        try:
            return await join(base, room, query)
        except DROPPED:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


class Sender:
    """Sends numbered messages, one at a time, until stopped. A message is acknowledged when its
    frame (with an id) comes back; an ``error`` frame for it, or a dropped connection, means send
    it again (after resuming with ``?after=``, whose history may hold it already)."""

    def __init__(self, index: int, base: str, room: str) -> None:
        self.index, self.base, self.room = index, base, room
        self.acked: dict[str, int] = {}  # client_id -> id
        self.acked_after_failover = 0
        self.last_id = 0
        self.resumes = 0

    async def run(self, stop: asyncio.Event, failed_over: asyncio.Event) -> None:
        ws, _, history = await join_retrying(self.base, self.room, f"?name=s{self.index}&after=0")
        self._saw(history)
        n = 0
        while not stop.is_set():
            client_id = f"s{self.index}-{n}"
            after_failover = failed_over.is_set()
            try:
                while client_id not in self.acked:
                    await send(ws, {"message": f"sender {self.index} #{n}", "client_id": client_id})
                    await asyncio.wait_for(self._until_answered(ws, client_id), ACK_WITHIN)
                    if client_id not in self.acked:
                        await asyncio.sleep(0.1)  # an error frame: try again shortly
            except DROPPED:
                self.resumes += 1
                with contextlib.suppress(Exception):
                    await ws.close()
                ws, _, history = await join_retrying(self.base, self.room, f"?name=s{self.index}&after={self.last_id}")
                self._saw(history)
                continue  # resend n unless the history showed it stored
            if after_failover:
                self.acked_after_failover += 1
            n += 1
            await asyncio.sleep(0.01)
        await ws.close()

    async def _until_answered(self, ws: Any, client_id: str) -> None:
        """Read until the frame of ``client_id`` or an error about it arrives."""
        while True:
            frame = await recv(ws, ACK_WITHIN)
            if frame.get("type", "message") == "message":
                self._saw([frame])
                if frame.get("client_id") == client_id:
                    return
            elif frame["type"] == "error" and frame.get("client_id") == client_id:
                return

    def _saw(self, frames: list[dict]) -> None:
        for frame in frames:
            self.last_id = max(self.last_id, frame["id"])
            if frame.get("client_id", "").startswith(f"s{self.index}-"):
                self.acked[frame["client_id"]] = frame["id"]


class Reader:
    """Reads the room from id 1 on; resumes with ``?after=`` when its connection drops."""

    def __init__(self, base: str, room: str) -> None:
        self.base, self.room = base, room
        self.stream: list[dict] = []
        self.resumes = 0

    @property
    def last_id(self) -> int:
        return self.stream[-1]["id"] if self.stream else 0

    async def run(self, until: asyncio.Event) -> None:
        ws, _, history = await join_retrying(self.base, self.room, "?name=reader&after=0")
        self.stream.extend(history)
        while not until.is_set():
            try:
                self.stream.extend(await next_messages(ws, 1, within=1))
            except TimeoutError:
                continue
            except DROPPED:
                self.resumes += 1
                ws, _, history = await join_retrying(self.base, self.room, f"?name=reader&after={self.last_id}")
                self.stream.extend(history)
        await ws.close()


@pytest.mark.embedded_only
async def test_a_sentinel_failover_under_traffic_loses_nothing_acknowledged(scaled_farm, tmp_path, room):
    redis = SentinelSet(tmp_path)
    await asyncio.to_thread(redis.start)
    try:
        a = scaled_farm.start(REDIS_URL=redis.url, PARLEY_RATE_PER_SEC="0")
        b = scaled_farm.start(REDIS_URL=redis.url, PARLEY_RATE_PER_SEC="0")
        servers = (a, b)
        readers = [Reader(servers[i % 2].ws, room) for i in range(4)]
        senders = [Sender(i, servers[i % 2].ws, room) for i in range(SENDERS)]
        stop, failed_over, done_reading = asyncio.Event(), asyncio.Event(), asyncio.Event()
        reading = [asyncio.create_task(r.run(done_reading)) for r in readers]
        sending = [asyncio.create_task(s.run(stop, failed_over)) for s in senders]

        async def acked(count: int, *, after_failover: bool = False) -> None:
            while True:
                for task in sending:  # a sender that failed fails the test now, not at the timeout
                    if task.done():
                        task.result()
                if after_failover:
                    if all(s.acked_after_failover >= count for s in senders):
                        return
                elif sum(len(s.acked) for s in senders) >= count:
                    return
                await asyncio.sleep(0.05)

        await asyncio.wait_for(acked(BEFORE_KILL), 30)
        old = await asyncio.to_thread(redis.primary_port)
        await asyncio.to_thread(redis.kill, old)  # mid-traffic: every sender has a message in flight
        new = await asyncio.to_thread(redis.wait_failover, old)
        failed_over.set()
        await asyncio.wait_for(acked(AFTER_FAILOVER, after_failover=True), 45)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*sending), ACK_WITHIN + 5)

        # The room's last id, then every reader must reach it.
        probe, hello, _ = await join_retrying(a.ws, room, "?name=probe")
        await probe.close()
        last = hello["last_id"]

        async def caught_up() -> None:
            while True:
                if all(r.last_id >= last for r in readers):
                    return
                await asyncio.sleep(0.05)

        try:
            await asyncio.wait_for(caught_up(), 30)
        except TimeoutError:
            pytest.fail(f"readers stopped at ids {[r.last_id for r in readers]}; the room is at {last}")
        finally:
            done_reading.set()
            await asyncio.gather(*reading)

        acknowledged = {cid: mid for s in senders for cid, mid in s.acked.items()}
        assert len(acknowledged) >= BEFORE_KILL + SENDERS * AFTER_FAILOVER
        for reader in readers:
            assert [m["id"] for m in reader.stream] == list(range(1, last + 1)), "a gap, a repeat or a reordering"
            client_ids = [m["client_id"] for m in reader.stream]
            assert len(set(client_ids)) == len(client_ids), "a message stored twice"
            got = {m["client_id"]: m["id"] for m in reader.stream}
            lost = {cid for cid in acknowledged if got.get(cid) != acknowledged[cid]}
            assert not lost, f"{len(lost)} acknowledged messages lost: {sorted(lost)[:10]}"

        # Pub/sub follows the new primary: a message sent on one process now reaches a client of
        # the other at once, with nothing after it that could reveal a gap to fill.
        for origin, other in ((a, b), (b, a)):
            speaker, _, _ = await join_retrying(origin.ws, room, "?name=speaker")
            listener, _, _ = await join_retrying(other.ws, room, "?name=listener")
            await send(speaker, {"message": "after the failover", "client_id": f"probe-{origin.port}"})
            frame = (await next_messages(listener, 1, within=10))[0]
            assert (frame["id"], frame["client_id"]) == (last + 1, f"probe-{origin.port}")
            last += 1
            for ws in (speaker, listener):
                await ws.close()
        assert new != old
    finally:
        await asyncio.to_thread(redis.stop)
