"""The load generator: one asyncio process (uvloop), raw ``websockets`` clients, no compression.

Every message the bench sends carries its sender, number and send time (``stats.make_tag``) in the
message text, which both servers hand back unchanged, so every delivery gives a latency and every
receiver can count what it missed. The send time is ``time.monotonic_ns()`` of this process, the
same clock the receivers read, so latencies need no clock sync.

Scenarios T and F send B's load with other messages: T's text after the tag is drawn from
``bench.corpus`` (``compose``), F's messages carry one of the sender's uploads each (``attach``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from array import array
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import psutil
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from . import servers
from .stats import count_delivery, lost_deliveries, make_tag, percentile

PARLEY_MESSAGE_PREFIX = '{"type":"message"'
PARLEY_ERROR_PREFIX = '{"type":"error"'
# A message frame's html and attachments are its last fields (chat.protocol.plain): the load
# generator parses the frame without them (a code block's html is kilobytes).
RICH = ',"html":'
NO_ATTACHMENTS = '"attachments":[]}'
MESSAGE_PAD = 40  # message text ~64 characters: a short chat line
ECHO_TIMEOUT = 5.0  # a closed-loop sender whose message never comes back sends the next one after this
# Handshakes in flight at once. The baseline's channels_redis pool (redis-py's default of 100
# connections, which raises rather than waits) fails handshakes beyond about that many group_adds.
CONNECT_CONCURRENCY = 50


@dataclass(slots=True, eq=False)
class Client:
    ws: ClientConnection
    room: int
    sender_id: int | None  # set on the clients that send
    got: dict[int, int] = field(default_factory=dict)  # sender id -> messages received in order
    last: dict[int, int] = field(default_factory=dict)  # sender id -> last message number received
    ready: asyncio.Future | None = None
    reader: asyncio.Task | None = None
    echo: asyncio.Semaphore | None = None


@dataclass
class Recorder:
    """Counters shared by every client of one scenario run."""

    parley: bool
    deliveries: int = 0
    disorder: int = 0  # a message received twice or before an earlier one of the same sender
    closed_early: int = 0
    measuring: bool = False
    latencies_ns: array = field(default_factory=lambda: array("q"))
    sent: dict[int, int] = field(default_factory=dict)  # sender id -> messages sent
    # (sender, n) -> [first, last] delivery latency of a message sent while measuring: the first
    # delivery is the store + publish path, last - first is the fan-out to the room.
    first_last: dict[tuple[int, int], list[int]] = field(default_factory=dict)
    senders: dict[int, Client] = field(default_factory=dict)
    # T: the text after the tag of sender's n-th message (default: padding, a short plain line).
    compose: Callable[[int, int], str] | None = None
    # F: the uploads sender's n-th message carries (None: it has none left).
    attach: Callable[[int, int], list[int] | None] | None = None
    unattached: int = 0  # F: messages sent without an upload (the sender's pool ran out)
    with_attachment: int = 0  # F: deliveries whose frame carries an attachment
    errors: Counter[str] = field(default_factory=Counter)  # error frames by code (a refused message)

    def on_frame(self, client: Client, raw: str | bytes) -> None:
        if self.parley and not raw.startswith(PARLEY_MESSAGE_PREFIX):  # hello, history, presence, error
            if raw.startswith(PARLEY_ERROR_PREFIX):
                self.on_error(client, raw)
            if client.ready is not None and not client.ready.done():
                client.ready.set_result(None)
            return
        at = raw.find(RICH) if self.parley else -1
        if at > 0:
            if self.attach is not None and not raw.endswith(NO_ATTACHMENTS):
                self.with_attachment += 1
            raw = raw[:at] + "}"
        count_delivery(self, client, orjson.loads(raw)["message"], self.latencies_ns)

    def on_error(self, client: Client, raw: str) -> None:
        """A refused message: counted by code; its sender sends the next one (it gets no echo)."""
        try:
            code = str(orjson.loads(raw).get("code"))
        except orjson.JSONDecodeError:
            code = "unparsable"
        self.errors[code] += 1
        if client.sender_id is not None and client.echo is not None:
            client.echo.release()

    def encode(self, sender: int, n: int) -> str:
        now = time.monotonic_ns()
        if self.compose is None:
            text = make_tag(sender, n, now, MESSAGE_PAD)
        else:
            text = make_tag(sender, n, now) + " " + self.compose(sender, n)
        if self.parley:
            frame: dict[str, Any] = {"type": "message", "message": text, "client_id": f"b{sender}-{n}"}
            if self.attach is not None:
                uploads = self.attach(sender, n)
                if uploads is None:
                    self.unattached += 1
                else:
                    frame["attachments"] = uploads
            return orjson.dumps(frame).decode()
        return json.dumps({"message": text})


async def _read(recorder: Recorder, client: Client) -> None:
    try:
        async for raw in client.ws:
            recorder.on_frame(client, raw)
    except ConnectionClosed:
        recorder.closed_early += 1
    except Exception:
        recorder.closed_early += 1
        raise


async def open_clients(
    server: servers.Server,
    path_for_room: Callable[[int], str],
    plan: list[tuple[int, int | None]],
    recorder: Recorder,
    *,
    concurrency: int = CONNECT_CONCURRENCY,
    open_timeout: float = 120.0,
    sender_request: Callable[[int], tuple[str, dict[str, str]]] | None = None,
) -> tuple[list[Client], int, float]:
    """Open a client for each (room, sender id or None) of ``plan``, in order of plan as far as
    ``concurrency`` allows; return the clients that joined, the number that failed and the seconds taken.
    A client has joined when its handshake is done and, on Parley, its hello frame has arrived.
    ``sender_request(sender id)`` gives a sender's query string and extra headers (M: a name, a session)."""
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(concurrency)
    clients: list[Client | None] = [None] * len(plan)
    failures = 0

    async def one(i: int, room: int, sender: int | None) -> None:
        nonlocal failures
        async with gate:
            url, headers = server.url(path_for_room(room)), None
            if sender is not None and sender_request is not None:
                query, headers = sender_request(sender)
                url += query
            try:
                ws = await connect(
                    url,
                    additional_headers=headers,
                    compression=None,
                    origin=f"http://127.0.0.1:{server.port}",  # the page's own origin, port included
                    ping_interval=None,
                    max_size=2**24,
                    open_timeout=60,
                    close_timeout=1,
                )
            except (OSError, InvalidHandshake, TimeoutError):
                failures += 1
                return
            client = Client(ws=ws, room=room, sender_id=sender)
            if recorder.parley:
                client.ready = loop.create_future()
            client.reader = loop.create_task(_read(recorder, client))
            if client.ready is not None:
                try:
                    await asyncio.wait_for(asyncio.shield(client.ready), 30)
                except TimeoutError:
                    failures += 1
                    client.reader.cancel()
                    client.ws.transport.abort()
                    return
            clients[i] = client

    start = time.perf_counter()
    tasks = [loop.create_task(one(i, room, sender)) for i, (room, sender) in enumerate(plan)]
    _done, pending = await asyncio.wait(tasks, timeout=open_timeout)
    for task in pending:
        task.cancel()
    failures += len(pending)
    elapsed = time.perf_counter() - start
    return [c for c in clients if c is not None], failures, elapsed


