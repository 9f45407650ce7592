"""``make bench`` / ``python -m bench``: Parley and the tutorial baseline, same Redis, same load generator.

Targets: baseline (the Channels tutorial on channels_redis' RedisChannelLayer), layer (the same
tutorial on RedisPubSubChannelLayer: the layer's own numbers next to Parley's direct redis-py pub/sub),
floor (bare websockets, no framework) and parley; and the peers of bench/peers.py, which run A, B, L
and K only: socketio-py (python-socketio + AsyncRedisManager under uvicorn), socketio-node (Socket.IO
on Node + @socket.io/redis-adapter) and ws-node (bare ws on Node); bench/node's packages are
installed with npm ci the first time a Node peer starts.

The servers run on core 0, the bench and its load generator on the others (``--pin``); A, B, L and K's
clients come from ``--client-procs`` processes (bench/swarm.py); Redis and PostgreSQL are not pinned.

Scenarios (each on a freshly started server):
  A  1 room x 1,000 clients, 2 closed-loop senders
  B  200 rooms x 10 clients, 1 closed-loop sender per room; a table of every target with its server
     CPU per delivery, and the target: Parley's <= Socket.IO-on-Node's with its Redis adapter
  K  the cost curve: server CPU per delivery in one room of 10, 100, 1,000 and 5,000 members (quick 10,
     100, 500), 10 closed-loop senders, every target (bench/curves.py); plotted into curve-K.png
  T  B with Markdown, Parley only: the texts drawn from bench/corpus.py, 70 % plain lines, 15 % inline
     Markdown, 10 % fenced code blocks of 10-40 lines, 5 % bare URLs (``--md-mix``)
  F  B with an attachment on every message, Parley only: the senders are users with tokens; each
     uploads 3 small PNGs through the API first (timed), the rest of its uploads are copies of those
     rows, one per message (``--attachments``)
  L  1 room x 1,000 clients, 1 open-loop sender at 10 messages/s (delivery latency)
  C  idle connections at 1,000, 5,000 and 20,000 (the curve; 5,000 in the table), opened from several
     client processes (bench/idle.py): joins per second, server CPU per join, memory per connection,
     and server CPU per leave (all dropped at once)
  D  messages stored per second: 50 rooms (--d-rooms) x 1 sender (4 in flight each) over WebSocket, on
     Parley with PostgreSQL + Redis and on Parley with SQLite alone (baseline and layer relay, they store nothing),
     and ``chat.services`` called directly from threads on PostgreSQL and SQLite.
  M  a mixed workload, Parley only: 50 rooms x 10 clients, 2 closed-loop senders per room (guests
     with sessions) sending 70 % messages, 15 % reactions, 10 % edits and 5 % deletes (``--mix``)
  H  the HTTP send path, Parley only: 32 HTTP clients (``--http-clients``), a user and token each,
     posting with POST /api/v1/rooms/<room>/messages (one in flight each, keep-alive) into 4 rooms of
     10 WebSocket members: messages posted/s, the POST's p50/p99, delivery to the members, losses
  R  markup.render's cost per message (us, median and p99) by kind of text, in a process of its own
  Q  quiet rooms: one signed-in sender in a room of 10, closed loop (send, wait for the echo, send
     the next), unbatched; server CPU time over exactly 2,000 messages (quick 500) after 200 (50)
     of warm-up: us of server CPU per message, on PostgreSQL + Redis and on SQLite alone
  Q2 Q on PostgreSQL + Redis with the sender on one server process and the 9 others on a second:
     the storing process's CPU per message and the receiving process's (with Q: WAL and frame bytes)
  S  search (docs/search.md), no server: a corpus of ``--search-size`` messages (1,000,000) in 2,000
     rooms of 200 namespaces on PostgreSQL (``manage.py search_corpus``), the index rebuilt from
     empty (messages/s), its size per message, and search p50/p95 for a rare word, a common word,
     a 2-syllable Korean word, a phrase and from:, as a reader of 5 % of the rooms and one of all;
     then SQLite at ``--search-sqlite-size`` (100,000). Writes bench/results/search.png

``--compare REV[,REV]`` runs Parley from other git revisions too (a worktree each, their own
database), scenario by scenario beside the working tree's, in columns "parley@<rev>".

Writes bench/results/latest.json and bench/results/bench.png; prints a table with the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psutil
import uvloop

from . import (
    attach,
    corpus,
    curves,
    httpsend,
    idle,
    loadgen,
    mixed,
    mixplan,
    peers,
    quiet,
    quietplan,
    report,
    revisions,
    servers,
    swarm,
)
from .stats import PARLEY_CATEGORIES, categorize, summarize_collapsed

STORE_CMD = [sys.executable, "-m", "bench.store"]
RENDER_CMD = [sys.executable, "-m", "bench.render", "--json"]
RESULTS = Path(__file__).resolve().parent / "results"
SCENARIOS = ("A", "B", "K", "T", "F", "L", "C", "D", "M", "H", "R", "Q", "S")
SEARCH_CMD = [sys.executable, "-m", "bench.search"]
TARGETS = ("baseline", "layer", "floor", "parley", *peers.NAMES)
SWARMED = ("A", "B", "L", "K")  # the scenarios whose clients come from bench.swarm's processes
_t0 = time.monotonic()


def log(text: str) -> None:
    print(f"[{time.monotonic() - _t0:6.1f}s] {text}", flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="smaller rooms and shorter runs (about 2 minutes)")
    p.add_argument("--only", default=",".join(SCENARIOS), help="scenarios to run, e.g. A,B (default: all)")
    p.add_argument(
        "--targets",
        help="any of baseline (Channels tutorial), layer (the tutorial on RedisPubSubChannelLayer), "
        "floor (bare websockets), parley, socketio-py, socketio-node, ws-node (default: all; "
        "--quick: baseline,parley)",
    )
    p.add_argument(
        "--duration", type=float, help="measured seconds per scenario (default 12, quick 2.5; L at least 10)"
    )
    p.add_argument("--warmup", type=float, help="seconds of load before measuring (default 3, quick 0.5)")
    p.add_argument("--members", type=int, help="clients in the big room of A and L (default 1000, quick 500)")
    p.add_argument("--rooms", type=int, help="rooms of 10 in B (default 200, quick 50)")
    p.add_argument("--connections", type=int, help="idle connections in C's headline (default 5000, quick 1000)")
    p.add_argument(
        "--curve",
        help="C's counts of idle connections, each on a fresh server, from several client processes "
        "(default 1000,5000,20000; quick: the headline's; capped at the hard limit of descriptors)",
    )
    p.add_argument("--d-rooms", type=int, default=50, help="rooms (one sender each) in D (default 50)")
    p.add_argument("--window", type=int, default=1, help="messages in flight per closed-loop sender in A and B")
    p.add_argument("--workers", type=int, default=1, help="server processes per target (uvicorn --workers)")
    p.add_argument(
        "--client-procs",
        type=int,
        default=swarm.DEFAULT_PROCS,
        help=f"load-generator processes of A, B, L and K (default {swarm.DEFAULT_PROCS}; 0: the old single "
        "process of websockets clients, bench/loadgen.py)",
    )
    p.add_argument(
        "--pin",
        default="auto",
        help="the cores the servers run on, e.g. 0 or 0-1 (the bench and its clients: the others); "
        "auto: core 0 on a machine of 2 or more, unless --workers > 1; off: no pinning",
    )
    p.add_argument("--k-sizes", help="K's room sizes (default 10,100,1000,5000; quick 10,100,500)")
    p.add_argument(
        "--profile", action="store_true", help="after A, C, D, T, F and Q, run them again on Parley under py-spy"
    )
    p.add_argument("--memtrace", action="store_true", help="after C, run it again on Parley under tracemalloc")
    p.add_argument("--no-store", action="store_true", help="skip the direct store-path runs of D")
    p.add_argument(
        "--wait-quiet",
        type=float,
        help="before each scenario wait up to this many seconds for the machine to be idle (default 5, quick 0)",
    )
    p.add_argument(
        "--renice",
        type=int,
        default=0,
        help="run the bench and its servers at this niceness (e.g. -10, as root) on a machine shared with other work",
    )
    p.add_argument(
        "--compare",
        metavar="REV[,REV]",
        help="also run Parley from these git revisions (e.g. 975e6c0,0681188), each from a worktree in "
        "/tmp/parley-<rev> with its own database, beside the working tree's: columns parley@<rev>",
    )
    p.add_argument(
        "--mix",
        default=mixplan.DEFAULT_MIX,
        help=f"M's weights of messages, reactions, edits, deletes (default {mixplan.DEFAULT_MIX})",
    )
    p.add_argument(
        "--http-clients", type=int, default=32, help="H's HTTP clients, each a user with a token (default 32)"
    )
    p.add_argument(
        "--md-mix",
        default=corpus.DEFAULT_MIX,
        help=f"T's and R's weights of plain, inline, code-block and bare-URL texts (default {corpus.DEFAULT_MIX})",
    )
    p.add_argument(
        "--attachments",
        type=int,
        default=1,
        choices=range(11),
        metavar="0..10",
        help="uploads per message in F (default 1; 0: F's senders without attachments, the control)",
    )
    p.add_argument("--search-size", type=int, help="S: messages on PostgreSQL (default 1,000,000, quick 100,000)")
    p.add_argument("--search-sqlite-size", type=int, help="S: messages on SQLite (default 100,000, quick 20,000)")
    p.add_argument("--replot", type=Path, help="only redraw the table and plot from this latest.json")
    p.add_argument("--out", type=Path, default=RESULTS, help="where latest.json and bench.png go")
    args = p.parse_args(argv)
    q = args.quick
    args.duration = args.duration or (2.5 if q else 12.0)
    args.warmup = args.warmup if args.warmup is not None else (0.5 if q else 3.0)
    args.members = args.members or (500 if q else 1000)
    args.rooms = args.rooms or (50 if q else 200)
    args.connections = args.connections or (1000 if q else 5000)
    curve = [int(c) for c in args.curve.split(",") if c.strip()] if args.curve else []
    if not curve:
        curve = [args.connections] if q else list(idle.DEFAULT_CURVE)
    args.curve = sorted({*curve, args.connections})
    args.wait_quiet = args.wait_quiet if args.wait_quiet is not None else (0.0 if q else 5.0)
    args.search_size = args.search_size or (100_000 if q else 1_000_000)
    args.search_sqlite_size = args.search_sqlite_size or (20_000 if q else 100_000)
    args.only = [s.strip().upper() for s in args.only.split(",") if s.strip()]
    args.k_sizes = [int(n) for n in args.k_sizes.split(",")] if args.k_sizes else list(curves.sizes(q))
    targets = args.targets or ("baseline,parley" if q else ",".join(TARGETS))
    args.targets = [t.strip() for t in targets.split(",") if t.strip()]
    if unknown := set(args.targets) - set(TARGETS):
        p.error(f"unknown targets {','.join(sorted(unknown))} (any of {','.join(TARGETS)})")
    args.compare = revisions.parse_revs(args.compare)
    try:
        mixplan.parse_mix(args.mix)
    except ValueError as exc:
        p.error(f"--mix: {exc}")
    try:
        corpus.parse_mix(args.md_mix)
    except ValueError as exc:
        p.error(f"--md-mix: {exc}")
    if unknown := set(args.only) - set(SCENARIOS):
        p.error(f"unknown scenarios {','.join(sorted(unknown))} (any of {','.join(SCENARIOS)})")
    return args


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


def summarize(metrics: dict[str, Any]) -> str:
    parts = []
    for key, fmt in (
        ("events_per_s", "{:,.0f} events stored/s"),
        ("deliveries_per_s", "{:,.0f} deliveries/s"),
        ("messages_per_s", "{:,.1f} msg/s"),
        ("post_p50_ms", "POST p50 {:.1f} ms"),
        ("post_p99_ms", "POST p99 {:.1f} ms"),
        ("server_cpu_per_delivery_us", "{:.1f} us CPU/delivery"),
        ("server_cpu_per_message_us", "{:.0f} us CPU/message"),
        ("p50_ms", "p50 {:.1f} ms"),
        ("p99_ms", "p99 {:.1f} ms"),
        ("lost", "lost {:,}"),
        ("errors", "refused {:,}"),
        ("unattached", "sent without attachment {:,}"),
        ("unanswered", "unanswered {:,}"),
        ("first_delivery_p99_ms", "first delivery p99 {:.1f} ms"),
        ("fanout_spread_p99_ms", "fan-out spread p99 {:.1f} ms"),
        ("pg_commits_per_s", "{:,.0f} PG commits/s"),
        ("connections_per_s", "{:,.0f} conn/s"),
        ("kib_per_connection", "{:.1f} KiB/conn"),
    ):
        if metrics.get(key) is not None:
            parts.append(fmt.format(metrics[key]))
    return ", ".join(parts)


def _busy_seconds() -> float:
    t = psutil.cpu_times()
    return sum(getattr(t, k, 0.0) for k in ("user", "nice", "system", "irq", "softirq", "steal"))


async def wait_quiet(max_wait: float, threshold_pct: float = 25.0) -> float:
    """Wait (at most ``max_wait`` s) for a second in which the machine's CPU use is under ``threshold_pct``
    of one core: others' test runs on the same 2 cores make a benchmark meaningless. Returns the busy %."""
    deadline = time.monotonic() + max_wait
    while True:
        before = _busy_seconds()
        await asyncio.sleep(1.0)
        busy = 100 * (_busy_seconds() - before)
        if busy < threshold_pct or time.monotonic() >= deadline:
            if busy >= threshold_pct:
                log(f"    the machine is busy ({busy:.0f}% CPU used by other processes); measuring anyway")
            return busy


