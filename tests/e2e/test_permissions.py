"""Who may do what in a namespace, as a matrix against one live server: role x action x room kind
x namespace visibility, each cell's expected answer computed from the rule table below (written
from issue 11's contract, not from chat/access.py), checked through the WebSocket, the core door
(chat.namespaces / chat.moderation, the calls behind the API: ``conftest.Core``), the API and the
pages (once they are there).

Answers: ``ok``; ``forbidden`` (visible, but the role may not: 403, WebSocket error ``forbidden``);
``hidden`` (the caller may not see it: 404, WebSocket ``forbidden`` + 4403, the same answer as for
something that does not exist).
"""

from __future__ import annotations

import urllib.parse
import uuid
from dataclasses import dataclass

import pytest

from tests.api.client import request
from tests.wsclient import close_code, connect, recv, send

# The rules are the same on every backend: the matrix runs once, on SQLite (test-embedded).
pytestmark = pytest.mark.embedded_only

# --- The rule table ------------------------------------------------------------------------------

ROLES = ("guest", "outsider", "member", "roommember", "moderator", "owner", "staff")
# guest: anonymous; outsider: logged in, no role in the namespace; member: a namespace member;
# roommember: a namespace member added to the private rooms; staff: is_staff, no role anywhere.
MEMBER_OR_MORE = {"member", "roommember", "moderator", "owner", "staff"}
MODERATORS = {"moderator", "owner", "staff"}  # staff moderate everywhere (but DMs)
OWNERS = {"owner", "staff"}
PRIVATE_ROOM_READERS = {"roommember", "moderator", "owner", "staff"}  # its members, and whoever moderates it

KINDS = ("public", "private")
VISIBILITIES = ("open", "members")


def sees_namespace(role: str, visibility: str) -> bool:
    return visibility == "open" or role in MEMBER_OR_MORE


def sees_room(role: str, visibility: str, kind: str) -> bool:
    return sees_namespace(role, visibility) and (kind == "public" or role in PRIVATE_ROOM_READERS)


def needs(allowed: set[str], role: str, visible: bool) -> str:
    if not visible:
        return "hidden"
    return "ok" if role in allowed else "forbidden"


def expected(action: str, role: str, visibility: str, kind: str = "public") -> str:
    """What ``role`` gets for ``action`` in a namespace of ``visibility`` (a room of ``kind``). The
    namespaces allow guests and let members create rooms."""
    ns = sees_namespace(role, visibility)
    room = sees_room(role, visibility, kind)
    rules = {
        "see_ns": "ok" if ns else "hidden",
        "see_room": "ok" if room else "hidden",
        "join": "ok" if room else "hidden",
        "post": "ok" if room else "hidden",
        "delete_other": needs(MODERATORS, role, room),
        "create_room": needs(MEMBER_OR_MORE, role, ns),
        # The role is checked before the room is looked up (the room is the target: a refusal
        # says nothing of whether it exists); moderators see every room.
        "kick": needs(MODERATORS, role, ns),
        "mute": needs(MODERATORS, role, ns),
        "ban": needs(MODERATORS, role, ns),
        "audit": needs(MODERATORS, role, ns),
        "add_member": needs(MODERATORS, role, ns),
        "change_role": needs(OWNERS, role, ns),
        "members": "ok" if ns else "hidden",
        "settings": needs(OWNERS, role, ns),
    }
    return rules[action]


def page_expected(action: str, role: str, visibility: str, kind: str = "public") -> int:
    """The status of a page: a moderators' or owners' page is a 403 to a member without the role
    and a 404 to anyone else (it is the namespace's, not the public's)."""
    want = expected(action, role, visibility, kind)
    if want == "forbidden" and role not in MEMBER_OR_MORE:
        want = "hidden"
    return {"ok": 200, "forbidden": 403, "hidden": 404}[want]


def api_expected(action: str, role: str, visibility: str, kind: str = "public") -> str:
    """The API wants credentials first: a guest gets 401 for everything."""
    return "unauthenticated" if role == "guest" else expected(action, role, visibility, kind)


