"""Hostile input: frames and handshakes an attacker would try, each with the closes the protocol
documents for it (docs/protocol.md). Pure: a seeded ``random.Random`` in, cases out.

Every frame may also be answered by close 1008 (the connection went past its budgets); that close
is counted, never "unexpected".
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass

MAX_FRAME_BYTES = 65536  # PARLEY_MAX_FRAME_BYTES' default: a bigger frame is closed with 1009
BUDGET_CLOSE = 1008


@dataclass(frozen=True)
class Frame:
    label: str
    data: str | bytes
    closes: frozenset[int] = frozenset()  # closes documented for this frame (besides 1008)


def _j(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)  # orjson refuses integers over 64 bits


def _text(rng: random.Random, n: int) -> str:
    """Random text: ASCII, control characters, NUL, Hangul, emoji, combining and zero-width marks."""
    pools = [
        (0x20, 0x7E),
        (0x00, 0x1F),
        (0xAC00, 0xD7A3),
        (0x1F600, 0x1F64F),
        (0x0300, 0x036F),
        (0x200B, 0x200F),
        (0x202A, 0x202E),
        (0xFFF0, 0xFFFF),
    ]
    out = []
    for _ in range(n):
        lo, hi = rng.choice(pools)
        out.append(chr(rng.randint(lo, hi)))
    return "".join(out)


def _deep(n: int, rng: random.Random) -> str:
    if rng.random() < 0.5:
        return "[" * n + "]" * n
    return '{"a":' * n + "1" + "}" * n


def _weird_value(rng: random.Random) -> object:
    return rng.choice(
        [
            None,
            True,
            -1,
            0,
            1.5,
            2**70,
            -(2**63),
            "",
            " ",
            "\x00",
            "9" * 400,
            [],
            [1, 2],
            {},
            {"$gt": ""},
            "💥" * 40,
            _text(rng, 20),
            "a" * 65,
            "a" * 5000,
        ]
    )


def hostile_frame(rng: random.Random) -> Frame:
    """One hostile frame for any door (the seed and tutorial doors read the same fields)."""
    makers: list[tuple[float, Callable[[], Frame]]] = [
        (6, lambda: Frame("random bytes", rng.randbytes(rng.randint(0, 300)))),
        (6, lambda: Frame("random text", _text(rng, rng.randint(0, 200)))),
        (6, lambda: Frame("truncated json", _j({"message": _text(rng, 10)})[: rng.randint(1, 12)])),
        (4, lambda: Frame("json not an object", _j(rng.choice([1, "x", None, [], [{"message": "hi"}], 1e308])))),
        (8, lambda: Frame("message of a wrong type", _j({"message": _weird_value(rng)}))),
        (8, lambda: Frame("client_id of a wrong type", _j({"message": "hi", "client_id": _weird_value(rng)}))),
        (6, lambda: Frame("sender of a wrong type", _j({"message": "hi", "sender": _weird_value(rng)}))),
        (6, lambda: Frame("type of a wrong type", _j({"type": _weird_value(rng), "message": "hi"}))),
        (
            6,
            lambda: Frame(
                "history with wrong fields",
                _j({"type": "history", "before": _weird_value(rng), "limit": _weird_value(rng)}),
            ),
        ),
        (4, lambda: Frame("unknown type", _j({"type": rng.choice(["nope", "HELLO", "admin", "", "message\x00"])}))),
        (
            6,
            lambda: Frame(
                "control characters and NUL",
                _j(
                    {
                        "message": _text(rng, 30),
                        "client_id": "id\x00" + _text(rng, 5),
                        "sender": "kim\x00" + _text(rng, 4),
                    }
                ),
            ),
        ),
        (4, lambda: Frame("NUL in client_id", _j({"message": "hi", "client_id": f"nul\x00{rng.randint(0, 10**9)}"}))),
        (4, lambda: Frame("NUL in sender", _j({"message": "hi", "sender": "ki\x00m"}))),
        (
            5,
            lambda: Frame(
                "emoji and marks",
                _j({"message": "😀" * rng.randint(1, 900) + "\u0301" * 50, "client_id": f"e{rng.random()}"}),
            ),
        ),
        (3, lambda: Frame("invisible only", _j({"message": "\u200b\u200c\u200d\u2060\ufeff"}))),
        (3, lambda: Frame("over the message limit", _j({"message": "x" * rng.randint(4001, 20000)}))),
        (2, lambda: Frame("deep json", _deep(rng.choice([100, 1000, 5000]), rng))),
        (
            1,
            lambda: Frame(
                "over the frame limit",
                _j({"message": "x" * (MAX_FRAME_BYTES + rng.randint(1, 5000))}),
                frozenset({1009}),
            ),
        ),
        (2, lambda: Frame("valid message", _j({"message": f"fuzz {rng.random()}", "client_id": f"f{rng.random()}"}))),
        (2, lambda: Frame("valid ping/typing/history", _j({"type": rng.choice(["ping", "typing", "history"])}))),
        (2, lambda: Frame("duplicate keys", '{"message":"a","message":{"x":1},"type":"message","type":7}')),
        (2, lambda: Frame("lone surrogate escape", '{"message":"\\ud800","client_id":"\\udfff"}')),
        (
            4,
            lambda: Frame(
                "change of a message (edit, delete, reaction, reply, read, thread) with any values",
                _j(
                    {
                        "type": rng.choice(["edit", "delete", "reaction", "read", "thread", "message"]),
                        "target": rng.choice([1, 2, 10**30, _weird_value(rng)]),
                        "message": rng.choice(["fixed", "", _weird_value(rng)]),
                        "emoji": rng.choice(["👍", "🇰🇷", "ab", "", _weird_value(rng)]),
                        "op": rng.choice(["add", "remove", _weird_value(rng)]),
                        "up_to": rng.choice([0, 5, -1, _weird_value(rng)]),
                        "reply_to": rng.choice([None, 1, 10**30, _weird_value(rng)]),
                    }
                ),
            ),
        ),
    ]
    weights = [w for w, _ in makers]
    return rng.choices([m for _, m in makers], weights=weights)[0]()


@dataclass(frozen=True)
class Handshake:
    label: str
    door: str
    room: str  # already percent-encoded where it needs to be
    query: str = ""


def hostile_handshakes(rng: random.Random, room: str) -> list[Handshake]:
    """Handshakes with a hostile URL on each door: long digits in ?after=, NUL in ?name=, bad rooms.

    Documented answers: the socket opens (and may then be closed with 4400 or 4403) or the
    handshake is refused with an HTTP 4xx."""
    cases = []
    queries = [
        ("after: 5000 digits", "?after=" + "9" * 5000),
        ("after: over MAX_ID", "?after=99999999999999999999"),
        ("after: negative", "?after=-1"),
        ("after: fraction", "?after=1.5"),
        ("after: NUL", "?after=%00"),
        ("after: superscript two", "?after=%C2%B2"),
        ("after: twice", "?after=1&after=x"),
        ("name: NUL", "?name=ki%00m"),
        ("name: control", "?name=%1B%5B31m"),
        ("name: 200 chars", "?name=" + "n" * 200),
        ("name: empty", "?name="),
        ("name: emoji", "?name=%F0%9F%98%80%F0%9F%98%80"),
        ("name: invisible", "?name=%E2%80%8B"),
        ("query: 8 KB", "?x=" + "a" * 8000),
        ("query: bad percent", "?name=%ZZ&after=%"),
    ]
    rooms = [
        ("room: emoji", "%F0%9F%98%80"),
        ("room: 65 chars", "r" * 65),
        ("room: dots", ".."),
        ("room: NUL", "a%00b"),
        ("room: slash", "a%2Fb"),
        ("room: 3000 chars", "r" * 3000),
        ("room: control", "a%07b"),
        ("room: Korean", "%EC%9E%90%EC%9C%A0"),
    ]
    for door in ("seed", "tutorial", "native"):
        for label, query in queries:
            cases.append(Handshake(label, door, room, query))
        for label, bad_room in rooms:
            cases.append(Handshake(label, door, bad_room))
    rng.shuffle(cases)
    return cases