async def on_fresh_server(
    target: servers.Target, args: argparse.Namespace, run: Callable[[servers.Server], Awaitable[dict[str, Any]]]
) -> dict[str, Any]:
    """Run one scenario on a freshly started server of ``target`` (so its CPU and memory are its own),
    noting how busy the machine was just before."""
    busy_before = await wait_quiet(args.wait_quiet)
    server = target.start()
    try:
        m = await run(server)
    finally:
        server.stop()
    m["machine_busy_before_pct"] = busy_before
    return m


async def run_target(
    target: servers.Target, args: argparse.Namespace, profile_out: dict[str, Any], only: list[str] | None = None
) -> dict[str, dict[str, Any]]:
    """The scenarios of ``only`` (default: ``--only``'s) that ``target`` can run, each on a fresh server."""
    out: dict[str, dict[str, Any]] = {}
    d, w = args.duration, args.warmup
    only = args.only if only is None else only
    if target.name in peers.NAMES:  # the peers speak what A, B, L and K need, nothing more
        only = [s for s in only if s in SWARMED]
    plans: list[tuple[str, dict[str, Any]]] = []
    extra: dict[str, dict[str, Any]] = {}  # run_rooms' arguments that are not parameters to record
    b_shape = dict(rooms=args.rooms, members=10, senders_per_room=1, window=args.window)
    if "A" in only and target.name != "parley-sqlite":
        plans.append(("A", dict(rooms=1, members=args.members, senders_per_room=2, window=args.window)))
    if "B" in only and target.name != "parley-sqlite":
        plans.append(("B", b_shape))
    if "T" in only and (target.name == "parley" or target.compared):
        plan = corpus.MarkdownPlan(corpus.parse_mix(args.md_mix))
        plans.append(("T", {**b_shape, "md_mix": corpus.mix_label(plan.mix)}))
        extra["T"] = {"compose": plan.text}
    if "L" in only and target.name != "parley-sqlite":
        plans.append(("L", dict(rooms=1, members=args.members, senders_per_room=1, rate=10.0)))
    if "D" in only and target.name != "floor":
        plans.append(("D", dict(rooms=args.d_rooms, members=1, senders_per_room=1, window=4)))
    for scenario, params in plans:
        log(f"{target.name}: scenario {scenario} {params}")
        swarmed = scenario in SWARMED and args.client_procs > 0
        rooms_run: Any = functools.partial(swarm.run_rooms, procs=args.client_procs) if swarmed else loadgen.run_rooms
        m = await on_fresh_server(
            target,
            args,
            lambda server, scenario=scenario, params=params, rooms_run=rooms_run: rooms_run(
                server,
                target,
                label=scenario,
                duration=max(d, 10.0) if scenario == "L" else d,
                warmup=w,
                drain=2.0 if args.quick else 10.0,
                settle=0.75 if args.quick else 1.5,
                log=log,
                **_loadgen_params(params),
                **extra.get(scenario, {}),
            ),
        )
        m["params"] = params
        if scenario == "T":
            m["kinds_sent"] = dict(
                corpus.MarkdownPlan(corpus.parse_mix(args.md_mix)).kinds_sent(m.pop("sent_by_sender", {}))
            )
        out[scenario] = m
        log(f"{target.name} {scenario}: {summarize(m)}")
        if scenario in ("A", "D", "T") and args.profile and target.name == "parley":
            profile_out.update(await profile_rooms(target, args, scenario, params, extra.get(scenario, {})))
    if "K" in only:
        out["K"] = await curves.run_k(target, args, lambda run: on_fresh_server(target, args, run), log)
    if "F" in only and target.uploads:
        params = dict(rooms=args.rooms, members=10, senders_per_room=1, window=args.window)
        params["attachments_per_message"] = args.attachments
        log(f"{target.name}: scenario F {params}")

        def run_f(
            server: servers.Server, on_measure_start: Callable[[], Any] | None = None
        ) -> Awaitable[dict[str, Any]]:
            return attach.run_attached(
                server,
                target,
                rooms=args.rooms,
                members=10,
                window=args.window,
                duration=d,
                warmup=w,
                per_message=args.attachments,
                drain=2.0 if args.quick else 10.0,
                settle=0.75 if args.quick else 1.5,
                log=log,
                on_measure_start=on_measure_start,
            )

        m = await on_fresh_server(target, args, run_f)
        m["params"] = params
        out["F"] = m
        log(f"{target.name} F: {summarize(m)}; refused by code {m['errors_by_code']}")
        if args.profile and target.name == "parley":
            profile_out.update(await profile_scenario(target, args, "F", run_f))
    elif "F" in only and target.compared:
        log(f"{target.name}: no scenario F (this revision has no uploads)")
    if "M" in only and target.mixed:
        params = dict(rooms=20 if args.quick else 50, members=10, senders_per_room=2)
        log(f"{target.name}: scenario M {params}, mix {mixplan.mix_label(mixplan.parse_mix(args.mix))}")
        m = await on_fresh_server(
            target,
            args,
            lambda server: mixed.run_mixed(
                server,
                target,
                duration=d,
                warmup=w,
                mix=args.mix,
                drain=2.0 if args.quick else 10.0,
                settle=0.75 if args.quick else 1.5,
                log=log,
                **params,
            ),
        )
        m["params"] = params
        out["M"] = m
        log(f"{target.name} M: {summarize(m)}; refused by code {m['errors_by_code']}")
    elif "M" in only and target.compared:
        log(f"{target.name}: no scenario M (this revision has no edits, deletes or reactions)")
    if "H" in only and target.api:
        params = dict(rooms=4, members=10, clients=args.http_clients)
        log(f"{target.name}: scenario H {params}")
        m = await on_fresh_server(
            target,
            args,
            lambda server: httpsend.run_http(
                server,
                target,
                duration=d,
                warmup=w,
                drain=2.0 if args.quick else 10.0,
                settle=0.75 if args.quick else 1.5,
                log=log,
                **params,
            ),
        )
        m["params"] = params
        out["H"] = m
        log(f"{target.name} H: {summarize(m)}; refused by code {m['errors_by_code']}")
    elif "H" in only and target.compared:
        log(f"{target.name}: no scenario H (this revision has no REST API)")
    if "Q" in only and target.parley:
        out["Q"] = await scenario_q(target, args, profile_out)
        if target.name == "parley":
            out["Q2"] = await scenario_q2(target, args)
    if "C" in only and target.name != "parley-sqlite":
        m = await idle.scenario(
            target,
            args.curve,
            args.connections,
            settle=1.0 if args.quick else 3.0,
            on_fresh_server=lambda run: on_fresh_server(target, args, run),
            log=log,
        )
        out["C"] = m
        log(f"{target.name} C: {summarize(m)}")
        if args.profile and target.name == "parley":
            profile_out.update(await profile_c(target, args))
    return out


