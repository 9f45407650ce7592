"""Numbered senders and resuming readers: what a backend outage does to delivery.

A ``Sender`` numbers its messages (``client_id`` ``s<i>-<n>``), keeps at most ``window`` of them
unacknowledged, resends one that came back ``unavailable`` or ``rate_limited`` or had no answer in
time, and after a dropped connection reconnects with ``?after=`` and resends every unacknowledged
one (safe: the server deduplicates by ``client_id``). A message is acknowledged when its own message
frame comes back (live, or in the history of a resume). A ``Reader`` never sends; it keeps every
message frame it gets, reconnecting with ``?after=<last id>`` whenever its connection drops.

``check`` then compares: an acknowledged message missing from a reader's final stream is lost; a
``client_id`` or id seen twice by a reader is duplicated; a reader's ids must be 1, 2, 3, ... in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from .clients import Tally, abort, close_code_of, open_ws

RESEND_AFTER = 4.0  # seconds without an answer before a message is sent again
RETRY_DELAY = 0.5  # after `unavailable` or `rate_limited`
RETRYABLE = {"unavailable", "rate_limited"}


class Outage:
    """Whether a backend is down right now (the scenario sets and clears it)."""

    def __init__(self) -> None:
        self.down = False


@dataclass
class Reader:
    url: Callable[[int], str]  # ?after= -> URL
    what: str
    stream: list[tuple[int, str | None]] = field(default_factory=list)
    last: int = 0
    ws: ClientConnection | None = None

    def add(self, m: dict) -> None:
        self.stream.append((m["id"], m.get("client_id")))
        self.last = max(self.last, m["id"])

    async def run(self, tally: Tally, on_frame: Callable[[dict], None] | None = None) -> None:
        """Read until cancelled, reconnecting after every drop."""
        while True:
            ws, outcome = await open_ws(self.url(self.last))
            tally.handshake(outcome)
            if ws is None:
                await asyncio.sleep(0.3)
                continue
            self.ws = ws
            self.on_connect()
            greeted = False
            with contextlib.suppress(ConnectionClosed):
                async for raw in ws:
                    frame = orjson.loads(raw)
                    kind = frame.get("type")
                    if kind == "hello":
                        greeted = True
                    elif kind == "history":
                        for m in frame["messages"]:
                            self.add(m)
                    elif kind == "message":
                        self.add(frame)
                    if on_frame is not None:
                        on_frame(frame)
            code = close_code_of(None, ws)
            tally.closes[code] += 1
            if greeted or code != 1013:  # 1013 before hello: a handshake refused while the database is down
                tally.unexpected[f"{self.what} closed: {code}"] += 1
            await asyncio.sleep(0.3)

    def on_connect(self) -> None:
        """Called when a new connection is up."""

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), 2)
            abort(self.ws)


class Sender(Reader):
    """A reader that also sends numbered messages at ``rate`` per second."""

    def __init__(self, url: Callable[[int], str], index: int, rate: float, window: int = 10) -> None:
        super().__init__(url=url, what="sender")
        self.index = index
        self.rate = rate
        self.window = window
        self.n = 0
        self.acked: dict[str, int] = {}  # client_id -> id
        self.due: dict[str, float] = {}  # unacknowledged client_id -> when to (re)send it
        self.refused: Counter = Counter()  # error codes other than the retryable ones
        self.resent = 0
        self.sending = True

    def on_frame(self, frame: dict) -> None:
        kind = frame.get("type")
        frames = frame["messages"] if kind == "history" else [frame] if kind == "message" else []
        for m in frames:
            cid = m.get("client_id")
            if cid in self.due:
                del self.due[cid]
                self.acked[cid] = m["id"]
        if kind == "error" and frame.get("client_id") in self.due:
            if frame.get("code") in RETRYABLE:
                self.due[frame["client_id"]] = time.monotonic() + RETRY_DELAY
            else:
                self.refused[frame.get("code")] += 1
                del self.due[frame["client_id"]]

    async def send_loop(self) -> None:
        """Until cancelled: new messages while ``sending``, resends of unacknowledged ones."""
        interval = 1.0 / self.rate
        while True:
            await asyncio.sleep(interval)
            ws = self.ws
            if ws is None:
                continue
            now = time.monotonic()
            batch = []
            if self.sending and len(self.due) < self.window:
                self.n += 1
                cid = f"s{self.index}-{self.n}"
                batch.append(cid)
            batch += [cid for cid, when in sorted(self.due.items(), key=lambda kv: kv[1]) if when <= now][:2]
            for cid in batch:
                if cid in self.due:
                    self.resent += 1
                self.due[cid] = now + RESEND_AFTER
                with contextlib.suppress(ConnectionClosed):
                    await ws.send(orjson.dumps({"message": f"numbered {cid}", "client_id": cid}).decode())

    async def run(self, tally: Tally, on_frame: Callable[[dict], None] | None = None) -> None:
        sender = asyncio.get_running_loop().create_task(self.send_loop())
        try:
            await super().run(tally, on_frame=self.on_frame)
        finally:
            sender.cancel()

    def on_connect(self) -> None:
        """Called when a new connection is up: everything unacknowledged is due again."""
        now = time.monotonic()
        for cid in self.due:
            self.due[cid] = now


@dataclass
class Verdict:
    acked: int
    lost: int
    duplicated: int
    disorder: int
    detail: list[str]


def check(senders: list[Sender], readers: list[Reader], room_of: Callable[[Reader], str]) -> Verdict:
    """Lost, duplicated and out-of-order messages over every reader's stream (see module docstring)."""
    acked_by_room: dict[str, dict[str, int]] = {}
    for s in senders:
        acked_by_room.setdefault(room_of(s), {}).update(s.acked)
    lost_messages: set[tuple[str, str]] = set()
    duplicated = disorder = 0
    detail = []
    for r in readers:
        room = room_of(r)
        ids = [i for i, _ in r.stream]
        cids = [c for _, c in r.stream if c is not None]
        dup_ids = len(ids) - len(set(ids))
        dup_cids = len(cids) - len(set(cids))
        duplicated += max(dup_ids, dup_cids)
        out_of_order = sum(1 for a, b in itertools.pairwise(ids) if b != a + 1)
        missing_ids = (max(ids) - len(set(ids))) if ids else 0
        if ids and ids[0] != 1:
            out_of_order += 1
        disorder += out_of_order
        seen = set(cids)
        missing = [cid for cid in acked_by_room.get(room, {}) if cid not in seen]
        lost_messages.update((room, cid) for cid in missing)
        if missing or dup_ids or dup_cids or out_of_order:
            detail.append(
                f"{r.what} in {room}: {len(missing)} acknowledged missing, {dup_ids} ids and {dup_cids} "
                f"client_ids twice, {out_of_order} breaks in the id order ({missing_ids} ids missing)"
            )
    acked = sum(len(v) for v in acked_by_room.values())
    return Verdict(acked=acked, lost=len(lost_messages), duplicated=duplicated, disorder=disorder, detail=detail)
