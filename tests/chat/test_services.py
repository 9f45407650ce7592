"""chat.services: per-room consecutive ids, client_id dedupe, group commits, concurrent writers."""

from __future__ import annotations

import threading
import time

import orjson
import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from chat import services
from chat.models import Message, Room

pytestmark = pytest.mark.django_db(transaction=True)


def seqs(room: Room) -> list[int]:
    return list(Message.objects.filter(room=room).order_by("seq").values_list("seq", flat=True))


def test_room_is_created_once():
    a = services.room_get_or_create(address="자유게시판")
    b = services.room_get_or_create(address="자유게시판")
    assert a.pk == b.pk and a.last_id == 0
    assert Room.objects.count() == 1


def test_ids_start_at_one_and_are_consecutive_per_room():
    one = services.room_get_or_create(address="one")
    two = services.room_get_or_create(address="two")
    got = [services.message_send(room=r, sender="kim", body=f"m{i}").seq for i, r in enumerate([one] * 3)]
    assert got == [1, 2, 3]
    assert services.message_send(room=two, sender="kim", body="x").seq == 1
    assert services.message_send(room=one, sender="kim", body="y").seq == 4
    one.refresh_from_db()
    two.refresh_from_db()
    assert (one.last_id, two.last_id) == (4, 1)
    assert seqs(one) == [1, 2, 3, 4]


def test_stored_message_fields():
    room = services.room_get_or_create(address="r")
    before = room.last_activity
    stored = services.message_send(room=room, sender="kim", body="안녕", client_id="c1")
    assert stored.created
    m = Message.objects.get(room=room, seq=stored.seq)
    assert (m.room_id, m.seq, m.sender, m.body, m.client_id, m.user_id) == (room.pk, 1, "kim", "안녕", "c1", None)
    room.refresh_from_db()
    assert room.last_activity >= before and room.last_activity == m.created_at


def test_same_client_id_stores_nothing_new():
    room = services.room_get_or_create(address="r")
    first = services.message_send(room=room, sender="kim", body="hi", client_id="abc")
    again = services.message_send(room=room, sender="kim", body="hi (retry)", client_id="abc")
    assert first.created and not again.created
    assert again.seq == first.seq and again.text == first.text  # the stored event, as it was sent
    assert seqs(room) == [1]
    room.refresh_from_db()
    assert room.last_id == 1
    # The next message still gets the next id: nothing was used up by the retry.
    assert services.message_send(room=room, sender="kim", body="next").seq == 2


def test_client_id_is_per_room():
    one = services.room_get_or_create(address="one")
    two = services.room_get_or_create(address="two")
    assert services.message_send(room=one, sender="a", body="x", client_id="same").created
    assert services.message_send(room=two, sender="a", body="x", client_id="same").created


def test_group_commit_of_several_rooms_and_a_repeat():
    one = services.room_get_or_create(address="one")
    two = services.room_get_or_create(address="two")
    services.message_send(room=one, sender="a", body="old", client_id="old")
    drafts = [
        services.Post(room=one, sender="a", body="1"),
        services.Post(room=two, sender="b", body="2", client_id="k"),
        services.Post(room=one, sender="a", body="3", client_id="k"),
        services.Post(room=two, sender="b", body="4 (repeat of k)", client_id="k"),
        services.Post(room=one, sender="a", body="5 (repeat of old)", client_id="old"),
        services.Post(room=one, sender="a", body="6"),
    ]
    results = services.apply_changes(drafts)
    assert [(r.seq, r.created) for r in results] == [
        (2, True),
        (1, True),
        (3, True),
        (1, False),
        (1, False),
        (4, True),
    ]
    assert results[3].text == results[1].text
    assert orjson.loads(results[4].text)["message"] == "old"
    assert seqs(one) == [1, 2, 3, 4] and seqs(two) == [1]
    # Both counters moved in the same batch, each to its own room's last id.
    rooms = Room.objects.filter(pk__in=[one.pk, two.pk])
    assert {r.name: r.last_id for r in rooms} == {"one": 4, "two": 1}
    assert {r.last_activity for r in rooms} == {Message.objects.get(room=one, seq=2).created_at}