async def scenario_q(target: servers.Target, args: argparse.Namespace, profile_out: dict[str, Any]) -> dict[str, Any]:
    """Scenario Q on a fresh server (``bench.quiet``); with ``--profile``, again under py-spy from the
    first measured message to the last (on PostgreSQL + Redis and on SQLite)."""
    warmup, count = quietplan.counts(args.quick)
    params = dict(members=quietplan.QUIET_MEMBERS, senders=1, window=1, count=count, warmup_messages=warmup)
    log(f"{target.name}: scenario Q {params}")

    def run_q(server: servers.Server, on_measure_start: Callable[[], Any] | None = None) -> Awaitable[dict[str, Any]]:
        return quiet.run_quiet(
            server,
            target,
            count=count,
            warmup=warmup,
            members=quietplan.QUIET_MEMBERS,
            settle=0.75 if args.quick else 1.5,
            log=log,
            on_measure_start=on_measure_start,
        )

    m = await on_fresh_server(target, args, run_q)
    m["params"] = params
    log(f"{target.name} Q: {summarize(m)}")
    if args.profile and target.name in ("parley", "parley-sqlite"):  # profile-Q.txt, profile-Q-sqlite.txt
        name = "Q" if target.name == "parley" else "Q-sqlite"
        profile_out.update(await profile_scenario(target, args, name, run_q))
    return m


