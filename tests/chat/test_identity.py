"""Nobody passes for somebody else: guest names against registered usernames by confusable
skeleton, at the door, on the guest-name form and at store time; name probes limited per address;
invisible-only messages refused. Through the whole ASGI stack (channels.testing) and Django's test
client, on the real database."""

from __future__ import annotations

import asyncio
import contextlib
import urllib.parse
import uuid

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from chat import groupcommit, identity, services
from chat.models import Message
from chat.protocol import ErrorCode, ProtocolError
from parley.asgi import application
from tests.accounts.test_skeleton import LOOK_ALIKES
from tests.wsclient import messages, read_history, recv, recv_until, send

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 10
# A zero-width space is not allowed in a display name at all (invalid_name): the rest are names.
NAMES = [kind for kind in LOOK_ALIKES if kind != "zero-width space"]
PASSWORD = "correct horse battery staple 42"


@pytest.fixture
def room() -> str:
    return f"names-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def connect():
    """Open communicators (optionally from a client address); each is disconnected at the end."""
    opened: list[WebsocketCommunicator] = []

    async def open_(path: str, *, address: str | None = None) -> WebsocketCommunicator:
        comm = WebsocketCommunicator(application, path)
        if address is not None:
            comm.scope["client"] = (address, 50000)  # the scope is read when the app first runs
        opened.append(comm)
        connected, _ = await comm.connect(timeout=TIMEOUT)
        assert connected
        return comm

    yield open_
    for comm in opened:
        with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError):
            await comm.disconnect(timeout=TIMEOUT)


def native_path(room: str, query: str = "") -> str:
    return f"/ws/rooms/{urllib.parse.quote(room)}/{query}"


async def joined(comm: WebsocketCommunicator) -> WebsocketCommunicator:
    await read_history(comm)
    await recv_until(comm, "presence")
    return comm


async def closed_with(comm: WebsocketCommunicator) -> int:
    while True:
        output = await comm.receive_output(TIMEOUT)
        if output["type"] == "websocket.close":
            return output.get("code", 1000)


@database_sync_to_async
def register(username: str) -> None:
    get_user_model().objects.create_user(username, password=PASSWORD)


@database_sync_to_async
def senders(room: str) -> list[str]:
    return list(Message.objects.filter(room__name=room).order_by("seq").values_list("sender", flat=True))


@database_sync_to_async
def bodies(room: str) -> list[str]:
    return list(Message.objects.filter(room__name=room).order_by("seq").values_list("body", flat=True))


def quoted(name: str) -> str:
    return urllib.parse.quote(name, safe="")


# --- At the door: ?name= ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", NAMES)
async def test_a_look_alike_name_is_refused_at_the_door(connect, room, kind):
    await register("rtowner")
    comm = await connect(native_path(room, f"?name={quoted(LOOK_ALIKES[kind])}"))
    frame = await recv(comm)
    assert frame["type"] == "error" and frame["code"] == "forbidden"
    assert await closed_with(comm) == 4403


async def test_a_name_unlike_any_registered_one_is_welcome(connect, room):
    await register("rtowner")
    comm = await connect(native_path(room, "?name=rtowners"))
    hello = await recv(comm)
    assert hello["you"] == {"name": "rtowners", "guest": True}


# --- In a message: the seed door's and the native door's sender ------------------------------------


@pytest.mark.parametrize("kind", NAMES)
async def test_a_look_alike_sender_is_refused_on_the_native_and_seed_doors(connect, room, kind):
    await register("rtowner")
    name = LOOK_ALIKES[kind]
    native = await joined(await connect(native_path(room, "?name=lee")))
    await send(native, {"message": "hi", "sender": name, "client_id": "c1"})
    error = await recv_until(native, "error")
    assert (error["code"], error["client_id"]) == ("forbidden", "c1")
    seed = await connect(f"/chat/{urllib.parse.quote(room)}")
    await send(seed, {"sender": name, "message": "as the owner"})
    await send(seed, {"sender": "lee", "message": "as myself"})
    (frame,) = await messages(seed, 1)
    assert (frame["sender"], frame["message"]) == ("lee", "as myself")
    assert await senders(room) == ["lee"]


