"""Namespaces at the WebSocket door (one process, channels.testing): who may join what, the policy
a connection goes by, and moderation reaching connected clients (mute, kick, ban, removal, policy
switch). The same rules through live servers, the pages and the API: tests/e2e/test_permissions.py."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.test import Client

from chat import access, moderation, namespaces
from chat.access import Caller
from chat.fanout import busevents
from chat.models import AuditEntry, Message, Namespace
from tests.chat.test_consumers import login
from tests.wsclient import read_history, recv, recv_until, send

pytestmark = pytest.mark.django_db(transaction=True)


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


@database_sync_to_async
def user_id(username: str) -> int:
    return get_user_model().objects.get(username=username).pk


@database_sync_to_async
def make_ns(owner: str, **fields) -> str:
    name = uid("ns")
    owner_id = get_user_model().objects.get(username=owner).pk
    caller = Caller(user_id=owner_id)
    nsa = namespaces.ns_create(caller, name, fields)
    for room in ("r", "a", "b"):  # public rooms, made by the owner: visitors may not create rooms
        namespaces.room_create(caller, nsa, room, private=False)
    return name


async def ns_access(username: str, ns: str) -> access.NsAccess:
    caller = Caller(user_id=await user_id(username))
    return await database_sync_to_async(access.access_namespace)(caller, ns)


async def as_owner(owner: str, ns: str) -> tuple[Caller, access.NsAccess]:
    return Caller(user_id=await user_id(owner)), await ns_access(owner, ns)


async def joined(connect, path: str, cookie=None):
    comm = await connect(path, headers=[cookie] if cookie else [])
    hello, _, _ = await read_history(comm)
    await recv_until(comm, "presence")
    return comm, hello


async def refused(connect, path: str, cookie=None) -> tuple[dict, int]:
    comm = await connect(path, headers=[cookie] if cookie else [])
    frame = await recv(comm)
    closed = await comm.receive_output(timeout=5)
    return frame, closed["code"]


async def closed_code(comm) -> int:
    while True:
        out = await comm.receive_output(timeout=5)
        if out["type"] == "websocket.close":
            return out["code"]


async def test_ws_ns_public_is_the_same_room_as_ws_rooms(connect):
    room = uid("room")
    a, hello = await joined(connect, f"/ws/ns/public/{room}/")
    assert hello["namespace"] == "public" and hello["room"] == room
    b, _ = await joined(connect, f"/ws/rooms/{room}/")
    await send(b, {"type": "message", "message": "hi"})
    frame = await recv_until(a, "message")
    assert frame["message"] == "hi"


async def test_hello_limits_show_the_namespaces_policy(connect):
    cookie = await login("owner1")
    ns = await make_ns("owner1", visibility="open", max_message_chars=10, rate_burst=3, history_on_join=2)
    comm, hello = await joined(connect, f"/ws/ns/{ns}/lobby/", cookie)
    limits = hello["limits"]
    assert hello["namespace"] == ns
    assert limits["max_message_chars"] == 10 and limits["rate_burst"] == 3 and limits["history_on_join"] == 2
    assert limits["visibility"] == "open" and limits["room_creation"] == "members"
    await send(comm, {"type": "message", "message": "x" * 11})
    assert (await recv_until(comm, "error"))["code"] == "too_large"
    for i in range(4):
        await send(comm, {"type": "message", "message": f"m{i}"})
    codes = []
    for _ in range(4):
        frame = await recv(comm)
        codes.append(frame.get("code") if frame["type"] == "error" else frame["type"])
    assert "rate_limited" in codes


async def test_a_policy_change_applies_to_joins_after_it(connect):
    cookie = await login("owner2")
    ns = await make_ns("owner2")
    _, before = await joined(connect, f"/ws/ns/{ns}/r/", cookie)
    caller, nsa = await as_owner("owner2", ns)
    await moderation.do_ns_update(caller, nsa, {"max_message_chars": 20})
    _, after = await joined(connect, f"/ws/ns/{ns}/r/", cookie)
    assert before["limits"]["max_message_chars"] == 4000 and after["limits"]["max_message_chars"] == 20


async def test_hidden_and_missing_get_the_same_refusal(connect):
    await login("owner3")
    outsider = await login("outsider3")
    ns = await make_ns("owner3", visibility="members")
    hidden = await refused(connect, f"/ws/ns/{ns}/anything/", outsider)
    missing = await refused(connect, f"/ws/ns/{uid('nope')}/anything/", outsider)
    assert hidden == missing
    assert hidden[0]["code"] == "forbidden" and hidden[1] == 4403
    guest = await refused(connect, f"/ws/ns/{ns}/anything/")
    assert guest == missing


async def test_private_room_members_only_and_creation_by_policy(connect):
    owner = await login("owner4")
    member = await login("member4")
    outsider = await login("outsider4")
    ns = await make_ns("owner4", room_creation="moderators")
    caller, nsa = await as_owner("owner4", ns)
    await database_sync_to_async(namespaces.member_set)(caller, nsa, "member4", "member")
    room = await database_sync_to_async(namespaces.room_create)(caller, nsa, "secret", private=True)
    # An open namespace: anyone sees it, but a member may not create rooms here, nor see the private one.
    assert (await refused(connect, f"/ws/ns/{ns}/new-room/", member))[1] == 4403
    assert (await refused(connect, f"/ws/ns/{ns}/secret/", member))[1] == 4403
    assert (await refused(connect, f"/ws/ns/{ns}/secret/", outsider))[1] == 4403
    await joined(connect, f"/ws/ns/{ns}/secret/", owner)
    grant = access.RoomAccess(ns=nsa, room=room)
    await database_sync_to_async(namespaces.room_member_add)(caller, grant, "member4")
    _, hello = await joined(connect, f"/ws/ns/{ns}/secret/", member)
    assert hello["room"] == "secret"
    await joined(connect, f"/ws/ns/{ns}/made-by-owner/", owner)  # owners create on first join


async def test_mute_refuses_messages_edits_and_reactions_with_until(connect):
    await login("owner5")
    victim = await login("victim5")
    ns = await make_ns("owner5")
    comm, _ = await joined(connect, f"/ws/ns/{ns}/r/", victim)
    await send(comm, {"type": "message", "message": "before"})
    first = await recv_until(comm, "message")
    caller, nsa = await as_owner("owner5", ns)
    await moderation.do_mute(caller, nsa, "victim5", seconds=60, reason="spam")
    for frame in (
        {"type": "message", "message": "after", "client_id": "c1"},
        {"type": "edit", "target": first["id"], "message": "changed"},
        {"type": "reaction", "target": first["id"], "emoji": "👍", "op": "add"},
    ):
        await send(comm, frame)
        error = await recv_until(comm, "error")
        assert error["code"] == "muted" and error["until"].endswith("Z")
    assert await database_sync_to_async(Message.objects.filter(body="after").exists)() is False
    await moderation.do_lift(caller, nsa, "mute", "victim5")
    await send(comm, {"type": "message", "message": "free again"})
    assert (await recv_until(comm, "message"))["message"] == "free again"
    # A mute until lifted has until null.
    await moderation.do_mute(caller, nsa, "victim5")
    await send(comm, {"type": "message", "message": "x"})
    error = await recv_until(comm, "error")
    assert error["code"] == "muted" and error["until"] is None


async def test_kick_closes_with_4410_public_rejoin_allowed_guests_by_name(connect):
    owner = await login("owner6")
    victim = await login("victim6")
    ns = await make_ns("owner6")
    comm, _ = await joined(connect, f"/ws/ns/{ns}/r/", victim)
    guest, _ = await joined(connect, f"/ws/ns/{ns}/r/?name=Trolly")
    watcher, _ = await joined(connect, f"/ws/ns/{ns}/r/", owner)
    caller, nsa = await as_owner("owner6", ns)
    room = await database_sync_to_async(access.access_room)(caller, nsa, "r")
    await moderation.do_kick(caller, room, username="victim6")
    assert await closed_code(comm) == 4410
    await moderation.do_kick(caller, room, guest="Trolly")
    assert await closed_code(guest) == 4410
    await send(watcher, {"type": "ping"})
    assert await recv_until(watcher, "pong")  # others stay
    await joined(connect, f"/ws/ns/{ns}/r/", victim)  # a public room: they may come back


async def test_ban_closes_everywhere_in_the_namespace_and_refuses_joins(connect):
    await login("owner7")
    victim = await login("victim7")
    ns = await make_ns("owner7")
    one, _ = await joined(connect, f"/ws/ns/{ns}/a/", victim)
    two, _ = await joined(connect, f"/ws/ns/{ns}/b/", victim)
    elsewhere, _ = await joined(connect, f"/ws/rooms/{uid('pub')}/", victim)
    caller, nsa = await as_owner("owner7", ns)
    await moderation.do_ban(caller, nsa, "victim7", reason="abuse")
    assert await closed_code(one) == 4410 and await closed_code(two) == 4410
    await send(elsewhere, {"type": "ping"})
    assert await recv_until(elsewhere, "pong")  # another namespace: untouched
    frame, code = await refused(connect, f"/ws/ns/{ns}/a/", victim)
    assert frame["code"] == "forbidden" and code == 4403
    await moderation.do_lift(caller, nsa, "ban", "victim7")
    await joined(connect, f"/ws/ns/{ns}/a/", victim)
    actions = await database_sync_to_async(
        lambda: list(AuditEntry.objects.filter(namespace__name=ns).values_list("action", flat=True))
    )()
    assert {"ban", "unban"} <= set(actions)


async def test_switching_to_members_closes_outsiders_not_members(connect):
    owner = await login("owner8")
    await login("member8")
    member = await login("member8b")
    outsider = await login("outsider8")
    ns = await make_ns("owner8")
    caller, nsa = await as_owner("owner8", ns)
    await database_sync_to_async(namespaces.member_set)(caller, nsa, "member8b", "member")
    inside, _ = await joined(connect, f"/ws/ns/{ns}/r/", member)
    out, _ = await joined(connect, f"/ws/ns/{ns}/r/", outsider)
    guest, _ = await joined(connect, f"/ws/ns/{ns}/r/?name=Visitor")
    own, _ = await joined(connect, f"/ws/ns/{ns}/r/", owner)
    await moderation.do_ns_update(caller, nsa, {"visibility": "members"})
    assert await closed_code(out) == 4410 and await closed_code(guest) == 4410
    for comm in (inside, own):
        await send(comm, {"type": "ping"})
        assert await recv_until(comm, "pong")
    assert (await refused(connect, f"/ws/ns/{ns}/r/", outsider))[1] == 4403


async def test_removing_a_member_of_a_private_room_kicks_them(connect):
    owner = await login("owner9")
    member = await login("member9")
    ns = await make_ns("owner9")
    caller, nsa = await as_owner("owner9", ns)
    room = await database_sync_to_async(namespaces.room_create)(caller, nsa, "inner", private=True)
    grant = access.RoomAccess(ns=nsa, room=room)
    await database_sync_to_async(namespaces.room_member_add)(caller, grant, "member9")
    comm, _ = await joined(connect, f"/ws/ns/{ns}/inner/", member)
    await joined(connect, f"/ws/ns/{ns}/inner/", owner)
    await moderation.do_room_member_remove(caller, grant, "member9")
    assert await closed_code(comm) == 4410
    assert (await refused(connect, f"/ws/ns/{ns}/inner/", member))[1] == 4403


async def test_a_moderators_delete_is_an_event_with_by_and_is_audited(connect):
    await login("owner10")
    mod = await login("mod10")
    author = await login("author10")
    ns = await make_ns("owner10")
    caller, nsa = await as_owner("owner10", ns)
    await database_sync_to_async(namespaces.member_set)(caller, nsa, "mod10", "moderator")
    writer, _ = await joined(connect, f"/ws/ns/{ns}/r/", author)
    await send(writer, {"type": "message", "message": "spam"})
    posted = await recv_until(writer, "message")
    moderator, _ = await joined(connect, f"/ws/ns/{ns}/r/", mod)
    await send(moderator, {"type": "delete", "target": posted["id"]})
    deleted = await recv_until(writer, "delete")
    assert deleted["by"] == "mod10" and deleted["target"] == posted["id"]
    entry = await database_sync_to_async(lambda: AuditEntry.objects.filter(namespace__name=ns, action="delete").get())()
    assert entry.actor == "mod10" and entry.target == f"message:{posted['id']}"
    # A plain member may not delete someone else's message.
    other = await login("other10")
    await database_sync_to_async(namespaces.member_set)(caller, nsa, "other10", "member")
    comm, _ = await joined(connect, f"/ws/ns/{ns}/r/", other)
    await send(writer, {"type": "message", "message": "mine"})
    mine = await recv_until(writer, "message")
    await send(comm, {"type": "delete", "target": mine["id"]})
    assert (await recv_until(comm, "error"))["code"] == "forbidden"


async def test_direct_messages(connect):
    ann = await login("ann11")
    ben = await login("ben11")
    await login("cat11")
    a, hello = await joined(connect, "/ws/dm/ben11/", ann)
    assert hello["namespace"] == access.DM_NAMESPACE
    b, _ = await joined(connect, "/ws/dm/ann11/", ben)
    await send(a, {"type": "message", "message": "psst"})
    assert (await recv_until(b, "message"))["message"] == "psst"
    guest = await refused(connect, "/ws/dm/ben11/")
    assert guest[1] == 4403
    nobody = await refused(connect, f"/ws/dm/{uid('nobody')}/", ann)
    assert nobody[1] == 4403
    # The DM room is no namespace anyone can address.
    cat = await login("cat11b")
    assert (await refused(connect, "/ws/ns/~dm/1-2/", cat))[1] == 4403
    dms = await database_sync_to_async(namespaces.dm_list)(Caller(user_id=await user_id("ben11")))
    assert [(d["username"], d["unread"]) for d in dms] == [("ann11", 1)]
    assert not await database_sync_to_async(Namespace.objects.filter(name="ann11").exists)()
    await asyncio.sleep(0)


@pytest.mark.parametrize(
    "event",
    [
        busevents.Removal(namespace="반", reason="kicked", user_id=7, room="방"),
        busevents.Removal(namespace="club", reason="kicked", guest="Trolly"),
        busevents.Removal(namespace="club", reason="removed", user_id=3, private_only=True),
        busevents.PolicyChanged(namespace="club", visibility="members"),
    ],
)
def test_control_events_round_trip(event):
    assert busevents.decode(busevents.encode(event)) == event


@pytest.mark.parametrize("payload", [b"c", b"c{}", b'c{"kind":"Nope"}', b'c{"kind":"Removal","x":1}', b"c[1]"])
def test_a_bad_control_event_is_a_value_error(payload):
    with pytest.raises(ValueError):
        busevents.decode(payload)


async def test_the_mentions_page_links_to_the_room_in_its_namespace(connect):
    await login("owner12")
    writer = await login("writer12")
    await login("named12")
    ns = await make_ns("owner12")
    caller, nsa = await as_owner("owner12", ns)
    await database_sync_to_async(namespaces.member_set)(caller, nsa, "named12", "member")
    comm, _ = await joined(connect, f"/ws/ns/{ns}/r/", writer)
    await send(comm, {"type": "message", "message": "hi @named12"})
    posted = await recv_until(comm, "message")

    def page() -> str:
        client = Client()
        client.force_login(get_user_model().objects.get(username="named12"))
        return client.get("/mentions/").content.decode()

    assert f'href="/ns/{ns}/r/#m{posted["id"]}"' in await database_sync_to_async(page)()
