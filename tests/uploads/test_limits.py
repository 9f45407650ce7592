"""The limits of uploads and bodies against a live server with small ones (tests/uploads/conftest.py):
PARLEY_UPLOAD_MAX_BYTES (413, and the server answers before the rest of a larger body is sent, with
a Content-Length or chunked), PARLEY_UPLOAD_QUOTA_BYTES (413), PARLEY_UPLOADS_PER_MINUTE (429 with
Retry-After), PARLEY_MAX_BODY_BYTES for every other body (413), and PARLEY_UPLOADS=0."""

from __future__ import annotations

import json
import math
import time

from tests.uploads.conftest import MAX_BODY_BYTES, MAX_BYTES, PER_MINUTE, QUOTA_BYTES
from tests.uploads.kit import (
    Db,
    call,
    chunked,
    messages_path,
    multipart,
    noise,
    raw_request,
    stored_files,
    text_bytes,
    upload,
    uploads_path,
)


def test_a_file_over_the_limit_is_413_too_large(live, accounts, media_farm, room):
    alice = accounts.new()
    exact = upload(live.http, uploads_path(room), "exact.bin", noise(MAX_BYTES), token=alice.token)
    assert exact.status == 201 and exact.json["size"] == MAX_BYTES
    rows, files = Db(media_farm).upload_ids(), stored_files(media_farm.media)
    for size in (MAX_BYTES + 1, MAX_BYTES + 10_000):  # within the multipart envelope: the route refuses
        over = upload(live.http, uploads_path(room), "over.bin", noise(size), token=alice.token)
        assert (over.status, over.code) == (413, "too_large"), over.body
    assert Db(media_farm).upload_ids() == rows and stored_files(media_farm.media) == files


