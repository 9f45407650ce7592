"""The bench's outputs: machine description, the table (Parley / baseline and the targets), the plot."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

from .quietplan import PG_GOAL_US, PG_LIMIT_US, SQLITE_LIMIT_US
from .stats import ratio


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {
        "cpu": model,
        "cores": os.cpu_count(),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": {},
    }
    for name in (
        "Django",
        "channels",
        "channels-redis",
        "uvicorn",
        "websockets",
        "uvloop",
        "orjson",
        "psycopg",
        "redis",
    ):
        try:
            info["packages"][name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    try:
        import redis

        client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
        info["redis"] = client.info("server")["redis_version"]
        client.close()
    except Exception:
        info["redis"] = "unknown"
    try:
        import psycopg

        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres") as conn:
            info["postgresql"] = conn.execute("show server_version").fetchone()[0]
    except Exception:
        info["postgresql"] = "unknown"
    return info


@dataclass(frozen=True)
class Over:
    """A row's value that is a ratio of two scenarios of the same target in the same run: the row's
    scenario's ``key`` over ``scenario``'s (T/B: what Markdown costs the send path)."""

    scenario: str
    key: str


@dataclass(frozen=True)
class Render:
    """A row's value from scenario R: one kind's median and p99 render time (us)."""

    kind: str


RATIO = "{:.2f}x"
RENDER = "{p50_us:.1f} (p99 {p99_us:.1f})"


def value(runs: dict[str, dict[str, Any]], scenario: str, key: str | Over | Render) -> Any:
    """The value of one row's metric in one target's results (``runs``: scenario -> metrics)."""
    if isinstance(key, Over):
        return ratio(runs.get(scenario, {}).get(key.key), runs.get(key.scenario, {}).get(key.key))
    if isinstance(key, Render):
        got = runs.get(scenario, {}).get(key.kind) or {}
        return got if got.get("p50_us") is not None and got.get("p99_us") is not None else None
    return runs.get(scenario, {}).get(key)


def _send_path_rows(scenario: str, what: str) -> list[tuple[str, str | Over | Render, str, str, str, Any]]:
    """T's and F's rows: B's metrics, and their ratios to B in the same run, next to B's."""
    return [
        (scenario, "deliveries_per_s", f"{scenario} deliveries/s, {what}", "{:,.0f}", "", None),
        (scenario, Over("B", "deliveries_per_s"), f"{scenario}/B deliveries/s (same run)", RATIO, "", None),
        (scenario, "server_cpu_per_message_us", f"{scenario} server CPU/message (us)", "{:,.0f}", "", None),
        (scenario, Over("B", "server_cpu_per_message_us"), f"{scenario}/B server CPU/message", RATIO, "", None),
        (scenario, "backend_cpu_per_message_us", f"{scenario} Redis+PG CPU/message (us)", "{:,.0f}", "", None),
        (scenario, "p50_ms", f"{scenario} p50 latency (ms)", "{:.1f}", "", None),
        (scenario, "p99_ms", f"{scenario} p99 latency (ms)", "{:.1f}", "", None),
        (scenario, Over("B", "p99_ms"), f"{scenario}/B p99 latency", RATIO, "", None),
        (scenario, "lost", f"{scenario} lost deliveries", "{:,.0f}", "0", lambda v, r, f: v == 0),
        (scenario, "errors", f"{scenario} messages refused", "{:,.0f}", "0", lambda v, r, f: v == 0),
        (scenario, "loadgen_cpu_pct", f"{scenario} load generator CPU (%)", "{:.0f}", "", None),
    ]


# (scenario, metric, label, format, target text, check(parley, Parley/baseline, Parley/floor) -> bool)
ROWS: list[tuple[str, str | Over | Render, str, str, str, Any]] = [
    ("A", "deliveries_per_s", "A deliveries/s", "{:,.0f}", ">= 4x baseline", lambda v, r, f: r is not None and r >= 4),
    (
        "A",
        "server_cpu_per_delivery_us",
        "A server CPU/delivery (us)",
        "{:.1f}",
        "<= 1/6 baseline; <= 1.5x floor",
        lambda v, r, f: r is not None and r <= 1 / 6 and (f is None or f <= 1.5),
    ),
    ("A", "backend_cpu_per_delivery_us", "A Redis+PG CPU/delivery (us)", "{:.1f}", "", None),
    ("A", "p50_ms", "A p50 latency (ms)", "{:.1f}", "", None),
    ("A", "p99_ms", "A p99 latency (ms)", "{:.1f}", "", None),
    ("A", "lost", "A lost deliveries", "{:,.0f}", "0", lambda v, r, f: v == 0),
    ("A", "loadgen_cpu_pct", "A load generator CPU (%)", "{:.0f}", "", None),
    ("A", "other_cpu_pct", "A other processes' CPU (%, noise)", "{:.0f}", "", None),
    (
        "B",
        "deliveries_per_s",
        "B deliveries/s",
        "{:,.0f}",
        ">= 1.5x baseline",
        lambda v, r, f: r is not None and r >= 1.5,
    ),
    ("B", "server_cpu_per_delivery_us", "B server CPU/delivery (us)", "{:.1f}", "", None),
    ("B", "backend_cpu_per_delivery_us", "B Redis+PG CPU/delivery (us)", "{:.1f}", "", None),
    ("B", "p50_ms", "B p50 latency (ms)", "{:.1f}", "", None),
    ("B", "p99_ms", "B p99 latency (ms)", "{:.1f}", "", None),
    ("B", "lost", "B lost deliveries", "{:,.0f}", "0", lambda v, r, f: v == 0),
    ("B", "server_cpu_per_message_us", "B server CPU/message (us)", "{:,.0f}", "", None),
    ("B", "loadgen_cpu_pct", "B load generator CPU (%)", "{:.0f}", "", None),
    *_send_path_rows("T", "B with Markdown (corpus mix)"),
    *_send_path_rows("F", "B with an attachment per message"),
    (
        "F",
        "unattached",
        "F messages sent without an attachment (pool used up)",
        "{:,.0f}",
        "0",
        lambda v, r, f: v == 0,
    ),
    ("F", "uploads_per_s", "F uploads/s through the API (before the load)", "{:,.0f}", "", None),
    ("F", "upload_p50_ms", "F upload p50 latency (ms)", "{:.1f}", "", None),
    ("F", "upload_p99_ms", "F upload p99 latency (ms)", "{:.1f}", "", None),
    ("F", "server_cpu_per_upload_us", "F server CPU/upload (us)", "{:,.0f}", "", None),
    ("C", "kib_per_connection", "C memory/idle connection (KiB)", "{:.1f}", "<= 16 KiB", lambda v, r, f: v <= 16),
    ("C", "connections_per_s", "C connections opened/s", "{:,.0f}", ">= 2,500/s", lambda v, r, f: v >= 2500),
    ("C", "server_cpu_per_connection_us", "C server CPU/connection (us)", "{:,.0f}", "", None),
    ("C", "server_cpu_per_leave_us", "C server CPU/leave, all dropped at once (us)", "{:,.0f}", "", None),
    ("L", "p50_ms", "L p50 latency, big room @10 msg/s (ms)", "{:.1f}", "", None),
    ("L", "p99_ms", "L p99 latency, big room @10 msg/s (ms)", "{:.1f}", "< 100 ms", lambda v, r, f: v < 100),
    ("L", "first_delivery_p99_ms", "L p99 of a message's first delivery (ms)", "{:.1f}", "", None),
    ("L", "fanout_spread_p99_ms", "L p99 of first-to-last delivery (ms)", "{:.1f}", "", None),
    ("L", "lost", "L lost deliveries", "{:,.0f}", "0", lambda v, r, f: v == 0),
    ("D", "messages_per_s", "D messages/s via WebSocket (stored on PG)", "{:,.0f}", "", None),
    ("M", "events_per_s", "M events stored/s (messages, reactions, edits, deletes)", "{:,.0f}", "", None),
    ("M", "deliveries_per_s", "M deliveries/s", "{:,.0f}", "", None),
    ("M", "server_cpu_per_event_us", "M server CPU/event stored (us)", "{:,.0f}", "", None),
    ("M", "server_cpu_per_delivery_us", "M server CPU/delivery (us)", "{:.1f}", "", None),
    ("M", "backend_cpu_per_delivery_us", "M Redis+PG CPU/delivery (us)", "{:.1f}", "", None),
    ("M", "p50_ms", "M p50 latency (ms)", "{:.1f}", "", None),
    ("M", "p99_ms", "M p99 latency (ms)", "{:.1f}", "", None),
    ("M", "errors", "M changes refused (not_found: raced a delete)", "{:,.0f}", "", None),
    ("M", "unanswered", "M changes unanswered within 5 s", "{:,.0f}", "0", lambda v, r, f: v == 0),
    ("M", "lost", "M lost deliveries", "{:,.0f}", "0", lambda v, r, f: v == 0),
    ("H", "messages_per_s", "H messages/s posted over HTTP", "{:,.0f}", "", None),
    ("H", "post_p50_ms", "H POST p50 latency (ms)", "{:.1f}", "", None),
    ("H", "post_p99_ms", "H POST p99 latency (ms)", "{:.1f}", "", None),
    ("H", "p99_ms", "H p99 latency, POST to WebSocket member (ms)", "{:.1f}", "", None),
    ("H", "server_cpu_per_post_us", "H server CPU/message posted (us)", "{:,.0f}", "", None),
    ("H", "pg_sessions_per_s", "H PostgreSQL sessions opened/s", "{:,.0f}", "", None),
    ("H", "errors", "H posts refused (any status but 201)", "{:,.0f}", "0", lambda v, r, f: v == 0),
    ("H", "lost", "H lost deliveries", "{:,.0f}", "0", lambda v, r, f: v == 0),
    (
        "Q",
        "server_cpu_per_message_us",
        "Q server CPU/message, quiet room of 10, PG+Redis (us)",
        "{:,.0f}",
        f"<= {PG_LIMIT_US:,.0f} us (goal {PG_GOAL_US:,.0f})",
        lambda v, r, f: v <= PG_LIMIT_US,
    ),
    ("Q", "backend_cpu_per_message_us", "Q Redis+PG CPU/message (us)", "{:,.0f}", "", None),
    ("Q", "loop_cpu_per_message_us", "Q PG+Redis server CPU/message: event loop's thread (us)", "{:,.0f}", "", None),
    ("Q", "threads_cpu_per_message_us", "Q PG+Redis server CPU/message: other threads (us)", "{:,.0f}", "", None),
    ("Q", "messages_per_s", "Q messages/s one at a time (wall clock, noisy)", "{:,.0f}", "", None),
    ("Q", "p50_ms", "Q echo round trip p50 (ms, wall clock)", "{:.2f}", "", None),
    ("Q", "lost", "Q lost deliveries", "{:,.0f}", "0", lambda v, r, f: v == 0),
    ("Q", "other_cpu_pct", "Q other processes' CPU meanwhile (%, noise)", "{:.0f}", "", None),
    ("Q", "wal_bytes_per_message", "Q PostgreSQL WAL bytes/message", "{:,.0f}", "", None),
    ("Q", "frame_bytes", "Q message frame bytes (a delivery)", "{:,.0f}", "", None),
    (
        "Q2",
        "server_cpu_per_message_us",
        "Q2 sender's process CPU/message, 9 members elsewhere (us)",
        "{:,.0f}",
        "",
        None,
    ),
    (
        "Q2",
        "listener_cpu_per_message_us",
        "Q2 other process CPU/message: receive + 9 deliveries (us)",
        "{:,.0f}",
        "",
        None,
    ),
    ("Q2", "lost", "Q2 lost deliveries", "{:,.0f}", "0", lambda v, r, f: v == 0),
    ("R", Render("plain_fast"), "R render us: plain line, fast path (p99)", RENDER, "", None),
    ("R", Render("plain_parsed"), "R render us: plain line, through the parser", RENDER, "", None),
    ("R", Render("inline"), "R render us: inline Markdown", RENDER, "", None),
    ("R", Render("code"), "R render us: fenced code block, 10-40 lines", RENDER, "", None),
    ("R", Render("link"), "R render us: bare URLs", RENDER, "", None),
    ("R", "mix_mean_us", "R render us: mean per message of T's mix", "{:.1f}", "", None),
    ("R", "plain_fast_share", "R plain lines on the fast path", "{:.0%}", "", None),
]


def _fmt(fmt: str, value: Any) -> str:
    if value is None:
        return "-"
    try:
        return fmt.format(**value) if isinstance(value, dict) else fmt.format(value)
    except (ValueError, TypeError, KeyError):
        return str(value)


HEADER = ["metric", "baseline", "floor", "Parley", "Parley/baseline", "Parley/floor", "target", "met"]


def compared(results: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """The ``--compare`` revisions' targets (``parley@<rev>``) in the results, in the order they ran."""
    return [name for name in results if name.startswith("parley@")]


