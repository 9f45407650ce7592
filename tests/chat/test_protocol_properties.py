"""Property tests of the wire parser: whatever a client sends, each door's parser gives a frame or
a documented error, never anything else (hypothesis generates the input)."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chat import protocol
from chat.protocol import ErrorCode, ProtocolError

pytestmark = pytest.mark.embedded_only  # no backend: the same on both passes

LIMITS = protocol.Limits(max_message_chars=50, max_name_chars=8, history_page_max=20)
PARSERS = {"native": protocol.parse_native, "seed": protocol.parse_seed, "tutorial": protocol.parse_tutorial}
# What each door may answer a bad frame with (docs/protocol.md); a guest name in ``sender`` is
# checked later (identity), but what no name may hold (a control character: core.inputs) is
# refused by the parser, as invalid_name.
DOCUMENTED = {
    ErrorCode.INVALID_JSON,
    ErrorCode.INVALID_FRAME,
    ErrorCode.UNKNOWN_TYPE,
    ErrorCode.EMPTY_MESSAGE,
    ErrorCode.TOO_LARGE,
    ErrorCode.INVALID_NAME,
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
# Objects shaped like client frames, with any value in any field.
frame_like = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["message", "history", "typing", "ping", "shout", ""]) | json_values,
        "message": st.text() | json_values,
        "client_id": st.text(max_size=70) | json_values,
        "sender": st.text(max_size=12) | json_values,
        "before": st.integers() | json_values,
        "limit": st.integers() | json_values,
    },
)


def check(parse, text: str) -> None:
    try:
        frame = parse(text, LIMITS)
    except ProtocolError as error:
        assert error.code in DOCUMENTED, error.code
        assert error.detail
        return
    assert isinstance(frame, protocol.SendMessage | protocol.HistoryRequest | protocol.Typing | protocol.Ping)
    if isinstance(frame, protocol.SendMessage):
        assert frame.message.strip() and len(frame.message) <= LIMITS.max_message_chars
        assert "\x00" not in frame.message and not any("\ud800" <= c <= "\udfff" for c in frame.message)
        assert frame.client_id is None or not protocol.has_control(frame.client_id)
        assert frame.client_id is None or 1 <= len(frame.client_id) <= protocol.MAX_CLIENT_ID_CHARS
    if isinstance(frame, protocol.HistoryRequest):
        assert 1 <= frame.limit <= LIMITS.history_page_max
        assert frame.before is None or 1 <= frame.before <= protocol.MAX_ID


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text())
def test_any_text_gives_a_frame_or_a_documented_error(text):
    for parse in PARSERS.values():
        check(parse, text)


@settings(max_examples=300)
@given(data=st.binary())
def test_any_bytes_decoded_as_a_server_would_give_a_frame_or_a_documented_error(data):
    # The server hands text frames over as str; bytes that are not UTF-8 never reach a parser, and
    # binary frames are refused by the consumer before parsing (invalid_frame).
    text = data.decode("utf-8", errors="replace")
    for parse in PARSERS.values():
        check(parse, text)


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(frame=frame_like)
def test_any_frame_shaped_object_gives_a_frame_or_a_documented_error(frame):
    text = json.dumps(frame)  # not orjson: integers beyond 64 bits are JSON too
    for parse in PARSERS.values():
        check(parse, text)


@settings(max_examples=300)
@given(raw=st.text(max_size=30) | st.integers(min_value=0).map(str))
def test_any_after_value_is_an_id_or_invalid_frame(raw):
    try:
        value = protocol.parse_after(raw)
    except ProtocolError as error:
        assert error.code == ErrorCode.INVALID_FRAME
    else:
        assert 0 <= value <= protocol.MAX_ID and str(value) == raw.lstrip("0").rjust(1, "0")


@settings(max_examples=300)
@given(raw=st.text(max_size=80))
def test_any_room_name_is_a_valid_name_or_invalid_room(raw):
    try:
        name = protocol.check_room_name(raw)
    except ProtocolError as error:
        assert error.code == ErrorCode.INVALID_ROOM
    else:
        assert 1 <= len(name) <= protocol.ROOM_NAME_MAX and not protocol.has_control(name)
