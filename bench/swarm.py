"""The load generator in several processes (issue 19): not the limit, and apart from the server.

One Python process of ``websockets`` clients saturates near 15,000 deliveries/s, below what the faster
servers deliver, so ``run_rooms`` spreads the clients over ``procs`` worker processes (spawned, each on
its own uvloop), which run on the cores the server is not pinned to (``bench.__main__`` pins the
bench to them, and the workers inherit it). A client is a minimal WebSocket speaker on an asyncio
protocol (RFC 6455: the handshake, unmasked frames in, frames out masked with a zero key, pings
answered): 5-11 us of CPU per delivery where the ``websockets`` client of ``bench.loadgen`` took
~65 us in B. It speaks one of three dialects on top:

- ``tutorial``: ``/ws/chat/<room>/``, ``{"message": ...}`` both ways (baseline, layer, floor, ws-node)
- ``parley``: ``/ws/rooms/<room>/``, joined at the hello frame, message frames with a client_id
- ``socketio``: Engine.IO 4 over WebSocket (``/socket.io/?EIO=4&transport=websocket``): the open
  packet "0{...}" answered by the connect "40", then the event ``42["join",room]`` answered by
  ``42["joined",...]``; sends ``42["message",text]``, deliveries are ``42["message",text]``;
  the server's ping "2" is answered by the pong "3".

The parent takes the snapshots (server CPU, Redis and PostgreSQL CPU, the workers' CPU, deliveries
from a shared counter each worker bumps), tells the workers when to send, measure and stop, then
hands each the count every sender sent so it can count what its clients missed. Latencies are the
workers' (``time.monotonic_ns``: one clock for every process of the machine).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import multiprocessing
import os
import time
from array import array
from collections import Counter
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import orjson
import psutil
import uvloop

from . import servers
from .loadgen import CONNECT_CONCURRENCY, ECHO_TIMEOUT, MESSAGE_PAD, RICH, Snapshot, window_metrics
from .stats import count_delivery, lost_deliveries, make_tag, percentile

DEFAULT_PROCS = 2
SOCKETIO_PATH = "/socket.io/?EIO=4&transport=websocket"
PARLEY_MESSAGE = '{"type":"message"'
PARLEY_ERROR = '{"type":"error"'
SIO_MESSAGE = '42["message",'
SIO_JOINED = '42["joined"'
ZERO_MASK = b"\x00\x00\x00\x00"  # a valid masking key (RFC 6455 5.3): the payload goes out as is


def frame(opcode: int, payload: bytes) -> bytes:
    """A client's frame: FIN, ``opcode``, masked (with the zero key) ``payload``."""
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    return head + ZERO_MASK + payload


def parse_frames(buf: bytearray) -> tuple[list[tuple[int, bool, bytes]], int]:
    """The complete server frames at the start of ``buf`` as (opcode, fin, payload), and how many
    bytes they took (the rest waits for more data)."""
    out = []
    pos, n = 0, len(buf)
    while n - pos >= 2:
        b0, b1 = buf[pos], buf[pos + 1]
        length, head = b1 & 0x7F, 2
        if length == 126:
            if n - pos < 4:
                break
            length, head = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
        elif length == 127:
            if n - pos < 10:
                break
            length, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
        if b1 & 0x80:  # a masked frame from a server: not allowed, but unmask it all the same
            key = buf[pos + head : pos + head + 4]
            head += 4
            if pos + head + length > n:
                break
            raw = bytes(buf[pos + head : pos + head + length])
            payload = bytes(c ^ key[i % 4] for i, c in enumerate(raw))
        else:
            if pos + head + length > n:
                break
            payload = bytes(buf[pos + head : pos + head + length])
        out.append((b0 & 0x0F, bool(b0 & 0x80), payload))
        pos += head + length
    return out, pos