def _head(live, alice, room, content_type: str, length: str | None) -> str:
    lines = [
        f"POST {uploads_path(room)} HTTP/1.1",
        f"Host: 127.0.0.1:{live.port}",
        f"Authorization: Bearer {alice.token}",
        f"Content-Type: {content_type}",
    ]
    lines.append(f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked")
    return "\r\n".join(lines)


def test_a_huge_content_length_is_refused_before_the_body_is_sent(live, accounts, room):
    alice = accounts.new()
    body, content_type = multipart("huge.bin", noise(4096))
    declared = str(100 * 1024 * 1024)
    answer = raw_request(live.port, _head(live, alice, room, content_type, declared), [body[:2048]])
    assert answer.status == 413
    assert answer.json["error"]["code"] == "too_large"
    assert str(MAX_BYTES) in answer.json["error"]["detail"]


def test_a_chunked_body_that_grows_past_the_limit_is_cut_off(live, accounts, media_farm, room):
    alice = accounts.new()
    body, content_type = multipart("growing.bin", noise(3 * MAX_BYTES))
    sent = body[: 2 * MAX_BYTES + 16 * 1024]  # past the file's limit and the envelope; the rest never comes
    rows = Db(media_farm).upload_ids()
    answer = raw_request(live.port, _head(live, alice, room, content_type, None), chunked(sent))
    assert (answer.status, answer.json["error"]["code"]) == (413, "too_large")
    assert Db(media_farm).upload_ids() == rows
    # The server is fine afterwards.
    assert upload(live.http, uploads_path(room), "small.txt", text_bytes(), token=alice.token).status == 201


def test_a_chunked_upload_within_the_limit_is_taken(live, accounts, room):
    alice = accounts.new()
    data = noise(MAX_BYTES // 2)
    body, content_type = multipart("chunks.bin", data)
    answer = raw_request(live.port, _head(live, alice, room, content_type, None), [*chunked(body), b"0\r\n\r\n"])
    assert answer.status == 201, answer.body
    assert call(live.http, "GET", answer.json["url"], token=alice.token).body == data


def test_a_users_quota(live, accounts, room):
    alice, bob = accounts.new(), accounts.new()
    piece = 60 * 1024
    for _ in range(QUOTA_BYTES // piece):  # 4 x 60 KiB of 256 KiB
        assert upload(live.http, uploads_path(room), "part.bin", noise(piece), token=alice.token).status == 201
    over = upload(live.http, uploads_path(room), "part.bin", noise(piece), token=alice.token)
    assert (over.status, over.code) == (413, "too_large")
    assert "quota" in over.json["error"]["detail"]
    assert upload(live.http, uploads_path(room), "last.bin", noise(8 * 1024), token=alice.token).status == 201
    assert upload(live.http, uploads_path(room), "part.bin", noise(piece), token=bob.token).status == 201


def test_uploads_per_minute(live, accounts, room):
    """PER_MINUTE at once, then 429 with Retry-After. (The budget refills at PER_MINUTE/60 a second:
    on a slow machine an upload or two more may pass before the refusal; never fewer.)"""
    alice, bob = accounts.new(), accounts.new()
    started = time.monotonic()
    taken = 0
    while (
        answer := upload(live.http, uploads_path(room), f"{taken}.txt", text_bytes(50), token=alice.token)
    ).status == 201:
        taken += 1
        assert taken <= PER_MINUTE + 10, "never refused"
    refilled = (time.monotonic() - started) * PER_MINUTE / 60
    assert PER_MINUTE <= taken <= PER_MINUTE + math.ceil(refilled), (taken, refilled)
    assert (answer.status, answer.code) == (429, "rate_limited")
    assert int(answer.headers["retry-after"]) >= 1
    assert upload(live.http, uploads_path(room), "bob.txt", text_bytes(50), token=bob.token).status == 201


def test_other_bodies_over_max_body_bytes_are_413(live, accounts, room):
    alice = accounts.new()
    path = messages_path(room)
    small = call(live.http, "POST", path, token=alice.token, json_body={"message": "x" * 3000})
    assert small.status == 201, small.body
    big = json.dumps({"message": "x" * 3000, "client_id": "c", "pad": "y" * MAX_BODY_BYTES}).encode()
    answer = call(live.http, "POST", path, token=alice.token, body=big, headers={"Content-Type": "application/json"})
    assert (answer.status, answer.code) == (413, "too_large"), answer.body
    head = "\r\n".join(
        [
            f"POST {path} HTTP/1.1",
            f"Host: 127.0.0.1:{live.port}",
            f"Authorization: Bearer {alice.token}",
            "Content-Type: application/json",
        ]
    )
    huge = raw_request(live.port, head + "\r\nContent-Length: 50000000", [b'{"message": "'])
    assert (huge.status, huge.json["error"]["code"]) == (413, "too_large")
    grown = raw_request(live.port, head + "\r\nTransfer-Encoding: chunked", chunked(b" " * (MAX_BODY_BYTES + 4096)))
    assert (grown.status, grown.json["error"]["code"]) == (413, "too_large")
    # An upload's route takes more than PARLEY_MAX_BODY_BYTES (up to PARLEY_UPLOAD_MAX_BYTES).
    assert MAX_BYTES > 2 * MAX_BODY_BYTES
    assert upload(live.http, uploads_path(room), "mid.bin", noise(2 * MAX_BODY_BYTES), token=alice.token).status == 201


def test_uploads_off_for_the_whole_server(media_farm, live, accounts, room):
    off = media_farm.start(PARLEY_UPLOADS="0")
    try:
        alice = accounts.new()
        answer = upload(off.http, uploads_path(room), "a.txt", text_bytes(), token=alice.token)
        assert (answer.status, answer.code) == (403, "forbidden"), answer.body
        owner = accounts.new()
        made = call(off.http, "POST", "/api/v1/ns", token=owner.token, json_body={"name": f"off-{room[-8:]}"})
        assert made.status == 201
        ns = made.json["name"]
        answer = upload(off.http, uploads_path("lobby", ns=ns), "a.txt", text_bytes(), token=owner.token)
        assert (answer.status, answer.code) == (403, "forbidden"), answer.body
        answer = upload(off.http, uploads_path(dm=alice.name), "a.txt", text_bytes(), token=owner.token)
        assert (answer.status, answer.code) == (403, "forbidden"), answer.body
    finally:
        off.stop()
