"""chat.store through services.apply_changes: the reads of a batch and its insert in one statement
(PostgreSQL), the same reads and a raw insert per table (SQLite). Each test
checks what the batch stored, on both backends."""

from __future__ import annotations

import datetime
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chat import services
from chat.access import Caller
from chat.models import Event, Mention, Message, Namespace, Room, Sanction
from chat.protocol import ErrorCode, ProtocolError
from search import query, selectors
from uploads.models import Upload

pytestmark = pytest.mark.django_db(transaction=True)


def found(user_id: int, text: str) -> list[tuple[str, int]]:
    """The messages a search finds: (room, id)."""
    page = selectors.search(Caller(user_id=user_id), query.parse(text), before=None, limit=50)
    return sorted((r["room"], r["id"]) for r in page["results"])


def test_a_batch_across_rooms_gets_consecutive_ids_counters_events_and_search_rows(django_user_model):
    user = django_user_model.objects.create_user("kim", password="x" * 20)
    rooms = [services.room_get_or_create(address=f"room{i}") for i in range(3)]
    services.message_send(room=rooms[1], sender="guest", body="before")
    changes: list[services.Change] = [
        services.Post(room=rooms[i % 3], sender="kim", body=f"zebra {i}", user_id=user.pk, client_id=f"c{i}")
        for i in range(7)
    ]
    results = services.apply_changes(changes)
    assert [r.seq for r in results if isinstance(r, services.Outcome)] == [1, 2, 1, 2, 3, 2, 3]
    for room, last in zip(rooms, (3, 3, 2), strict=True):
        room.refresh_from_db()
        assert room.last_id == last
        assert list(Event.objects.filter(room=room).order_by("seq").values_list("seq", flat=True)) == list(
            range(1, last + 1)
        )
    stored = Message.objects.get(room=rooms[0], seq=2)
    assert (stored.body, stored.client_id, stored.user_id, stored.attachments, stored.mentions) == (
        "zebra 3",
        "c3",
        user.pk,
        [],
        [],
    )
    event = Event.objects.get(room=rooms[0], seq=2)
    assert json.loads(event.frame)["message"] == "zebra 3" and event.frame == results[3].text  # type: ignore[union-attr]
    assert stored.created_at == rooms[0].last_activity
    zebras = [("room0", 1), ("room0", 2), ("room0", 3), ("room1", 2), ("room1", 3), ("room2", 1), ("room2", 2)]
    assert found(user.pk, "zebra") == zebras


def test_a_repeated_client_id_in_one_batch_and_across_batches_stores_once():
    room = services.room_get_or_create(address="r")
    other = services.room_get_or_create(address="other")
    first = services.apply_changes(
        [
            services.Post(room=room, sender="kim", body="one", client_id="a"),
            services.Post(room=room, sender="kim", body="one again", client_id="a"),
            services.Post(room=other, sender="kim", body="same id, other room", client_id="a"),
        ]
    )
    assert [(r.seq, r.created) for r in first] == [(1, True), (1, False), (1, True)]  # type: ignore[union-attr]
    assert first[1].text == first[0].text  # type: ignore[union-attr]
    again = services.apply_changes(
        [
            services.Post(room=room, sender="kim", body="new", client_id="b"),
            services.Post(room=room, sender="kim", body="one, a third time", client_id="a"),
        ]
    )
    assert [(r.seq, r.created) for r in again] == [(2, True), (1, False)]  # type: ignore[union-attr]
    assert again[1].text == first[0].text  # type: ignore[union-attr]
    assert list(Message.objects.filter(room=room).order_by("seq").values_list("body", flat=True)) == ["one", "new"]
    # Each (room, client_id) pair is looked up as a pair: "b" is stored in room, not in other.
    third = services.apply_changes(
        [
            services.Post(room=other, sender="kim", body="b, other room", client_id="b"),
            services.Post(room=room, sender="kim", body="b again", client_id="b"),
        ]
    )
    assert [(r.seq, r.created) for r in third] == [(2, True), (2, False)]  # type: ignore[union-attr]


