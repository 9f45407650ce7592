"""Scenario Q ("quiet rooms"): server CPU per unbatched message.

One signed-in sender (a user with a personal token, ``bench.apitokens``; the handshake's
``Authorization: Bearer``, as F's senders) in a room of ``quietplan.QUIET_MEMBERS`` members sends
a message, waits for its own echo, sends the next: one in flight, so the server never batches.
After ``warmup`` messages, the server process's CPU time (user + system, psutil) is read before
the first and after the echo of the last of exactly ``count`` messages: microseconds of server CPU
per message (its store, its publish, its 10 deliveries). Run on Parley with PostgreSQL + Redis and
on Parley with SQLite alone (in-process fan-out).

Wall-clock numbers (messages/s, the echo's round trip) are recorded too, but on a shared machine
they measure the machine's noise as much as Parley; the CPU per message does not.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psutil

from . import httpsend, servers, walbytes
from .loadgen import ECHO_TIMEOUT, PARLEY_MESSAGE_PREFIX, Client, Recorder, close_clients, open_clients
from .quietplan import cpu_per_message_us, member_plan, other_cpu_pct
from .stats import percentile


async def run_quiet(
    server: servers.Server,
    target: servers.Target,
    *,
    count: int,
    warmup: int,
    members: int,
    settle: float = 1.5,
    drain: float = 5.0,
    log: Callable[[str], None] = print,
    on_measure_start: Callable[[], Any] | None = None,
    listeners_server: servers.Server | None = None,
) -> dict[str, Any]:
    """Scenario Q on a Parley server: ``warmup`` then ``count`` closed-loop messages from one sender.

    With ``listeners_server`` (Q2: another process on the same database and Redis), the sender
    connects to ``server`` and the other members to ``listeners_server``: what a message costs the
    process that stores it, and what it costs a process that only receives it from Redis and
    delivers it (``listener_cpu_per_message_us``)."""
    tag = f"q{int(time.time() * 1000) % 10**9}"
    token = httpsend.make_tokens(target, 1, tag)[0]
    recorder = SizedRecorder(parley=True)
    plan = member_plan(members)
    path = lambda r: target.room_path.format(room=f"{tag}r{r}")  # noqa: E731
    bearer = lambda s: ("", {"Authorization": f"Bearer {token}"})  # noqa: E731
    if listeners_server is None:
        # concurrency 1: the sender first, it creates the room
        clients, failures, open_s = await open_clients(
            server, path, plan, recorder, concurrency=1, sender_request=bearer
        )
    else:
        clients, failures, open_s = await open_clients(server, path, plan[:1], recorder, sender_request=bearer)
        more, more_failures, more_s = await open_clients(listeners_server, path, plan[1:], recorder, concurrency=1)
        clients, failures, open_s = clients + more, failures + more_failures, open_s + more_s
    sender = next((c for c in clients if c.sender_id == 0), None)
    if sender is None:
        raise RuntimeError(f"Q: the sender did not connect ({failures} connections failed)")
    await asyncio.sleep(settle)  # the joins' presence frames settle
    sender.echo = asyncio.Semaphore(0)
    recorder.senders[0] = sender
    server_ps = server.ps
    listeners_ps = listeners_server.ps if listeners_server is not None else None
    round_trips: list[int] = []
    timeouts = 0
    n = 0

    async def send_one() -> None:
        nonlocal n, timeouts
        start = time.monotonic_ns()
        await sender.ws.send(recorder.encode(0, n))
        n += 1
        recorder.sent[0] = n
        try:
            await asyncio.wait_for(sender.echo.acquire(), ECHO_TIMEOUT)
        except TimeoutError:
            timeouts += 1
            return
        if recorder.measuring:
            round_trips.append(time.monotonic_ns() - start)

    try:
        for _ in range(warmup):
            await send_one()
        recorder.measuring = True
        if on_measure_start is not None:
            on_measure_start()
        deliveries_before = recorder.deliveries
        wal_before = walbytes.current(target.db_name, servers.PG_ADMIN_URL) if target.db_name else None
        cpu_before, backend_before = servers.cpu_seconds(server_ps), servers.backend_cpu_seconds()
        loop_before = servers.loop_cpu_seconds(server_ps)
        machine_before, me_before = _busy_seconds(), _own_seconds()
        listeners_before = servers.cpu_seconds(listeners_ps) if listeners_ps is not None else 0.0
        t0 = time.perf_counter()
        for _ in range(count):
            await send_one()
        seconds = time.perf_counter() - t0
        cpu_after, backend_after = servers.cpu_seconds(server_ps), servers.backend_cpu_seconds()
        loop_after = servers.loop_cpu_seconds(server_ps)
        machine_after, me_after = _busy_seconds(), _own_seconds()
        listeners_cpu = servers.cpu_seconds(listeners_ps) - listeners_before if listeners_ps is not None else 0.0
        wal_after = walbytes.current(target.db_name, servers.PG_ADMIN_URL) if target.db_name else None
        deliveries = recorder.deliveries - deliveries_before
        recorder.measuring = False
        deadline = time.monotonic() + drain
        while True:  # every member should get every message
            lost = sum(max(0, n - c.got.get(0, 0)) for c in clients)
            if lost == 0 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        # The listeners' process: read once they have every message (the last one's fan-out included).
        listeners_after = servers.cpu_seconds(listeners_ps) if listeners_ps is not None else 0.0
    finally:
        await close_clients(clients)
    per_message = cpu_per_message_us(cpu_before, cpu_after, count)
    loop = cpu_per_message_us(loop_before, loop_after, count)
    backend = servers.backend_cpu_delta(backend_before, backend_after)
    round_trips.sort()
    wal = walbytes.between(wal_before[0], wal_after[0], wal_before[1]) if wal_before and wal_after else None
    return {
        "connections": len(clients),
        "connect_failures": failures,
        "connect_s": open_s,
        "members": members,
        "messages_measured": count,
        "warmup_messages": warmup,
        "seconds": seconds,
        "server_cpu_s": cpu_after - cpu_before,
        "server_cpu_per_message_us": per_message,
        # Of it: the event loop's thread (frames, fan-out, Redis) and the others (the database thread).
        "loop_cpu_per_message_us": loop,
        "threads_cpu_per_message_us": per_message - loop if per_message is not None and loop is not None else None,
        "backend_cpu_per_message_us": cpu_per_message_us(0.0, backend, count),
        "server_cpu_per_delivery_us": per_message / members if per_message is not None else None,
        "server_cpu_pct": 100 * (cpu_after - cpu_before) / seconds,
        # Everything else the machine ran meanwhile (others' work: noise), % of one core.
        "other_cpu_pct": other_cpu_pct(
            machine_after - machine_before,
            ours=(cpu_after - cpu_before) + listeners_cpu + backend + (me_after - me_before),
            seconds=seconds,
        ),
        "messages_per_s": count / seconds,  # wall clock: noisy on a shared machine
        "deliveries_per_s": deliveries / seconds,
        "p50_ms": _ms(percentile(round_trips, 50)),  # the sender's echo round trip
        "p99_ms": _ms(percentile(round_trips, 99)),
        "echo_timeouts": timeouts,
        "lost": lost,
        "disorder": recorder.disorder,
        "errors": sum(recorder.errors.values()),
        "errors_by_code": dict(recorder.errors),
        "rss_mb": servers.rss_bytes(server_ps) / 2**20,
        # PostgreSQL: WAL bytes this database wrote per message (pg_waldump; other databases' excluded).
        "wal_bytes_per_message": wal[0] / count if wal and count else None,
        "wal_transactions_per_message": wal[1] / count if wal and count else None,
        # The echo's WebSocket frame (a delivery's size on the wire, before WebSocket framing).
        "listener_cpu_per_message_us": (
            cpu_per_message_us(listeners_before, listeners_after, count) if listeners_ps is not None else None
        ),
        "frame_bytes": recorder.frame_bytes / recorder.frames if recorder.frames else None,
    }


@dataclass
class SizedRecorder(Recorder):
    """``loadgen.Recorder`` that also sums the sizes of the message frames it gets (bandwidth per delivery)."""

    frames: int = 0
    frame_bytes: int = 0

    def on_frame(self, client: Client, raw: str | bytes) -> None:
        if raw.startswith(PARLEY_MESSAGE_PREFIX):
            self.frames += 1
            self.frame_bytes += len(raw.encode() if isinstance(raw, str) else raw)
        super().on_frame(client, raw)


def _busy_seconds() -> float:
    t = psutil.cpu_times()
    return sum(getattr(t, k, 0.0) for k in ("user", "nice", "system", "irq", "softirq", "steal"))


def _own_seconds() -> float:
    t = psutil.Process().cpu_times()
    return t.user + t.system


def _ms(ns: float | None) -> float | None:
    return None if ns is None else ns / 1e6