def test_a_batch_of_repeats_only_writes_nothing():
    room = services.room_get_or_create(address="r")
    services.message_send(room=room, sender="a", body="x", client_id="k")
    results = services.apply_changes([services.Post(room=room, sender="a", body="x", client_id="k")])
    assert not results[0].created
    assert seqs(room) == [1]


def test_a_guest_under_a_registered_name_is_refused_and_the_rest_of_the_batch_stored():
    from django.contrib.auth import get_user_model

    from chat.protocol import ErrorCode, ProtocolError

    user = get_user_model().objects.create_user("alice2", password="correct horse battery staple 42")
    room = services.room_get_or_create(address="r")
    results = services.apply_changes(
        [
            services.Post(room=room, sender="bob", body="1"),
            services.Post(room=room, sender="ALICE2", body="2", client_id="k"),  # a guest, in another case
            services.Post(room=room, sender="alice2", body="3", user_id=user.pk),  # the user herself
            services.Post(room=room, sender="al\u0456ce2", body="4"),  # Cyrillic i: a look-alike
            services.Post(room=room, sender="carol", body="5"),
        ]
    )
    refused = [isinstance(r, ProtocolError) and r.code == ErrorCode.FORBIDDEN for r in results]
    assert refused == [False, True, False, True, False]
    assert [r.seq for r in results if isinstance(r, services.Outcome)] == [1, 2, 3]
    assert list(Message.objects.filter(room=room).order_by("seq").values_list("body", flat=True)) == ["1", "3", "5"]
    with pytest.raises(ProtocolError):
        services.message_send(room=room, sender="Alice2", body="6")


def test_names_cost_one_query_per_batch_with_guests_and_none_without():
    from django.contrib.auth import get_user_model
    from django.test.utils import CaptureQueriesContext

    user = get_user_model().objects.create_user("dora", password="correct horse battery staple 42")
    room = services.room_get_or_create(address="r")

    def name_lookups(drafts: list[services.Draft]) -> int:
        with CaptureQueriesContext(connection) as captured:
            services.apply_changes(drafts)
        return sum("usernameskeleton" in q["sql"].lower() for q in captured.captured_queries)

    assert name_lookups([services.Post(room=room, sender="dora", body="x", user_id=user.pk)] * 3) == 0
    assert name_lookups([services.Post(room=room, sender=f"guest-{i}", body="x") for i in range(50)]) == 1


def _in_threads(count: int, target) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def run(index: int) -> None:
        try:
            start.wait(timeout=30)
            target(index)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
        assert not t.is_alive()
    return errors


def test_concurrent_senders_get_consecutive_ids():
    """Writers in threads, each with its own database connection (PostgreSQL in the scaled run)."""
    room = services.room_get_or_create(address="busy")
    other = services.room_get_or_create(address="quiet")
    threads, per_thread = 8, 25

    def send(index: int) -> None:
        for n in range(per_thread):
            target = other if n % 5 == 0 else room
            services.message_send(room=target, sender=f"s{index}", body=f"{index}-{n}")

    assert _in_threads(threads, send) == []
    on_other = threads * len(range(0, per_thread, 5))
    assert seqs(room) == list(range(1, threads * per_thread - on_other + 1))
    assert seqs(other) == list(range(1, on_other + 1))
    room.refresh_from_db()
    assert room.last_id == threads * per_thread - on_other
    # Each sender's messages kept their order.
    for index in range(threads):
        bodies = list(
            Message.objects.filter(room=room, sender=f"s{index}").order_by("seq").values_list("body", flat=True)
        )
        assert bodies == [f"{index}-{n}" for n in range(per_thread) if n % 5]