# --- The world: users, namespaces and rooms, made once ---------------------------------------------


@dataclass
class World:
    base: str
    ws: str
    tag: str
    users: dict[str, str]  # role -> username (no guest)
    tokens: dict[str, str]  # role -> API token
    sessions: dict[str, str]  # role -> a logged-in session's key (the pages)
    namespaces: dict[str, str]  # visibility -> namespace name
    victim: str  # a plain member of every namespace: the target of kicks, mutes and bans
    pawn: str  # a member whose role is changed and changed back

    def room(self, kind: str) -> str:
        return "pub" if kind == "public" else "priv"

    def headers(self, role: str) -> dict[str, str]:
        return {} if role == "guest" else {"Authorization": f"Bearer {self.tokens[role]}"}

    def actor(self, role: str) -> str | None:
        return None if role == "guest" else self.users[role]


@pytest.fixture(scope="module")
def world(live, core) -> World:
    tag = uuid.uuid4().hex[:6]
    users = {role: f"{role[:5]}{tag}" for role in ROLES if role != "guest"}
    victim, pawn = f"victim{tag}", f"pawn{tag}"
    tokens, sessions = {}, {}
    for role, name in [*users.items(), ("victim", victim), ("pawn", pawn)]:
        made = core.ok("user", None, username=name, staff=role == "staff")
        tokens[role], sessions[role] = made["token"], made["session"]
    namespaces = {}
    for visibility in VISIBILITIES:
        ns = f"{visibility}-{tag}"
        namespaces[visibility] = ns
        owner = users["owner"]
        core.ok("ns_create", owner, name=ns, fields={"visibility": visibility})
        for name in (users["member"], users["roommember"]):
            core.ok("member_set", owner, ns=ns, username=name, role="member")
        core.ok("member_set", owner, ns=ns, username=users["moderator"], role="moderator")
        core.ok("member_set", owner, ns=ns, username=victim, role="member")
        core.ok("member_set", owner, ns=ns, username=pawn, role="member")
        core.ok("room_create", owner, ns=ns, room="pub", private=False)
        core.ok("room_create", owner, ns=ns, room="priv", private=True)
        core.ok("room_member_add", owner, ns=ns, room="priv", username=users["roommember"])
        core.ok("room_member_add", owner, ns=ns, room="priv", username=victim)
    return World(live.http, live.ws, tag, users, tokens, sessions, namespaces, victim, pawn)


def ws_url(world: World, ns: str, room: str) -> str:
    q = urllib.parse.quote
    return f"{world.ws}/ws/ns/{q(ns, safe='')}/{q(room, safe='')}/"


async def open_room(world: World, role: str, ns: str, room: str):
    """Join as ``role``: (the connection, its hello) or (None, the refusal frame and close code)."""
    ws = await connect(ws_url(world, ns, room), additional_headers=world.headers(role))
    first = await recv(ws)
    if first["type"] == "hello":
        while (await recv(ws))["type"] != "presence":
            pass
        return ws, first
    code = await close_code(ws)
    return None, (first, code)


async def refusal_for_nothing(world: World) -> tuple[dict, int]:
    """What a join of a room that does not exist, in a namespace that does not exist, gets."""
    ws, refusal = await open_room(world, "outsider", f"nothing-{uuid.uuid4().hex[:6]}", "nothing")
    assert ws is None
    return refusal


def ws_outcome(ws, refusal) -> str:
    if ws is not None:
        return "ok"
    frame, code = refusal
    assert frame["type"] == "error" and frame["code"] == "forbidden" and code == 4403, refusal
    return "hidden"  # the WebSocket cannot tell "may not" from "not there": one answer


async def until_answer(ws, client_id: str | None = None, kinds: tuple[str, ...] = ("message",)) -> dict:
    """The next frame that answers what this client just sent: an error or an event of ``kinds``."""
    while True:
        frame = await recv(ws)
        if frame["type"] == "error":
            return frame
        if frame["type"] in kinds and (client_id is None or frame.get("client_id") == client_id):
            return frame


