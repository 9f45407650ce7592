"""Scenario C: idle connections, opened by several client processes, at several counts (the curve).

The clients are ``bench.swarm``'s minimal WebSocket speakers (a ``websockets`` client spent about
as much CPU per handshake as the server does, so the clients bounded joins/s). A process may hold no
more descriptors than its hard limit: so the clients are spread over ``processes`` (each its own
uvloop, its soft RLIMIT_NOFILE raised to the hard one), pinned to the cores the server is not pinned
to (the server gets core 0, where the machine has more than one). The parent measures the
server alone: its RSS before and after, its CPU while the connections open.

The server, too, may hold no more than its hard limit of descriptors: a count above it less
``FD_RESERVE`` (its database and Redis connections, logs, listening socket) is capped, and the
result says so (``capped_from``, ``fd_hard_limit``).
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import os
import resource
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import psutil

from . import loadgen, servers, swarm

# Descriptors a server process or a client process needs besides its WebSockets.
FD_RESERVE = 256
DEFAULT_CURVE = (1000, 5000, 20000)


def fd_hard_limit() -> int:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return 1 << 20 if hard == resource.RLIM_INFINITY else hard


def _raise_soft_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def cap(connections: int) -> int:
    """The connections one server process can hold here: ``connections``, or its hard limit of
    descriptors less ``FD_RESERVE``."""
    return min(connections, fd_hard_limit() - FD_RESERVE)


def plan_processes(connections: int) -> int:
    """Client processes: enough for the descriptors, and one per core the server does not use."""
    by_fds = math.ceil(connections / (fd_hard_limit() - FD_RESERVE))
    return max(2, by_fds, (os.cpu_count() or 1) - 1)


def _client_cpus() -> set[int] | None:
    cpus = sorted(os.sched_getaffinity(0))
    return set(cpus[1:]) if len(cpus) > 1 else None


def _client(pipe: Connection, spec: dict[str, Any]) -> None:
    """A client process: open a WebSocket to each room of ``spec["plan"]`` when told to (``bench.
    swarm``'s minimal client, a few tens of us of CPU where a ``websockets`` client took ~1,000),
    report, hold them until told to close."""
    import gc

    import uvloop

    gc.disable()  # 10,000 clients of a process are long-lived: young collections would go over them
    _raise_soft_limit()
    cpus = _client_cpus()
    if cpus:
        os.sched_setaffinity(0, cpus)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        worker = swarm.Worker(spec, [0], 0)
        pipe.send("ready")
        await loop.run_in_executor(None, pipe.recv)  # "go"
        start = time.monotonic()
        failures, _ = await worker.open()
        pipe.send({"opened": len(worker.clients), "failures": failures, "start": start, "end": time.monotonic()})
        await loop.run_in_executor(None, pipe.recv)  # "close"
        for c in worker.clients:
            c.closed = True
            c.abort()
        await asyncio.sleep(0.1)
        pipe.send("closed")

    uvloop.run(main())


def _close(pipes: list[Connection], told: set[Connection]) -> None:
    """Tell each client process to drop its connections and wait until it has (once: those in
    ``told`` are skipped, and each told is added to it)."""
    for pipe in pipes:
        if pipe in told:
            continue
        told.add(pipe)
        try:
            pipe.send("close")
            pipe.recv()
        except (OSError, EOFError):
            pass


def _settled_cpu(ps: psutil.Process, *, step: float = 0.25, quiet: float = 0.003, timeout: float = 30.0) -> float:
    """The process's CPU seconds once it has stopped working (under ``quiet`` seconds of CPU in a
    ``step``): after a burst that it handles on its own time, such as many sockets closed at once."""
    last = servers.cpu_seconds(ps)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(step)
        now = servers.cpu_seconds(ps)
        if now - last < quiet:
            return now
        last = now
    return last


def run_idle(
    server: servers.Server,
    target: servers.Target,
    *,
    connections: int,
    per_room: int = 50,
    concurrency: int = loadgen.CONNECT_CONCURRENCY,
    settle: float = 3.0,
    processes: int | None = None,
    on_open_start: Callable[[], Any] | None = None,
    on_open_end: Callable[[], Any] | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Open ``connections`` idle clients (``per_room`` to a room) from several processes, on a
    fresh ``server``: joins/s, server CPU per join, and server memory per connection (``on_open_start``
    and ``on_open_end`` are called around the opening: a profiler's window). Blocking: run it in a
    thread."""
    wanted = connections
    connections = cap(connections)
    processes = processes or plan_processes(connections)
    tag = f"c{int(time.time() * 1000) % 10**9}"
    plan: list[tuple[str, int | None]] = [(f"{tag}r{i // per_room}", None) for i in range(connections)]
    base = {"dialect": target.dialect, "port": server.port, "room_path": target.room_path}
    server_ps = server.ps
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) > 1:
        server_ps.cpu_affinity([cpus[0]])  # the clients get the other cores
    # The first connection's one-offs (imports, the first queries) are not a join's cost.
    ctx = multiprocessing.get_context("spawn")
    warm = ctx.Pipe()
    warm_spec = {**base, "plan": [(f"{tag}warm", None)], "concurrency": 1}
    warm_proc = ctx.Process(target=_client, args=(warm[1], warm_spec), daemon=True)
    warm_proc.start()
    pipes: list[Connection] = []
    told: set[Connection] = set()  # the client processes told to close
    procs = []
    per_proc = max(1, concurrency // processes)
    for k in range(processes):
        parent, child = ctx.Pipe()
        spec = {**base, "plan": plan[k::processes], "concurrency": per_proc}
        proc = ctx.Process(target=_client, args=(child, spec), daemon=True)
        proc.start()
        pipes.append(parent)
        procs.append(proc)
    try:
        for pipe in [warm[0], *pipes]:
            pipe.recv()  # ready
        warm[0].send("go")
        warm[0].recv()
        time.sleep(1.0)
        rss_before = servers.rss_bytes(server_ps)
        cpu_before = servers.cpu_seconds(server_ps)
        clients_ps = [psutil.Process(proc.pid) for proc in procs]
        clients_before = sum(servers.cpu_seconds(p) for p in clients_ps)
        log(f"    opening {connections} idle connections from {processes} processes, {per_proc} at a time each")
        if on_open_start is not None:
            on_open_start()
        for pipe in pipes:
            pipe.send("go")
        reports = [pipe.recv() for pipe in pipes]
        if on_open_end is not None:
            on_open_end()
        cpu_open = servers.cpu_seconds(server_ps) - cpu_before
        clients_cpu = sum(servers.cpu_seconds(p) for p in clients_ps) - clients_before
        ok = sum(r["opened"] for r in reports)
        failures = sum(r["failures"] for r in reports)
        seconds = max(r["end"] for r in reports) - min(r["start"] for r in reports)
        log(f"    {ok} open in {seconds:.1f}s ({failures} failed); settling {settle:.0f}s")
        time.sleep(settle)
        rss_after = servers.rss_bytes(server_ps)
        # The leaves: every client drops its connections at once (a reset, as a network that goes
        # away does); the server's CPU until it has handled them all and is idle again.
        cpu_before_close = servers.cpu_seconds(server_ps)
        _close(pipes, told)
        cpu_close = _settled_cpu(server_ps) - cpu_before_close
    finally:
        _close([warm[0], *pipes], told)
        for proc in [warm_proc, *procs]:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
    result: dict[str, Any] = {
        "connections": ok,
        "connect_failures": failures,
        "connect_s": seconds,
        "connections_per_s": ok / seconds if seconds else None,
        "server_cpu_per_connection_us": 1e6 * cpu_open / ok if ok else None,
        "server_cpu_per_leave_us": 1e6 * cpu_close / ok if ok else None,
        # The load generator's CPU per connection: with the server's, what bounds joins/s on 2 cores.
        "client_cpu_per_connection_us": 1e6 * clients_cpu / ok if ok else None,
        "rss_before_mb": rss_before / 2**20,
        "rss_after_mb": rss_after / 2**20,
        "kib_per_connection": (rss_after - rss_before) / 1024 / ok if ok else None,
        "client_processes": processes,
        "fd_hard_limit": fd_hard_limit(),
    }
    if connections < wanted:
        result["capped_from"] = wanted
    return result


async def scenario(
    target: servers.Target,
    counts: list[int],
    headline: int,
    *,
    settle: float,
    on_fresh_server: Callable[..., Any],
    log: Callable[[str], None],
) -> dict[str, Any]:
    """C at each of ``counts`` connections, each on a fresh server: the metrics at ``headline``
    connections, with every count's under ``curve``."""
    curve = []
    for n in counts:
        log(f"{target.name}: scenario C ({n:,} idle connections)")
        m = await on_fresh_server(
            lambda server, n=n: asyncio.to_thread(run_idle, server, target, connections=n, settle=settle, log=log)
        )
        m["asked"] = n
        capped = f" (capped from {n:,}: {m['fd_hard_limit']:,} descriptors per process)" if "capped_from" in m else ""
        log(
            f"{target.name} C @{m['connections']:,}{capped}: {m['kib_per_connection']:.1f} KiB/conn, "
            f"{m['connections_per_s']:,.0f} joins/s, {m['server_cpu_per_connection_us']:,.0f} us CPU/join "
            f"(clients {m['client_cpu_per_connection_us']:,.0f} us)"
        )
        curve.append(m)
    main = next(m for m in curve if m["asked"] == headline)
    return {**main, "curve": curve}


def plot_curve(results: dict[str, dict[str, dict[str, Any]]], path: Path, title: str) -> bool:
    """Memory per connection, joins/s and CPU per join against the number of connections, one line
    per target that ran C's curve. False when none did."""
    lines = {name: runs["C"]["curve"] for name, runs in results.items() if "curve" in runs.get("C", {})}
    if not lines:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    panels = (
        ("kib_per_connection", "server memory per idle connection (KiB)", 16),
        ("connections_per_s", "joins per second", 2500),
        ("server_cpu_per_connection_us", "server CPU per join (us)", None),
    )
    others = iter(("#e08a3c", "#8a8a8a", "#9a78c0", "#5aa05a"))
    colors = {name: "#2a7ab9" if name == "parley" else next(others, "#404040") for name in lines}
    for ax, (key, label, goal) in zip(axes, panels, strict=True):
        for name, curve in lines.items():
            xs = [m["connections"] for m in curve]
            ys = [m[key] for m in curve]
            ax.plot(xs, ys, marker="o", label=name, color=colors[name])
            for x, y in zip(xs, ys, strict=True):
                ax.annotate(f"{y:,.1f}" if y < 100 else f"{y:,.0f}", (x, y), textcoords="offset points", xytext=(4, 4))
        if goal is not None:
            ax.axhline(goal, color="#c04040", linestyle="--", linewidth=1, label=f"target {goal:,}")
        ax.set_xlabel("idle connections")
        ax.set_title(label)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