async def scenario_q2(target: servers.Target, args: argparse.Namespace) -> dict[str, Any]:
    """Q with the sender on one process and the 9 other members on a second (PostgreSQL + Redis): the
    storing process's CPU per message and a receiving process's (a pub/sub message, 9 deliveries)."""
    warmup, count = quietplan.counts(args.quick)
    params = dict(members=quietplan.QUIET_MEMBERS, processes=2, count=count, warmup_messages=warmup)
    log(f"{target.name}: scenario Q2 {params}")

    async def run_q2(server: servers.Server) -> dict[str, Any]:
        listeners = target.start()
        try:
            return await quiet.run_quiet(
                server,
                target,
                count=count,
                warmup=warmup,
                members=quietplan.QUIET_MEMBERS,
                settle=0.75 if args.quick else 1.5,
                log=log,
                listeners_server=listeners,
            )
        finally:
            listeners.stop()

    m = await on_fresh_server(target, args, run_q2)
    m["params"] = params
    log(
        f"{target.name} Q2: sender's process {m['server_cpu_per_message_us']:.0f} us/message, "
        f"listeners' process {m['listener_cpu_per_message_us'] or 0:.0f} us/message"
    )
    return m


class Spy:
    """py-spy sampling one server process from ``start()`` to ``stop()`` (SIGINT makes it write its output)."""

    def __init__(self, pid: int, path: Path) -> None:
        self.pid = pid
        self.path = path
        self.proc: subprocess.Popen | None = None

    @staticmethod
    def available() -> bool:
        if PYSPY.exists():
            return True
        log("py-spy is not installed (pip install -r requirements-dev.txt); no profile")
        return False

    def start(self) -> None:
        cmd = [str(PYSPY), "record", "--pid", str(self.pid), "--rate", "250", "--nonblocking"]
        cmd += ["--format", "raw", "--output", str(self.path)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self, summarize: bool = True) -> dict[str, Any]:
        if self.proc is None or self.proc.returncode is not None:
            return {}
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if not summarize:
            return {}
        if not self.path.exists():
            log("py-spy wrote no profile")
            return {}
        return profile_summary(self.path)