# --- WebSocket cells ----------------------------------------------------------------------------------

CELLS = [(r, v, k) for v in VISIBILITIES for k in KINDS for r in ROLES]
CELL_IDS = [f"{r}-{v}ns-{k}room" for r, v, k in CELLS]


@pytest.mark.parametrize(("role", "visibility", "kind"), CELLS, ids=CELL_IDS)
async def test_join_and_post(world, role, visibility, kind):
    ns, room = world.namespaces[visibility], world.room(kind)
    want = expected("join", role, visibility, kind)
    ws, refusal = await open_room(world, role, ns, room)
    assert ws_outcome(ws, refusal) == want
    if ws is None:
        assert refusal == await refusal_for_nothing(world), "a hidden room answers as one that does not exist"
        assert expected("post", role, visibility, kind) == "hidden"
        return
    assert refusal["namespace"] == ns and refusal["room"] == room
    client_id = uuid.uuid4().hex
    await send(ws, {"type": "message", "message": f"hello from {role}", "client_id": client_id})
    answer = await until_answer(ws, client_id)
    assert answer["type"] == "message", answer
    assert expected("post", role, visibility, kind) == "ok"
    await ws.close()


@pytest.mark.parametrize(("role", "visibility", "kind"), CELLS, ids=CELL_IDS)
async def test_delete_someone_elses_message(world, role, visibility, kind):
    ns, room = world.namespaces[visibility], world.room(kind)
    author, _ = await open_room(world, "victim", ns, room)  # a member of the namespace and the room
    assert author is not None
    client_id = uuid.uuid4().hex
    await send(author, {"type": "message", "message": "delete me if you may", "client_id": client_id})
    target = (await until_answer(author, client_id))["id"]
    want = expected("delete_other", role, visibility, kind)
    ws, refusal = await open_room(world, role, ns, room)
    if ws is None:
        assert ws_outcome(ws, refusal) == want == "hidden"
    else:
        await send(ws, {"type": "delete", "target": target})
        answer = await until_answer(ws, kinds=("delete",))
        got = "ok" if answer["type"] == "delete" else answer["code"]
        assert got == want, answer
        if got == "ok":
            assert answer["target"] == target and answer["by"] == world.users[role]
        await ws.close()
    await author.close()


VIS_CELLS = [(r, v) for v in VISIBILITIES for r in ROLES]
VIS_IDS = [f"{r}-{v}ns" for r, v in VIS_CELLS]


@pytest.mark.parametrize(("role", "visibility"), VIS_CELLS, ids=VIS_IDS)
async def test_create_a_room_by_joining_it(world, role, visibility):
    """A join of a room that does not exist creates it, for whoever may create rooms there."""
    ns = world.namespaces[visibility]
    want = expected("create_room", role, visibility)
    ws, refusal = await open_room(world, role, ns, f"new-{uuid.uuid4().hex[:8]}")
    if want == "ok":
        assert ws is not None, refusal
        assert refusal["last_id"] == 0
        await ws.close()
    else:  # forbidden or hidden: no room, and the same refusal as for nothing at all
        assert ws is None
        assert refusal == await refusal_for_nothing(world)


# --- Core door cells (the calls behind the API) -----------------------------------------------------


def core_outcome(answer: dict) -> str:
    if "ok" in answer:
        return "ok"
    return {"forbidden": "forbidden", "not_found": "hidden"}.get(answer["error"], answer["error"])