# --- A name registered after the guest took it -----------------------------------------------------


async def test_a_guest_whose_name_is_registered_meanwhile_is_refused_on_the_next_send(connect, room):
    alice = await joined(await connect(native_path(room, "?name=alice2")))
    other = await joined(await connect(native_path(room, "?name=bob")))
    seed = await connect(f"/chat/{urllib.parse.quote(room)}")
    await send(alice, {"message": "before", "client_id": "a1"})
    assert (await messages(alice, 1))[0]["sender"] == "alice2"
    await register("ALICE2")  # a look-alike in another case
    await send(alice, {"message": "after", "client_id": "a2"})
    error = await recv_until(alice, "error")
    assert (error["code"], error["client_id"]) == ("forbidden", "a2")
    await send(alice, {"message": "claimed", "sender": "al1ce2", "client_id": "a3"})
    assert (await recv_until(alice, "error"))["client_id"] == "a3"
    await send(seed, {"sender": "alice2", "message": "seed"})  # ignored by the seed door
    await send(other, {"message": "bob goes on", "client_id": "b1"})
    assert [(f["sender"], f["message"]) for f in await messages(other, 2)] == [
        ("alice2", "before"),
        ("bob", "bob goes on"),
    ]
    # The retry of a message stored before the registration still gets its stored frame.
    assert (await messages(alice, 1))[0]["client_id"] == "b1"
    await send(alice, {"message": "before", "client_id": "a1"})
    assert [(f["id"], f["client_id"]) for f in await messages(alice, 1)] == [(1, "a1")]
    assert await senders(room) == ["alice2", "bob"]


async def test_in_one_batch_only_the_guest_under_a_registered_name_is_refused(room):
    """Several drafts in one group commit: the refused one gets forbidden, the others are stored."""
    await register("alice2")
    r = await database_sync_to_async(services.room_get_or_create)(address=room)
    writer = groupcommit.get_writer()
    drafts = [
        services.Post(room=r, sender="bob", body="1", client_id="b1"),
        services.Post(room=r, sender="alice2", body="2", client_id="a1"),
        services.Post(room=r, sender="carol", body="3", client_id="c1"),
        services.Post(room=r, sender="alice2", body="4", user_id=None, client_id="a2"),
    ]
    results = await asyncio.gather(*(writer.submit(d) for d in drafts), return_exceptions=True)
    assert [r.created if isinstance(r, services.Outcome) else r.code for r in results] == [
        True,
        ErrorCode.FORBIDDEN,
        True,
        ErrorCode.FORBIDDEN,
    ]
    assert await senders(room) == ["bob", "carol"]


async def test_a_logged_in_user_is_never_refused_for_their_own_name(connect, room):
    @database_sync_to_async
    def session_cookie() -> bytes:
        user = get_user_model().objects.create_user("alice2", password=PASSWORD)
        client = Client()
        client.force_login(user)
        return f"sessionid={client.cookies['sessionid'].value}".encode()

    cookie = await session_cookie()
    comm = WebsocketCommunicator(application, native_path(room), headers=[(b"cookie", cookie)])
    assert (await comm.connect(timeout=TIMEOUT))[0]
    try:
        await joined(comm)
        await send(comm, {"message": "mine", "client_id": "m1"})
        assert (await messages(comm, 1))[0]["sender"] == "alice2"
    finally:
        await comm.disconnect(timeout=TIMEOUT)


# --- Probing names ---------------------------------------------------------------------------------


async def test_name_probes_from_one_address_are_limited(connect, room, settings):
    settings.PARLEY_NAME_CHECKS_PER_MINUTE = 3
    await register("taken")
    # Free names cost nothing...
    for i in range(5):
        comm = await connect(native_path(room, f"?name=free-{i}"), address="203.0.113.5")
        assert (await recv(comm))["you"]["name"] == f"free-{i}"
    # ...each "that name is registered" costs one...
    for _ in range(3):
        comm = await connect(native_path(room, "?name=TAKEN"), address="203.0.113.5")
        assert (await recv(comm))["code"] == "forbidden"
        assert await closed_with(comm) == 4403
    # ...and then every name check from that address is refused, taken or not: nothing to learn.
    for probe in ("taken", "another-free-name"):
        comm = await connect(native_path(room, f"?name={probe}"), address="203.0.113.5")
        frame = await recv(comm)
        assert frame["code"] == "rate_limited", frame
        assert await closed_with(comm) == 1013
    # Another address is not affected.
    comm = await connect(native_path(room, "?name=taken"), address="203.0.113.6")
    assert (await recv(comm))["code"] == "forbidden"


