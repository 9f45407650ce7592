"""Scenario H's pure logic: rooms of the HTTP clients, what a POST's answer says, a member's losses."""

import orjson
import pytest

from bench.__main__ import RUN_ORDER, SCENARIOS, parse_args
from bench.httpplan import CREATED, REPLAYED, Listener, outcome, post_body, room_of
from bench.stats import make_tag, parse_tag

pytestmark = pytest.mark.embedded_only  # no backend: the same on both passes


def test_clients_are_dealt_round_the_rooms():
    rooms = [room_of(c, 4) for c in range(10)]
    assert rooms == [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]
    assert sorted({r: rooms.count(r) for r in rooms}.values()) == [2, 2, 3, 3]
    with pytest.raises(ValueError):
        room_of(0, 0)


def test_post_body_carries_the_tag_and_a_client_id_of_its_own():
    text = make_tag(7, 3, 123456789, pad=5)
    body = orjson.loads(post_body(text, 7, 3))
    assert body == {"message": text, "client_id": "h7-3"}
    assert parse_tag(body["message"]) == (7, 3, 123456789)
    assert post_body(text, 7, 3) != post_body(text, 7, 4)


def test_outcome_of_an_answer():
    frame = orjson.dumps({"type": "message", "id": 41, "message": "x", "sender": "h-0"})
    assert outcome(201, frame) == (CREATED, 41)
    assert outcome(200, frame) == (REPLAYED, 41)  # its client_id was already stored
    error = orjson.dumps({"error": {"code": "rate_limited", "detail": "slow down"}})
    assert outcome(429, error) == ("rate_limited", None)
    assert outcome(503, orjson.dumps({"error": {"code": "unavailable", "detail": "..."}})) == ("unavailable", None)
    assert outcome(502, b"<html>Bad gateway</html>") == ("http_502", None)
    assert outcome(201, b"{}") == ("http_201", None)  # no id: not a message frame
    assert outcome(201, b'{"id": "41"}') == ("http_201", None)


def test_a_member_that_got_every_id_since_its_hello_missed_nothing():
    member = Listener()
    member.hello(10)
    for i in range(11, 21):
        assert member.on_id(i)
    assert (member.received, member.gaps, member.disorder) == (10, 0, 0)
    assert member.missed(20) == 0


def test_missing_ids_count_whether_skipped_or_never_arrived():
    member = Listener()
    member.hello(0)
    for i in (1, 2, 4, 5):  # 3 skipped
        member.on_id(i)
    assert member.gaps == 1
    assert member.missed(5) == 1
    assert member.missed(8) == 4  # and 6..8, posted (the POSTs' answers say so) but not received
    assert member.missed(3) == 1  # the member's own highest counts when it is above the POSTs' highest


def test_duplicates_and_late_ids_are_disorder_and_not_received():
    member = Listener()
    member.hello(5)
    assert member.on_id(7)
    assert not member.on_id(7)
    assert not member.on_id(6)  # arrived after 7: counted as disorder, and still missing
    assert not member.on_id(5)  # before the hello's last_id
    assert (member.received, member.gaps, member.disorder) == (1, 1, 3)
    assert member.missed(7) == 1


def test_a_member_of_a_room_nobody_posted_to_misses_nothing():
    member = Listener()
    member.hello(3)
    assert member.missed(0) == 0


def test_h_is_in_the_default_run_and_takes_its_clients():
    assert "H" in SCENARIOS and "H" in RUN_ORDER
    args = parse_args([])
    assert "H" in args.only and args.http_clients == 32
    assert parse_args(["--only", "h", "--http-clients", "8"]).http_clients == 8