async def close_clients(clients: list[Client]) -> None:
    """Drop every connection at once (the server is stopped right after)."""
    for client in clients:
        if client.reader is not None:
            client.reader.cancel()
        with contextlib.suppress(Exception):
            client.ws.transport.abort()
    await asyncio.sleep(0.1)


@dataclass
class Snapshot:
    t: float
    server_cpu: float
    backend_cpu: dict[int, float]
    loadgen_cpu: float
    machine_busy: float  # CPU seconds of the whole machine, every process
    deliveries: int

    @classmethod
    def take(cls, server: psutil.Process, recorder: Recorder) -> Snapshot:
        me = psutil.Process().cpu_times()
        everything = psutil.cpu_times()
        return cls(
            machine_busy=sum(
                getattr(everything, k, 0.0) for k in ("user", "nice", "system", "irq", "softirq", "steal")
            ),
            t=time.perf_counter(),
            server_cpu=servers.cpu_seconds(server),
            backend_cpu=servers.backend_cpu_seconds(),
            loadgen_cpu=me.user + me.system,
            deliveries=recorder.deliveries,
        )


def window_metrics(a: Snapshot, b: Snapshot) -> dict[str, float]:
    seconds = b.t - a.t
    deliveries = b.deliveries - a.deliveries
    backend = servers.backend_cpu_delta(a.backend_cpu, b.backend_cpu)
    per = 1e6 / deliveries if deliveries else float("nan")
    return {
        "seconds": seconds,
        "deliveries": deliveries,
        "deliveries_per_s": deliveries / seconds,
        "server_cpu_s": b.server_cpu - a.server_cpu,
        "server_cpu_per_delivery_us": (b.server_cpu - a.server_cpu) * per,
        "backend_cpu_per_delivery_us": backend * per,
        "server_cpu_pct": 100 * (b.server_cpu - a.server_cpu) / seconds,
        "backend_cpu_pct": 100 * backend / seconds,
        "loadgen_cpu_pct": 100 * (b.loadgen_cpu - a.loadgen_cpu) / seconds,
        # Anything else running on the machine meanwhile (noise): should be near 0.
        "other_cpu_pct": 100
        * (
            (b.machine_busy - a.machine_busy)
            - (b.server_cpu - a.server_cpu)
            - backend
            - (b.loadgen_cpu - a.loadgen_cpu)
        )
        / seconds,
    }


