"""Mutes, kicks, bans and a policy switch across two server processes (PostgreSQL + Redis): the
victim is connected to process B, the moderator acts through process A's API; whatever process a
connection is on, it is closed (4410) within 2 s, and a muted account's changes are refused at once
(error ``muted`` with ``until``) with nothing stored.

These start their own servers on PostgreSQL + Redis, so they run once (in the embedded run), as
the other multi-process tests do.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import urllib.parse
import uuid
from dataclasses import dataclass

import pytest
import websockets.exceptions

from tests.api.client import request
from tests.e2e.conftest import Core
from tests.wsclient import close_code, connect, recv, send

pytestmark = pytest.mark.embedded_only  # starts its own PostgreSQL + Redis servers: run once

REMOVED = 4410
WITHIN = 2.0  # seconds from the moderator's answer to the close, on every process


@dataclass
class Two:
    a: object
    b: object
    core: Core
    tokens: dict[str, str]
    tag: str

    def bearer(self, name: str | None) -> dict[str, str]:
        return {} if name is None else {"Authorization": f"Bearer {self.tokens[name]}"}

    def api(self, method: str, path: str, body=None, *, as_: str, server=None):
        return request((server or self.a).http, method, path, body, token=self.tokens[as_])

    def user(self, prefix: str) -> str:
        name = f"{prefix}{uuid.uuid4().hex[:8]}"
        made = self.core.ok("user", None, username=name)
        self.tokens[name] = made["token"]
        return name

    def namespace(self, owner: str, **policy) -> str:
        ns = f"ns-{uuid.uuid4().hex[:8]}"
        answer = self.api("POST", "/api/v1/ns", {"name": ns, **policy}, as_=owner)
        assert answer.status == 201, answer.text
        for room in ("hall", "lobby"):  # public rooms (outsiders may join them, not make them)
            made = self.api("POST", f"/api/v1/ns/{ns}/rooms", {"name": room}, as_=owner)
            assert made.status == 201, made.text
        return ns


@pytest.fixture(scope="module")
def two(tmp_path_factory):
    from tests.servers import ServerFarm

    farm = ServerFarm(tmp=tmp_path_factory.mktemp("mod"), scaled=True)
    a, b = farm.start(PARLEY_RATE_PER_SEC="0"), farm.start(PARLEY_RATE_PER_SEC="0")
    core = Core(farm)
    yield Two(a, b, core, {}, uuid.uuid4().hex[:6])
    core.close()
    farm.close()


def url(server, ns: str, room: str, query: str = "") -> str:
    q = urllib.parse.quote
    return f"{server.ws}/ws/ns/{q(ns, safe='')}/{q(room, safe='')}/{query}"


async def joined(two: Two, server, ns: str, room: str, who: str | None, query: str = ""):
    ws = await connect(url(server, ns, room, query), additional_headers=two.bearer(who))
    hello = await recv(ws)
    assert hello["type"] == "hello", hello
    while (await recv(ws))["type"] != "presence":
        pass
    return ws


async def refused(two: Two, server, ns: str, room: str, who: str | None) -> None:
    """The join gets ``forbidden`` and close 4403, nothing else."""
    ws = await connect(url(server, ns, room), additional_headers=two.bearer(who))
    frame = await recv(ws)
    assert frame["type"] == "error" and frame["code"] == "forbidden", frame
    assert await close_code(ws) == 4403


async def closed_removed(ws, since: float) -> float:
    """Wait for the close (4410); the seconds it took from ``since``."""
    code = await close_code(ws, within=WITHIN + 1)
    took = time.monotonic() - since
    assert code == REMOVED, code
    assert took <= WITHIN, took
    return took


async def still_open(ws) -> None:
    await send(ws, {"type": "ping"})
    while (await recv(ws))["type"] != "pong":
        pass


async def answer_to(ws, client_id: str | None = None, kinds=("message",)) -> dict:
    while True:
        frame = await recv(ws)
        if frame["type"] == "error" or (
            frame["type"] in kinds and (client_id is None or frame.get("client_id") == client_id)
        ):
            return frame


async def post(ws, text: str) -> dict:
    client_id = uuid.uuid4().hex
    await send(ws, {"type": "message", "message": text, "client_id": client_id})
    return await answer_to(ws, client_id)


# --- Mutes ---------------------------------------------------------------------------------------


async def test_a_mute_refuses_messages_edits_and_reactions_on_every_process_and_stores_nothing(two):
    owner, mod, victim, other = (two.user(p) for p in ("own", "mod", "vic", "oth"))
    ns = two.namespace(owner)
    assert two.api("POST", f"/api/v1/ns/{ns}/members", {"username": mod, "role": "moderator"}, as_=owner).status == 201
    on_b = await joined(two, two.b, ns, "hall", victim)
    observer = await joined(two, two.a, ns, "hall", other)
    mine = await post(on_b, "before the mute")
    assert mine["type"] == "message"
    last = mine["id"]

    answer = two.api("POST", f"/api/v1/ns/{ns}/mutes", {"username": victim, "seconds": 600}, as_=mod)
    assert answer.status == 201, answer.text
    # At once, on the other process, with no reconnect: message, edit and reaction are refused.
    frames = [
        {"type": "message", "message": "muted?", "client_id": "m1"},
        {"type": "edit", "target": mine["id"], "message": "changed"},
        {"type": "reaction", "target": mine["id"], "emoji": "👍", "op": "add"},
    ]
    for frame in frames:
        await send(on_b, frame)
        refusal = await answer_to(on_b, frame.get("client_id"), kinds=("message", "edit", "reaction"))
        assert refusal["type"] == "error" and refusal["code"] == "muted", refusal
        until = dt.datetime.fromisoformat(refusal["until"].replace("Z", "+00:00"))
        assert 590 <= (until - dt.datetime.now(dt.UTC)).total_seconds() <= 610, refusal
    # A new connection (on A this time) is muted too.
    on_a = await joined(two, two.a, ns, "hall", victim)
    assert (await post(on_a, "from A"))["code"] == "muted"
    # The API (on the other process) refuses the same way: 403 muted, with until.
    posted = two.api("POST", f"/api/v1/ns/{ns}/rooms/hall/messages", {"message": "via http"}, as_=victim)
    assert posted.status == 403 and posted.code == "muted", posted.text
    assert posted.json["error"]["until"] is not None, posted.text
    # Nothing was stored: the next message anyone posts takes the next id.
    nxt = await post(observer, "still here")
    assert nxt["type"] == "message" and nxt["id"] == last + 1, nxt
    # Direct messages are not the namespace's: the muted account chats there.
    dm = await connect(f"{two.b.ws}/ws/dm/{other}/", additional_headers=two.bearer(victim))
    assert (await recv(dm))["type"] == "hello"
    assert (await post(dm, "a DM while muted"))["type"] == "message"
    # A mute until lifted says so (until null); lifting it lets them post again, at once.
    assert two.api("POST", f"/api/v1/ns/{ns}/mutes", {"username": victim}, as_=mod).status == 201
    refusal = await post(on_b, "muted for good?")
    assert refusal["code"] == "muted" and refusal["until"] is None, refusal
    assert two.api("DELETE", f"/api/v1/ns/{ns}/mutes/{victim}", as_=mod).status == 204
    assert (await post(on_b, "free again"))["type"] == "message"
    for ws in (on_a, on_b, observer, dm):
        await ws.close()


async def test_a_member_may_not_mute(two):
    owner, member, victim = (two.user(p) for p in ("own", "mem", "vic"))
    ns = two.namespace(owner)
    assert two.api("POST", f"/api/v1/ns/{ns}/members", {"username": member}, as_=owner).status == 201
    for target in (victim, f"nobody{two.tag}"):
        answer = two.api("POST", f"/api/v1/ns/{ns}/mutes", {"username": target}, as_=member)
        assert answer.status == 403, answer.text


# --- Kicks ---------------------------------------------------------------------------------------


async def test_a_kick_closes_every_connection_to_the_room_on_every_process(two):
    owner, victim, other = (two.user(p) for p in ("own", "vic", "oth"))
    ns = two.namespace(owner)
    on_b = [await joined(two, two.b, ns, "hall", victim) for _ in range(2)]
    on_a = await joined(two, two.a, ns, "hall", victim)
    elsewhere = await joined(two, two.b, ns, "lobby", victim)  # another room: stays
    observer = await joined(two, two.b, ns, "hall", other)
    answer = two.api("POST", f"/api/v1/ns/{ns}/rooms/hall/kick", {"username": victim}, as_=owner)
    assert answer.status == 200, answer.text
    since = time.monotonic()
    await asyncio.gather(*(closed_removed(ws, since) for ws in [*on_b, on_a]))
    await still_open(elsewhere)
    await still_open(observer)
    # A public room: they may come back.
    back = await joined(two, two.b, ns, "hall", victim)
    assert (await post(back, "back"))["type"] == "message"
    for ws in (back, elsewhere, observer):
        await ws.close()


async def test_a_kick_from_a_private_room_keeps_them_out(two):
    owner, victim = two.user("own"), two.user("vic")
    ns = two.namespace(owner)
    assert two.api("POST", f"/api/v1/ns/{ns}/rooms", {"name": "den", "private": True}, as_=owner).status == 201
    answer = two.api("POST", f"/api/v1/ns/{ns}/rooms/den/members", {"username": victim}, as_=owner)
    assert answer.status in (200, 201), answer.text
    on_b = await joined(two, two.b, ns, "den", victim)
    answer = two.api("POST", f"/api/v1/ns/{ns}/rooms/den/kick", {"username": victim}, as_=owner)
    assert answer.status == 200, answer.text
    await closed_removed(on_b, time.monotonic())
    await refused(two, two.b, ns, "den", victim)
    await refused(two, two.a, ns, "den", victim)


async def test_a_guest_is_kicked_by_name(two):
    owner = two.user("own")
    ns = two.namespace(owner)
    guest_name = f"g{uuid.uuid4().hex[:6]}"
    guest = await joined(two, two.b, ns, "hall", None, f"?name={guest_name}")
    bystander = await joined(two, two.b, ns, "hall", None, "?name=bystander")
    answer = two.api("POST", f"/api/v1/ns/{ns}/rooms/hall/kick", {"guest": guest_name}, as_=owner)
    assert answer.status == 200, answer.text
    await closed_removed(guest, time.monotonic())
    await still_open(bystander)
    again = await joined(two, two.b, ns, "hall", None, f"?name={guest_name}")  # a public room: back in
    for ws in (again, bystander):
        await ws.close()


# --- Bans ----------------------------------------------------------------------------------------


async def test_a_ban_closes_the_namespace_and_keeps_them_out_until_lifted(two):
    owner, mod, victim, other = (two.user(p) for p in ("own", "mod", "vic", "oth"))
    ns = two.namespace(owner)
    other_ns = two.namespace(owner)
    assert two.api("POST", f"/api/v1/ns/{ns}/members", {"username": mod, "role": "moderator"}, as_=owner).status == 201
    assert two.api("POST", f"/api/v1/ns/{ns}/members", {"username": victim}, as_=owner).status == 201
    in_ns = [
        await joined(two, two.b, ns, "hall", victim),
        await joined(two, two.b, ns, "lobby", victim),
        await joined(two, two.a, ns, "hall", victim),
    ]
    outside = await joined(two, two.b, other_ns, "hall", victim)
    dm = await connect(f"{two.b.ws}/ws/dm/{other}/", additional_headers=two.bearer(victim))
    assert (await recv(dm))["type"] == "hello"
    observer = await joined(two, two.b, ns, "hall", other)

    answer = two.api("POST", f"/api/v1/ns/{ns}/bans", {"username": victim, "reason": "spam"}, as_=mod)
    assert answer.status == 201, answer.text
    since = time.monotonic()
    await asyncio.gather(*(closed_removed(ws, since) for ws in in_ns))
    for ws in (outside, dm, observer):
        await still_open(ws)
    # Kept out: every join in the namespace (on both processes, a new room too), and its API.
    for server in (two.a, two.b):
        await refused(two, server, ns, "hall", victim)
        await refused(two, server, ns, f"new-{uuid.uuid4().hex[:6]}", victim)
        for method, path, body in [
            ("GET", f"/api/v1/ns/{ns}", None),
            ("GET", f"/api/v1/ns/{ns}/rooms/hall/messages", None),
            ("POST", f"/api/v1/ns/{ns}/rooms/hall/messages", {"message": "let me in"}),
        ]:
            got = two.api(method, path, body, as_=victim, server=server)
            assert got.status == 403, (method, path, got.status, got.text)
    # Lifted: in again.
    assert two.api("DELETE", f"/api/v1/ns/{ns}/bans/{victim}", as_=mod).status == 204
    back = await joined(two, two.b, ns, "hall", victim)
    assert (await post(back, "back"))["type"] == "message"
    assert two.api("GET", f"/api/v1/ns/{ns}", as_=victim).status == 200
    for ws in (back, outside, dm, observer):
        await ws.close()


async def test_a_timed_ban_ends_by_itself(two):
    owner, victim = two.user("own"), two.user("vic")
    ns = two.namespace(owner)
    on_b = await joined(two, two.b, ns, "hall", victim)
    answer = two.api("POST", f"/api/v1/ns/{ns}/bans", {"username": victim, "seconds": 2}, as_=owner)
    assert answer.status == 201, answer.text
    assert answer.json["until"] is not None
    await closed_removed(on_b, time.monotonic())
    await refused(two, two.b, ns, "hall", victim)
    deadline = time.monotonic() + 10
    while True:
        ws = await connect(url(two.b, ns, "hall"), additional_headers=two.bearer(victim))
        first = await recv(ws)
        if first["type"] == "hello":
            await ws.close()
            break
        await close_code(ws)
        assert time.monotonic() < deadline, "the ban did not end"
        await asyncio.sleep(0.2)


# --- Policy --------------------------------------------------------------------------------------


async def test_a_switch_to_members_closes_outsiders_on_every_process(two):
    owner, member, outsider = (two.user(p) for p in ("own", "mem", "out"))
    ns = two.namespace(owner)
    assert two.api("POST", f"/api/v1/ns/{ns}/members", {"username": member}, as_=owner).status == 201
    outsiders = [
        await joined(two, two.b, ns, "hall", outsider),
        await joined(two, two.a, ns, "hall", outsider),
        await joined(two, two.b, ns, "hall", None, "?name=visitor"),
    ]
    insiders = [await joined(two, two.b, ns, "hall", member), await joined(two, two.b, ns, "hall", owner)]
    answer = two.api("PATCH", f"/api/v1/ns/{ns}", {"visibility": "members"}, as_=owner)
    assert answer.status == 200, answer.text
    since = time.monotonic()
    await asyncio.gather(*(closed_removed(ws, since) for ws in outsiders))
    for ws in insiders:
        await still_open(ws)
    await refused(two, two.a, ns, "hall", outsider)
    await refused(two, two.b, ns, "hall", None)
    assert two.api("GET", f"/api/v1/ns/{ns}", as_=outsider).status == 404
    for ws in insiders:
        await ws.close()


_ = websockets.exceptions


async def test_a_moderator_made_member_is_closed_out_of_private_rooms_on_every_process(two):
    """Moderators see every private room, members only theirs: a demotion closes the connections to
    the others (4410), on every process (through chat.moderation.do_member_set: the core door)."""
    owner, mod = two.user("own"), two.user("mod")
    ns = two.namespace(owner)
    assert two.api("POST", f"/api/v1/ns/{ns}/members", {"username": mod, "role": "moderator"}, as_=owner).status == 201
    for room in ("den", "mine"):
        assert two.api("POST", f"/api/v1/ns/{ns}/rooms", {"name": room, "private": True}, as_=owner).status == 201
    assert two.api("POST", f"/api/v1/ns/{ns}/rooms/mine/members", {"username": mod}, as_=owner).status in (200, 201)
    seen_as_moderator = [await joined(two, two.b, ns, "den", mod), await joined(two, two.a, ns, "den", mod)]
    own_room = await joined(two, two.b, ns, "mine", mod)
    public = await joined(two, two.b, ns, "hall", mod)
    two.core.ok("member_set_live", owner, ns=ns, username=mod, role="member")
    since = time.monotonic()
    await asyncio.gather(*(closed_removed(ws, since) for ws in seen_as_moderator))
    await still_open(own_room)
    await still_open(public)
    await refused(two, two.b, ns, "den", mod)
    for ws in (own_room, public):
        await ws.close()
