"""Scenario M's pure logic: the mix, the sender's view of its room, its next change, matching answers."""

import random
from collections import Counter

import pytest

from bench.mixplan import (
    DEFAULT_MIX,
    KINDS,
    Change,
    Sender,
    event_key,
    events_missed,
    is_answer,
    mix_label,
    parse_mix,
)

pytestmark = pytest.mark.embedded_only  # no backend: the same on both passes


def message(id_, sender, client_id=None):
    return {"type": "message", "id": id_, "sender": sender, "message": "x", "client_id": client_id}


def test_parse_mix():
    assert parse_mix(DEFAULT_MIX) == {"message": 70, "reaction": 15, "edit": 10, "delete": 5}
    assert mix_label(parse_mix("14, 3, 2, 1")) == "70/15/10/5"
    for bad in ("70,15,10", "70,15,10,x", "0,1,1,1", "70,-1,10,5", ""):
        with pytest.raises(ValueError):
            parse_mix(bad)


def test_a_sender_with_nothing_to_change_sends_messages():
    sender = Sender("s1", parse_mix("0.001,1,1,1"), random.Random(3))
    changes = [sender.next_change() for _ in range(20)]
    assert {c.kind for c in changes} == {"message"}
    assert len({c.client_id for c in changes}) == 20


def test_edits_and_deletes_only_its_own_reactions_to_any():
    sender = Sender("s1", parse_mix("1,1,1,1"), random.Random(5))
    sender.on_event(message(1, "s1"))
    sender.on_event(message(2, "other"))
    seen = {(c.kind, c.target) for c in (sender.next_change() for _ in range(400))}
    assert {t for k, t in seen if k in ("edit", "delete")} == {1}
    assert {t for k, t in seen if k == "reaction"} == {1, 2}


def test_the_mix_is_followed_once_there_are_targets():
    sender = Sender("s1", parse_mix(DEFAULT_MIX), random.Random(7))
    sender.on_event(message(1, "s1"))
    got = Counter(sender.next_change().kind for _ in range(20_000))
    shares = {k: got[k] / 20_000 for k in KINDS}
    assert shares["message"] == pytest.approx(0.70, abs=0.02)
    assert shares["reaction"] == pytest.approx(0.15, abs=0.02)
    assert shares["edit"] == pytest.approx(0.10, abs=0.02)
    assert shares["delete"] == pytest.approx(0.05, abs=0.02)


def test_reactions_toggle_on_what_the_server_echoed():
    sender = Sender("s1", parse_mix("0.000001,1,0,0"), random.Random(1))
    sender.on_event(message(1, "other"))
    first = sender.next_change()
    assert (first.kind, first.target, first.add) == ("reaction", 1, True)
    assert all(c.add for c in (sender.next_change() for _ in range(50)))  # nothing echoed yet: all adds
    sender.on_event({"type": "reaction", "id": 2, "target": 1, "emoji": first.emoji, "sender": "s1", "op": "add"})
    again = [c for c in (sender.next_change() for _ in range(50)) if c.emoji == first.emoji]
    assert again and not any(c.add for c in again)
    sender.on_event({"type": "reaction", "id": 3, "target": 1, "emoji": first.emoji, "sender": "s1", "op": "remove"})
    assert sender.reactions == set()
    # Someone else's reaction is not the sender's.
    sender.on_event({"type": "reaction", "id": 4, "target": 1, "emoji": "👍", "sender": "other", "op": "add"})
    assert sender.reactions == set()


def test_a_delete_forgets_the_message_and_its_reactions():
    sender = Sender("s1", parse_mix(DEFAULT_MIX), random.Random(1))
    sender.on_event(message(1, "s1"))
    sender.on_event(message(2, "s1"))
    sender.on_event({"type": "reaction", "id": 3, "target": 1, "emoji": "👍", "sender": "s1", "op": "add"})
    sender.on_event({"type": "delete", "id": 4, "target": 1, "by": "s1"})
    assert list(sender.room) == [2] and list(sender.own) == [2] and sender.reactions == set()
    sender.forget(2)  # not_found
    assert not sender.room and not sender.own


def test_recent_targets_are_bounded():
    sender = Sender("s1", parse_mix(DEFAULT_MIX), random.Random(1), recent=3)
    for i in range(1, 11):
        sender.on_event(message(i, "s1" if i % 2 else "other"))
    assert list(sender.room) == [8, 9, 10]
    assert list(sender.own) == [5, 7, 9]


def test_frames_and_answers():
    m = Change("message", client_id="s1-1")
    assert m.frame("hi") == {"type": "message", "message": "hi", "client_id": "s1-1"}
    assert is_answer("s1", m, message(5, "s1", "s1-1"))
    assert not is_answer("s1", m, message(5, "s1", "s1-2"))
    assert not is_answer("s1", m, message(5, "s2", "s1-1"))
    e = Change("edit", 5)
    assert e.frame("new") == {"type": "edit", "target": 5, "message": "new"}
    edit = {"type": "edit", "id": 6, "target": 5, "message": "new", "sender": "s1"}
    assert is_answer("s1", e, edit) and not is_answer("s1", Change("edit", 4), edit)
    d = Change("delete", 5)
    assert d.frame("") == {"type": "delete", "target": 5}
    delete = {"type": "delete", "id": 7, "target": 5, "by": "s1"}
    assert is_answer("s1", d, delete) and event_key(delete) == d.key("s1")
    assert not is_answer("s2", d, delete)
    r = Change("reaction", 5, "🎉", add=False)
    assert r.frame("") == {"type": "reaction", "target": 5, "emoji": "🎉", "op": "remove"}
    reaction = {"type": "reaction", "id": 8, "target": 5, "emoji": "🎉", "sender": "s1", "op": "remove"}
    assert is_answer("s1", r, reaction) and event_key(reaction) == r.key("s1")
    assert not is_answer("s1", Change("reaction", 5, "🎉", add=True), reaction)
    assert m.key("s1") is None and e.key("s1") is None and event_key(edit) is None


def test_events_missed():
    assert events_missed(joined_at=0, last=10, received=10) == 0
    assert events_missed(joined_at=3, last=10, received=5) == 2
    assert events_missed(joined_at=0, last=0, received=0) == 0