def test_concurrent_repeats_of_one_client_id_store_one_message():
    room = services.room_get_or_create(address="retry")
    results: list[services.Outcome] = []

    def send(index: int) -> None:
        for n in range(10):
            results.append(services.message_send(room=room, sender="a", body=f"{index}", client_id=f"k{n}"))

    assert _in_threads(8, send) == []
    assert seqs(room) == list(range(1, 11))
    assert sum(r.created for r in results) == 10
    by_key = {}
    for r in results:
        by_key.setdefault(orjson.loads(r.text)["client_id"], set()).add(r.seq)
    assert all(len(s) == 1 for s in by_key.values())


def test_vendor_is_the_configured_one():
    """The scaled run must exercise PostgreSQL's row locks, the embedded run SQLite's."""
    import os

    expected = "postgresql" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "sqlite"
    assert connection.vendor == expected


def test_a_new_message_is_made_with_each_column_in_its_place():
    """``services._new_message`` gives the model its columns by position (``from_db``): each value
    must land in its own field, with the defaults of a message just posted."""
    room = services.room_get_or_create(address="columns")
    now = timezone.now()
    post = services.Post(
        room=room, sender="kim", body="body", user_id=7, client_id="c9", session_key="sk", reply_to=3,
        mentions=("lee",), html="<p>body</p>", bot=True,
    )  # fmt: skip
    message = services._new_message(post, seq=11, attachments=[{"id": 5}], now=now)
    expected = {
        "id": None, "room_id": room.pk, "seq": 11, "sender": "kim", "user_id": 7, "session_key": "sk",
        "body": "body", "html": "<p>body</p>", "attachments": [{"id": 5}], "client_id": "c9", "created_at": now,
        "reply_to": 3, "mentions": ["lee"], "edited": False, "deleted": False, "reactions": {}, "replies": 0,
        "bot": True,
    }  # fmt: skip
    assert {f.attname: getattr(message, f.attname) for f in Message._meta.concrete_fields} == expected


def test_a_repeat_that_waited_for_the_lock_finds_what_its_first_send_stored():
    """The stored-``client_id`` read follows the rooms' lock: a repeat that waited for the
    transaction storing its first send (the same ``client_id``) finds that message when the lock is
    granted, and stores nothing. On PostgreSQL the reads go as one multi-statement query; each
    statement takes its own snapshot, so the one after the lock sees what committed meanwhile."""
    room = services.room_get_or_create(address="held")
    stored, release = threading.Event(), threading.Event()
    first: list[services.Outcome] = []
    repeat: list[services.Outcome] = []

    def hold() -> None:
        with transaction.atomic():
            first.append(services.message_send(room=room, sender="kim", body="one", client_id="k"))
            stored.set()
            assert release.wait(30)

    def send_again() -> None:
        repeat.append(services.message_send(room=room, sender="kim", body="one", client_id="k"))

    holder = _thread(hold)
    assert stored.wait(30)
    waiter = _thread(send_again)
    _until_waiting_for_a_lock()
    release.set()
    for t in (holder, waiter):
        t.join(timeout=30)
        assert not t.is_alive()
    assert (repeat[0].seq, repeat[0].created, repeat[0].text) == (first[0].seq, False, first[0].text)
    assert seqs(room) == [1]


def _thread(target) -> threading.Thread:  # type: ignore[no-untyped-def]
    def run() -> None:
        try:
            target()
        finally:
            connections.close_all()

    t = threading.Thread(target=run)
    t.start()
    return t


def _until_waiting_for_a_lock() -> None:
    """Until another connection waits for a row lock (PostgreSQL); a pause on SQLite, whose
    writers wait for the database's write lock where this cannot see them."""
    if connection.vendor != "postgresql":
        time.sleep(0.5)
        return
    deadline = time.monotonic() + 30
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.01)
    raise AssertionError("no connection waited for the lock")
