"""Every Prometheus metric Parley exports, defined once; the code where each thing happens counts it.

Served at ``/metrics`` (``parley.health.metrics``) when ``PARLEY_METRICS_TOKEN`` is set. With
``WORKERS>1`` each worker writes its values to files in ``PROMETHEUS_MULTIPROC_DIR`` (set by
``parley.serve`` before any worker starts: prometheus_client reads it when it is imported), and the
worker that answers a scrape sums them all (``MultiProcessCollector``); the connection gauge counts
live processes only (``livesum``). docs/deployment.md, "Operations".

Fan-out is the hot path (tens of thousands of deliveries a second on one core): deliveries are
counted once per event per room (``inc(len(members))``), never once per member, and the label
children are bound here once, so counting is one call, not a label lookup.
"""

from __future__ import annotations

import contextvars
import datetime as dt

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

# No parley_*_created series beside every counter and histogram: they double what a scrape carries
# and Prometheus does not need them (a counter reset is seen in the counter itself).
disable_created_metrics()

DOORS = ("seed", "tutorial", "native", "sse")  # sse: the native door over HTTP (chat/sse.py)
# Client frames by kind ("invalid": refused before it had a kind: bad JSON, a binary frame, a bad field).
IN_KINDS = ("message", "edit", "delete", "reaction", "read", "history", "thread", "typing", "ping", "invalid")
# Frames sent to clients by kind (the frame's "type").
OUT_KINDS = (
    "message",
    "edit",
    "delete",
    "reaction",
    "presence",
    "typing",
    "mention",
    "read",
    "hello",
    "history",
    "thread",
    "error",
    "pong",
)

CONNECTIONS = Gauge(
    "parley_connections",
    "Open WebSocket connections (and SSE streams) that have joined their room, by door.",
    ["door"],
    multiprocess_mode="livesum",  # WORKERS>1: the sum over the workers alive now
)
EVENTS_IN = Counter("parley_events_in", "Frames received from clients, by kind.", ["kind"])
EVENTS_OUT = Counter("parley_events_out", "Frames sent to clients, by kind (one per recipient).", ["kind"])
FANOUT_LATENCY = Histogram(
    "parley_fanout_latency_seconds",
    "From an event's commit to the hub handing its frame to every local member's outbox (a socket "
    "write, for a client that keeps up). Across processes, from the event's ts (docs/deployment.md).",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
GROUP_COMMIT_BATCH = Histogram(
    "parley_group_commit_batch_size",
    "Changes stored by one group-commit transaction.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
OUTBOX_OVERFLOW = Counter(
    "parley_outbox_overflow", "Clients closed (1013) for falling PARLEY_SEND_QUEUE_MAX frames behind."
)
BACKEND_ERRORS = Counter(
    "parley_backend_errors", "Operations that failed because a backend could not be reached.", ["backend"]
)

# Bound once: a labelled child's inc is one call; .labels() is a lock and a dict lookup each time.
connections = {door: CONNECTIONS.labels(door=door) for door in DOORS}
inbound = {kind: EVENTS_IN.labels(kind=kind) for kind in IN_KINDS}
outbound = {kind: EVENTS_OUT.labels(kind=kind) for kind in OUT_KINDS}
database_errors = BACKEND_ERRORS.labels(backend="database")
redis_errors = BACKEND_ERRORS.labels(backend="redis")
observe_batch = GROUP_COMMIT_BATCH.observe
_observe_latency = FANOUT_LATENCY.observe

# The time.time() at which the group commit running in this task committed the events it is now
# publishing (0.0: none). With the in-process bus the hub delivers them inside that publish, so it
# reads the exact commit time here; events that came over Redis (or from a gap fill) carry none,
# and their frame's ts is used instead (``delivered``).
COMMITTED_AT: contextvars.ContextVar[float] = contextvars.ContextVar("parley.committed_at", default=0.0)


def out(kind: str, n: int = 1) -> None:
    """Count ``n`` frames of ``kind`` sent to clients."""
    child = outbound.get(kind)
    if child is None:
        child = outbound[kind] = EVENTS_OUT.labels(kind=kind)
    child.inc(n)


def frame_kind(text: str) -> str:
    """The ``type`` of an encoded frame. Parley's frames are built with ``type`` first (orjson
    keeps the order), so this is a prefix check and one ``find``, not a JSON parse."""
    if text.startswith('{"type":"'):
        end = text.find('"', 9)
        if end > 9:
            return text[9:end]
    return "other"


def stored_at(text: str) -> float:
    """The ``ts`` of an event frame as a Unix time (0.0 when it has none)."""
    start = text.find('"ts":"')
    if start < 0:
        return 0.0
    try:
        return dt.datetime.fromisoformat(text[start + 6 : start + 30]).timestamp()
    except ValueError:
        return 0.0


def delivered(text: str, now: float) -> None:
    """Called by the hub once it has handed an event to its members, at ``now`` (time.time())."""
    committed = COMMITTED_AT.get() or stored_at(text)
    if committed:
        _observe_latency(max(now - committed, 0.0))


def backend_error(exc: BaseException) -> None:
    """Count ``exc`` if it says a backend is down (``core.backends``): the database, or Redis."""
    from django.db import Error as DatabaseError

    from core import backends

    if backends.down(exc):
        (database_errors if isinstance(exc, DatabaseError) else redis_errors).inc()
