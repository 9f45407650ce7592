"""Scenario K: the cost curve (issue 19). Server CPU per delivery for one room of 10, 100, 1,000 and
5,000 members (quick: 10, 100, 500), 10 closed-loop senders in the room (every member of a room of
10), on every target: how a message's fixed cost (parse, store, publish) spreads over its deliveries
as the room grows, and what a delivery costs at the limit. Ten senders keep the server busy even in
the smallest room (with one or two, a room of 10 is bound by the round trip, and the server's idle
wake-ups and timers would be counted as the deliveries' cost). Each size on a fresh server, clients
from ``bench.swarm``'s processes.

``results[target]["K"]`` maps the room's size (a string: JSON's keys) to ``swarm.run_rooms``' metrics;
``plot`` draws the curves (log-log) into a png.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from . import peers, servers, swarm

SIZES = (10, 100, 1000, 5000)
QUICK_SIZES = (10, 100, 500)
SENDERS = 10


def sizes(quick: bool) -> tuple[int, ...]:
    return QUICK_SIZES if quick else SIZES


def curve(results: dict[str, dict[str, dict[str, Any]]], name: str) -> list[tuple[int, float]]:
    """(members, server us/delivery) of target ``name``'s K, by size."""
    k = results.get(name, {}).get("K", {})
    points = [(int(n), m["server_cpu_per_delivery_us"]) for n, m in k.items() if "server_cpu_per_delivery_us" in m]
    return sorted(points)


def table(results: dict[str, dict[str, dict[str, Any]]]) -> list[list[str]]:
    """One row per target: server us/delivery at each size (and deliveries/s), lost in all."""
    ran = [n for n in [*peers.ORDER, *sorted(results)] if results.get(n, {}).get("K")]
    ran = list(dict.fromkeys(ran))
    if not ran:
        return []
    all_sizes = sorted({int(n) for name in ran for n in results[name]["K"]})
    rows = [["target", *[f"{n:,} members: us/delivery (deliveries/s)" for n in all_sizes], "lost"]]
    for name in ran:
        k = results[name]["K"]
        cells = []
        for n in all_sizes:
            m = k.get(str(n), {})
            cpu, rate = m.get("server_cpu_per_delivery_us"), m.get("deliveries_per_s")
            cells.append("-" if cpu is None else f"{cpu:.1f} ({rate:,.0f})")
        lost = sum(m.get("lost", 0) for m in k.values())
        rows.append([peers.LABELS.get(name, name), *cells, f"{lost:,}"])
    return rows


COLORS = {
    "baseline": "#b0b0b0",
    "layer": "#9a78c0",
    "socketio-py": "#6a9f58",
    "floor": "#e0a040",
    "socketio-node": "#d62728",
    "ws-node": "#8c564b",
    "parley": "#2a7ab9",
}


def plot(results: dict[str, dict[str, dict[str, Any]]], path: Path, title: str) -> bool:
    """K's curves, server us/delivery against the room's size, log-log; False when K did not run."""
    names = [n for n in dict.fromkeys([*peers.ORDER, *results]) if curve(results, n)]
    if not names:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 6))
    for name in names:
        xs, ys = zip(*curve(results, name), strict=True)
        ax.plot(xs, ys, marker="o", label=peers.LABELS.get(name, name), color=COLORS.get(name))
        ax.annotate(f"{ys[-1]:.1f}", (xs[-1], ys[-1]), textcoords="offset points", xytext=(5, 0), fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"members of the room (one room, {SENDERS} closed-loop senders)")
    ax.set_ylabel("server CPU per delivery (us, log)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=9)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


async def run_k(
    target: servers.Target,
    args: argparse.Namespace,
    fresh: Callable[[Callable[[servers.Server], Awaitable[dict[str, Any]]]], Awaitable[dict[str, Any]]],
    log: Callable[[str], None],
) -> dict[str, Any]:
    """K on ``target``: each of ``args.k_sizes`` on a fresh server (``fresh(run)``), for half of
    ``--duration`` (the curve has many points) after the warm-up."""
    out: dict[str, Any] = {}
    if target.name == "parley-sqlite":
        return out
    duration = max(args.duration / 2, 2.0)
    for n in args.k_sizes:
        params = dict(rooms=1, members=n, senders_per_room=min(SENDERS, n), window=1)
        log(f"{target.name}: scenario K {params}")

        def run(server: servers.Server, n: int = n) -> Awaitable[dict[str, Any]]:
            return swarm.run_rooms(
                server,
                target,
                label=f"K{n}",
                duration=duration,
                warmup=args.warmup,
                drain=2.0 if args.quick else 10.0,
                settle=0.75 if args.quick else 1.5,
                procs=max(1, args.client_procs),
                log=log,
                rooms=1,
                members=n,
                senders_per_room=min(SENDERS, n),
                window=1,
            )

        m = await fresh(run)
        m["params"] = params
        out[str(n)] = m
        log(
            f"{target.name} K {n}: {m['deliveries_per_s']:,.0f} deliveries/s, "
            f"{m['server_cpu_per_delivery_us']:.1f} us server CPU/delivery, lost {m['lost']:,}"
        )
    return out


def title(doc: dict[str, Any]) -> str:
    info = doc["machine"]
    return (
        f"K: server CPU per delivery by room size - {info['cpu']}, {info['cores']} cores - "
        f"run {doc['started']}, {doc.get('revision', '')}"
    )
