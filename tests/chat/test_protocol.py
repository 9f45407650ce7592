"""chat.protocol: parsing, validation, names, keys and server frames (pure: no database)."""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata

import pytest

from chat import protocol
from chat.protocol import ErrorCode, Limits, ProtocolError

pytestmark = pytest.mark.embedded_only  # no backend: the same on both passes

LIMITS = Limits()


def error_of(fn, *args) -> ErrorCode:
    with pytest.raises(ProtocolError) as info:
        fn(*args)
    assert info.value.detail
    return info.value.code


# --- Native door frames ---------------------------------------------------------------------------


def test_message_with_every_field():
    frame = protocol.parse_native('{"type":"message","message":"hi","client_id":"c-1","sender":"kim"}', LIMITS)
    assert frame == protocol.SendMessage(message="hi", client_id="c-1", sender="kim")


def test_type_may_be_left_out_for_a_message():
    assert protocol.parse_native('{"message":"안녕"}', LIMITS) == protocol.SendMessage(message="안녕")


def test_history_ping_typing():
    assert protocol.parse_native('{"type":"history","before":42,"limit":50}', LIMITS) == protocol.HistoryRequest(42, 50)
    assert protocol.parse_native('{"type":"history"}', LIMITS) == protocol.HistoryRequest(None, 100)
    assert protocol.parse_native('{"type":"history","limit":1000}', LIMITS).limit == 100
    assert protocol.parse_native('{"type":"ping"}', LIMITS) == protocol.Ping()
    assert protocol.parse_native('{"type":"typing"}', LIMITS) == protocol.Typing()


def test_the_largest_id_is_accepted():
    frame = protocol.parse_native('{"type":"history","before":9223372036854775807}', LIMITS)
    assert frame == protocol.HistoryRequest(2**63 - 1, 100)


def test_unknown_fields_are_ignored():
    assert protocol.parse_native('{"type":"ping","extra":[1,2]}', LIMITS) == protocol.Ping()


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("not json", ErrorCode.INVALID_JSON),
        ('{"message": "unterminated', ErrorCode.INVALID_JSON),
        ("", ErrorCode.INVALID_JSON),
        ("[1, 2]", ErrorCode.INVALID_FRAME),
        ('"a string"', ErrorCode.INVALID_FRAME),
        ("42", ErrorCode.INVALID_FRAME),
        ("null", ErrorCode.INVALID_FRAME),
        ('{"type":"shout","message":"hi"}', ErrorCode.UNKNOWN_TYPE),
        ('{"type":"websocket.disconnect"}', ErrorCode.UNKNOWN_TYPE),
        ('{"type":"chat_message","message":"hi"}', ErrorCode.UNKNOWN_TYPE),
        ('{"type":5}', ErrorCode.INVALID_FRAME),
        ('{"type":null,"message":"hi"}', ErrorCode.INVALID_FRAME),
        ('{"type":["message"]}', ErrorCode.INVALID_FRAME),
        ("{}", ErrorCode.INVALID_FRAME),
        ('{"message":5}', ErrorCode.INVALID_FRAME),
        ('{"message":null}', ErrorCode.INVALID_FRAME),
        ('{"message":["hi"]}', ErrorCode.INVALID_FRAME),
        ('{"message":""}', ErrorCode.EMPTY_MESSAGE),
        ('{"message":" \\n\\t\\u3000 "}', ErrorCode.EMPTY_MESSAGE),
        ('{"message":"hi","client_id":5}', ErrorCode.INVALID_FRAME),
        ('{"message":"hi","client_id":""}', ErrorCode.INVALID_FRAME),
        ('{"message":"hi","client_id":"' + "x" * 65 + '"}', ErrorCode.INVALID_FRAME),
        ('{"message":"hi","sender":7}', ErrorCode.INVALID_FRAME),
        ('{"type":"history","before":"9"}', ErrorCode.INVALID_FRAME),
        ('{"type":"history","before":0}', ErrorCode.INVALID_FRAME),
        ('{"type":"history","before":true}', ErrorCode.INVALID_FRAME),
        ('{"type":"history","before":1.5}', ErrorCode.INVALID_FRAME),
        ('{"type":"history","limit":0}', ErrorCode.INVALID_FRAME),
        ('{"type":"history","limit":-3}', ErrorCode.INVALID_FRAME),
        ('{"type":"history","before":18446744073709551615}', ErrorCode.INVALID_FRAME),
        ('{"type":"history","before":9223372036854775808}', ErrorCode.INVALID_FRAME),
        ('{"type":"history","limit":18446744073709551615}', ErrorCode.INVALID_FRAME),
    ],
)
def test_bad_native_frames(text, code):
    assert error_of(protocol.parse_native, text, LIMITS) == code