@pytest.mark.parametrize(("role", "visibility"), VIS_CELLS, ids=VIS_IDS)
@pytest.mark.parametrize(
    "action", ["see_ns", "members", "create_room", "mute", "ban", "audit", "add_member", "change_role"]
)
def test_namespace_actions(world, core, action, role, visibility):
    ns, actor = world.namespaces[visibility], world.actor(role)
    want = expected(action, role, visibility)
    if action == "see_ns":
        answer = core("see", actor, ns=ns)
    elif action == "members":
        answer = core("members", actor, ns=ns)
    elif action == "create_room":
        answer = core("room_create", actor, ns=ns, room=f"made-{uuid.uuid4().hex[:8]}", private=False)
    elif action == "mute":
        answer = core("mute", actor, ns=ns, username=world.victim, seconds=60)
        if "ok" in answer:
            core.ok("unmute", world.users["owner"], ns=ns, username=world.victim)
    elif action == "ban":
        answer = core("ban", actor, ns=ns, username=world.victim, seconds=60)
        if "ok" in answer:
            core.ok("unban", world.users["owner"], ns=ns, username=world.victim)
    elif action == "audit":
        answer = core("audit", actor, ns=ns)
    elif action == "add_member":
        newcomer = f"new{uuid.uuid4().hex[:8]}"
        core.ok("user", None, username=newcomer, credentials=False)
        answer = core("member_set", actor, ns=ns, username=newcomer, role="member")
    else:
        answer = core("member_set", actor, ns=ns, username=world.pawn, role="moderator")
        if "ok" in answer:
            core.ok("member_set", world.users["owner"], ns=ns, username=world.pawn, role="member")
    assert core_outcome(answer) == want, answer
    if want == "hidden":  # the same answer as for a namespace that does not exist (but its name)
        nothing = f"nothing-{world.tag}"
        assert answer["detail"].replace(ns, nothing) == core("see", actor, ns=nothing)["detail"]


@pytest.mark.parametrize(("role", "visibility", "kind"), CELLS, ids=CELL_IDS)
@pytest.mark.parametrize("action", ["see_room", "kick"])
def test_room_actions(world, core, action, role, visibility, kind):
    ns, room, actor = world.namespaces[visibility], world.room(kind), world.actor(role)
    if action == "see_room":
        answer = core("see", actor, ns=ns, room=room)
    else:
        answer = core("kick", actor, ns=ns, room=room, username=world.victim)
        if "ok" in answer and kind == "private":  # a kick from a private room removes its member
            core.ok("room_member_add", world.users["owner"], ns=ns, room=room, username=world.victim)
    assert core_outcome(answer) == expected(action, role, visibility, kind), answer


@pytest.mark.parametrize("action", ["kick", "mute", "ban", "change_role", "remove_member"])
def test_the_role_is_checked_before_the_target(world, core, action):
    """A member without the role gets 403 whether the target exists or not: a refusal tells
    nothing about who exists."""
    ns, member = world.namespaces["open"], world.users["member"]
    for target in (world.victim, f"nobody{world.tag}"):
        if action == "kick":
            answer = core("kick", member, ns=ns, room="pub", username=target)
        elif action == "mute":
            answer = core("mute", member, ns=ns, username=target)
        elif action == "ban":
            answer = core("ban", member, ns=ns, username=target)
        elif action == "change_role":
            answer = core("member_set", member, ns=ns, username=target, role="moderator")
        else:
            answer = core("member_remove", member, ns=ns, username=target)
        assert answer.get("error") == "forbidden", (target, answer)


def test_a_member_may_not_remove_a_private_room_member_named_or_not(world, core):
    ns, member = world.namespaces["open"], world.users["member"]
    for target in (world.victim, f"nobody{world.tag}"):
        answer = core("room_member_remove", world.users["roommember"], ns=ns, room="priv", username=target)
        assert answer.get("error") == "forbidden", (target, answer)
    del member


# --- Policy: room creation by moderators only, guests not allowed -------------------------------------


@pytest.mark.parametrize("role", ROLES)
async def test_room_creation_moderators_only_and_no_guests(world, core, role):
    ns = f"strict-{world.tag}"
    if core("see", world.users["owner"], ns=ns).get("error"):
        owner = world.users["owner"]
        core.ok("ns_create", owner, name=ns, fields={"room_creation": "moderators", "allow_guests": False})
        core.ok("member_set", owner, ns=ns, username=world.users["member"], role="member")
        core.ok("member_set", owner, ns=ns, username=world.users["moderator"], role="moderator")
        core.ok("room_create", owner, ns=ns, room="pub", private=False)
    want_create = needs(MODERATORS, role, True)
    answer = core("room_create", world.actor(role), ns=ns, room=f"r{uuid.uuid4().hex[:8]}", private=False)
    assert core_outcome(answer) == want_create, answer
    ws, refusal = await open_room(world, role, ns, f"r{uuid.uuid4().hex[:8]}")
    assert (ws is not None) == (want_create == "ok"), refusal
    if ws is not None:
        await ws.close()
    # Joining the existing public room: anyone logged in (the namespace is open), no guest.
    ws, refusal = await open_room(world, role, ns, "pub")
    if role == "guest":
        assert ws is None and refusal[0]["code"] == "forbidden" and refusal[1] == 4403
    else:
        assert ws is not None, refusal
        await ws.close()