async def run_rooms(
    server: servers.Server,
    target: servers.Target,
    *,
    label: str,
    rooms: int,
    members: int,
    senders_per_room: int,
    duration: float,
    warmup: float,
    window: int = 1,
    rate: float | None = None,
    on_measure_start: Callable[[], Any] | None = None,
    drain: float = 10.0,
    settle: float = 1.5,
    log: Callable[[str], None] = print,
    tag: str | None = None,
    compose: Callable[[int, int], str] | None = None,
    attach: Callable[[int, int], list[int] | None] | None = None,
    sender_request: Callable[[int], tuple[str, dict[str, str]]] | None = None,
) -> dict[str, Any]:
    """``rooms`` rooms of ``members`` clients; the first ``senders_per_room`` clients of each room send.

    Closed loop (``rate`` None): each sender keeps ``window`` messages in flight and sends the next
    when one of its own comes back. Open loop: each sender sends ``rate`` messages a second.
    Rooms are named ``<tag>r<n>``; sender ``s`` is the ``s % senders_per_room``-th of room
    ``s // senders_per_room``. ``compose``, ``attach``: ``Recorder``'s; ``sender_request``:
    ``open_clients``' (F: a sender's token).
    """
    recorder = Recorder(parley=target.parley, compose=compose, attach=attach)
    tag = tag or f"{label.lower()}{int(time.time() * 1000) % 10**9}"
    # Members in join order: senders first in each room; rooms interleaved so they fill together.
    plan: list[tuple[int, int | None]] = []
    for m in range(members):
        for r in range(rooms):
            plan.append((r, r * senders_per_room + m if m < senders_per_room else None))
    log(f"    opening {len(plan)} connections in {rooms} room(s)")
    clients, failures, open_s = await open_clients(
        server, lambda r: target.room_path.format(room=f"{tag}r{r}"), plan, recorder, sender_request=sender_request
    )
    result: dict[str, Any] = {"connections": len(clients), "connect_failures": failures, "connect_s": open_s}
    if failures:
        log(f"    {failures} connections failed")
    await asyncio.sleep(settle if recorder.parley else 0.5)  # Parley: presence updates of the joins settle
    senders = [c for c in clients if c.sender_id is not None]
    for c in senders:
        c.echo = asyncio.Semaphore(window)
        recorder.senders[c.sender_id] = c
        recorder.sent[c.sender_id] = 0
    stop = asyncio.Event()
    server_ps = server.ps

    async def send_closed(c: Client) -> None:
        n = 0
        sid = c.sender_id
        while not stop.is_set():
            try:
                await asyncio.wait_for(c.echo.acquire(), ECHO_TIMEOUT)
            except TimeoutError:
                pass
            if stop.is_set():
                return
            await c.ws.send(recorder.encode(sid, n))
            recorder.sent[sid] = n = n + 1

    async def send_open(c: Client) -> None:
        n = 0
        sid = c.sender_id
        interval = 1.0 / rate
        nxt = time.monotonic() + interval * (sid % 10) / 10  # spread senders over the interval
        while not stop.is_set():
            delay = nxt - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await c.ws.send(recorder.encode(sid, n))
            recorder.sent[sid] = n = n + 1
            nxt += interval

    loop = asyncio.get_running_loop()
    sender_tasks = [loop.create_task(send_closed(c) if rate is None else send_open(c)) for c in senders]
    try:
        await asyncio.sleep(warmup)
        recorder.measuring = True
        if on_measure_start is not None:
            on_measure_start()
        first = Snapshot.take(server_ps, recorder)
        pg_first = servers.pg_stats(target.db_name)
        previous = first
        end = first.t + duration
        now = first
        while now.t < end - 0.05:
            await asyncio.sleep(min(2.0, max(0.0, end - time.perf_counter())))
            now = Snapshot.take(server_ps, recorder)
            m = window_metrics(previous, now)
            log(
                f"    t={now.t - first.t:5.1f}s  {m['deliveries_per_s']:9.0f} deliveries/s  "
                f"CPU: server {m['server_cpu_pct']:3.0f}%  Redis+PG {m['backend_cpu_pct']:3.0f}%  "
                f"load generator {m['loadgen_cpu_pct']:3.0f}%  other {m['other_cpu_pct']:3.0f}%"
            )
            previous = now
        last = now
        pg_last = servers.pg_stats(target.db_name)
        recorder.measuring = False
        stop.set()
        for c in senders:  # wake closed-loop senders waiting for an echo
            c.echo.release()
        await asyncio.wait(sender_tasks, timeout=ECHO_TIMEOUT + 1)
        # Drain: every receiver should get every message sent in its room.
        by_room: dict[int, dict[int, int]] = {}
        for c in senders:
            by_room.setdefault(c.room, {})[c.sender_id] = recorder.sent[c.sender_id]
        drain_deadline = time.monotonic() + drain  # a delivery later than this counts as lost
        while True:
            lost = sum(lost_deliveries(by_room.get(c.room, {}), c.got) for c in clients)
            if lost == 0 or time.monotonic() > drain_deadline:
                break
            await asyncio.sleep(0.1)
    finally:
        for t in sender_tasks:
            t.cancel()
        await close_clients(clients)
    lat = sorted(recorder.latencies_ns)
    firsts = sorted(span[0] for span in recorder.first_last.values())
    spreads = sorted(span[1] - span[0] for span in recorder.first_last.values())
    result.update(window_metrics(first, last))
    if pg_first and pg_last:
        seconds = last.t - first.t
        result["pg_commits_per_s"] = (pg_last[0] - pg_first[0]) / seconds
        result["pg_sessions_per_s"] = (pg_last[1] - pg_first[1]) / seconds
    result.update(
        {
            "messages_sent": sum(recorder.sent.values()),
            "expected_deliveries": sum(sum(by_room.get(c.room, {}).values()) for c in clients),
            "lost": lost,
            "disorder": recorder.disorder,
            "closed_early": recorder.closed_early,
            "p50_ms": _ms(percentile(lat, 50)),
            "p99_ms": _ms(percentile(lat, 99)),
            "max_ms": _ms(lat[-1] if lat else None),
            "latency_samples": len(lat),
            "first_delivery_p50_ms": _ms(percentile(firsts, 50)),
            "first_delivery_p99_ms": _ms(percentile(firsts, 99)),
            "fanout_spread_p50_ms": _ms(percentile(spreads, 50)),
            "fanout_spread_p99_ms": _ms(percentile(spreads, 99)),
            "rss_mb": servers.rss_bytes(server_ps) / 2**20,
            "errors": sum(recorder.errors.values()),
            "errors_by_code": dict(recorder.errors),
        }
    )
    if compose is not None:  # T: which texts were sent follows from each sender's count
        result["sent_by_sender"] = dict(recorder.sent)
    if attach is not None:
        result["unattached"] = recorder.unattached
        result["deliveries_with_attachment"] = recorder.with_attachment
    result["messages_per_s"] = result["deliveries_per_s"] / members
    # Every message reaches the room's members: per message is per delivery times the room's size.
    result["server_cpu_per_message_us"] = result["server_cpu_per_delivery_us"] * members
    result["backend_cpu_per_message_us"] = result["backend_cpu_per_delivery_us"] * members
    return result