def test_message_length_limit_counts_characters():
    assert protocol.parse_native(json.dumps({"message": "가" * 4000}), LIMITS).message == "가" * 4000
    assert error_of(protocol.parse_native, json.dumps({"message": "가" * 4001}), LIMITS) == ErrorCode.TOO_LARGE
    small = Limits(max_message_chars=5)
    assert error_of(protocol.parse_native, '{"message":"abcdef"}', small) == ErrorCode.TOO_LARGE


def test_nul_and_lone_surrogates_are_refused_in_any_field():
    assert error_of(protocol.parse_native, '{"message":"a\\u0000b"}', LIMITS) == ErrorCode.INVALID_FRAME
    assert error_of(protocol.parse_native, '{"message":"a\\ud800b"}', LIMITS) == ErrorCode.INVALID_FRAME
    assert error_of(protocol.parse_native, '{"message":"a","sender":"\\udfff"}', LIMITS) == ErrorCode.INVALID_NAME
    # A pair is a character, not a lone surrogate.
    assert protocol.parse_native('{"message":"\\ud83d\\ude00"}', LIMITS).message == "\U0001f600"
    assert error_of(protocol.parse_native, '{"message": "a", "x": [1, {"y": "\\u0000"}]}', LIMITS) == "invalid_frame"


def test_integral_numbers_are_integers():
    assert protocol.parse_native('{"type":"history","before":5.0,"limit":2.0}', LIMITS) == protocol.HistoryRequest(5, 2)
    assert error_of(protocol.parse_native, '{"type":"history","before":5.5}', LIMITS) == ErrorCode.INVALID_FRAME
    assert error_of(protocol.parse_native, '{"type":"history","before":1e300}', LIMITS) == ErrorCode.INVALID_FRAME


def test_seed_and_tutorial_frames():
    assert protocol.parse_seed('{"sender":"kim","message":"hi"}', LIMITS) == protocol.SendMessage("hi", sender="kim")
    # The tutorial door has no sender: a claimed one is not used.
    assert protocol.parse_tutorial('{"message":"hi","sender":"kim"}', LIMITS) == protocol.SendMessage("hi")
    # Neither door knows "type": a frame is always a message.
    assert protocol.parse_seed('{"type":"ping","message":"x"}', LIMITS) == protocol.SendMessage("x")
    for parse in (protocol.parse_seed, protocol.parse_tutorial):
        assert error_of(parse, "nope", LIMITS) == ErrorCode.INVALID_JSON
        assert error_of(parse, "[]", LIMITS) == ErrorCode.INVALID_FRAME
        assert error_of(parse, '{"message":"  "}', LIMITS) == ErrorCode.EMPTY_MESSAGE
        assert error_of(parse, '{"sender":"kim"}', LIMITS) == ErrorCode.INVALID_FRAME
    assert error_of(protocol.parse_seed, '{"sender":1,"message":"x"}', LIMITS) == ErrorCode.INVALID_FRAME


# --- Room names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["lobby", "자유게시판", "a", "x" * 64, "a.b-c_d", "Ünïcödé", "日本語", "room42", "٣٤", "...a", "ǅemal"]
)
def test_valid_room_names(name):
    assert protocol.check_room_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "x" * 65, "a b", "a/b", "a?b", "a#b", "a%20b", ".", "..", "😀", "a:b", "a\nb", "a\u200bb", "Ⅻ", None, 5],
)
def test_invalid_room_names(name):
    assert error_of(protocol.check_room_name, name) == ErrorCode.INVALID_ROOM


def test_room_names_are_nfc_normalised():
    nfd = unicodedata.normalize("NFD", "자유게시판")
    assert nfd != "자유게시판" and len(nfd) > 5
    assert protocol.check_room_name(nfd) == "자유게시판"
    assert protocol.check_room_name("e\u0301") == "\u00e9"
    # The length limit applies to the NFC form: 64 syllables are 64 characters, not 192 jamo.
    assert protocol.check_room_name(unicodedata.normalize("NFD", "한" * 64)) == "한" * 64


def test_room_key_is_a_valid_channels_group_name():
    group_name = re.compile(r"^[a-zA-Z0-9_\-.]{1,99}$")  # channels.layers.BaseChannelLayer's rule
    names = ["자유게시판", "lobby", "x" * 64, "한" * 64, "Lobby"]
    keys = [protocol.room_key(n) for n in names]
    for key in keys:
        assert group_name.match(key), key
    assert len(set(keys)) == len(keys)  # case-sensitive, distinct
    assert protocol.room_key("자유게시판") == protocol.room_key("자유게시판")  # stable across calls


