"""Scenario H: the HTTP send path. Programs post messages with ``POST /api/v1/rooms/<room>/messages``
while WebSocket members of those rooms listen.

``clients`` HTTP clients (httpx, one keep-alive connection each), each a user of its own with its
own token (``bench.apitokens``, made in the target's database before the server starts: no password
logins, no throttling), are dealt round ``rooms`` rooms of ``members`` WebSocket members. Each client
keeps one POST in flight (closed loop): it sends the next when the answer to the last one arrives.
Measured: messages posted per second (201 answers in the window), the POST's latency (request sent
to answer read, p50/p99), the delivery latency to the members (the text carries the send time, as in
A), and losses: a room's ids are consecutive, so each member must have every id from its hello's
``last_id`` to the highest id a POST was answered with (``bench.httpplan``).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from array import array
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from . import servers
from .httpplan import CREATED, Listener, outcome, post_body, room_of
from .loadgen import MESSAGE_PAD, PARLEY_MESSAGE_PREFIX, Client, Snapshot, close_clients, open_clients, window_metrics
from .stats import make_tag, parse_tag, percentile

TOKENS_CMD = [sys.executable, "-m", "bench.apitokens"]
POST_TIMEOUT = 10.0  # a POST unanswered after this counts as unanswered, and the client posts again
PATH = "/api/v1/rooms/{room}/messages"


def make_tokens(target: servers.Target, count: int, prefix: str) -> list[str]:
    """``count`` users with a token each in the target's database: their secrets, in order."""
    target.migrate()
    proc = subprocess.run(
        [*TOKENS_CMD, "--count", str(count), "--prefix", prefix],
        cwd=servers.ROOT,  # this tree's bench package, on the target's database (migrated by its own tree)
        env={**target.env, "DJANGO_SETTINGS_MODULE": "parley.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"bench.apitokens failed: {(proc.stderr or proc.stdout)[-500:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])["tokens"]


@dataclass
class HttpRecorder:
    """The WebSocket members' side (``on_frame`` as ``loadgen.Recorder``'s) and the HTTP clients' tallies."""

    parley: bool = True  # open_clients waits for the hello
    measuring: bool = False
    deliveries: int = 0
    closed_early: int = 0
    listeners: dict[Client, Listener] = field(default_factory=dict)
    delivery_ns: array = field(default_factory=lambda: array("q"))
    post_ns: array = field(default_factory=lambda: array("q"))
    room_last: dict[int, int] = field(default_factory=dict)  # room -> highest id a POST was answered with
    answered_ids: Counter[int] = field(default_factory=Counter)  # room -> POSTs answered with an id (whole run)
    posted: int = 0  # 201s while measuring
    refused: Counter[str] = field(default_factory=Counter)  # code -> while measuring
    refused_total: Counter[str] = field(default_factory=Counter)  # code -> whole run
    unanswered: int = 0  # POSTs that timed out or lost their connection

    def on_frame(self, client: Client, raw: str | bytes) -> None:
        listener = self.listeners.get(client)
        if listener is None:
            listener = self.listeners[client] = Listener()
        if not raw.startswith(PARLEY_MESSAGE_PREFIX):  # hello, history, presence
            frame = orjson.loads(raw)
            if frame.get("type") == "hello":
                listener.hello(frame.get("last_id") or 0)
                if client.ready is not None and not client.ready.done():
                    client.ready.set_result(None)
            return
        frame = orjson.loads(raw)
        if not listener.on_id(frame["id"]):
            return
        self.deliveries += 1
        if self.measuring:
            try:
                sent_ns = parse_tag(frame["message"])[2]
            except ValueError:
                return
            self.delivery_ns.append(time.monotonic_ns() - sent_ns)

    def on_answer(self, room: int, status: int, body: bytes, took_ns: int) -> bool:
        """Count one POST's answer; True when it stored a message."""
        code, message_id = outcome(status, body)
        if message_id is not None:
            self.answered_ids[room] += 1
            if message_id > self.room_last.get(room, 0):
                self.room_last[room] = message_id
        if code == CREATED:
            if self.measuring:
                self.posted += 1
                self.post_ns.append(took_ns)
            return True
        self.refused_total[code] += 1
        if self.measuring:
            self.refused[code] += 1
        return False

    def lost(self, clients: list[Client]) -> int:
        return sum(self.listeners[c].missed(self.room_last.get(c.room, 0)) for c in clients if c in self.listeners)


async def run_http(
    server: servers.Server,
    target: servers.Target,
    *,
    rooms: int,
    members: int,
    clients: int,
    duration: float,
    warmup: float,
    drain: float = 10.0,
    settle: float = 1.5,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Scenario H on a Parley server with the REST API: messages posted/s over HTTP, POST latency,
    delivery latency and losses at the WebSocket members."""
    tag = f"h{int(time.time() * 1000) % 10**9}"
    tokens = make_tokens(target, clients, tag)
    recorder = HttpRecorder()
    plan: list[tuple[int, int | None]] = [(r, None) for _ in range(members) for r in range(rooms)]
    log(f"    opening {len(plan)} WebSocket members in {rooms} rooms; {clients} HTTP clients with a user each")
    members_open, failures, open_s = await open_clients(
        server, lambda r: target.room_path.format(room=f"{tag}r{r}"), plan, recorder
    )
    result: dict[str, Any] = {"connections": len(members_open), "connect_failures": failures, "connect_s": open_s}
    if failures:
        log(f"    {failures} connections failed")
    await asyncio.sleep(settle)
    stop = asyncio.Event()
    server_ps = server.ps
    base = f"http://127.0.0.1:{server.port}"
    https = [
        httpx.AsyncClient(
            base_url=base,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),  # one keep-alive connection each
            timeout=POST_TIMEOUT,
        )
        for token in tokens
    ]

    async def post(cid: int, http: httpx.AsyncClient) -> None:
        room = room_of(cid, rooms)
        path = PATH.format(room=f"{tag}r{room}")
        n = 0
        while not stop.is_set():
            start = time.monotonic_ns()
            body = post_body(make_tag(cid, n, start, MESSAGE_PAD), cid, n)
            n += 1
            try:
                answer = await http.post(path, content=body)
            except httpx.HTTPError:
                recorder.unanswered += 1
                await asyncio.sleep(0.1)
                continue
            if not recorder.on_answer(room, answer.status_code, answer.content, time.monotonic_ns() - start):
                await asyncio.sleep(0.01)  # a refusal: no hot loop of them

    loop = asyncio.get_running_loop()
    tasks = [loop.create_task(post(cid, http)) for cid, http in enumerate(https)]
    try:
        await asyncio.sleep(warmup)
        recorder.measuring = True
        first = Snapshot.take(server_ps, recorder)  # duck-typed: it reads .deliveries
        pg_first = servers.pg_stats(target.db_name)
        posted_before = 0
        previous = now = first
        end = first.t + duration
        while now.t < end - 0.05:
            await asyncio.sleep(min(2.0, max(0.0, end - time.perf_counter())))
            now = Snapshot.take(server_ps, recorder)
            m = window_metrics(previous, now)
            log(
                f"    t={now.t - first.t:5.1f}s  {(recorder.posted - posted_before) / m['seconds']:7.0f} posts/s  "
                f"{m['deliveries_per_s']:8.0f} deliveries/s  CPU: server {m['server_cpu_pct']:3.0f}%  "
                f"Redis+PG {m['backend_cpu_pct']:3.0f}%  load generator {m['loadgen_cpu_pct']:3.0f}%  "
                f"other {m['other_cpu_pct']:3.0f}%"
            )
            previous, posted_before = now, recorder.posted
        last = now
        pg_last = servers.pg_stats(target.db_name)
        recorder.measuring = False
        stop.set()
        await asyncio.wait(tasks, timeout=POST_TIMEOUT + 1)
        deadline = time.monotonic() + drain  # a delivery later than this counts as lost
        while True:
            lost = recorder.lost(members_open)
            if lost == 0 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
    finally:
        for t in tasks:
            t.cancel()
        await close_clients(members_open)
        for http in https:
            await http.aclose()
    result.update(window_metrics(first, last))
    seconds = result["seconds"]
    if pg_first and pg_last:
        result["pg_commits_per_s"] = (pg_last[0] - pg_first[0]) / seconds
        # PostgreSQL sessions opened per second: a request path that opens a connection per request shows here.
        result["pg_sessions_per_s"] = (pg_last[1] - pg_first[1]) / seconds
    posts = sorted(recorder.post_ns)
    deliveries = sorted(recorder.delivery_ns)
    listeners = [recorder.listeners[c] for c in members_open if c in recorder.listeners]
    result.update(
        {
            "http_clients": clients,
            "messages_posted": recorder.posted,
            "messages_per_s": recorder.posted / seconds,
            "server_cpu_per_post_us": 1e6 * result["server_cpu_s"] / recorder.posted if recorder.posted else None,
            "post_p50_ms": _ms(percentile(posts, 50)),
            "post_p99_ms": _ms(percentile(posts, 99)),
            "post_max_ms": _ms(posts[-1] if posts else None),
            "p50_ms": _ms(percentile(deliveries, 50)),
            "p99_ms": _ms(percentile(deliveries, 99)),
            "max_ms": _ms(deliveries[-1] if deliveries else None),
            "latency_samples": len(deliveries),
            "errors": sum(recorder.refused.values()),
            "errors_by_code": dict(recorder.refused),
            "errors_whole_run": dict(recorder.refused_total),
            "unanswered": recorder.unanswered,
            # Ids in a room that no POST was answered with (a POST stored but timed out): should be 0.
            "ids_without_answer": sum(
                max(0, recorder.room_last.get(r, 0) - recorder.answered_ids[r]) for r in range(rooms)
            ),
            "lost": lost,
            "gaps": sum(x.gaps for x in listeners),
            "disorder": sum(x.disorder for x in listeners),
            "closed_early": recorder.closed_early,
            "rss_mb": servers.rss_bytes(server_ps) / 2**20,
        }
    )
    return result


def _ms(ns: float | None) -> float | None:
    return None if ns is None else ns / 1e6
