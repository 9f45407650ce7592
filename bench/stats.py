"""Pure helpers of the benchmark: percentiles, loss counting, ratios, message tags, profile summaries."""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Iterable, Mapping, MutableSequence, Sequence
from typing import Protocol


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0..100) of ``values`` by linear interpolation; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        return float(ordered[0])
    rank = (len(ordered) - 1) * min(max(q, 0.0), 100.0) / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def lost_deliveries(sent: Mapping[int, int], received: Mapping[int, int]) -> int:
    """Deliveries one receiver is missing: for each sender of its room, messages sent minus received.

    ``sent`` maps a sender to how many messages it sent (all after this receiver joined);
    ``received`` maps a sender to how many distinct ones of them arrived. Extra ones count as 0.
    """
    return sum(max(0, count - received.get(sender, 0)) for sender, count in sent.items())


def ratio(ours: float | None, theirs: float | None) -> float | None:
    if ours is None or theirs is None or theirs == 0:
        return None
    return ours / theirs


# The tag's separator: a character Markdown gives no meaning to, so a tag and its padding is a plain
# chat line that takes markup.render's fast path (a "|", a table's cell separator, sent every bench
# message through the parser: ~35 us each, a tenth of B's server CPU per message).
TAG_SEP = ","


def make_tag(sender: int, n: int, sent_ns: int, pad: int = 0) -> str:
    """The message text the load generator sends: who, which one, when (ns), then padding."""
    return f"{sender}{TAG_SEP}{n}{TAG_SEP}{sent_ns}{TAG_SEP}" + "x" * pad


def parse_tag(text: str) -> tuple[int, int, int]:
    """``make_tag``'s (sender, n, sent_ns), whatever follows it; raises ValueError on a text it did
    not make."""
    sender, n, sent_ns, _ = text.split(TAG_SEP, 3)
    return int(sender), int(n), int(sent_ns)


class Tally(Protocol):
    """What a load generator counts over all its clients (``loadgen.Recorder``, ``swarm``'s worker)."""

    deliveries: int
    measuring: bool
    disorder: int
    first_last: dict[tuple[int, int], list[int]]  # (sender, n) -> [first, last] latency in ns


class Receiver(Protocol):
    """One client as the count sees it."""

    sender_id: int | None
    got: dict[int, int]  # sender id -> messages received in order
    last: dict[int, int]  # sender id -> last message number received
    echo: asyncio.Semaphore | None


def count_delivery(tally: Tally, client: Receiver, text: str, latencies: MutableSequence[int]) -> None:
    """Count one delivered message's ``text`` (tagged by ``make_tag``; other texts are not ours):
    its latency while measuring, its first and last delivery, whether it came out of order, and
    free its sender's window when it is the sender's own echo."""
    now = time.monotonic_ns()
    try:
        sender, n, sent_ns = parse_tag(text)
    except ValueError:
        return
    tally.deliveries += 1
    if tally.measuring:
        latency = now - sent_ns
        latencies.append(latency)
        span = tally.first_last.get((sender, n))
        if span is None:
            tally.first_last[sender, n] = [latency, latency]
        elif latency > span[1]:
            span[1] = latency
    if n <= client.last.get(sender, -1):
        tally.disorder += 1
        return
    client.last[sender] = n
    client.got[sender] = client.got.get(sender, 0) + 1
    if sender == client.sender_id and client.echo is not None:
        client.echo.release()


def summarize_collapsed(lines: Iterable[str], top: int = 25) -> dict[str, list[tuple[str, float]]]:
    """Self and inclusive shares (%) of the frames in py-spy's ``--format raw`` (collapsed) output.

    Each line is ``frame;frame;...;leaf count``. Self time goes to the leaf; inclusive time to each
    distinct frame on the stack (a recursive frame counts once per sample).
    """
    self_counts: Counter[str] = Counter()
    incl_counts: Counter[str] = Counter()
    total = 0
    for line in lines:
        line = line.rstrip("\n")
        if not line:
            continue
        stack, _, count_text = line.rpartition(" ")
        try:
            count = int(count_text)
        except ValueError:
            continue
        frames = stack.split(";")
        total += count
        self_counts[frames[-1]] += count
        for frame in set(frames):
            incl_counts[frame] += count
    if not total:
        return {"self": [], "inclusive": [], "samples": []}

    def shares(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(frame, 100.0 * count / total) for frame, count in counter.most_common(top)]

    return {"self": shares(self_counts), "inclusive": shares(incl_counts), "samples": [("total", float(total))]}


# Where a Parley server's CPU goes: the first rule matching a frame, walking from the leaf to the root.
PARLEY_CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    ("uvicorn send: WebSocket framing + transport.write()", ("websockets_sansio_impl.py", "websockets/")),
    ("Channels SessionMiddleware send wrapper (per frame)", ("channels/sessions.py", "django/utils/functional.py")),
    ("outbox: queue push + writer task wake-up", ("chat/fanout/outbox.py",)),
    (
        "store: Django ORM + psycopg (in the DB thread)",
        ("psycopg", "django/db/", "chat/services.py", "chat/selectors.py"),
    ),
    (
        "thread hops: asgiref sync_to_async, executor",
        ("asgiref/", "concurrent/futures", "threading.py", "channels/db.py"),
    ),
    ("hub fan-out + Redis pub/sub read", ("chat/fanout/broadcast.py", "chat/fanout/pubsub.py", "redis/")),
    ("markup: Markdown render, highlight, sanitize", ("markup/", "markdown_it/", "pygments/", "nh3", "linkify")),
    ("group commit, encode, actions", ("chat/groupcommit.py", "chat/actions.py", "chat/protocol.py", "orjson")),
    ("consumer: connect, receive, dispatch", ("chat/", "channels/", "django/")),
    ("uvicorn: reading, handshakes, HTTP parsing", ("uvicorn/", "httptools", "h11")),
    ("event loop (uvloop, C code)", ("asyncio/runners.py", "uvloop")),
]


def categorize(lines: Iterable[str], rules: list[tuple[str, tuple[str, ...]]]) -> list[tuple[str, float]]:
    """Share (%) of samples per category of ``rules`` in py-spy's collapsed output, largest first."""
    counts: Counter[str] = Counter()
    total = 0
    for line in lines:
        stack, _, count_text = line.rstrip("\n").rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        category = "other"
        for frame in reversed(stack.split(";")):
            match = next((name for name, needles in rules if any(n in frame for n in needles)), None)
            if match is not None:
                category = match
                break
        counts[category] += count
    return [(name, 100.0 * n / total) for name, n in counts.most_common()] if total else []
