"""The bench's peers (issue 19): other chat servers under the same load generator, next to Parley.

- ``socketio-py``: python-socketio 5 under uvicorn with its ``AsyncRedisManager`` (bench/sio.py)
- ``socketio-node``: Socket.IO 4 on Node with ``@socket.io/redis-adapter`` (bench/node/socketio.js)
- ``ws-node``: bare ``ws`` on Node, no framework, no Redis (bench/node/ws.js): Node's floor

with ``baseline`` (the tutorial's design), ``floor`` (bare ``websockets`` on Python) and ``layer``
from ``bench.servers``. Both Socket.IO peers are set up to scale out, as Parley is: every broadcast
goes through Redis. The Node code's dependencies are pinned in bench/node/package-lock.json and
installed with ``npm ci`` the first time a Node peer starts (not by ``make test``).

Scenario B's target: Parley's server CPU per delivery at most Socket.IO-on-Node's with its Redis
adapter, in the same run (``b_target_row``).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

NODE_DIR = Path(__file__).resolve().parent / "node"
SOCKETIO = ("socketio-py", "socketio-node")
COMMANDS = {
    "socketio-py": [sys.executable, "-m", "bench.sio"],
    "socketio-node": ["node", str(NODE_DIR / "socketio.js")],
    "ws-node": ["node", str(NODE_DIR / "ws.js")],
}
NAMES = tuple(COMMANDS)
# Every target B and K compare, in the order of the tables: the peers, then Parley.
ORDER = ("baseline", "layer", "socketio-py", "floor", "socketio-node", "ws-node", "parley")
LABELS = {
    "baseline": "tutorial (channels_redis)",
    "layer": "tutorial (RedisPubSubChannelLayer)",
    "socketio-py": "python-socketio + Redis",
    "floor": "bare websockets (Python)",
    "socketio-node": "Socket.IO Node + Redis adapter",
    "ws-node": "bare ws (Node)",
    "parley": "Parley (PG + Redis)",
}


def command(name: str) -> list[str]:
    """How to start peer ``name`` (a Node peer: its packages installed first)."""
    cmd = COMMANDS[name]
    if cmd[0] == "node":
        npm_ci()
    return list(cmd)


def npm_ci() -> None:
    """``npm ci`` in bench/node unless node_modules already matches package-lock.json (a stamp of
    the lock's hash): idempotent, and quick after the first time."""
    lock = (NODE_DIR / "package-lock.json").read_bytes()
    stamp = NODE_DIR / "node_modules" / ".lock-sha256"
    digest = hashlib.sha256(lock).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise RuntimeError("the Node peers need node and npm (Node 20)")
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error", "--prefix", str(NODE_DIR)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    stamp.write_text(digest)


def b_target_row(results: dict[str, dict[str, dict[str, Any]]]) -> tuple[float, float, float, bool] | None:
    """B's target: (Parley's server us/delivery, Socket.IO-Node-Redis's, their ratio, met) in this run."""
    ours = results.get("parley", {}).get("B", {}).get("server_cpu_per_delivery_us")
    theirs = results.get("socketio-node", {}).get("B", {}).get("server_cpu_per_delivery_us")
    if ours is None or theirs is None or not theirs:
        return None
    return ours, theirs, ours / theirs, ours <= theirs


def table(results: dict[str, dict[str, dict[str, Any]]], scenario: str = "B") -> list[list[str]]:
    """One row per target that ran ``scenario``: deliveries/s, server and Redis+PG CPU per delivery,
    load generator CPU, lost, and the ratio of its server CPU per delivery to Parley's."""
    ours = results.get("parley", {}).get(scenario, {}).get("server_cpu_per_delivery_us")
    rows = [
        ["target", "deliveries/s", "server us/delivery", "Redis+PG us/delivery", "loadgen CPU %", "lost", "x Parley"]
    ]
    for name in [*ORDER, *sorted(n for n in results if n not in ORDER)]:
        m = results.get(name, {}).get(scenario)
        if not m or "server_cpu_per_delivery_us" not in m:
            continue
        cpu = m["server_cpu_per_delivery_us"]
        rows.append(
            [
                LABELS.get(name, name),
                f"{m['deliveries_per_s']:,.0f}",
                f"{cpu:.1f}",
                f"{m.get('backend_cpu_per_delivery_us', 0.0):.1f}",
                f"{m.get('loadgen_cpu_pct', 0.0):.0f}",
                f"{m.get('lost', 0):,}",
                f"{cpu / ours:.2f}x" if ours else "-",
            ]
        )
    return rows if len(rows) > 1 else []


def target_line(results: dict[str, dict[str, dict[str, Any]]]) -> str | None:
    row = b_target_row(results)
    if row is None:
        return None
    ours, theirs, r, met = row
    return (
        f"B target: Parley's server CPU/delivery <= Socket.IO-Node-Redis's (same run): "
        f"{ours:.1f} us vs {theirs:.1f} us = {r:.2f}x  met: {'yes' if met else 'NO'}"
    )


def text(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def markdown(rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    out += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(out)


def print_tables(results: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """B's (and A's) table of every target, B's target against Socket.IO-on-Node, and K's curve."""
    from . import curves  # curves draws with this module's labels

    out: dict[str, Any] = {}
    for scenario in ("B", "A"):
        if rows := table(results, scenario):
            print(f"\n{scenario}: every target, the same load generator")
            print(text(rows))
            out[scenario] = markdown(rows)
    if line := target_line(results):
        print(line)
        out["target"] = line
    if rows := curves.table(results):
        print("\nK: server CPU per delivery (us) in one room, by its size")
        print(text(rows))
        out["K"] = markdown(rows)
    return out
