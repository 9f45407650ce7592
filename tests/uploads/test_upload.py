"""POST .../uploads on every door (a room of ``public``, a namespace's room, a direct message) against
a live server: the upload object, the type from the bytes, the credentials (token; session with
and without CSRF; guests), and who may upload (muted, the namespace's switch, outsiders)."""

from __future__ import annotations

import urllib.parse
import uuid

from tests.api.client import Browser
from tests.uploads.kit import (
    Db,
    call,
    files_holding,
    noise,
    png,
    q,
    stored_files,
    text_bytes,
    upload,
    uploads_path,
)

KEYS = {"id", "name", "size", "content_type", "url", "width", "height", "thumbnail_url"}


def namespace(live, owner, **fields) -> str:
    name = f"ns-{uuid.uuid4().hex[:8]}"
    made = call(live.http, "POST", "/api/v1/ns", token=owner.token, json_body={"name": name, **fields})
    assert made.status == 201, made.body
    return name


def add_member(live, owner, ns: str, member) -> None:
    added = call(
        live.http,
        "POST",
        f"/api/v1/ns/{q(ns)}/members",
        token=owner.token,
        json_body={"username": member.name, "role": "member"},
    )
    assert added.status == 201, added.body


def test_each_door_answers_the_upload_object(live, accounts, media_farm, room):
    alice, bob = accounts.new(), accounts.new()
    ns = namespace(live, alice)
    data = noise(1000)
    paths = [uploads_path(room), uploads_path(room, ns=ns), uploads_path(dm=bob.name)]
    ids = []
    for path in paths:
        answer = upload(live.http, path, "notes.bin", data, token=alice.token)
        assert answer.status == 201, answer.body
        got = answer.json
        assert set(got) == KEYS
        assert got["name"] == "notes.bin" and got["size"] == 1000
        assert got["content_type"] == "application/octet-stream"
        assert got["url"] == f"/files/{got['id']}/notes.bin"
        assert got["width"] is None and got["height"] is None and got["thumbnail_url"] is None
        fetched = call(live.http, "GET", got["url"], token=alice.token)
        assert fetched.status == 200 and fetched.body == data
        ids.append(got["id"])
    assert len(set(ids)) == 3
    assert len(files_holding(media_farm.media, data)) == 3  # stored under PARLEY_MEDIA_ROOT


def test_an_image_gets_its_size_and_a_thumbnail(live, accounts, room):
    alice = accounts.new()
    answer = upload(live.http, uploads_path(room), "스크린샷 1.png", png(800, 500), token=alice.token)
    assert answer.status == 201, answer.body
    got = answer.json
    assert (got["content_type"], got["width"], got["height"]) == ("image/png", 800, 500)
    name = urllib.parse.quote("스크린샷 1.png", safe="")
    assert got["url"] == f"/files/{got['id']}/{name}"
    assert got["thumbnail_url"] == f"/files/{got['id']}/thumbnail/{name}"