def profile_summary(path: Path) -> dict[str, Any]:
    lines = path.read_text().splitlines()
    summary: dict[str, Any] = summarize_collapsed(lines, top=40)
    summary["categories"] = categorize(lines, PARLEY_CATEGORIES)
    log(f"profile: {path} ({summary['samples'][0][1]:.0f} samples while not idle); by category:")
    for name, share in summary["categories"]:
        log(f"    {share:5.1f}%  {name}")
    log("  top self time:")
    for frame, share in summary["self"][:12]:
        log(f"    {share:5.1f}%  {frame}")
    return summary


PYSPY = Path(sys.executable).parent / "py-spy"


def _loadgen_params(params: dict[str, Any]) -> dict[str, Any]:
    """A scenario's recorded parameters that are ``loadgen.run_rooms``' arguments."""
    return {k: v for k, v in params.items() if k != "md_mix"}


async def profile_rooms(
    target: servers.Target,
    args: argparse.Namespace,
    scenario: str,
    params: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A scenario of ``loadgen.run_rooms`` again, with py-spy sampling the Parley server during the
    measured window."""

    def run(server: servers.Server, on_measure_start: Callable[[], Any] | None) -> Awaitable[dict[str, Any]]:
        return loadgen.run_rooms(
            server,
            target,
            label=f"{scenario}prof",
            duration=args.duration,
            warmup=args.warmup,
            on_measure_start=on_measure_start,
            log=log,
            **_loadgen_params(params),
            **(extra or {}),
        )

    return await profile_scenario(target, args, scenario, run)


async def profile_scenario(
    target: servers.Target,
    args: argparse.Namespace,
    scenario: str,
    run: Callable[[servers.Server, Callable[[], Any] | None], Awaitable[dict[str, Any]]],
) -> dict[str, Any]:
    """``run(server, on_measure_start)`` again on a fresh server, py-spy sampling it from the start
    of the measured window to the end of the run."""
    if not Spy.available():
        return {}
    args.out.mkdir(parents=True, exist_ok=True)
    log(f"parley: scenario {scenario} again under py-spy (--nonblocking, 250 Hz)")
    server = target.start()
    spy = Spy(server.process.pid, args.out / f"profile-{scenario}.txt")
    try:
        m = await run(server, spy.start)
    finally:
        summary = spy.stop()
        server.stop()
    keys = ("deliveries_per_s", "messages_per_s", "server_cpu_per_delivery_us")
    return {scenario: {"under_profiler": {k: m[k] for k in keys}, **summary}}


async def profile_c(target: servers.Target, args: argparse.Namespace) -> dict[str, Any]:
    """Scenario C's connection storm again, with py-spy sampling the Parley server while connections open."""
    if not Spy.available():
        return {}
    log("parley: scenario C again under py-spy (--nonblocking, 250 Hz)")
    server = target.start()
    spy = Spy(server.process.pid, args.out / "profile-C.txt")
    try:
        m = await asyncio.to_thread(
            idle.run_idle,
            server,
            target,
            connections=args.connections,
            settle=0.5,
            on_open_start=spy.start,
            on_open_end=lambda: spy.stop(summarize=False),
            log=log,
        )
    finally:
        server.stop()
    summary = profile_summary(spy.path) if spy.path.exists() else {}
    return {"C": {"under_profiler": {"connections_per_s": m["connections_per_s"]}, **summary}}


async def memtrace_c(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Scenario C on Parley under tracemalloc: which source lines hold the memory of idle connections."""
    out = args.out / "memtrace-C.json"
    target = servers.Target(name="parley", tmp=tmp, logs=args.out / "logs", env={"BENCH_MEMTRACE_OUT": str(out)})
    log("parley: scenario C again under tracemalloc")
    server = target.start()

    async def second_snapshot() -> None:
        server.process.send_signal(signal.SIGUSR1)
        for _ in range(240):  # up to 2 minutes: a snapshot of thousands of connections is slow
            if '"top"' in out.read_text():
                return
            await asyncio.sleep(0.5)

    try:
        m = await loadgen.run_idle(
            server,
            target,
            connections=args.connections,
            per_room=50,
            concurrency=loadgen.CONNECT_CONCURRENCY,
            settle=3.0,
            on_open_start=lambda: server.process.send_signal(signal.SIGUSR1),
            on_settled=second_snapshot,
            log=log,
        )
    finally:
        server.stop()
        target.close()
    try:
        data = json.loads(out.read_text())
    except (OSError, json.JSONDecodeError):
        log("tracemalloc wrote nothing")
        return {}
    n = m["connections"] or 1
    rows = [(r["where"], r["size_diff"] / n, r["count_diff"] / n) for r in data.get("top", [])]
    log(f"tracemalloc: {data.get('total_diff', 0) / n / 1024:.1f} KiB of Python objects per connection; top lines:")
    for where, size, count in rows[:15]:
        log(f"    {size:8.0f} B  {count:5.1f} blocks  {where}")
    files = [(r["where"], r["size_diff"] / n, r["count_diff"] / n) for r in data.get("by_file", [])]
    log("  by file:")
    for where, size, count in files[:15]:
        log(f"    {size:8.0f} B  {count:5.1f} blocks  {where}")
    return {
        "by_file": files,
        "python_kib_per_connection": data.get("total_diff", 0) / n / 1024,
        "rss_kib_per_connection_under_tracemalloc": m["kib_per_connection"],
        "top": rows,
    }


def _store_summary(value: dict[str, Any]) -> str:
    if "per_s" not in value:
        return str(value["error"])
    return f"{value['per_s']:,.0f} messages/s, {value.get('cpu_us') or 0:,} us CPU/message"


def run_store(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """chat.services from threads, on a fresh PostgreSQL database and a fresh SQLite file."""
    results: dict[str, Any] = {}
    seconds = 1.0 if args.quick else 3.0
    for db in ("parley", "parley-sqlite"):
        target = servers.Target(name=db, tmp=tmp)
        try:
            target.migrate()
            for threads, batch in ((4, 64),) if args.quick else ((1, 1), (4, 1), (4, 64)):
                key = f"{'postgresql' if db == 'parley' else 'sqlite'} {threads} thread{'s' if threads > 1 else ''}"
                key += f", batch {batch}"
                proc = subprocess.run(
                    [
                        *STORE_CMD,
                        "--threads",
                        str(threads),
                        "--batch",
                        str(batch),
                        "--duration",
                        str(seconds),
                        "--tag",
                        key,
                    ],
                    cwd=servers.ROOT,
                    env={**target.env, "DJANGO_SETTINGS_MODULE": "parley.settings"},
                    capture_output=True,
                    text=True,
                    timeout=seconds + 60,
                )
                try:
                    results[key] = json.loads(proc.stdout.strip().splitlines()[-1])
                except (json.JSONDecodeError, IndexError):
                    results[key] = {"error": (proc.stderr or proc.stdout)[-500:]}
                log(f"store path, {key}: {_store_summary(results[key])}")
        finally:
            target.close()
    return results


async def run_family(
    family: list[str],
    trees: dict[str, Path],
    args: argparse.Namespace,
    tmp: Path,
    logs: Path,
    results: dict[str, dict[str, dict[str, Any]]],
    profile: dict[str, Any],
) -> None:
    """Parley (the working tree) and the ``--compare`` revisions, scenario by scenario: each scenario
    runs on every revision one after the other, so they are compared minutes apart, not a run apart.
    A revision that cannot run a scenario (its server fails) leaves that cell empty."""
    targets = [
        servers.Target(name=name, tmp=tmp, workers=args.workers, logs=logs, root=trees.get(name, servers.ROOT))
        for name in family
    ]
    try:
        for scenario in [s for s in RUN_ORDER if s in args.only]:
            for target in targets:
                try:
                    got = await run_target(target, args, profile, only=[scenario])
                except RuntimeError as exc:
                    if not target.compared:
                        raise
                    log(f"{target.name}: scenario {scenario} failed, skipped: {exc}")
                    continue
                results.setdefault(target.name, {}).update(got)
    finally:
        for target in targets:
            target.close()


# The order scenarios run in (run_target's); B, T and F one after the other, so their ratios are
# minutes apart. R runs before any server, in main_async.
RUN_ORDER = ("A", "B", "T", "F", "K", "L", "D", "M", "H", "Q", "C")


def run_render(args: argparse.Namespace) -> dict[str, Any]:
    """Scenario R: ``bench.render`` in a process of its own, on the working tree's ``markup``."""
    samples, seconds = ("500", "0.25") if args.quick else ("3000", "1.0")
    cmd = [*RENDER_CMD, "--md-mix", args.md_mix, "--samples", samples, "--seconds", seconds]
    proc = subprocess.run(cmd, cwd=servers.ROOT, capture_output=True, text=True, timeout=600)
    try:
        result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        log(f"R: bench.render failed: {(proc.stderr or proc.stdout)[-500:]}")
        return {}
    log("R: markup.render per message (us): " + render_summary(result))
    return result


def run_search(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Section S: ``bench.search`` on a fresh PostgreSQL database, then on a fresh SQLite file."""
    results: dict[str, Any] = {}
    for db, size in (("parley", args.search_size), ("parley-sqlite", args.search_sqlite_size)):
        target = servers.Target(name=db, tmp=tmp)
        key = "postgresql" if db == "parley" else "sqlite"
        rooms, namespaces = (2000, 200) if size >= 200_000 else (max(20, size // 500), max(2, size // 5000))
        try:
            target.migrate()
            log(f"S: {key}, {size:,} messages in {rooms:,} rooms of {namespaces} namespaces")
            proc = subprocess.run(
                [*SEARCH_CMD, "--messages", str(size), "--rooms", str(rooms), "--namespaces", str(namespaces)],
                cwd=servers.ROOT,
                env={**target.env, "DJANGO_SETTINGS_MODULE": "parley.settings"},
                capture_output=True,
                text=True,
                timeout=3600,
            )
            try:
                results[key] = json.loads(proc.stdout.strip().splitlines()[-1])
            except (json.JSONDecodeError, IndexError):
                results[key] = {"error": (proc.stderr or proc.stdout)[-800:]}
                log(f"S: {key} failed: {results[key]['error']}")
                continue
            log(f"S: {key}: " + search_summary(results[key]))
        finally:
            target.close()
    return results


def search_summary(r: dict[str, Any]) -> str:
    worst = max((q["p95_ms"] for reader in r["queries"].values() for q in reader.values()), default=0.0)
    size = r.get("index_bytes_per_message")
    return (
        f"{r['messages']:,} messages, reindex {r['reindex_per_s']:,.0f}/s"
        + (f", index {size:,.0f} B/message" if size else "")
        + f", worst search p95 {worst:.1f} ms"
    )


def render_summary(r: dict[str, Any]) -> str:
    parts = [
        f"{kind} {r[kind]['p50_us']:.1f} (p99 {r[kind]['p99_us']:.1f})"
        for kind in ("plain_fast", "plain_parsed", "inline", "code", "link")
        if r.get(kind, {}).get("p50_us") is not None
    ]
    if r.get("mix_mean_us") is not None:
        parts.append(f"mean of the mix {r['mix']}: {r['mix_mean_us']:.1f}")
    return "; ".join(parts)


async def main_async(args: argparse.Namespace) -> int:
    fds = raise_fd_limit()
    if args.renice:
        os.setpriority(os.PRIO_PROCESS, 0, args.renice)  # servers started from here inherit it
    info = report.machine()
    pinned = servers.pin_cores(args.pin, args.workers)
    log(
        f"machine: {info['cpu']}, {info['cores']} cores, {info['ram_gib']} GiB, Linux {info['kernel']}, "
        f"Python {info['python']}, Redis {info['redis']}, PostgreSQL {info['postgresql']}; open files {fds}"
    )
    log(
        f"scenarios {','.join(args.only)}; {args.duration:g}s measured after {args.warmup:g}s warm-up; "
        f"workers {args.workers}; niceness {os.getpriority(os.PRIO_PROCESS, 0)}"
    )
    log(
        f"servers on cores {pinned[0]}, the bench and "
        + (f"{args.client_procs} client processes" if args.client_procs else "its load generator")
        + f" on {pinned[1]}; "
        "Redis and PostgreSQL unpinned"
        if pinned
        else "no pinning"
    )
    results: dict[str, dict[str, dict[str, Any]]] = {}
    profile: dict[str, Any] = {}
    store: dict[str, Any] = {}
    search: dict[str, Any] = {}
    started = time.time()
    try:
        trees = revisions.checkout(args.compare)
    except RuntimeError as exc:
        log(f"--compare: {exc}")
        return 2
    with tempfile.TemporaryDirectory(prefix="parley-bench-") as tmpdir, contextlib.ExitStack() as cleanup:
        cleanup.callback(revisions.remove_all, trees)
        tmp = Path(tmpdir)
        logs = args.out / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        if "R" in args.only:
            await wait_quiet(args.wait_quiet)
            if render := run_render(args):
                results.setdefault("parley", {})["R"] = render
        names = [n for n in args.targets if n != "parley"]
        for name in names:
            target = servers.Target(name=name, tmp=tmp, workers=args.workers, logs=logs)
            try:
                results[name] = await run_target(target, args, profile)
            finally:
                target.close()
        family = (["parley"] if "parley" in args.targets else []) + list(trees)
        if family:
            await run_family(family, trees, args, tmp, logs, results, profile)
        if ("D" in args.only or "Q" in args.only) and "parley" in args.targets:
            names.append("parley-sqlite")
            target = servers.Target(name="parley-sqlite", tmp=tmp, workers=args.workers, logs=logs)
            try:
                results["parley-sqlite"] = await run_target(target, args, profile)
            finally:
                target.close()
        names = [*names, *family]
        if args.memtrace and "parley" in names:
            profile["C memory"] = await memtrace_c(args, tmp)
        if "D" in args.only and not args.no_store:
            store = run_store(args, tmp)
        if "S" in args.only:
            await wait_quiet(args.wait_quiet)
            search = run_search(args, tmp)
    header, rows = report.columns(results), report.table_rows(results)
    if results:
        print()
        print(report.text_table(header, rows))
    if store:
        print()
        for key, value in store.items():
            print(f"store path ({key}): {_store_summary(value)}")
    if search:
        print()
        print(report.search_table(search))
    peer_tables = peers.print_tables(results)
    args.out.mkdir(parents=True, exist_ok=True)
    doc = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "seconds": round(time.time() - started, 1),
        "machine": info,
        "revision": servers.git_revision(),
        "compare": list(trees),
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "results": results,
        "store": store,
        "search": search,
        "profile": profile,
        "columns": header,
        "table": rows,
        "markdown": report.markdown_table(header, rows),
        "pinned": {"servers": pinned[0], "clients": pinned[1]} if pinned else None,
        "peers": peer_tables,
    }
    (args.out / "latest.json").write_text(json.dumps(doc, indent=2, default=str))
    if results or store:
        report.plot(results, store, args.out / "bench.png", plot_title(doc))
        idle.plot_curve(results, args.out / "idle-curve.png", f"C: idle connections - {info['cpu']}, {doc['started']}")
    if curves.plot(results, args.out / "curve-K.png", curves.title(doc)):
        log(f"wrote {args.out / 'curve-K.png'}")
    if search:
        report.plot_search(search, args.out / "search.png", f"Parley search - {info['cpu']}, {doc['started']}")
    log(f"wrote {args.out / 'latest.json'} and the plots in {args.out}")
    return 0


def plot_title(doc: dict[str, Any]) -> str:
    info = doc["machine"]
    quick = doc["options"].get("quick")
    layer = ", the tutorial on RedisPubSubChannelLayer (layer)" if "layer" in doc["results"] else ""
    revs = report.compared(doc["results"])
    layer += f", {', '.join(revs)}" if revs else ""
    return (
        f"Parley vs the Channels tutorial (baseline){layer} and bare websockets (floor) - {info['cpu']}, "
        f"{info['cores']} cores - {'quick' if quick else 'full'} run {doc['started']}, {doc.get('revision', '')}"
    )


def replot(path: Path, out: Path) -> int:
    """Table and plot again from a results file (after changing the report, or for docs/bench.png)."""
    doc = json.loads(path.read_text())
    print(report.text_table(report.columns(doc["results"]), report.table_rows(doc["results"])))
    peers.print_tables(doc["results"])
    report.plot(doc["results"], doc.get("store", {}), out, plot_title(doc))
    if curves.plot(doc["results"], out.with_name("curve-K.png"), curves.title(doc)):
        print(f"wrote {out.with_name('curve-K.png')}")
    print(f"wrote {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.replot:
        return replot(args.replot, args.out / "bench.png" if args.out.is_dir() else args.out)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