def test_a_muted_user_is_refused_and_the_rest_of_the_batch_is_stored(django_user_model):
    muted = django_user_model.objects.create_user("quiet", password="x" * 20)
    free = django_user_model.objects.create_user("loud", password="x" * 20)
    done = django_user_model.objects.create_user("was", password="x" * 20)
    space = Namespace.objects.create(name="space")
    room = Room.objects.create(namespace=space, name="r")
    elsewhere = services.room_get_or_create(address="elsewhere")
    until = timezone.now() + datetime.timedelta(hours=1)
    Sanction.objects.create(namespace=space, user=muted, kind=Sanction.Kind.MUTE, until=until, by="mod")
    Sanction.objects.create(
        namespace=space, user=done, kind=Sanction.Kind.MUTE, until=timezone.now() - datetime.timedelta(1), by="mod"
    )
    results = services.apply_changes(
        [
            services.Post(room=room, sender="quiet", body="x", user_id=muted.pk),
            services.Post(room=room, sender="loud", body="y", user_id=free.pk),
            services.Post(room=elsewhere, sender="quiet", body="z", user_id=muted.pk),  # another namespace
            services.Post(room=room, sender="was", body="w", user_id=done.pk),  # the mute has ended
        ]
    )
    assert isinstance(results[0], ProtocolError) and results[0].code == ErrorCode.MUTED
    assert results[0].until
    assert [r.seq for r in results[1:]] == [1, 1, 2]  # type: ignore[union-attr]


def test_a_guest_under_a_registered_name_is_refused_in_a_mixed_batch(django_user_model):
    user = django_user_model.objects.create_user("dora", password="x" * 20)
    room = services.room_get_or_create(address="r")
    results = services.apply_changes(
        [
            services.Post(room=room, sender="guest", body="1", client_id="g"),
            services.Post(room=room, sender="DORA", body="2"),
            services.Post(room=room, sender="dora", body="3", user_id=user.pk),
        ]
    )
    assert isinstance(results[1], ProtocolError) and results[1].code == ErrorCode.FORBIDDEN
    assert [r.seq for r in (results[0], results[2])] == [1, 2]  # type: ignore[union-attr]


def test_changes_to_new_messages_in_the_same_batch_are_stored_and_indexed_as_they_end(django_user_model):
    user = django_user_model.objects.create_user("kim", password="x" * 20)
    mentioned = django_user_model.objects.create_user("lee", password="x" * 20)
    room = services.room_get_or_create(address="r")
    results = services.apply_changes(
        [
            services.Post(room=room, sender="kim", body="walrus kept", user_id=user.pk),
            services.Post(room=room, sender="kim", body="walrus gone", user_id=user.pk),
            services.Edit(room=room, target=1, body="walrus edited narwhal", sender="kim", user_id=user.pk),
            services.Delete(room=room, target=2, by="kim", user_id=user.pk),
            services.React(room=room, target=1, emoji="👍", add=True, sender="kim", user_id=user.pk),
            services.Post(
                room=room,
                sender="kim",
                body="@lee walrus",
                user_id=user.pk,
                reply_to=1,
                mentions=("lee",),
                notify=(mentioned.pk,),
            ),
        ]
    )
    assert [r.seq for r in results] == [1, 2, 3, 4, 5, 6]  # type: ignore[union-attr]
    kept = Message.objects.get(room=room, seq=1)
    assert (kept.body, kept.edited, kept.reactions, kept.replies) == ("walrus edited narwhal", True, {"👍": ["kim"]}, 1)
    gone = Message.objects.get(room=room, seq=2)
    assert (gone.deleted, gone.body) == (True, "")
    assert Mention.objects.filter(user=mentioned, room=room, seq=6).count() == 1
    assert found(user.pk, "walrus") == [("r", 1), ("r", 6)]
    assert found(user.pk, "narwhal") == [("r", 1)]
    assert found(user.pk, "gone") == []


def test_a_post_with_an_upload_claims_it(django_user_model):
    user = django_user_model.objects.create_user("kim", password="x" * 20)
    room = services.room_get_or_create(address="r")
    upload = Upload.objects.create(user=user, room=room, name="tapir.txt", size=3, content_type="text/plain", key="k1")
    results = services.apply_changes(
        [
            services.Post(room=room, sender="kim", body="plain", user_id=user.pk),
            services.Post(room=room, sender="kim", body="file", user_id=user.pk, attachments=(upload.pk,)),
        ]
    )
    assert [r.seq for r in results] == [1, 2]  # type: ignore[union-attr]
    upload.refresh_from_db()
    assert upload.message == Message.objects.get(room=room, seq=2)
    assert found(user.pk, "tapir") == [("r", 2)]