def vs(name: str) -> str:
    """The ratio column of the working tree's Parley to a compared revision: ``Parley/@975e6c0``."""
    return f"Parley/{name.removeprefix('parley')}"


def columns(results: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """The table's header: HEADER, with a ``layer`` column after baseline only when the layer was run
    (an optional target: tables of runs without it read as before, and old results still replot), and
    for each compared revision a column after Parley and a ratio column after Parley/floor."""
    revs = compared(results)
    head = ["metric", "baseline", *(["layer"] if "layer" in results else []), "floor", "Parley", *revs]
    return [*head, "Parley/baseline", "Parley/floor", *[vs(r) for r in revs], "target", "met"]


def table_rows(results: dict[str, dict[str, dict[str, Any]]]) -> list[list[str]]:
    """Rows under ``columns(results)``: baseline = Channels tutorial, layer = the tutorial on
    RedisPubSubChannelLayer, floor = bare websockets, parley@<rev> = Parley from another revision,
    and Parley's ratios to baseline, floor and each revision."""
    header = columns(results)
    base = results.get("baseline", {})
    layer = results.get("layer")
    floor = results.get("floor", {})
    ours = results.get("parley", {})
    revs = compared(results)
    rows = []
    for scenario, key, label, fmt, target, check in ROWS:
        if all(scenario not in r for r in (base, layer or {}, ours, floor, *(results[n] for n in revs))):
            continue
        b = value(base, scenario, key)
        f = value(floor, scenario, key)
        p = value(ours, scenario, key)
        numbers = isinstance(key, str)  # a ratio or a pair of percentiles is not divided again
        r = ratio(p, b) if numbers else None
        rf = ratio(p, f) if numbers else None
        met = ""
        shown_r, shown_rf = r, rf
        context = "CPU (%" in label or not numbers  # context, not a comparison
        if context or "Redis+PG" in label:
            shown_r = shown_rf = None
        relative = "baseline" in target
        if check is not None and p is not None and (r is not None or not relative):
            met = "yes" if check(p, r, rf) else "NO"
        # The tutorial's consumer relays D's messages on either layer, it stores nothing.
        relayed = " (relayed, not stored)" if label.startswith("D ") else ""
        cells = {
            "metric": label,
            "baseline": _fmt(fmt, b) + (relayed if b is not None else ""),
            "floor": _fmt(fmt, f),
            "Parley": _fmt(fmt, p),
            "Parley/baseline": _ratio(shown_r),
            "Parley/floor": _ratio(shown_rf),
            "target": target,
            "met": met,
        }
        if layer is not None:
            lv = value(layer, scenario, key)
            cells["layer"] = _fmt(fmt, lv) + (relayed if lv is not None else "")
        for name in revs:
            theirs = value(results[name], scenario, key)
            cells[name] = _fmt(fmt, theirs)
            cells[vs(name)] = "-" if context else _ratio(ratio(p, theirs))
        rows.append([cells.get(h, "-") for h in header])
    sqlite = results.get("parley-sqlite", {}).get("D", {}).get("messages_per_s")
    if sqlite is not None:
        cells = {"metric": "D messages/s via WebSocket (SQLite, embedded)", "Parley": f"{sqlite:,.0f}"}
        cells.update(target="", met="")
        after = next((i + 1 for i, r in enumerate(rows) if r[0].startswith("D messages/s")), len(rows))
        rows.insert(after, [cells.get(h, "-") for h in header])
    quiet = results.get("parley-sqlite", {}).get("Q", {}).get("server_cpu_per_message_us")
    if quiet is not None:
        cells = {"metric": "Q server CPU/message, quiet room of 10, SQLite alone (us)", "Parley": f"{quiet:,.0f}"}
        cells.update(target=f"<= {SQLITE_LIMIT_US:,.0f} us", met="yes" if quiet <= SQLITE_LIMIT_US else "NO")
        after = next((i + 1 for i, r in enumerate(rows) if r[0].startswith("Q server CPU/message")), len(rows))
        rows.insert(after, [cells.get(h, "-") for h in header])
    return rows


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    return "\n".join(lines)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


REVISION_COLORS = ("#8fbfe0", "#5aa0cf", "#bcd8ec", "#3f8fc4")


def plot(results: dict[str, dict[str, dict[str, Any]]], store: dict[str, Any], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        ("A", "deliveries_per_s", "A: 1 big room, 2 senders: deliveries/s", None),
        ("A", "server_cpu_per_delivery_us", "A: server CPU per delivery (us)", None),
        ("B", "deliveries_per_s", "B: rooms of 10, 1 sender each: deliveries/s", None),
        ("C", "kib_per_connection", "C: memory per idle connection (KiB)", 16),
        ("C", "connections_per_s", "C: connections opened per second", 2500),
        ("L", "p99_ms", "L: p99 latency, big room, 10 msg/s (ms, log)", 100),
    ]
    mixed = [("M", "events_per_s", "M: mixed workload: events stored/s", None)]
    http = [("H", "messages_per_s", "H: messages posted/s over HTTP", None)]
    # A third row for the send path with Markdown and attachments (T, F) and the render cost (R).
    third = any(s in runs for runs in results.values() for s in (*SEND_PATH, "R", "Q"))
    fig, axes = plt.subplots(3 if third else 2, 6, figsize=(25, 11 if third else 7.5))
    colors = {"baseline": "#b0b0b0", "layer": "#9a78c0", "floor": "#e0a040", "parley": "#2a7ab9"}
    for i, name in enumerate(compared(results)):  # older revisions of Parley: lighter blues
        colors[name] = REVISION_COLORS[i % len(REVISION_COLORS)]
    flat = list(axes.flat)
    placed = list(zip(flat[:6], panels, strict=True)) + list(zip(flat[8:9], mixed, strict=True))
    placed += list(zip(flat[10:11], http, strict=True))
    for ax, (scenario, key, label, target) in placed:
        names, values = [], []
        for name in colors:
            value = results.get(name, {}).get(scenario, {}).get(key)
            if value is not None:
                names.append(name)
                values.append(value)
        shown = [n.removeprefix("parley") if n.startswith("parley@") else n for n in names]  # "@975e6c0"
        bars = ax.bar(shown, values, color=[colors[n] for n in names])
        ax.tick_params(axis="x", labelsize=8)
        for bar, value in zip(bars, values, strict=True):
            ax.annotate(
                f"{value:,.1f}" if value < 100 else f"{value:,.0f}",
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                fontsize=9,
            )
        if "(ms, log)" in label:
            ax.set_yscale("log")
        if target is not None:
            ax.axhline(target, color="#d62728", linestyle="--", linewidth=1, label=f"target {target:,}")
            ax.legend(fontsize=8, loc="best", framealpha=0.9)  # where it hides no bar
        ax.margins(y=0.12)
        ax.set_title(label, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    # Latency percentiles across scenarios.
    ax = flat[6]
    labels: list[str] = []
    ran = [name for name in colors if any(s in results.get(name, {}) for s in ("A", "B", "L"))]
    values: dict[str, list[float]] = {name: [] for name in ran}
    for scenario in ("A", "B", "L"):
        for q in ("p50_ms", "p99_ms"):
            got = {name: results[name].get(scenario, {}).get(q) for name in ran}
            if all(v is None for v in got.values()):
                continue
            labels.append(f"{scenario} {q[:3]}")
            for name in ran:
                values[name].append(got[name] or 0)
    xs = range(len(labels))
    width = 0.8 / max(len(ran), 1)  # the targets that ran share each group's 0.8
    for i, name in enumerate(ran):
        offset = (i - (len(ran) - 1) / 2) * width
        ax.bar([x + offset for x in xs], values[name], width=width, color=colors[name], label=name)
    ax.set_xticks(list(xs), labels, fontsize=8)
    ax.set_yscale("log")
    ax.set_title("delivery latency (ms, log)", fontsize=10)
    if ran:
        ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    # Store path.
    ax = flat[7]
    rows = [(k, v["per_s"]) for k, v in store.items() if isinstance(v, dict) and "per_s" in v]
    for name in ("parley", *compared(results), "parley-sqlite", "baseline", "layer"):
        value = results.get(name, {}).get("D", {}).get("messages_per_s")
        if value is not None:
            label = {"parley": "WebSocket: Parley, PG", "parley-sqlite": "WebSocket: Parley, SQLite"}.get(name)
            if name.startswith("parley@"):
                label = f"WebSocket: {name}, PG"
            rows.append((label or f"WebSocket: {name} (not stored)", value))
    if rows:
        ax.barh([r[0] for r in rows], [r[1] for r in rows], color="#6a9f58")
        for i, (_, value) in enumerate(rows):
            ax.annotate(f"{value:,.0f}", (value, i), va="center", fontsize=8)
    ax.set_title("D: messages stored per second", fontsize=10)
    ax.tick_params(axis="y", labelsize=7)
    # M's latency by kind of change (the working tree's Parley).
    ax = flat[9]
    m = results.get("parley", {}).get("M", {})
    kinds = [k for k in ("message", "reaction", "edit", "delete") if m.get(f"{k}_p99_ms") is not None]
    for offset, q, color in ((-0.2, "p50", "#7fb3d9"), (0.2, "p99", "#2a7ab9")):
        ax.bar([i + offset for i in range(len(kinds))], [m[f"{k}_{q}_ms"] for k in kinds], 0.4, color=color, label=q)
    ax.set_xticks(list(range(len(kinds))), kinds, fontsize=8)
    ax.set_yscale("log")
    ax.set_title("M: Parley's latency by kind (ms, log)", fontsize=10)
    if kinds:
        ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    http_latency(flat[11], results, colors)
    if third:
        send_path_panels(flat[12:18], results, colors)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


H_LATENCIES = (
    ("post_p50_ms", "POST p50"),
    ("post_p99_ms", "POST p99"),
    ("p50_ms", "member p50"),
    ("p99_ms", "member p99"),
)


def http_latency(ax: Any, results: dict[str, dict[str, dict[str, Any]]], colors: dict[str, str]) -> None:
    """H's latencies, grouped: the POST (sent to answered) and the delivery to a WebSocket member
    (sent to received), p50 and p99, for each target that ran H (revisions before the API did not)."""
    ran = [name for name in colors if "H" in results.get(name, {})]
    width = 0.8 / max(len(ran), 1)
    for i, name in enumerate(ran):
        h = results[name]["H"]
        offset = (i - (len(ran) - 1) / 2) * width
        ys = [h.get(key) or 0 for key, _ in H_LATENCIES]
        label = name.removeprefix("parley") if name.startswith("parley@") else name
        ax.bar([x + offset for x in range(len(H_LATENCIES))], ys, width=width, color=colors[name], label=label)
    ax.set_xticks(list(range(len(H_LATENCIES))), [label for _, label in H_LATENCIES], fontsize=8)
    ax.set_yscale("log")
    ax.set_title("H: latency of a post over HTTP (ms, log)", fontsize=10)
    if ran:
        ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)


SEND_PATH = ("T", "F")  # B's shape with Markdown, with an attachment: compared with B


def grouped_bars(
    ax: Any,
    results: dict[str, dict[str, dict[str, Any]]],
    colors: dict[str, str],
    groups: list[tuple[str, str, str]],
    title: str,
    log: bool = False,
) -> None:
    """One group of bars per (label, scenario, metric) of ``groups``, a bar per target that has any."""
    ran = [n for n in colors if any(value(results.get(n, {}), sc, key) is not None for _, sc, key in groups)]
    shown = [(label, sc, key) for label, sc, key in groups if any(value(results[n], sc, key) for n in ran)]
    width = 0.8 / max(len(ran), 1)
    for i, name in enumerate(ran):
        offset = (i - (len(ran) - 1) / 2) * width
        ys = [value(results[name], sc, key) or 0 for _, sc, key in shown]
        label = name.removeprefix("parley") if name.startswith("parley@") else name
        bars = ax.bar([x + offset for x in range(len(shown))], ys, width=width, color=colors[name], label=label)
        for bar, y in zip(bars, ys, strict=True):
            if y:
                ax.annotate(
                    f"{y:,.1f}" if y < 100 else f"{y:,.0f}",
                    (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center",
                    va="bottom",
                    fontsize=7,
                )
    ax.set_xticks(list(range(len(shown))), [label for label, _, _ in shown], fontsize=8)
    if log:
        ax.set_yscale("log")
    ax.margins(y=0.15)
    ax.set_title(title, fontsize=10)
    if ran:
        ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)


RENDER_KINDS = (
    ("plain_fast", "plain\n(fast path)"),
    ("plain_parsed", "plain\n(parsed)"),
    ("inline", "inline"),
    ("code", "code block"),
    ("link", "URLs"),
)


def send_path_panels(axes: list[Any], results: dict[str, dict[str, dict[str, Any]]], colors: dict[str, str]) -> None:
    """The third row: B, T and F side by side (messages/s, server CPU per message, latency), R's
    render times by kind, F's uploads through the API."""
    trio = [(sc, sc) for sc in ("B", *SEND_PATH)]
    grouped_bars(
        axes[0],
        results,
        colors,
        [(label, sc, "messages_per_s") for label, sc in trio],
        "B, T (Markdown), F (attachment): messages/s",
    )
    grouped_bars(
        axes[1],
        results,
        colors,
        [(label, sc, "server_cpu_per_message_us") for label, sc in trio],
        "B, T, F: server CPU per message (us)",
    )
    grouped_bars(
        axes[2],
        results,
        colors,
        [(f"{sc} {q}", sc, f"{q}_ms") for sc, _ in trio for q in ("p50", "p99")],
        "B, T, F: delivery latency (ms, log)",
        log=True,
    )
    ax = axes[3]
    r = results.get("parley", {}).get("R", {})
    kinds = [(k, label) for k, label in RENDER_KINDS if value({"R": r}, "R", Render(k)) is not None]
    for offset, q, color in ((-0.2, "p50", "#7fb3d9"), (0.2, "p99", "#2a7ab9")):
        ys = [r[k][f"{q}_us"] for k, _ in kinds]
        bars = ax.bar([i + offset for i in range(len(kinds))], ys, 0.4, color=color, label=q)
        for bar, y in zip(bars, ys, strict=True):
            ax.annotate(
                f"{y:,.1f}" if y < 100 else f"{y:,.0f}",
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                fontsize=7,
            )
    ax.set_xticks(list(range(len(kinds))), [label for _, label in kinds], fontsize=8)
    ax.set_yscale("log")
    mean = r.get("mix_mean_us")
    ax.set_title("R: markup.render per message (us, log)" + (f"; mix mean {mean:.0f}" if mean else ""), fontsize=10)
    if kinds:
        ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    grouped_bars(
        axes[4],
        results,
        colors,
        [("upload p50", "F", "upload_p50_ms"), ("upload p99", "F", "upload_p99_ms")],
        "F: an upload through the API (ms)",
    )
    quiet_panel(axes[5], results)


def quiet_panel(ax: Any, results: dict[str, dict[str, dict[str, Any]]]) -> None:
    """Q: server CPU per unbatched message on PostgreSQL + Redis and on SQLite alone, with the targets."""
    bars = [
        (label, results.get(name, {}).get("Q", {}).get("server_cpu_per_message_us"), limit, color)
        for label, name, limit, color in (
            ("PG+Redis", "parley", PG_LIMIT_US, "#2a7ab9"),
            ("SQLite", "parley-sqlite", SQLITE_LIMIT_US, "#6a9f58"),
        )
    ]
    bars = [b for b in bars if b[1] is not None]
    if not bars:
        ax.axis("off")
        return
    drawn = ax.bar([b[0] for b in bars], [b[1] for b in bars], color=[b[3] for b in bars])
    for bar, (_, us, limit, _) in zip(drawn, bars, strict=True):
        ax.annotate(f"{us:,.0f}", (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom")
        ax.hlines(limit, bar.get_x(), bar.get_x() + bar.get_width(), colors="#d62728", linestyles="--")
    ax.axhline(PG_GOAL_US, color="#d62728", linestyle=":", linewidth=1, label=f"goal {PG_GOAL_US:,.0f} (PG+Redis)")
    ax.legend(fontsize=8)
    ax.margins(y=0.12)
    ax.set_title("Q: server CPU per unbatched message (us; dashed: target)", fontsize=10)
    ax.grid(axis="y", alpha=0.3)


def search_table(search: dict[str, Any]) -> str:
    """Section S as text: one line per database, reader and kind of query."""
    header = ["database", "reader", "query", "p50 ms", "p95 ms", "results"]
    rows = []
    for db, r in search.items():
        if "queries" not in r:
            rows.append([db, "-", r.get("error", "failed")[:60], "", "", ""])
            continue
        for reader, kinds in r["queries"].items():
            for kind, q in kinds.items():
                rows.append([db, reader, kind, f"{q['p50_ms']:.1f}", f"{q['p95_ms']:.1f}", f"{q['results_mean']:.1f}"])
    lines = [text_table(header, rows)]
    for db, r in search.items():
        if "queries" in r:
            size = r.get("index_bytes_per_message")
            lines.append(
                f"{db}: {r['messages']:,} messages in {r['rooms']:,} rooms of {r['namespaces']} namespaces; "
                f"corpus {r['corpus_s']:.0f} s; reindex {r['reindex_per_s']:,.0f} messages/s"
                + (f"; index {size:,.0f} bytes/message" if size else "")
            )
    return "\n".join(lines)


def plot_search(search: dict[str, Any], path: Path, title: str) -> None:
    """Section S's plot: p50 and p95 per kind of query, reader and database, and the 50 ms target."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [(db, r) for db, r in search.items() if "queries" in r]
    if not runs:
        return
    fig, axes = plt.subplots(1, len(runs), figsize=(7 * len(runs), 4.8), squeeze=False)
    for ax, (db, r) in zip(axes[0], runs, strict=True):
        readers = list(r["queries"])
        kinds = list(next(iter(r["queries"].values())))
        width = 0.8 / (2 * len(readers))
        for i, reader in enumerate(readers):
            for j, stat in enumerate(("p50_ms", "p95_ms")):
                offset = (2 * i + j) * width - 0.4 + width / 2
                ax.bar(
                    [k + offset for k in range(len(kinds))],
                    [r["queries"][reader][kind][stat] for kind in kinds],
                    width,
                    label=f"{reader} {stat.removesuffix('_ms')}",
                    alpha=0.55 if stat == "p50_ms" else 0.95,
                    color=f"C{i}",
                )
        ax.axhline(50, color="red", linestyle="--", linewidth=1, label="target p95 50 ms")
        ax.set_xticks(range(len(kinds)), kinds, rotation=15)
        ax.set_ylabel("ms")
        ax.set_title(f"{db}: {r['messages']:,} messages, reindex {r['reindex_per_s']:,.0f}/s", fontsize=10)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
