"""Scenario M: a mixed workload on Parley's native door, messages with reactions, edits and deletes.

``rooms`` rooms of ``members`` clients; the first ``senders_per_room`` of each room are guests with a
Django session of their own (``bench.sessions``) and a name (``?name=``), so they may edit and delete
what they posted. Each sender keeps one change in flight (closed loop): it draws the next from the mix
(``bench.mixplan``) when the event of the last one comes back, or its error. Every client counts the
room's events (ids are consecutive across kinds), so every receiver knows what it missed; every
delivery gives a latency: messages and edits carry their send time in their text, reactions and
deletes are matched to the time their sender sent them.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import time
from array import array
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from . import mixplan, servers
from .loadgen import ECHO_TIMEOUT, MESSAGE_PAD, Client, Snapshot, close_clients, open_clients, window_metrics
from .stats import make_tag, parse_tag, percentile

SESSIONS_CMD = [sys.executable, "-m", "bench.sessions"]


def make_sessions(target: servers.Target, count: int) -> tuple[str, list[str]]:
    """``count`` sessions in the target's database: (the session cookie's name, their keys)."""
    target.migrate()
    proc = subprocess.run(
        [*SESSIONS_CMD, "--count", str(count)],
        cwd=servers.ROOT,  # this tree's bench package; Django's session table is the same in every revision
        env={**target.env, "DJANGO_SETTINGS_MODULE": "parley.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"bench.sessions failed: {(proc.stderr or proc.stdout)[-500:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return out["cookie"], out["keys"]


@dataclass(slots=True, eq=False)
class Seen:
    """One client's view of its room's events; for a sender, its change in flight."""

    joined_at: int = 0  # its hello's last_id
    last_id: int = 0
    received: int = 0
    sender: mixplan.Sender | None = None
    pending: mixplan.Change | None = None
    answered: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class MixedRecorder:
    """Counters shared by every client of one run of M (``on_frame`` as ``loadgen.Recorder``'s)."""

    names: dict[int, str]  # sender id -> name
    weights: dict[str, float]
    seed: int = 1
    parley: bool = True  # open_clients waits for the hello
    deliveries: int = 0
    disorder: int = 0
    closed_early: int = 0
    measuring: bool = False
    latencies_ns: array = field(default_factory=lambda: array("q"))
    latencies_by_kind: dict[str, array] = field(default_factory=lambda: {k: array("q") for k in mixplan.KINDS})
    sent_at: dict[tuple[Any, ...], int] = field(default_factory=dict)  # Change.key -> monotonic ns
    seen: dict[Client, Seen] = field(default_factory=dict)
    high: dict[int, int] = field(default_factory=dict)  # room -> highest event id any client got
    sent: Counter[str] = field(default_factory=Counter)  # kind -> changes sent while measuring
    stored: Counter[str] = field(default_factory=Counter)  # kind -> changes stored (answered) while measuring
    errors: Counter[str] = field(default_factory=Counter)  # code -> refusals while measuring
    errors_total: Counter[str] = field(default_factory=Counter)  # code -> refusals in the whole run
    unanswered: int = 0  # changes neither stored nor refused within ECHO_TIMEOUT

    def _seen(self, client: Client) -> Seen:
        seen = self.seen.get(client)
        if seen is None:
            seen = self.seen[client] = Seen()
            sid = client.sender_id
            if sid is not None:
                seen.sender = mixplan.Sender(self.names[sid], self.weights, random.Random(self.seed * 100_003 + sid))
        return seen

    def on_frame(self, client: Client, raw: str | bytes) -> None:
        frame = orjson.loads(raw)
        kind = frame.get("type")
        seen = self._seen(client)
        if kind in mixplan.KINDS:
            self.on_event(client, seen, kind, frame)
        elif kind == "error":
            self.on_error(seen, frame)
        elif kind == "hello":
            seen.joined_at = seen.last_id = frame.get("last_id") or 0
            if seen.sender is not None and frame.get("name"):
                seen.sender.name = frame["name"]  # the server's idea of who this is
            if client.ready is not None and not client.ready.done():
                client.ready.set_result(None)

    def on_event(self, client: Client, seen: Seen, kind: str, frame: dict[str, Any]) -> None:
        event_id = frame["id"]
        if event_id <= seen.last_id:
            self.disorder += 1
            return
        seen.last_id = event_id
        seen.received += 1
        if event_id > self.high.get(client.room, 0):
            self.high[client.room] = event_id
        self.deliveries += 1
        if self.measuring:
            sent_ns = self._sent_ns(kind, frame)
            if sent_ns is not None:
                latency = time.monotonic_ns() - sent_ns
                self.latencies_ns.append(latency)
                self.latencies_by_kind[kind].append(latency)
        sender = seen.sender
        if sender is None:
            return
        sender.on_event(frame)
        if seen.pending is not None and mixplan.is_answer(sender.name, seen.pending, frame):
            seen.pending = None
            if self.measuring:
                self.stored[kind] += 1
            seen.answered.set()

    def _sent_ns(self, kind: str, frame: dict[str, Any]) -> int | None:
        if kind in ("message", "edit"):
            try:
                return parse_tag(frame.get("message", ""))[2]
            except ValueError:
                return None
        key = mixplan.event_key(frame)
        return self.sent_at.get(key) if key is not None else None

    def on_error(self, seen: Seen, frame: dict[str, Any]) -> None:
        """An error answers the sender's change in flight (one at a time: it is that one's)."""
        if seen.sender is None or seen.pending is None:
            return
        code = str(frame.get("code"))
        self.errors_total[code] += 1
        if self.measuring:
            self.errors[code] += 1
        if code == "not_found" and seen.pending.target is not None:
            seen.sender.forget(seen.pending.target)  # deleted meanwhile (another sender's reaction raced it)
        seen.pending = None
        seen.answered.set()

    def missed(self, clients: list[Client]) -> int:
        return sum(
            mixplan.events_missed(
                joined_at=self.seen[c].joined_at, last=self.high.get(c.room, 0), received=self.seen[c].received
            )
            for c in clients
            if c in self.seen
        )


async def run_mixed(
    server: servers.Server,
    target: servers.Target,
    *,
    rooms: int,
    members: int,
    senders_per_room: int,
    duration: float,
    warmup: float,
    mix: str = mixplan.DEFAULT_MIX,
    seed: int = 1,
    drain: float = 10.0,
    settle: float = 1.5,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Scenario M on a Parley server; events stored and delivered per second, latency, refusals, losses."""
    weights = mixplan.parse_mix(mix)
    tag = f"m{int(time.time() * 1000) % 10**9}"
    count = rooms * senders_per_room
    cookie, keys = make_sessions(target, count)
    names = {sid: f"{tag}-s{sid}" for sid in range(count)}
    recorder = MixedRecorder(names=names, weights=weights, seed=seed)

    def sender_request(sid: int) -> tuple[str, dict[str, str]]:
        return f"?name={names[sid]}", {"Cookie": f"{cookie}={keys[sid]}"}

    plan: list[tuple[int, int | None]] = []
    for m in range(members):
        for r in range(rooms):
            plan.append((r, r * senders_per_room + m if m < senders_per_room else None))
    log(f"    opening {len(plan)} connections in {rooms} rooms, {count} senders with sessions")
    clients, failures, open_s = await open_clients(
        server,
        lambda r: target.room_path.format(room=f"{tag}r{r}"),
        plan,
        recorder,
        sender_request=sender_request,
    )
    result: dict[str, Any] = {"connections": len(clients), "connect_failures": failures, "connect_s": open_s}
    if failures:
        log(f"    {failures} connections failed")
    await asyncio.sleep(settle)
    senders = [c for c in clients if c.sender_id is not None]
    stop = asyncio.Event()
    server_ps = server.ps

    async def send(c: Client) -> None:
        seen = recorder.seen[c]
        sender = seen.sender
        assert sender is not None
        n = 0
        while not stop.is_set():
            change = sender.next_change()
            seen.answered.clear()
            seen.pending = change
            now = time.monotonic_ns()
            key = change.key(sender.name)
            if key is not None:
                recorder.sent_at[key] = now
            text = make_tag(c.sender_id or 0, n, now, MESSAGE_PAD) if change.kind in ("message", "edit") else ""
            await c.ws.send(orjson.dumps(change.frame(text)).decode())
            n += 1
            if recorder.measuring:
                recorder.sent[change.kind] += 1
            try:
                await asyncio.wait_for(seen.answered.wait(), ECHO_TIMEOUT)
            except TimeoutError:
                recorder.unanswered += 1
                seen.pending = None

    loop = asyncio.get_running_loop()
    tasks = [loop.create_task(send(c)) for c in senders]
    try:
        await asyncio.sleep(warmup)
        recorder.measuring = True
        first = Snapshot.take(server_ps, recorder)
        pg_first = servers.pg_stats(target.db_name)
        stored_before = 0
        previous = now = first
        end = first.t + duration
        while now.t < end - 0.05:
            await asyncio.sleep(min(2.0, max(0.0, end - time.perf_counter())))
            now = Snapshot.take(server_ps, recorder)
            m = window_metrics(previous, now)
            stored = sum(recorder.stored.values())
            log(
                f"    t={now.t - first.t:5.1f}s  {(stored - stored_before) / m['seconds']:7.0f} events/s  "
                f"{m['deliveries_per_s']:8.0f} deliveries/s  CPU: server {m['server_cpu_pct']:3.0f}%  "
                f"Redis+PG {m['backend_cpu_pct']:3.0f}%  load generator {m['loadgen_cpu_pct']:3.0f}%  "
                f"other {m['other_cpu_pct']:3.0f}%"
            )
            previous, stored_before = now, stored
        last = now
        pg_last = servers.pg_stats(target.db_name)
        recorder.measuring = False
        stop.set()
        await asyncio.wait(tasks, timeout=ECHO_TIMEOUT + 1)
        deadline = time.monotonic() + drain  # an event later than this counts as lost
        while True:
            lost = recorder.missed(clients)
            if lost == 0 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
    finally:
        for t in tasks:
            t.cancel()
        await close_clients(clients)
    result.update(window_metrics(first, last))
    seconds = result["seconds"]
    if pg_first and pg_last:
        result["pg_commits_per_s"] = (pg_last[0] - pg_first[0]) / seconds
    stored = sum(recorder.stored.values())
    lat = sorted(recorder.latencies_ns)
    result.update(
        {
            "mix": mixplan.mix_label(weights),
            "events_stored": stored,
            "events_per_s": stored / seconds,
            "events_by_kind": {k: recorder.stored[k] for k in mixplan.KINDS},
            "changes_sent": {k: recorder.sent[k] for k in mixplan.KINDS},
            "server_cpu_per_event_us": 1e6 * result["server_cpu_s"] / stored if stored else None,
            "errors": sum(recorder.errors.values()),
            "errors_by_code": dict(recorder.errors),
            "not_found": recorder.errors["not_found"],
            "errors_whole_run": dict(recorder.errors_total),
            "unanswered": recorder.unanswered,
            "lost": lost,
            "disorder": recorder.disorder,
            "closed_early": recorder.closed_early,
            "p50_ms": _ms(percentile(lat, 50)),
            "p99_ms": _ms(percentile(lat, 99)),
            "max_ms": _ms(lat[-1] if lat else None),
            "latency_samples": len(lat),
            "rss_mb": servers.rss_bytes(server_ps) / 2**20,
        }
    )
    for kind, values in recorder.latencies_by_kind.items():
        ordered = sorted(values)
        result[f"{kind}_p50_ms"] = _ms(percentile(ordered, 50))
        result[f"{kind}_p99_ms"] = _ms(percentile(ordered, 99))
    return result


def _ms(ns: float | None) -> float | None:
    return None if ns is None else ns / 1e6
