"""Every protocol error code has an HTTP status in the API."""

from __future__ import annotations

from api.errors import STATUS
from chat.protocol import ErrorCode


def test_every_error_code_has_a_status():
    assert set(ErrorCode) <= set(STATUS)
    assert STATUS[ErrorCode.UNAVAILABLE] == 503
    assert all(400 <= status < 500 for code, status in STATUS.items() if code not in ("unavailable", "internal"))