def test_the_type_comes_from_the_bytes_never_the_client(live, accounts, room):
    alice = accounts.new()
    path = uploads_path(room)
    cases = [
        # (name, client's Content-Type, bytes, what Parley must say)
        ("photo.txt", "text/plain", png(20, 10), "image/png"),
        ("page.html", "image/png", b"<html><script>alert(1)</script></html>", "text/plain; charset=utf-8"),
        ("drawing.svg", "image/svg+xml", b'<svg xmlns="http://www.w3.org/2000/svg"><script/></svg>', None),
        ("paper.pdf", "text/html", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n", None),
        ("blob", "image/gif", b"\x00\x01\x02" + noise(200), "application/octet-stream"),
        ("readme", "application/x-msdownload", text_bytes(), "text/plain; charset=utf-8"),
    ]
    for name, claimed, data, expected in cases:
        answer = upload(live.http, path, name, data, token=alice.token, content_type=claimed)
        assert answer.status == 201, (name, answer.body)
        got = answer.json["content_type"]
        assert got != claimed, (name, got)
        if expected is not None:
            assert got == expected, (name, got)
    pdf = upload(live.http, path, "x.pdf", cases[3][2], token=alice.token).json
    assert pdf["content_type"] == "application/pdf"


def test_a_file_name_is_made_safe(live, accounts, room):
    alice = accounts.new()
    for raw, safe in [("../../etc/passwd", "passwd"), ("C:\\Users\\kim\\보고서.txt", "보고서.txt"), (".env", "env")]:
        answer = upload(live.http, uploads_path(room), raw, text_bytes(), token=alice.token)
        assert answer.status == 201, answer.body
        assert answer.json["name"] == safe


def test_a_session_needs_the_csrf_header(live, accounts, room):
    alice = accounts.new()
    browser = alice.browser(live.http)
    path = uploads_path(room)
    refused = upload(live.http, path, "a.txt", text_bytes(), browser=browser)
    assert (refused.status, refused.code) == (403, "forbidden")
    ok = upload(live.http, path, "a.txt", text_bytes(), browser=browser, headers={"X-CSRFToken": "csrf"})
    assert ok.status == 201, ok.body


def test_guests_get_the_apis_401(live, room):
    visitor = Browser(live.http)
    assert visitor.get(f"/rooms/{q(room)}/").status == 200  # a guest's session and CSRF cookie
    for kw in ({}, {"browser": visitor, "headers": {"X-CSRFToken": "csrf"}}):
        answer = upload(live.http, uploads_path(room), "a.txt", text_bytes(), **kw)
        assert (answer.status, answer.code) == (401, "unauthenticated"), answer.body


def test_a_bad_token_is_401(live, room):
    answer = upload(live.http, uploads_path(room), "a.txt", text_bytes(), token="parley_nope")
    assert (answer.status, answer.code) == (401, "unauthenticated")


def test_nothing_but_a_file_field_is_an_upload(live, accounts, room):
    alice = accounts.new()
    answer = upload(live.http, uploads_path(room), "a.txt", text_bytes(), token=alice.token, field="document")
    assert answer.status == 400, answer.body
    plain = call(live.http, "POST", uploads_path(room), token=alice.token, json_body={"file": "x"})
    assert plain.status == 400, plain.body
    for content_type in ("multipart/form-data", "multipart/form-data; boundary="):  # no boundary
        headers = {"Content-Type": content_type}
        broken = call(live.http, "POST", uploads_path(room), token=alice.token, body=b"garbage", headers=headers)
        assert (broken.status, broken.code) == (400, "invalid_frame"), broken.body


def test_a_muted_or_banned_member_may_not_upload(live, accounts, media_farm):
    owner, member = accounts.new(), accounts.new()
    ns = namespace(live, owner)
    add_member(live, owner, ns, member)
    path = uploads_path("lobby", ns=ns)
    assert upload(live.http, path, "a.txt", text_bytes(), token=member.token).status == 201
    muted = call(live.http, "POST", f"/api/v1/ns/{q(ns)}/mutes", token=owner.token, json_body={"username": member.name})
    assert muted.status == 201, muted.body
    before = Db(media_farm).upload_ids()
    answer = upload(live.http, path, "b.txt", text_bytes(), token=member.token)
    assert (answer.status, answer.code) == (403, "muted")
    assert "until" in answer.json["error"]
    assert Db(media_farm).upload_ids() == before
    banned = call(live.http, "POST", f"/api/v1/ns/{q(ns)}/bans", token=owner.token, json_body={"username": member.name})
    assert banned.status == 201, banned.body
    answer = upload(live.http, path, "c.txt", text_bytes(), token=member.token)
    assert (answer.status, answer.code) == (403, "forbidden"), answer.body
    assert Db(media_farm).upload_ids() == before


def test_a_namespace_may_turn_uploads_off(live, accounts):
    owner, member = accounts.new(), accounts.new()
    ns = namespace(live, owner)
    add_member(live, owner, ns, member)
    shown = call(live.http, "GET", f"/api/v1/ns/{q(ns)}", token=owner.token).json
    assert shown["uploads"] is True
    off = call(live.http, "PATCH", f"/api/v1/ns/{q(ns)}", token=owner.token, json_body={"uploads": False})
    assert off.status == 200 and off.json["uploads"] is False
    for who in (member, owner):
        answer = upload(live.http, uploads_path("lobby", ns=ns), "a.txt", text_bytes(), token=who.token)
        assert (answer.status, answer.code) == (403, "forbidden"), answer.body
    # public is unaffected
    assert upload(live.http, uploads_path("lobby"), "a.txt", text_bytes(), token=member.token).status == 201
    on = call(live.http, "PATCH", f"/api/v1/ns/{q(ns)}", token=owner.token, json_body={"uploads": True})
    assert on.status == 200
    assert upload(live.http, uploads_path("lobby", ns=ns), "a.txt", text_bytes(), token=member.token).status == 201


def test_outsiders_get_404(live, accounts, media_farm):
    owner, outsider = accounts.new(), accounts.new()
    closed = namespace(live, owner, visibility="members")
    opened = namespace(live, owner)
    made = call(
        live.http,
        "POST",
        f"/api/v1/ns/{q(opened)}/rooms",
        token=owner.token,
        json_body={"name": "staff", "private": True},
    )
    assert made.status == 201, made.body
    before = stored_files(media_farm.media)
    for path in (uploads_path("lobby", ns=closed), uploads_path("staff", ns=opened)):
        answer = upload(live.http, path, "a.txt", text_bytes(), token=outsider.token)
        assert (answer.status, answer.code) == (404, "not_found"), (path, answer.body)
        assert upload(live.http, path, "a.txt", text_bytes(), token=owner.token).status == 201
    # a direct message with a user who does not exist
    answer = upload(live.http, uploads_path(dm="nobody-" + uuid.uuid4().hex[:6]), "a.txt", b"x", token=owner.token)
    assert answer.status == 404, answer.body
    assert len(stored_files(media_farm.media)) == len(before) + 2


def test_the_upload_object_is_the_schemas_upload_out(live, accounts, room):
    """The answer (an image's and another file's) matches UploadOut in GET /api/v1/openapi.json."""
    import jsonschema

    spec = call(live.http, "GET", "/api/v1/openapi.json").json
    schema = spec["components"]["schemas"]["UploadOut"]
    assert set(schema["required"]) == KEYS
    operation = spec["paths"]["/api/v1/rooms/{room}/uploads"]["post"]
    assert operation["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].endswith("/UploadOut")
    assert "multipart/form-data" in operation["requestBody"]["content"]
    validator = jsonschema.Draft202012Validator(
        {**schema, "additionalProperties": False, "components": spec["components"]}
    )
    alice = accounts.new()
    for name, data in (("a.png", png()), ("a.txt", text_bytes())):
        answer = upload(live.http, uploads_path(room), name, data, token=alice.token)
        assert answer.status == 201
        validator.validate(answer.json)


def test_a_long_name_is_kept_within_bounds(live, accounts, room):
    """A name of 300 Korean characters (900 bytes of UTF-8): cut to 200 characters, extension kept;
    stored (a file name on disk holds 255 bytes, a key 200 characters) and fetched again."""
    alice = accounts.new()
    data = text_bytes()
    for raw in ("가" * 300 + ".txt", "a" * 300 + ".txt", "b" * 300):
        answer = upload(live.http, uploads_path(room), raw, data, token=alice.token)
        assert answer.status == 201, answer.body
        name = answer.json["name"]
        assert len(name) <= 200 and name[0] == raw[0]
        assert name.endswith(".txt") == raw.endswith(".txt")
        fetched = call(live.http, "GET", answer.json["url"], token=alice.token)
        assert fetched.status == 200 and fetched.body == data