def test_room_key_is_a_valid_channels_group_name_for_the_layer():
    from channels.layers import BaseChannelLayer

    assert BaseChannelLayer().require_valid_group_name(protocol.room_key("자유게시판"))


# --- Display names --------------------------------------------------------------------------------


def test_display_names():
    assert protocol.check_display_name("  kim   min  ", LIMITS) == "kim min"
    assert protocol.check_display_name(unicodedata.normalize("NFD", "김민"), LIMITS) == "김민"
    assert protocol.check_display_name("x" * 32, LIMITS) == "x" * 32
    for bad in ("", "   ", "x" * 33, "a\x00b", "a\u200eb", None, 3):
        assert error_of(protocol.check_display_name, bad, LIMITS) == ErrorCode.INVALID_NAME


# --- Server frames --------------------------------------------------------------------------------


def test_message_frame_and_timestamp():
    when = dt.datetime(2026, 11, 25, 15, 40, 0, 123456, tzinfo=dt.timezone(dt.timedelta(hours=9)))
    frame = protocol.message_frame(seq=3, room="방", sender="kim", message="hi", created_at=when, client_id=None)
    assert frame == {
        "type": "message",
        "id": 3,
        "room": "방",
        "sender": "kim",
        "message": "hi",
        "ts": "2026-11-25T06:40:00.123Z",
        "client_id": None,
        "reply_to": None,
        "mentions": [],
        "html": "",
        "attachments": [],
        "bot": False,
    }
    assert list(frame)[-3:] == ["html", "attachments", "bot"]  # last: protocol.plain cuts them off
    assert json.loads(protocol.plain(protocol.encode(frame))) == {
        k: v for k, v in frame.items() if k not in ("html", "attachments", "bot")
    }
    parsed = dt.datetime.fromisoformat(frame["ts"])
    assert parsed.utcoffset() == dt.timedelta(0)
    assert json.loads(protocol.encode(frame)) == frame


def test_other_frames():
    hello = protocol.hello_frame(room="r", name="kim", guest=True, last_id=4, read_up_to=None, limits={})
    assert {k: hello[k] for k in ("type", "room", "you", "last_id", "read_up_to")} == {
        "type": "hello",
        "room": "r",
        "you": {"name": "kim", "guest": True},
        "last_id": 4,
        "read_up_to": None,
    }
    assert protocol.history_frame([], has_more=False) == {"type": "history", "messages": [], "has_more": False}
    assert protocol.presence_frame(["a", "b"]) == {"type": "presence", "users": ["a", "b"], "bots": []}
    marked = [protocol.presence_entry("a", bot=False), protocol.presence_entry("ci", bot=True)]
    assert protocol.presence_frame(marked) == {"type": "presence", "users": ["a", "ci"], "bots": ["ci"]}
    assert protocol.typing_frame("kim") == {"type": "typing", "sender": "kim"}
    assert json.loads(protocol.PONG) == {"type": "pong"}
    err = protocol.error_frame(ErrorCode.TOO_LARGE, "too long")
    assert err == {"type": "error", "code": "too_large", "detail": "too long"}
    assert protocol.error_frame(ErrorCode.RATE_LIMITED, "slow", client_id="c")["client_id"] == "c"


def test_error_codes_of_the_issue_exist():
    required = {
        "invalid_json",
        "invalid_frame",
        "unknown_type",
        "empty_message",
        "too_large",
        "rate_limited",
        "invalid_room",
        "forbidden",
    }
    assert required <= {c.value for c in ErrorCode}
    assert protocol.CloseCode.MESSAGE_TOO_BIG == 1009
    assert protocol.CloseCode.INVALID_ROOM == 4400
    assert protocol.CloseCode.TRY_AGAIN_LATER == 1013


def test_deeply_nested_frames_are_invalid_json_not_a_crash():
    """orjson refuses nesting past 1,024 levels; the lenient parse that names a field holding a lone
    surrogate must not recurse into it (a RecursionError was a 1011 close, found by make soak)."""
    for text in [
        "[" * 100_000 + "]" * 100_000,
        '{"a":' * 5000 + "1" + "}" * 5000,
        "[" * 3000 + '"\\ud800"' + "]" * 3000,
    ]:
        assert error_of(protocol.parse_native, text, LIMITS) == ErrorCode.INVALID_JSON
