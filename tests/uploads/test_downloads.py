"""GET /files/<id>/<name> and /files/<id>/thumbnail/<name>: the room's access rules (an unused
upload is its uploader's; a used one whoever may read the room; everyone else, a wrong name or a
deleted message: the 404 of a file that never existed), the headers, ranges and HEAD."""

from __future__ import annotations

import uuid

from tests.api.client import Browser
from tests.uploads.kit import (
    animated_gif,
    assert_hidden,
    attach,
    call,
    jpeg,
    messages_path,
    noise,
    png,
    q,
    up,
    webp,
)


def shown(live, url: str, **kw) -> bytes:
    got = call(live.http, "GET", url, **kw)
    assert got.status == 200, (url, got.status)
    return got.body


def test_an_unused_upload_is_its_uploaders_alone(live, accounts, room):
    alice, bob = accounts.new(), accounts.new()
    made = up(live, alice, room, name="p.png", data=png())
    browser = alice.browser(live.http)
    for url in (made["url"], made["thumbnail_url"]):
        assert shown(live, url, token=alice.token)
        shown(live, url, browser=browser)  # the session works as the token does
        assert_hidden(live, url, token=bob.token)
        assert_hidden(live, url)  # a guest


def test_a_used_upload_in_a_public_room_is_everyones(live, accounts, room):
    alice, bob = accounts.new(), accounts.new()
    data = noise(500)
    made = up(live, alice, room, name="data.bin", data=data)
    picture = up(live, alice, room, name="p.png", data=png())
    attach(live, alice, [made["id"], picture["id"]], room)
    assert shown(live, made["url"], token=bob.token) == data
    assert shown(live, made["url"]) == data  # a guest may read a public room
    assert shown(live, picture["thumbnail_url"])
    visitor = Browser(live.http)
    visitor.get(f"/rooms/{q(room)}/")  # a guest with a session, as the room page
    assert shown(live, made["url"], browser=visitor) == data


def test_a_wrong_name_is_404(live, accounts, room):
    alice = accounts.new()
    made = up(live, alice, room, name="right.png", data=png())
    attach(live, alice, [made["id"]], room)
    for url in (
        f"/files/{made['id']}/wrong.png",
        f"/files/{made['id']}/thumbnail/wrong.png",
        f"/files/{made['id']}/RIGHT.png",
    ):
        assert_hidden(live, url, token=alice.token)
    text = up(live, alice, room)
    assert_hidden(live, f"/files/{text['id']}/thumbnail/{text['name']}", token=alice.token)  # no thumbnail
    assert call(live.http, "POST", made["url"], token=alice.token).status in (403, 404, 405)


def namespace(live, owner, **fields) -> str:
    name = f"ns-{uuid.uuid4().hex[:8]}"
    assert call(live.http, "POST", "/api/v1/ns", token=owner.token, json_body={"name": name, **fields}).status == 201
    return name


def add_member(live, owner, ns, member) -> None:
    body = {"username": member.name, "role": "member"}
    assert call(live.http, "POST", f"/api/v1/ns/{q(ns)}/members", token=owner.token, json_body=body).status == 201


def test_outsiders_of_a_members_only_namespace_a_private_room_and_a_dm(live, accounts):
    owner, member, outsider = accounts.new(), accounts.new(), accounts.new()
    closed = namespace(live, owner, visibility="members")
    add_member(live, owner, closed, member)
    opened = namespace(live, owner)
    body = {"name": "staff", "private": True}
    assert call(live.http, "POST", f"/api/v1/ns/{q(opened)}/rooms", token=owner.token, json_body=body).status == 201
    added = call(
        live.http,
        "POST",
        f"/api/v1/ns/{q(opened)}/rooms/staff/members",
        token=owner.token,
        json_body={"username": member.name},
    )
    assert added.status == 201, added.body
    files = []
    for where in ({"room": "lobby", "ns": closed}, {"room": "staff", "ns": opened}):
        made = up(live, owner, where["room"], ns=where["ns"], name="p.png", data=png())
        attach(live, owner, [made["id"]], where["room"], ns=where["ns"])
        files.append(made)
    dm = up(live, owner, dm=member.name, name="p.png", data=png())
    attach(live, owner, [dm["id"]], dm=member.name)
    files.append(dm)
    for made in files:
        for url in (made["url"], made["thumbnail_url"]):
            shown(live, url, token=member.token)
            shown(live, url, token=owner.token)
            assert_hidden(live, url, token=outsider.token)
            assert_hidden(live, url)


def test_a_banned_member_and_guests_where_guests_are_off(live, accounts):
    owner, member = accounts.new(), accounts.new()
    ns = namespace(live, owner, allow_guests=False)
    add_member(live, owner, ns, member)
    made = up(live, owner, "lobby", ns=ns, name="p.png", data=png())
    attach(live, owner, [made["id"]], "lobby", ns=ns)
    shown(live, made["url"], token=member.token)
    assert_hidden(live, made["url"])  # no guest may read this namespace's rooms
    banned = call(live.http, "POST", f"/api/v1/ns/{q(ns)}/bans", token=owner.token, json_body={"username": member.name})
    assert banned.status == 201, banned.body
    assert_hidden(live, made["url"], token=member.token)
    assert_hidden(live, made["thumbnail_url"], token=member.token)


