"""A reference client for issue 9's room stream: fold frames into the room's current state.

``fold(state, frame)`` applies one frame a native client receives (a live ``message``, ``edit``,
``delete`` or ``reaction`` event, a resume's events, or a current-state message from a join's or a
page's ``history``) to ``state``, a dict ``{id: message state}``. A message state is what
``current(history_message)`` keeps of a current-state message: sender, message, edited, deleted,
reactions, replies, reply_to, mentions. So a client that folded every frame it got has the state
that ``state_of(fresh join's history)`` gives, and the two compare with ``==``.

The semantics are docs/protocol.md's (issue 9): an edit sets the text and ``edited``; a delete
empties the text and the reactions and keeps the rest (replies too); a message posted with
``reply_to`` counts in its parent's ``replies``; a reaction ``add`` appends the name to the emoji's
list, ``remove`` takes it out, and an emoji nobody has any more disappears.

The fold is strict: a frame that cannot follow what the client has (an event on an unknown or
deleted message, a reaction added twice or removed when absent, an id seen before) raises
``Inconsistent``, since the server promises exactly once and in order, and says which.
"""

from __future__ import annotations

import copy
from typing import Any

EVENT_KINDS = ("message", "edit", "delete", "reaction")

# The fields of a current-state message that a client's fold must reproduce (ts and client_id
# never change, so they are left out of the comparison).
STATE_FIELDS = ("sender", "message", "edited", "deleted", "reactions", "replies", "reply_to", "mentions")

State = dict[int, dict[str, Any]]


class Inconsistent(AssertionError):
    """A frame that cannot follow the state it is folded into."""


def current(message: dict[str, Any]) -> dict[str, Any]:
    """A current-state message (from history or a thread) as a fold keeps it."""
    return {field: copy.deepcopy(message[field]) for field in STATE_FIELDS}


def state_of(messages: list[dict[str, Any]]) -> State:
    """The state a fresh join shows: its history's current-state messages, by id."""
    return {m["id"]: current(m) for m in messages}


def fold(state: State, frame: dict[str, Any]) -> State:
    """Apply one frame to ``state`` (changed in place, and returned). A ``history`` message in its
    current state (it has ``edited``) replaces what the client had of it; a live or resumed
    ``message`` event is new (and counts in its parent's replies); ``edit``, ``delete`` and
    ``reaction`` change their target. Other frame types are ignored."""
    kind = frame.get("type", "message")
    if kind == "message" and "edited" in frame:
        state[frame["id"]] = current(frame)
    elif kind == "message":
        if frame["id"] in state:
            raise Inconsistent(f"message {frame['id']} arrived twice: {frame}")
        state[frame["id"]] = {
            "sender": frame["sender"],
            "message": frame["message"],
            "edited": False,
            "deleted": False,
            "reactions": {},
            "replies": 0,
            "reply_to": frame.get("reply_to"),
            "mentions": list(frame.get("mentions", [])),
        }
        if frame.get("reply_to") is not None:
            _live(state, frame["reply_to"], frame)["replies"] += 1
    elif kind == "edit":
        target = _live(state, frame["target"], frame)
        target["message"] = frame["message"]
        target["edited"] = True
    elif kind == "delete":
        target = _live(state, frame["target"], frame)
        target["message"] = ""
        target["deleted"] = True
        target["reactions"] = {}
    elif kind == "reaction":
        _react(_live(state, frame["target"], frame)["reactions"], frame)
    return state


def fold_all(state: State, frames: list[dict[str, Any]]) -> State:
    for frame in frames:
        fold(state, frame)
    return state


def _live(state: State, target: int, frame: dict[str, Any]) -> dict[str, Any]:
    message = state.get(target)
    if message is None:
        raise Inconsistent(f"{frame['type']} {frame['id']} names message {target}, which this client does not have")
    if message["deleted"]:
        raise Inconsistent(f"{frame['type']} {frame['id']} names message {target}, which is deleted: {frame}")
    return message


def _react(reactions: dict[str, list[str]], frame: dict[str, Any]) -> None:
    emoji, sender = frame["emoji"], frame["sender"]
    names = reactions.get(emoji, [])
    if frame["op"] == "add":
        if sender in names:
            raise Inconsistent(f"reaction {frame['id']} adds {emoji} by {sender}, who has it already: {reactions}")
        reactions[emoji] = [*names, sender]
        return
    if frame["op"] != "remove" or sender not in names:
        raise Inconsistent(f"reaction {frame['id']} removes {emoji} by {sender}, who has it not: {reactions}")
    rest = [n for n in names if n != sender]
    if rest:
        reactions[emoji] = rest
    else:
        del reactions[emoji]