def test_a_one_message_batch_reads_and_inserts_in_one_statement_each():
    """The statements one message costs: three reads and, on PostgreSQL, one insert; the ORM is not used."""
    room = services.room_get_or_create(address="r")
    with CaptureQueriesContext(connection) as captured:
        services.apply_changes([services.Post(room=room, sender="kim", body="x", client_id="c", user_id=None)])
    sql = [
        q["sql"]
        for q in captured.captured_queries
        if not q["sql"].startswith(("BEGIN", "SAVEPOINT", "RELEASE", "COMMIT"))
    ]
    reads = [q for q in sql if q.lstrip().startswith(("SELECT", "WITH k("))]
    writes = [q for q in sql if "INSERT" in q]
    assert len(reads) == 3  # the room's lock, the client_id, the guest's name
    if connection.vendor == "postgresql":
        assert len(writes) == 1 and len(sql) == 4


def test_text_is_stored_exactly_as_sent():
    """The insert's rows travel as JSON on PostgreSQL: quotes, backslashes, newlines, any script."""
    room = services.room_get_or_create(address="r")
    body = 'a "quoted" \\ back\\slash\nnew line\t안녕 🎉 <b>&amp;</b> \u200b end'
    sent = services.message_send(room=room, sender='o"brien\\', body=body, client_id='x"\\y')
    stored = Message.objects.get(room=room, seq=sent.seq)
    assert (stored.body, stored.sender, stored.client_id) == (body, 'o"brien\\', 'x"\\y')
    assert Event.objects.get(room=room, seq=sent.seq).frame == sent.text
    assert json.loads(sent.text or "")["message"] == body


def test_a_batch_inside_someone_elses_transaction_is_rolled_back_with_it():
    """A batch stored inside someone else's transaction is undone with it, ids and counter too."""
    from django.db import transaction

    room = services.room_get_or_create(address="r")

    class Undo(Exception):
        pass

    with pytest.raises(Undo), transaction.atomic():
        assert services.message_send(room=room, sender="kim", body="undone").seq == 1
        raise Undo
    assert not Message.objects.filter(room=room).exists()
    assert not Event.objects.filter(room=room).exists()
    room.refresh_from_db()
    assert room.last_id == 0
    assert services.message_send(room=room, sender="kim", body="kept").seq == 1
    assert Message.objects.filter(room=room).count() == 1


def test_the_store_path_without_prepared_statements(settings):
    """PARLEY_DB_PREPARE=0 (a pooler that cannot keep them): the same statements, unprepared."""
    settings.PARLEY_DB_PREPARE = False
    room = services.room_get_or_create(address="r")
    first = services.message_send(room=room, sender="kim", body="one", client_id="a")
    again = services.message_send(room=room, sender="kim", body="one", client_id="a")
    assert (first.seq, again.seq, again.created) == (1, 1, False)
    assert services.message_send(room=room, sender="kim", body="two").seq == 2


@pytest.mark.parametrize("client_id", ['a"b', "back\\slash", '\\"', "NULL", "{a,b}", "a b", "쉼표,와 따옴표'", "", "}"])
def test_a_client_id_of_any_text_is_found_again(client_id):
    """The reads' arrays travel as PostgreSQL array text (``store._array``): quotes, backslashes,
    commas, braces, spaces and the word NULL in a ``client_id`` or a guest's name are found as sent."""
    room = services.room_get_or_create(address="r")
    first = services.message_send(room=room, sender=f"guest {client_id}", body="one", client_id=client_id)
    again = services.message_send(room=room, sender=f"guest {client_id}", body="one", client_id=client_id)
    other = services.message_send(room=room, sender="kim", body="two", client_id=client_id + "x")
    assert (first.created, again.created, again.seq, other.seq) == (True, False, first.seq, first.seq + 1)