def test_a_deleted_messages_files_are_gone_for_everyone(live, accounts, room):
    alice, bob = accounts.new(), accounts.new()
    made = up(live, alice, room, name="p.png", data=png())
    message = attach(live, alice, [made["id"]], room)
    shown(live, made["url"], token=bob.token)
    gone = call(live.http, "DELETE", f"{messages_path(room)}/{message}", token=alice.token)
    assert gone.status == 204
    for who in ({"token": alice.token}, {"token": bob.token}, {}):
        assert_hidden(live, made["url"], **who)
        assert_hidden(live, made["thumbnail_url"], **who)


def test_headers_by_type(live, accounts, room):
    alice = accounts.new()
    cases = [
        ("p.png", png(), "image/png", "inline"),
        ("p.jpg", jpeg(), "image/jpeg", "inline"),
        ("p.gif", animated_gif(), "image/gif", "inline"),
        ("p.webp", webp(), "image/webp", "inline"),
        (
            "page.html",
            b"<!doctype html><script>alert(document.cookie)</script>",
            "text/plain; charset=utf-8",
            "attachment",
        ),
        ("d.svg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', None, "attachment"),
        ("a.pdf", b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n", "application/pdf", "attachment"),
        ("x.bin", noise(300), "application/octet-stream", "attachment"),
    ]
    for name, data, kind, disposition in cases:
        made = up(live, alice, room, name=name, data=data)
        got = call(live.http, "GET", made["url"], token=alice.token)
        assert got.status == 200, name
        assert got.headers["content-type"] == made["content_type"], name
        if kind is not None:
            assert made["content_type"] == kind, name
        assert got.headers["content-disposition"] == f"{disposition}; filename*=UTF-8''{q(name)}", name
        assert got.headers["x-content-type-options"] == "nosniff"
        assert got.headers["cache-control"].split(",")[0] == "private"
        csp = got.headers["content-security-policy"]
        assert "sandbox" in csp and "default-src 'none'" in csp, csp
        assert int(got.headers["content-length"]) == len(got.body) == made["size"]
        if made["thumbnail_url"]:
            thumb = call(live.http, "GET", made["thumbnail_url"], token=alice.token)
            assert thumb.headers["content-type"] == "image/webp"
            assert thumb.headers["content-disposition"].startswith("inline")
            assert thumb.headers["x-content-type-options"] == "nosniff"
            assert "sandbox" in thumb.headers["content-security-policy"]


def test_a_korean_name_in_the_disposition(live, accounts, room):
    alice = accounts.new()
    made = up(live, alice, room, name="보고서 최종.txt")
    got = call(live.http, "GET", made["url"], token=alice.token)
    assert got.status == 200
    assert got.headers["content-disposition"] == "attachment; filename*=UTF-8''" + q("보고서 최종.txt")


def test_ranges_and_head(live, accounts, room):
    alice = accounts.new()
    data = noise(1000)
    made = up(live, alice, room, name="video.bin", data=data)
    url, token = made["url"], alice.token
    whole = call(live.http, "GET", url, token=token)
    assert whole.headers["accept-ranges"] == "bytes"
    for header, start, end in [
        ("bytes=0-99", 0, 99),
        ("bytes=-100", 900, 999),
        ("bytes=100-", 100, 999),
        ("bytes=990-5000", 990, 999),
        ("bytes=5-5", 5, 5),
    ]:
        got = call(live.http, "GET", url, token=token, headers={"Range": header})
        assert got.status == 206, header
        assert got.headers["content-range"] == f"bytes {start}-{end}/1000", header
        assert got.body == data[start : end + 1], header
        assert int(got.headers["content-length"]) == end - start + 1
        assert got.headers["content-type"] == "application/octet-stream"
        assert got.headers["x-content-type-options"] == "nosniff"
    for header in ("bytes=1000-", "bytes=5000-6000", "bytes=-0"):
        got = call(live.http, "GET", url, token=token, headers={"Range": header})
        assert got.status == 416, header
        assert got.headers["content-range"] == "bytes */1000"
    for header in ("bytes=50-10", "lines=1-2", "bytes=a-b"):  # not a range Parley reads: the whole file
        got = call(live.http, "GET", url, token=token, headers={"Range": header})
        assert (got.status, got.body) == (200, data), header
    head = call(live.http, "HEAD", url, token=token)
    assert (head.status, head.body) == (200, b"")
    assert head.headers["content-length"] == "1000" and head.headers["content-type"] == "application/octet-stream"
    assert head.headers["content-disposition"].startswith("attachment")
    ranged = call(live.http, "HEAD", url, token=token, headers={"Range": "bytes=0-9"})
    assert (ranged.status, ranged.headers["content-range"], ranged.body) == (206, "bytes 0-9/1000", b"")


def test_an_empty_file(live, accounts, room):
    alice = accounts.new()
    made = up(live, alice, room, name="empty.txt", data=b"")
    assert made["size"] == 0 and made["content_type"] == "text/plain; charset=utf-8"
    got = call(live.http, "GET", made["url"], token=alice.token)
    assert (got.status, got.body, got.headers["content-length"]) == (200, b"", "0")
    assert call(live.http, "GET", made["url"], token=alice.token, headers={"Range": "bytes=0-9"}).status == 416


def test_a_bad_token_is_401_not_a_guest(live, accounts, room):
    """A revoked or unknown Bearer token gets the API's 401 on /files too (a program sees why)."""
    alice = accounts.new()
    made = up(live, alice, room, name="p.png", data=png())
    for url in (made["url"], made["thumbnail_url"]):
        answer = call(live.http, "GET", url, token="parley_" + "x" * 43)
        assert answer.status == 401 and answer.json["error"]["code"] == "unauthenticated"
        assert answer.headers["www-authenticate"] == 'Bearer realm="parley"'