def test_name_probes_on_the_guest_name_form_are_limited(settings):
    settings.PARLEY_NAME_CHECKS_PER_MINUTE = 2
    get_user_model().objects.create_user("taken", password=PASSWORD)
    client = Client(REMOTE_ADDR="198.51.100.7")
    url = reverse("guest_name", args=["lobby"])
    for _ in range(2):
        assert client.post(url, {"name": "Taken"}).status_code == 400
    response = client.post(url, {"name": "free"})
    assert response.status_code == 429
    assert "Wait a minute" in response.content.decode()
    korean = client.post(url, {"name": "free"}, HTTP_ACCEPT_LANGUAGE="ko")
    assert korean.status_code == 429 and "1분 뒤에" in korean.content.decode()
    assert Client(REMOTE_ADDR="198.51.100.8").post(url, {"name": "free"}).status_code == 302


def test_the_bucket_refills(settings):
    settings.PARLEY_NAME_CHECKS_PER_MINUTE = 2
    now = [0.0]
    probes = identity.NameProbes(clock=lambda: now[0])
    probes.charge("a")
    probes.charge("a")
    assert probes.exhausted("a") and not probes.exhausted("b")
    now[0] += 30  # half a minute: one answer back
    assert not probes.exhausted("a")
    probes.charge("a")
    assert probes.exhausted("a")
    settings.PARLEY_NAME_CHECKS_PER_MINUTE = 0
    assert not probes.exhausted("a")


# --- The guest-name form ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", NAMES)
def test_a_look_alike_is_refused_on_the_guest_name_form(kind):
    get_user_model().objects.create_user("rtowner", password=PASSWORD)
    client = Client()
    response = client.post(reverse("guest_name", args=["lobby"]), {"name": LOOK_ALIKES[kind]})
    assert response.status_code == 400
    assert "registered user" in response.content.decode()
    assert identity.GUEST_NAME_SESSION_KEY not in client.session


def test_guest_name_check_raises_forbidden_for_look_alikes():
    get_user_model().objects.create_user("rtowner", password=PASSWORD)
    with pytest.raises(ProtocolError) as caught:
        identity.guest_name_check(LOOK_ALIKES["fullwidth"])
    assert caught.value.code == ErrorCode.FORBIDDEN


# --- Invisible messages ----------------------------------------------------------------------------

INVISIBLE = [
    "\u200b",
    "\u200c\u200d",
    "\u2060",
    "\ufeff",
    " \u200b\n\u200b\t",
    "\u00ad\u061c\u200e\u200f\u202a\u202e\u2066",  # other format characters (Cf)
    "\U000e0001\U000e0041",  # tags
    "\u3164\u115f",  # Hangul fillers
    "\u200b" * 3999,
]


@pytest.mark.parametrize("text", INVISIBLE)
async def test_an_invisible_message_is_empty_on_the_native_door(connect, room, text):
    comm = await joined(await connect(native_path(room, "?name=lee")))
    await send(comm, {"message": text, "client_id": "inv"})
    error = await recv_until(comm, "error")
    assert error["code"] == "empty_message"  # no client_id: that of an invalid frame is not trusted
    await send(comm, {"message": "\u200bvisible\u200b"})
    assert (await messages(comm, 1))[0]["message"] == "\u200bvisible\u200b"


@pytest.mark.parametrize("door", ["/chat/{}", "/ws/chat/{}/"])
async def test_an_invisible_message_is_not_stored_by_the_seed_and_tutorial_doors(connect, room, door):
    comm = await connect(door.format(urllib.parse.quote(room)))
    await send(comm, {"sender": "lee", "message": "\u200b\u2060\ufeff"})
    await send(comm, {"sender": "lee", "message": "real"})
    (frame,) = await messages(comm, 1)
    assert frame["message"] == "real"
    assert await bodies(room) == ["real"]