class Client(asyncio.Protocol):
    """One WebSocket client of a worker: the handshake, then every text message to ``worker.on_text``."""

    def __init__(self, worker: Worker, host: str, path: str, room: str, sender_id: int | None) -> None:
        self.worker, self.host, self.path = worker, host, path
        self.room, self.sender_id = room, sender_id
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.upgraded = False
        self.fragments: bytearray | None = None
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()  # the 101
        self.ready: asyncio.Future[None] = loop.create_future()  # joined the room (the dialect's)
        self.got: dict[int, int] = {}  # sender -> messages received in order
        self.last: dict[int, int] = {}  # sender -> the last message number received
        self.echo: asyncio.Semaphore | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's TCPTransport is not asyncio's class
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            (
                f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: http://{self.host}\r\n\r\n"
            ).encode()
        )

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buf[:end]).split(b"\r\n", 1)[0]
            del buf[: end + 4]
            if b" 101 " not in status + b" ":
                if not self.opened.done():
                    self.opened.set_exception(ConnectionError(status.decode(errors="replace")))
                self.abort()
                return
            self.upgraded = True
            self.opened.set_result(None)
        frames, used = parse_frames(buf)
        if used:
            del buf[:used]
        for opcode, fin, payload in frames:
            if opcode == 1 and fin:
                self.worker.on_text(self, payload.decode())
            elif opcode in (0, 1):  # a fragmented message
                self.fragments = (self.fragments or bytearray()) + payload
                if fin:
                    text, self.fragments = self.fragments.decode(), None
                    self.worker.on_text(self, text)
            elif opcode == 9:
                self.send_frame(0xA, payload)
            elif opcode == 8:
                self.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed:
            self.closed = True
            self.worker.closed_early += 1
        for f in (self.opened, self.ready):
            if not f.done():
                f.set_exception(ConnectionError("closed"))

    def send_frame(self, opcode: int, payload: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(frame(opcode, payload))

    def send_text(self, text: str) -> None:
        self.send_frame(1, text.encode())

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


class Worker:
    """One load-generator process's clients, senders and counts (``worker_main``)."""

    def __init__(self, spec: dict[str, Any], counters: Any, index: int) -> None:
        self.spec = spec
        self.dialect: str = spec["dialect"]
        self.counters, self.index = counters, index
        self.clients: list[Client] = []
        self.deliveries = 0
        self.disorder = 0
        self.closed_early = 0
        self.errors: Counter[str] = Counter()
        self.measuring = False
        self.stopping = False
        self.latencies = array("q")
        self.first_last: dict[tuple[int, int], list[int]] = {}
        self.sent: dict[int, int] = {}

    # -- receiving
    def on_text(self, client: Client, raw: str) -> None:
        dialect = self.dialect
        if dialect == "tutorial":
            text = orjson.loads(raw)["message"]
        elif dialect == "parley":
            if not raw.startswith(PARLEY_MESSAGE):  # hello, history, presence, error
                if raw.startswith(PARLEY_ERROR):
                    self.on_error(client, raw)
                if not client.ready.done():
                    client.ready.set_result(None)
                return
            at = raw.find(RICH)
            text = orjson.loads(raw[:at] + "}" if at > 0 else raw)["message"]
        elif raw.startswith(SIO_MESSAGE):
            text = orjson.loads(raw[2:])[1]
        else:
            self.on_socketio(client, raw)
            return
        self.on_delivery(client, text)

    def on_socketio(self, client: Client, raw: str) -> None:
        """Engine.IO's and Socket.IO's packets that are not deliveries: ping, open, connect, joined."""
        if raw == "2":
            client.send_text("3")
        elif raw.startswith("0{"):
            client.send_text("40")
        elif raw.startswith("40"):
            client.send_text('42["join",' + orjson.dumps(client.room).decode() + "]")
        elif raw.startswith(SIO_JOINED) and not client.ready.done():
            client.ready.set_result(None)

    def on_error(self, client: Client, raw: str) -> None:
        try:
            code = str(orjson.loads(raw).get("code"))
        except orjson.JSONDecodeError:
            code = "unparsable"
        self.errors[code] += 1
        if client.echo is not None:
            client.echo.release()

    def on_delivery(self, client: Client, text: str) -> None:
        count_delivery(self, client, text, self.latencies)
        self.counters[self.index] = self.deliveries

    # -- sending
    def encode(self, sender: int, n: int) -> str:
        text = make_tag(sender, n, time.monotonic_ns(), MESSAGE_PAD)
        if self.dialect == "parley":
            return orjson.dumps({"type": "message", "message": text, "client_id": f"b{sender}-{n}"}).decode()
        if self.dialect == "socketio":
            return '42["message",' + orjson.dumps(text).decode() + "]"
        return orjson.dumps({"message": text}).decode()

    async def send_closed(self, c: Client) -> None:
        assert c.echo is not None and c.sender_id is not None
        sid, n = c.sender_id, 0
        while not self.stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(c.echo.acquire(), ECHO_TIMEOUT)
            if self.stopping or c.closed:
                return
            c.send_text(self.encode(sid, n))
            self.sent[sid] = n = n + 1

    async def send_open(self, c: Client, rate: float) -> None:
        assert c.sender_id is not None
        sid, n = c.sender_id, 0
        interval = 1.0 / rate
        nxt = time.monotonic() + interval * (sid % 10) / 10  # spread senders over the interval
        while not self.stopping and not c.closed:
            delay = nxt - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            c.send_text(self.encode(sid, n))
            self.sent[sid] = n = n + 1
            nxt += interval

    # -- opening
    async def open(self) -> tuple[int, float]:
        """Open the plan's clients in its order, ``concurrency`` at a time: that many openers take
        the next of the plan in turn (not a task per client behind a semaphore, whose ``acquire``
        looks at every waiter: O(clients) per client, ~300 us each at 10,000)."""
        spec, loop = self.spec, asyncio.get_running_loop()
        host = f"127.0.0.1:{spec['port']}"
        plan = spec["plan"]
        got: list[Client | None] = [None] * len(plan)
        todo = iter(enumerate(plan))
        failures = 0

        async def one(room: str, sender: int | None) -> Client | None:
            nonlocal failures
            path = SOCKETIO_PATH if self.dialect == "socketio" else spec["room_path"].format(room=room)
            try:
                _, client = await loop.create_connection(
                    lambda: Client(self, host, path, room, sender), "127.0.0.1", spec["port"]
                )
                await asyncio.wait_for(client.opened, 60)
                if self.dialect == "tutorial":
                    client.ready.set_result(None)
                await asyncio.wait_for(client.ready, 30)
            except (OSError, TimeoutError, ConnectionError):
                failures += 1
                return None
            return client

        async def opener() -> None:
            for i, (room, sender) in todo:
                got[i] = await one(room, sender)

        start = time.perf_counter()
        await asyncio.gather(*(opener() for _ in range(max(1, min(spec["concurrency"], len(plan))))))
        self.clients = [c for c in got if c is not None]
        return failures, time.perf_counter() - start

    async def drain(self, by_room: dict[str, dict[int, int]], seconds: float) -> int:
        """Wait (at most ``seconds``) for every client to have every message sent in its room; the
        deliveries still missing then."""
        deadline = time.monotonic() + seconds
        while True:
            lost = sum(lost_deliveries(by_room.get(c.room, {}), c.got) for c in self.clients)
            if lost == 0 or time.monotonic() > deadline:
                return lost
            await asyncio.sleep(0.05)


def _wake(ready: asyncio.Future[None]) -> None:
    if not ready.done():
        ready.set_result(None)


async def _recv(conn: Connection) -> Any:
    """The next object from a pipe, without blocking the loop while none is there."""
    loop = asyncio.get_running_loop()
    fd = conn.fileno()
    while not conn.poll():
        ready: asyncio.Future[None] = loop.create_future()
        loop.add_reader(fd, _wake, ready)
        try:
            await ready
        finally:
            loop.remove_reader(fd)
            os.set_blocking(fd, True)  # uvloop's add_reader made it non-blocking; a big message comes in parts
    return conn.recv()


async def _work(spec: dict[str, Any], conn: Connection, counters: Any, index: int) -> None:
    worker = Worker(spec, counters, index)
    failures, seconds = await worker.open()
    conn.send(("opened", len(worker.clients), failures, seconds))
    senders = [c for c in worker.clients if c.sender_id is not None]
    tasks: list[asyncio.Task[None]] = []
    while True:
        command, arg = await _recv(conn)
        if command == "go":
            for c in senders:
                worker.sent[c.sender_id] = 0  # type: ignore[index]
                c.echo = asyncio.Semaphore(spec["window"])
                rate = spec.get("rate")
                tasks.append(asyncio.create_task(worker.send_open(c, rate) if rate else worker.send_closed(c)))
        elif command == "measure":
            worker.measuring = arg
        elif command == "stop":
            worker.stopping = True
            for c in senders:
                if c.echo is not None:
                    c.echo.release()
            if tasks:
                await asyncio.wait(tasks, timeout=ECHO_TIMEOUT + 1)
            conn.send(("sent", {c.sender_id: (c.room, worker.sent.get(c.sender_id, 0)) for c in senders}))
        elif command == "expect":
            by_room, seconds = arg
            lost = await worker.drain(by_room, seconds)
            expected = sum(sum(by_room.get(c.room, {}).values()) for c in worker.clients)
            conn.send(
                (
                    "result",
                    {
                        "lost": lost,
                        "expected": expected,
                        "disorder": worker.disorder,
                        "errors": dict(worker.errors),
                        "latencies": worker.latencies.tobytes(),
                        "first_last": worker.first_last,
                    },
                )
            )
        elif command == "close":
            for c in worker.clients:
                c.closed = True
                c.abort()
            conn.send(("closed", worker.closed_early))
            return


def worker_main(spec: dict[str, Any], conn: Connection, counters: Any, index: int) -> None:
    """A worker process: ``spec``'s clients on uvloop, commanded through ``conn``."""
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(_work(spec, conn, counters, index))


class Swarm:
    """The parent's handle on the worker processes of one run."""

    def __init__(self, specs: list[dict[str, Any]]) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.counters = ctx.RawArray("q", len(specs))
        self.pipes: list[Connection] = []
        self.procs = []
        for i, spec in enumerate(specs):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=worker_main, args=(spec, child, self.counters, i), daemon=True)
            proc.start()
            child.close()
            self.pipes.append(parent)
            self.procs.append(proc)
        self.ps = [psutil.Process(p.pid) for p in self.procs if p.pid is not None]

    def send(self, command: str, arg: Any = None) -> None:
        for pipe in self.pipes:
            pipe.send((command, arg))

    async def gather(self, within: float) -> list[Any]:
        """One answer from every worker (a worker silent for ``within`` seconds: TimeoutError)."""
        async with asyncio.timeout(within):
            return list(await asyncio.gather(*(_recv(p) for p in self.pipes)))

    def deliveries(self) -> int:
        return sum(self.counters)

    def cpu_seconds(self) -> float:
        """The workers' CPU and the bench's own (it takes the snapshots)."""
        total = 0.0
        for p in [psutil.Process(), *self.ps]:
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                total += t.user + t.system
        return total

    def snapshot(self, server: psutil.Process) -> Snapshot:
        everything = psutil.cpu_times()
        return Snapshot(
            t=time.perf_counter(),
            server_cpu=servers.cpu_seconds(server),
            backend_cpu=servers.backend_cpu_seconds(),
            loadgen_cpu=self.cpu_seconds(),
            machine_busy=sum(
                getattr(everything, k, 0.0) for k in ("user", "nice", "system", "irq", "softirq", "steal")
            ),
            deliveries=self.deliveries(),
        )

    def close(self) -> None:
        for proc in self.procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
                proc.join()
        for pipe in self.pipes:
            pipe.close()


