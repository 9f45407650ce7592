"""Scenario M's pure logic: the mix of changes, what one sender knows of its room, the change it
sends next, and which frame answers it.

A sender reacts to any recent live message of its room, and edits and deletes only its own (a guest
is the author of what it posted from the same session). It keeps its own reactions, so an ``add``
is never one it already has and a ``remove`` never one it has not: each change gets an event or an
error back (a repeated add would get no frame at all).
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from typing import Any

KINDS = ("message", "reaction", "edit", "delete")
DEFAULT_MIX = "70,15,10,5"
EMOJI = ("👍", "😂", "🎉", "👀", "🔥")
RECENT = 20  # the recent messages a sender picks its targets from


def parse_mix(text: str) -> dict[str, float]:
    """``"70,15,10,5"``: the weights of messages, reactions, edits and deletes (any scale)."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != len(KINDS):
        raise ValueError(f"the mix is {len(KINDS)} weights ({', '.join(KINDS)}), e.g. {DEFAULT_MIX}")
    try:
        weights = [float(p) for p in parts]
    except ValueError:
        raise ValueError(f"the mix is numbers, e.g. {DEFAULT_MIX}") from None
    if any(w < 0 for w in weights) or weights[0] <= 0:
        raise ValueError("weights are >= 0, and messages > 0 (the other changes need messages)")
    return dict(zip(KINDS, weights, strict=True))


def mix_label(mix: dict[str, float]) -> str:
    """``70/15/10/5`` in percent of the whole."""
    total = sum(mix.values())
    return "/".join(f"{100 * mix[k] / total:.0f}" for k in KINDS)


@dataclass(slots=True)
class Change:
    """One change a sender sends: a message, or a reaction, edit or delete of ``target``."""

    kind: str
    target: int | None = None
    emoji: str | None = None
    add: bool = True
    client_id: str | None = None

    def frame(self, text: str) -> dict[str, Any]:
        """The client frame; ``text`` is the message or the edit's new text."""
        if self.kind == "message":
            return {"type": "message", "message": text, "client_id": self.client_id}
        if self.kind == "edit":
            return {"type": "edit", "target": self.target, "message": text}
        if self.kind == "delete":
            return {"type": "delete", "target": self.target}
        return {"type": "reaction", "target": self.target, "emoji": self.emoji, "op": "add" if self.add else "remove"}

    def key(self, name: str) -> tuple[Any, ...] | None:
        """What identifies this change's event among the room's, for a reaction or delete (which
        carry no text to put a send time in); None for messages and edits."""
        if self.kind == "reaction":
            return ("reaction", name, self.target, self.emoji, "add" if self.add else "remove")
        if self.kind == "delete":
            return ("delete", name, self.target)
        return None


def event_key(frame: dict[str, Any]) -> tuple[Any, ...] | None:
    """``Change.key`` of the change a live reaction or delete frame reports."""
    kind = frame.get("type")
    if kind == "reaction":
        return ("reaction", frame.get("sender"), frame.get("target"), frame.get("emoji"), frame.get("op"))
    if kind == "delete":
        return ("delete", frame.get("by"), frame.get("target"))
    return None


def author(frame: dict[str, Any]) -> str | None:
    """Who made the change a live event frame reports."""
    return frame.get("by") if frame.get("type") == "delete" else frame.get("sender")


def is_answer(name: str, change: Change, frame: dict[str, Any]) -> bool:
    """Whether ``frame``, received by the sender ``name``, is the event of its ``change``."""
    if frame.get("type") != change.kind or author(frame) != name:
        return False
    if change.kind == "message":
        return frame.get("client_id") == change.client_id
    if change.kind == "edit":
        return frame.get("target") == change.target
    return event_key(frame) == change.key(name)


@dataclass
class Sender:
    """What one sender knows of its room from the events it received, and what it sends next."""

    name: str
    weights: dict[str, float]
    rng: random.Random
    recent: int = RECENT
    room: deque[int] = field(init=False)  # live messages of the room, newest last
    own: deque[int] = field(init=False)  # live messages of its own
    reactions: set[tuple[int, str]] = field(default_factory=set)  # (target, emoji) it has added
    sent: int = 0

    def __post_init__(self) -> None:
        self.room = deque(maxlen=self.recent)
        self.own = deque(maxlen=self.recent)

    def next_change(self) -> Change:
        """A change drawn from the mix; a message when there is nothing to react to, edit or delete yet."""
        kind = self.rng.choices(KINDS, weights=[self.weights[k] for k in KINDS])[0]
        pool = self.room if kind == "reaction" else self.own
        if kind != "message" and not pool:
            kind = "message"
        self.sent += 1
        if kind == "message":
            return Change("message", client_id=f"{self.name}-{self.sent}")
        target = self.rng.choice(pool)
        if kind == "reaction":
            emoji = self.rng.choice(EMOJI)
            return Change("reaction", target, emoji, add=(target, emoji) not in self.reactions)
        return Change(kind, target)

    def on_event(self, frame: dict[str, Any]) -> None:
        """Called for each live event of the room (the sender's own too)."""
        kind = frame.get("type")
        if kind == "message":
            self.room.append(frame["id"])
            if frame.get("sender") == self.name:
                self.own.append(frame["id"])
        elif kind == "delete":
            self.forget(frame["target"])
        elif kind == "reaction" and frame.get("sender") == self.name:
            mine = (frame["target"], frame["emoji"])
            if frame.get("op") == "add":
                self.reactions.add(mine)
            else:
                self.reactions.discard(mine)

    def forget(self, target: int) -> None:
        """Called when ``target`` is deleted, or the server says it is not there (``not_found``)."""
        for pool in (self.room, self.own):
            if target in pool:
                pool.remove(target)
        self.reactions = {r for r in self.reactions if r[0] != target}


def events_missed(*, joined_at: int, last: int, received: int) -> int:
    """Events one client is missing: the room's ids run consecutively from ``joined_at`` + 1 (its hello's
    ``last_id``) to ``last`` (the highest any client of the room got); it received ``received`` of them."""
    return max(0, last - joined_at - received)