def _ms(ns: float | None) -> float | None:
    return None if ns is None else ns / 1e6


async def run_idle(
    server: servers.Server,
    target: servers.Target,
    *,
    connections: int,
    per_room: int,
    concurrency: int,
    settle: float,
    on_open_start: Callable[[], Any] | None = None,
    on_open_end: Callable[[], Any] | None = None,
    on_settled: Callable[[], Any] | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Open ``connections`` idle clients (``per_room`` to a room); connections/s and memory per connection."""
    recorder = Recorder(parley=target.parley)
    tag = f"c{int(time.time() * 1000) % 10**9}"
    path = lambda r: target.room_path.format(room=f"{tag}r{r}")  # noqa: E731
    warm, _, _ = await open_clients(server, path, [(10**6, None)], recorder)  # the first connection's one-offs
    await asyncio.sleep(1.0)
    if on_open_start is not None:
        on_open_start()
    server_ps = server.ps
    rss_before = servers.rss_bytes(server_ps)
    cpu_before = servers.cpu_seconds(server_ps)
    plan: list[tuple[int, int | None]] = [(i // per_room, None) for i in range(connections)]
    log(f"    opening {connections} idle connections, {concurrency} at a time, {per_room} per room")
    clients, failures, seconds = await open_clients(server, path, plan, recorder, concurrency=concurrency)
    cpu_open = servers.cpu_seconds(server_ps) - cpu_before
    if on_open_end is not None:
        on_open_end()
    log(f"    {len(clients)} open in {seconds:.1f}s ({failures} failed); settling {settle:.0f}s")
    await asyncio.sleep(settle)
    rss_after = servers.rss_bytes(server_ps)
    if on_settled is not None:
        outcome = on_settled()
        if asyncio.iscoroutine(outcome):
            await outcome
    await close_clients(clients + warm)
    ok = len(clients)
    return {
        "connections": ok,
        "connect_failures": failures,
        "connect_s": seconds,
        "connections_per_s": ok / seconds if seconds else None,
        "server_cpu_per_connection_us": 1e6 * cpu_open / ok if ok else None,
        "rss_before_mb": rss_before / 2**20,
        "rss_after_mb": rss_after / 2**20,
        "kib_per_connection": (rss_after - rss_before) / 1024 / ok if ok else None,
    }