# --- Direct messages: staff do not moderate them, and third parties do not see them --------------------


async def test_direct_messages_are_the_two_users_own(world):
    a, b = world.users["member"], world.users["moderator"]
    q = urllib.parse.quote
    ws = await connect(f"{world.ws}/ws/dm/{q(b)}/", additional_headers=world.headers("member"))
    hello = await recv(ws)
    assert hello["type"] == "hello", hello
    client_id = uuid.uuid4().hex
    await send(ws, {"type": "message", "message": "just us", "client_id": client_id})
    message = await until_answer(ws, client_id)
    assert message["type"] == "message"
    # Staff may not delete in a DM (they moderate everywhere but there).
    staff = await connect(f"{world.ws}/ws/dm/{q(a)}/", additional_headers=world.headers("staff"))
    assert (await recv(staff))["type"] == "hello"  # staff's own DM with a, another room
    await staff.close()
    # A guest has no DMs.
    guest = await connect(f"{world.ws}/ws/dm/{q(b)}/")
    frame = await recv(guest)
    assert frame["type"] == "error" and frame["code"] == "forbidden"
    assert await close_code(guest) == 4403
    # The DM namespace is no namespace anyone can address.
    for role in ("staff", "outsider"):
        ws2, refusal = await open_room(world, role, "~dm", "1-2")
        assert ws2 is None and refusal[1] in (4400, 4403), refusal
    await ws.close()


# --- API cells --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live(module_farm):
    """One server without a write rate limit (the matrix makes many writes per user)."""
    return module_farm.start(PARLEY_RATE_PER_SEC="0")


def api_outcome(answer) -> str:
    if answer.status in (200, 201, 204):
        return "ok"
    return {401: "unauthenticated", 403: "forbidden", 404: "hidden"}.get(answer.status, f"{answer.status}")


def api(world: World, role: str, method: str, path: str, body=None):
    token = None if role == "guest" else world.tokens[role]
    return request(world.base, method, urllib.parse.quote(path, safe="/"), body, token=token)


NS_API_ACTIONS = ["see_ns", "members", "create_room", "mute", "ban", "audit", "add_member", "change_role", "settings"]


@pytest.mark.parametrize(("role", "visibility"), VIS_CELLS, ids=VIS_IDS)
@pytest.mark.parametrize("action", NS_API_ACTIONS)
def test_namespace_actions_through_the_api(world, core, action, role, visibility):
    ns = world.namespaces[visibility]
    base = f"/api/v1/ns/{ns}"
    owner = "owner"
    if action == "see_ns":
        answer = api(world, role, "GET", base)
    elif action == "members":
        answer = api(world, role, "GET", f"{base}/members")
    elif action == "create_room":
        answer = api(world, role, "POST", f"{base}/rooms", {"name": f"api-{uuid.uuid4().hex[:8]}"})
    elif action in ("mute", "ban"):
        kind = f"{action}s"
        answer = api(world, role, "POST", f"{base}/{kind}", {"username": world.victim, "seconds": 60})
        if answer.status == 201:
            assert api(world, owner, "DELETE", f"{base}/{kind}/{world.victim}").status == 204
    elif action == "audit":
        answer = api(world, role, "GET", f"{base}/audit")
    elif action == "add_member":
        newcomer = f"new{uuid.uuid4().hex[:8]}"
        core.ok("user", None, username=newcomer, credentials=False)
        answer = api(world, role, "POST", f"{base}/members", {"username": newcomer})
    elif action == "change_role":
        answer = api(world, role, "POST", f"{base}/members", {"username": world.pawn, "role": "moderator"})
        if answer.status == 200:
            back = api(world, owner, "POST", f"{base}/members", {"username": world.pawn, "role": "member"})
            assert back.status == 200, back.text
    else:  # settings: a policy change that changes nothing
        answer = api(world, role, "PATCH", base, {"room_creation": "members"})
    assert api_outcome(answer) == api_expected(action, role, visibility), answer.text
    if answer.status == 404:  # as for a namespace that does not exist, but the name
        nothing = f"nothing{world.tag}"
        again = api(world, role, "GET", f"/api/v1/ns/{nothing}")
        assert again.status == 404 and again.text.replace(nothing, ns) == answer.text