def split_plan(
    rooms: int, members: int, senders_per_room: int, tag: str, procs: int
) -> list[list[tuple[str, int | None]]]:
    """Every client as (room name, sender id or None), dealt to ``procs`` workers in turn: members in
    join order, the senders first in each room, rooms interleaved so they fill together."""
    plan: list[tuple[str, int | None]] = []
    for m in range(members):
        for r in range(rooms):
            plan.append((f"{tag}r{r}", r * senders_per_room + m if m < senders_per_room else None))
    return [plan[i::procs] for i in range(procs)]


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
    drain: float = 10.0,
    settle: float = 1.5,
    procs: int = DEFAULT_PROCS,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """``loadgen.run_rooms``' scenario (the same parameters and results) from ``procs`` worker
    processes: ``rooms`` rooms of ``members`` clients, the first ``senders_per_room`` of each send,
    closed loop with ``window`` in flight (``rate`` None) or ``rate`` messages a second each."""
    tag = f"{label.lower()}{int(time.time() * 1000) % 10**9}"
    procs = max(1, min(procs, rooms * members))
    parts = split_plan(rooms, members, senders_per_room, tag, procs)
    concurrency = max(1, CONNECT_CONCURRENCY // procs)
    base = dict(dialect=target.dialect, port=server.port, room_path=target.room_path, window=window, rate=rate)
    log(f"    opening {rooms * members} connections in {rooms} room(s) from {procs} processes")
    swarm = Swarm([{**base, "plan": part, "concurrency": concurrency} for part in parts])
    try:
        opened = await swarm.gather(within=240)
        connections = sum(o[1] for o in opened)
        failures = sum(o[2] for o in opened)
        result: dict[str, Any] = {
            "connections": connections,
            "connect_failures": failures,
            "connect_s": max(o[3] for o in opened),
            "client_processes": procs,
            "client_cpus": sorted(os.sched_getaffinity(0)),
            "server_cpus": sorted(servers.SERVER_CPUS) if servers.SERVER_CPUS else None,
            "redis_pg": "unpinned, this machine",
        }
        if failures:
            log(f"    {failures} connections failed")
        await asyncio.sleep(settle if target.parley else 0.5)  # Parley: presence updates of the joins settle
        server_ps = server.ps
        swarm.send("go")
        await asyncio.sleep(warmup)
        swarm.send("measure", True)
        first = swarm.snapshot(server_ps)
        previous = now = first
        end = first.t + duration
        while now.t < end - 0.05:
            await asyncio.sleep(min(2.0, max(0.0, end - time.perf_counter())))
            now = swarm.snapshot(server_ps)
            m = window_metrics(previous, now)
            log(
                f"    t={now.t - first.t:5.1f}s  {m['deliveries_per_s']:9.0f} deliveries/s  "
                f"CPU: server {m['server_cpu_pct']:3.0f}%  Redis+PG {m['backend_cpu_pct']:3.0f}%  "
                f"load generator {m['loadgen_cpu_pct']:3.0f}%  other {m['other_cpu_pct']:3.0f}%"
            )
            previous = now
        last = now
        swarm.send("measure", False)
        swarm.send("stop")
        by_room: dict[str, dict[int, int]] = {}
        for _, sent in await swarm.gather(within=ECHO_TIMEOUT + 30):
            for sid, (room, count) in sent.items():
                by_room.setdefault(room, {})[sid] = count
        swarm.send("expect", (by_room, drain))
        reports = [r for _, r in await swarm.gather(within=drain + 60)]
        swarm.send("close")
        closed = await swarm.gather(within=30)
    finally:
        swarm.close()
    lat: list[int] = []
    spans: dict[tuple[int, int], list[int]] = {}
    for r in reports:
        lat.extend(array("q", r["latencies"]))
        for key, (a, b) in r["first_last"].items():
            span = spans.setdefault(key, [a, b])
            span[0], span[1] = min(span[0], a), max(span[1], b)
    lat.sort()
    firsts = sorted(s[0] for s in spans.values())
    spreads = sorted(s[1] - s[0] for s in spans.values())
    errors: Counter[str] = Counter()
    for r in reports:
        errors.update(r["errors"])
    result.update(window_metrics(first, last))
    result.update(
        {
            "messages_sent": sum(sum(s.values()) for s in by_room.values()),
            "expected_deliveries": sum(r["expected"] for r in reports),
            "lost": sum(r["lost"] for r in reports),
            "disorder": sum(r["disorder"] for r in reports),
            "closed_early": sum(c[1] for c in closed),
            "p50_ms": _ms(percentile(lat, 50)),
            "p99_ms": _ms(percentile(lat, 99)),
            "max_ms": _ms(lat[-1] if lat else None),
            "latency_samples": len(lat),
            "first_delivery_p50_ms": _ms(percentile(firsts, 50)),
            "first_delivery_p99_ms": _ms(percentile(firsts, 99)),
            "fanout_spread_p50_ms": _ms(percentile(spreads, 50)),
            "fanout_spread_p99_ms": _ms(percentile(spreads, 99)),
            "rss_mb": servers.rss_bytes(server.ps) / 2**20,
            "errors": sum(errors.values()),
            "errors_by_code": dict(errors),
        }
    )
    result["messages_per_s"] = result["deliveries_per_s"] / members
    result["server_cpu_per_message_us"] = result["server_cpu_per_delivery_us"] * members
    result["backend_cpu_per_message_us"] = result["backend_cpu_per_delivery_us"] * members
    return result


def _ms(ns: float | None) -> float | None:
    return None if ns is None else ns / 1e6
