"""The index kept by the store path, in process: posts, edits, deletes and prunes change it in the
transaction that changes the message; ``search_reindex`` rebuilds it."""

from __future__ import annotations

import datetime
import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from chat import services
from chat.models import Message, Namespace, Room
from search import query, selectors
from search.models import SearchDoc

pytestmark = pytest.mark.django_db(transaction=True)


def ids(caller, text: str) -> list[int]:
    return [r["id"] for r in selectors.search(caller, query.parse(text), before=None, limit=50)["results"]]


def test_posts_edits_deletes_and_prunes(django_user_model):
    from chat.access import Caller

    user = django_user_model.objects.create_user("searcher", password="x" * 20)
    caller = Caller(user_id=user.pk)
    ns = Namespace.objects.create(name="kept", retention_days=1)
    room = Room.objects.create(namespace=ns, name="r")
    posted = services.apply_changes(
        [services.Post(room=room, sender="searcher", body=f"숙제 number {i}", user_id=user.pk) for i in range(3)]
    )
    seqs = [o.seq for o in posted]  # type: ignore[union-attr]
    assert sorted(ids(caller, "숙제")) == seqs
    # A post and its edit and a delete in one batch: the index holds the end state.
    services.apply_changes(
        [
            services.Edit(room=room, target=seqs[0], body="homework now", sender="searcher", user_id=user.pk),
            services.Delete(room=room, target=seqs[1], by="searcher", user_id=user.pk),
        ]
    )
    assert ids(caller, "숙제") == [seqs[2]]
    assert ids(caller, "homework") == [seqs[0]]
    assert SearchDoc.objects.count() == 2
    # Pruned: gone from the index with the message.
    Message.objects.filter(room=room, seq=seqs[2]).update(created_at=timezone.now() - datetime.timedelta(days=3))
    services.prune()
    assert ids(caller, "숙제") == []
    assert SearchDoc.objects.count() == 1

    # Rebuilt from the messages: the same answers.
    SearchDoc.objects.all().delete()
    assert ids(caller, "homework") == []
    out = io.StringIO()
    call_command("search_reindex", stdout=out)
    assert "indexed 1 messages" in out.getvalue()
    assert ids(caller, "homework") == [seqs[0]]
    call_command("search_reindex", "--ns", "kept", "--fresh", stdout=io.StringIO())
    assert ids(caller, "homework") == [seqs[0]]


def test_both_steps_of_a_postgresql_search_page_alike(django_user_model, monkeypatch):
    """A window smaller than the matches' spread makes PostgreSQL's search take its second step (the
    GIN index below the window): pages are the same, newest first, none lost or repeated."""
    from chat.access import Caller
    from search import selectors as search_selectors

    user = django_user_model.objects.create_user("pager", password="x" * 20)
    caller = Caller(user_id=user.pk)
    room = Room.objects.create(namespace=Namespace.objects.create(name="pages"), name="r")
    bodies = [("needle " if i % 7 == 0 else "hay ") + str(i) for i in range(60)]
    outcomes = services.apply_changes(
        [services.Post(room=room, sender="pager", body=b, user_id=user.pk) for b in bodies]
    )
    wanted = sorted((o.seq for o, b in zip(outcomes, bodies, strict=True) if b.startswith("needle")), reverse=True)  # type: ignore[union-attr]

    def pages() -> list[int]:
        seen, before = [], None
        while True:
            page = search_selectors.search(caller, query.parse("needle"), before=before, limit=3)
            seen.extend(r["id"] for r in page["results"])
            before = page["next_before"]
            if before is None:
                return seen

    assert pages() == wanted
    monkeypatch.setattr(search_selectors, "WINDOW", 4)
    assert pages() == wanted