@pytest.mark.parametrize(("role", "visibility", "kind"), CELLS, ids=CELL_IDS)
@pytest.mark.parametrize("action", ["see_room", "post", "delete_other", "kick"])
def test_room_actions_through_the_api(world, action, role, visibility, kind):
    ns, room = world.namespaces[visibility], world.room(kind)
    base = f"/api/v1/ns/{ns}/rooms/{room}"
    if action == "see_room":
        answer = api(world, role, "GET", f"{base}/messages")
    elif action == "post":
        answer = api(world, role, "POST", f"{base}/messages", {"message": f"api post by {role}"})
    elif action == "delete_other":
        mine = api(world, "victim", "POST", f"{base}/messages", {"message": "delete me if you may"})
        assert mine.status == 201, mine.text
        answer = api(world, role, "DELETE", f"{base}/messages/{mine.json['id']}")
    else:
        answer = api(world, role, "POST", f"{base}/kick", {"username": world.victim})
        if answer.status == 200 and kind == "private":  # a kick from a private room removes its member
            back = api(world, "owner", "POST", f"{base}/members", {"username": world.victim})
            assert back.status in (200, 201), back.text
    assert api_outcome(answer) == api_expected(action, role, visibility, kind), answer.text


# --- Page cells -------------------------------------------------------------------------------------


def page(world: World, role: str, path: str):
    headers = {} if role == "guest" else {"Cookie": f"sessionid={world.sessions[role]}"}
    return request(world.base, "GET", urllib.parse.quote(path, safe="/"), headers=headers)


@pytest.mark.parametrize(("role", "visibility"), VIS_CELLS, ids=VIS_IDS)
@pytest.mark.parametrize(("action", "suffix"), [("see_ns", ""), ("audit", "audit/"), ("settings", "settings/")])
def test_namespace_pages(world, action, suffix, role, visibility):
    ns = world.namespaces[visibility]
    answer = page(world, role, f"/ns/{ns}/{suffix}")
    assert answer.status == page_expected(action, role, visibility), (answer.status, answer.text[:300])
    if answer.status == 404:  # anonymous visitors too: no login redirect; the same page as for nothing
        nothing = page(world, role, f"/ns/nothing{world.tag}/{suffix}")
        assert nothing.status == 404 and masked_page(nothing.text) == masked_page(answer.text)


@pytest.mark.parametrize(("role", "visibility", "kind"), CELLS, ids=CELL_IDS)
def test_room_pages(world, role, visibility, kind):
    ns, room = world.namespaces[visibility], world.room(kind)
    answer = page(world, role, f"/ns/{ns}/{room}/")
    assert answer.status == page_expected("see_room", role, visibility, kind), answer.status
    if answer.status == 404 and expected("create_room", role, visibility) != "ok":
        # As a room that does not exist (to whoever may make rooms, a missing one is a room to make,
        # and a hidden one's name is taken: the WebSocket has the same difference).
        nothing = page(world, role, f"/ns/{ns}/nothing{world.tag}/")
        assert nothing.status == 404 and masked_page(nothing.text) == masked_page(answer.text)


def masked_page(text: str) -> str:
    import re

    return re.sub(r'(nonce|value)="[^"]*"', r'\1="*"', text)
