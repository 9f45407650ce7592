"""GET /api/v1/search against a live server (both backends): every operator, Korean, Japanese and
Chinese inside words, mixed scripts, highlights' code point offsets, edits and deletes seen at once,
paging, bad queries, the rate limit, and every permission case answering exactly as a word that
exists nowhere."""

from __future__ import annotations

import urllib.parse
import uuid
from typing import Any

import pytest

from tests.api.client import User, new_user, request, room_path
from tests.uploads.kit import multipart

NOTHING = {"results": [], "next_before": None}


def word() -> str:
    """A word found nowhere else (letters only: digits would make it two terms)."""
    return "zq" + "".join(chr(ord("a") + int(c, 16) % 26) for c in uuid.uuid4().hex[:10])


def call(srv: Any, user: User, method: str, path: str, body: Any = None, **kw: Any):
    return request(srv.http, method, "/api/v1" + path, body, token=user.token, **kw)


def find(srv: Any, user: User | None, q: str, **params: Any) -> Any:
    query = urllib.parse.urlencode({"q": q, **params})
    return request(srv.http, "GET", f"/api/v1/search?{query}", token=user.token if user else None)


def found(srv: Any, user: User, q: str, **params: Any) -> list[str]:
    answer = find(srv, user, q, **params)
    assert answer.status == 200, answer.text
    return [r["message"] for r in answer.json["results"]]


def post(srv: Any, user: User, room: str, text: str, ns: str | None = None, **extra: Any) -> dict[str, Any]:
    path = f"/ns/{ns}/rooms/{room_path(room)}/messages" if ns else f"/rooms/{room_path(room)}/messages"
    answer = call(srv, user, "POST", path, {"message": text, **extra})
    assert answer.status == 201, answer.text
    return answer.json


@pytest.fixture(scope="module")
def alice(srv):
    return new_user(srv.http)


@pytest.fixture(scope="module")
def bob(srv):
    return new_user(srv.http)


@pytest.fixture
def room() -> str:
    return f"s-{uuid.uuid4().hex[:8]}"


def test_words_case_accents_and_prefix_of_the_last_word(srv, alice, room):
    w = word()
    post(srv, alice, room, f"The Deployment of {w} at the CAFÉ")
    assert found(srv, alice, f"{w} deploy") == [f"The Deployment of {w} at the CAFÉ"]
    assert found(srv, alice, f"{w.upper()} cafe") == [f"The Deployment of {w} at the CAFÉ"]
    assert found(srv, alice, f"{w} Café") == [f"The Deployment of {w} at the CAFÉ"]
    # Only the last word is a prefix.
    assert found(srv, alice, f"deploy {w}") == []
    assert found(srv, alice, f"{w} deploy cafe") == []  # "deploy" is not the last word: no "deployment"
    assert found(srv, alice, f"{w[:-2]}") == [f"The Deployment of {w} at the CAFÉ"]


def test_phrase_and_exclusion(srv, alice, room):
    w = word()
    post(srv, alice, room, f"{w} the quick brown fox")
    post(srv, alice, room, f"{w} the brown quick fox")
    assert found(srv, alice, f'{w} "quick brown"') == [f"{w} the quick brown fox"]
    assert found(srv, alice, f'"brown quick" {w}') == [f"{w} the brown quick fox"]
    assert found(srv, alice, f'{w} -"quick brown"') == [f"{w} the brown quick fox"]
    assert found(srv, alice, f"{w} -fox") == []
    assert sorted(found(srv, alice, f"{w} fox")) == sorted([f"{w} the quick brown fox", f"{w} the brown quick fox"])
    # Punctuation splits words; a word that is several terms is a phrase of them.
    post(srv, alice, room, f"{w} ran deploy_prod.sh on prod-eu")
    assert found(srv, alice, f"{w} deploy_prod") == [f"{w} ran deploy_prod.sh on prod-eu"]
    assert found(srv, alice, f"{w} prod_deploy") == []


def test_from_in_room_and_namespace(srv, alice, bob, room):
    w = word()
    other = f"s-{uuid.uuid4().hex[:8]}"
    post(srv, alice, room, f"{w} from alice")
    post(srv, bob, other, f"{w} from bob")
    assert found(srv, alice, f"{w} from:{bob.name}") == [f"{w} from bob"]
    assert found(srv, alice, f"{w} from:{alice.name.upper()}") == [f"{w} from alice"]
    assert found(srv, alice, f"{w} from:nobody") == []
    assert found(srv, alice, f"{w} in:{room}") == [f"{w} from alice"]
    assert found(srv, alice, w, room=other) == [f"{w} from bob"]
    assert found(srv, alice, f"{w} in:{other}", room=room) == []
    assert sorted(found(srv, alice, w, ns="public")) == [f"{w} from alice", f"{w} from bob"]
    ns = f"ns-{uuid.uuid4().hex[:8]}"
    assert call(srv, alice, "POST", "/ns", {"name": ns, "visibility": "open"}).status == 201
    assert call(srv, alice, "POST", f"/ns/{ns}/rooms", {"name": "general"}).status == 201
    post(srv, alice, "general", f"{w} in a namespace", ns=ns)
    assert found(srv, alice, w, ns=ns) == [f"{w} in a namespace"]
    assert found(srv, alice, f"{w} in:{ns}/general") == [f"{w} in a namespace"]
    answer = find(srv, alice, w, ns=ns)
    result = answer.json["results"][0]
    assert set(result) == {"namespace", "room", "id", "sender", "ts", "message", "html", "highlights"}
    assert (result["namespace"], result["room"], result["sender"]) == (ns, "general", alice.name)
    assert result["html"] == f"<p>{w} in a namespace</p>\n" or w in result["html"]


def test_has_link_has_file_and_file_names(srv, alice, room):
    w = word()
    post(srv, alice, room, f"{w} see https://example.com/x")
    post(srv, alice, room, f"{w} plain words")
    body, ctype = multipart(f"보고서-{w}-final.txt", b"hello")
    upload = request(
        srv.http,
        "POST",
        f"/api/v1/rooms/{room_path(room)}/uploads",
        raw=body,
        token=alice.token,
        headers={"Content-Type": ctype},
    )
    assert upload.status == 201, upload.text
    post(srv, alice, room, f"{w} the report", attachments=[upload.json["id"]])
    assert found(srv, alice, f"{w} has:link") == [f"{w} see https://example.com/x"]
    assert found(srv, alice, f"{w} has:file") == [f"{w} the report"]
    assert found(srv, alice, f"보고서 {w} final") == [f"{w} the report"]  # the file's name
    assert found(srv, alice, f"{w} has:file has:link") == []


def test_korean_japanese_chinese_inside_words_and_mixed(srv, alice, room):
    w = word()
    texts = [f"{w} 숙제는 내일까지", f"{w} 오늘숙제 끝", f"{w} 웹서버를 재시작했다", f"{w} Django 숙제를 했다"]
    for text in texts:
        post(srv, alice, room, text)
    post(srv, alice, room, f"{w} 東京都に行きました")
    post(srv, alice, room, f"{w} 我们的服务器很快")
    assert sorted(found(srv, alice, f"{w} 숙제")) == sorted([texts[0], texts[1], texts[3]])
    assert found(srv, alice, f"{w} 서버") == [texts[2]]
    assert found(srv, alice, f"{w} 웹서버") == [texts[2]]
    assert found(srv, alice, f"{w} 서버를") == [texts[2]]
    assert found(srv, alice, f"{w} 서버가") == []
    assert found(srv, alice, f"{w} django 숙제") == [texts[3]]
    assert found(srv, alice, f"{w} 숙제 -django") != [texts[3]]
    assert texts[3] not in found(srv, alice, f"{w} 숙제 -django")
    assert found(srv, alice, f"{w} 東京") == [f"{w} 東京都に行きました"]
    assert found(srv, alice, f"{w} 京都") == [f"{w} 東京都に行きました"]
    assert found(srv, alice, f"{w} 服务器") == [f"{w} 我们的服务器很快"]
    assert found(srv, alice, f"{w} 服务员") == []
    assert found(srv, alice, f'{w} "Django 숙제"') == [texts[3]]


def test_highlights_are_code_point_offsets(srv, alice, room):
    w = word()
    text = f"😀 {w} cafe\u0301 😀👍 오늘숙제는 Café"
    post(srv, alice, room, text)
    answer = find(srv, alice, f"{w} café 숙제")
    result = answer.json["results"][0]
    assert result["message"] == text
    spans = [text[a:b] for a, b in result["highlights"]]
    assert spans == [w, "cafe\u0301", "숙제", "Café"]
    # Offsets count code points: the emoji before are one each (two in UTF-16).
    assert result["highlights"][0] == [2, 2 + len(w)]
    # A prefix match highlights the whole word.
    result = find(srv, alice, f"{w[:-3]}").json["results"][0]
    assert [text[a:b] for a, b in result["highlights"]] == [w]


def test_edits_and_deletes_are_seen_at_once(srv, alice, room):
    w, old, new = word(), word(), word()
    sent = post(srv, alice, room, f"{w} {old}")
    assert found(srv, alice, old) == [f"{w} {old}"]
    edited = call(srv, alice, "PATCH", f"/rooms/{room_path(room)}/messages/{sent['id']}", {"message": f"{w} {new}"})
    assert edited.status in (200, 204), edited.text
    assert found(srv, alice, old) == []
    assert found(srv, alice, new) == [f"{w} {new}"]
    assert find(srv, alice, new).json["results"][0]["id"] == sent["id"]
    deleted = call(srv, alice, "DELETE", f"/rooms/{room_path(room)}/messages/{sent['id']}")
    assert deleted.status == 204, deleted.text
    assert found(srv, alice, new) == []
    assert found(srv, alice, w) == []


def test_paging_without_duplicates_or_gaps(srv, alice, room):
    w = word()
    ids = [post(srv, alice, room, f"{w} number {i}")["id"] for i in range(23)]
    seen: list[int] = []
    before = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 5}
        if before is not None:
            params["before"] = before
        page = find(srv, alice, w, **params).json
        seen.extend(r["id"] for r in page["results"])
        pages += 1
        before = page["next_before"]
        if before is None:
            break
    assert pages == 5
    assert seen == sorted(ids, reverse=True)  # newest first, each once
    default = find(srv, alice, w).json
    assert len(default["results"]) == 20 and default["next_before"] is not None


def test_bad_queries_are_invalid_frame(srv, alice):
    for q in ["", "   ", "from:someone", "-word", "has:file in:x", "!!! ...", "x" * 501, "a has:picture"]:
        answer = find(srv, alice, q)
        assert (answer.status, answer.code) == (400, "invalid_frame"), (q, answer.text)
    for params in [{"limit": 101}, {"limit": 0}, {"before": 0}]:
        answer = find(srv, alice, "hello", **params)
        assert (answer.status, answer.code) == (400, "invalid_frame"), (params, answer.text)
    missing = request(srv.http, "GET", "/api/v1/search", token=alice.token)
    assert (missing.status, missing.code) == (400, "invalid_frame")
    assert find(srv, alice, "x" * 500).status == 200


def test_guests_get_401(srv):
    answer = find(srv, None, "hello")
    assert (answer.status, answer.code) == (401, "unauthenticated")


def test_the_rate_limit(module_farm):
    limited = module_farm.start(PARLEY_SEARCH_PER_MINUTE="3")
    user = new_user(limited.http)
    statuses = [find(limited, user, "hello").status for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    answer = find(limited, user, "hello")
    assert answer.code == "rate_limited" and int(answer.headers["retry-after"]) >= 1
    other = new_user(limited.http)
    assert find(limited, other, "hello").status == 200  # per user


# --- Who sees what: every refusal is the answer for a word found nowhere --------------------------


def nowhere(srv: Any, user: User, w: str, **params: Any) -> None:
    """``w`` gets the same answer as a word that exists nowhere, byte for byte."""
    absent = find(srv, user, word(), **params)
    answer = find(srv, user, w, **params)
    assert (answer.status, answer.text) == (absent.status, absent.text)
    assert answer.json == NOTHING


def test_private_rooms_members_moderators_and_removed_members(srv):
    owner, member, outsider, nsmember = (new_user(srv.http) for _ in range(4))
    ns = f"ns-{uuid.uuid4().hex[:8]}"
    assert call(srv, owner, "POST", "/ns", {"name": ns, "visibility": "open"}).status == 201
    for u in (member, nsmember):
        assert call(srv, owner, "POST", f"/ns/{ns}/members", {"username": u.name}).status == 201
    assert call(srv, member, "POST", f"/ns/{ns}/rooms", {"name": "secret", "private": True}).status == 201
    w = word()
    post(srv, member, "secret", f"{w} the plan", ns=ns)
    assert found(srv, member, w) == [f"{w} the plan"]
    assert found(srv, owner, w) == [f"{w} the plan"]  # the namespace's owner moderates it
    for who in (outsider, nsmember):
        nowhere(srv, who, w)
        nowhere(srv, who, w, ns=ns)
        nowhere(srv, who, f"{w} in:secret")
        nowhere(srv, who, w, room=f"{ns}/secret")
    # Added to the room: found; removed: not any more.
    members = f"/ns/{ns}/rooms/secret/members"
    assert call(srv, member, "POST", members, {"username": nsmember.name}).status == 201
    assert found(srv, nsmember, w) == [f"{w} the plan"]
    assert call(srv, member, "DELETE", f"{members}/{nsmember.name}").status == 204
    nowhere(srv, nsmember, w)


def test_members_only_namespaces_and_bans(srv):
    owner, member, outsider = (new_user(srv.http) for _ in range(3))
    ns = f"ns-{uuid.uuid4().hex[:8]}"
    assert call(srv, owner, "POST", "/ns", {"name": ns, "visibility": "members"}).status == 201
    assert call(srv, owner, "POST", f"/ns/{ns}/members", {"username": member.name}).status == 201
    assert call(srv, owner, "POST", f"/ns/{ns}/rooms", {"name": "general"}).status == 201
    w = word()
    post(srv, owner, "general", f"{w} members only", ns=ns)
    assert found(srv, member, w) == [f"{w} members only"]
    nowhere(srv, outsider, w)
    nowhere(srv, outsider, w, ns=ns)
    # Removed from the namespace: gone.
    assert call(srv, owner, "DELETE", f"/ns/{ns}/members/{member.name}").status == 204
    nowhere(srv, member, w)
    # A ban hides an open namespace too.
    open_ns = f"ns-{uuid.uuid4().hex[:8]}"
    assert call(srv, owner, "POST", "/ns", {"name": open_ns, "visibility": "open"}).status == 201
    assert call(srv, owner, "POST", f"/ns/{open_ns}/rooms", {"name": "general"}).status == 201
    post(srv, owner, "general", f"{w} open to all", ns=open_ns)
    assert found(srv, outsider, w) == [f"{w} open to all"]
    assert call(srv, owner, "POST", f"/ns/{open_ns}/bans", {"username": outsider.name}).status == 201
    nowhere(srv, outsider, w)
    nowhere(srv, outsider, w, ns=open_ns)
    assert call(srv, owner, "DELETE", f"/ns/{open_ns}/bans/{outsider.name}").status == 204
    assert found(srv, outsider, w) == [f"{w} open to all"]


def test_direct_messages(srv):
    a, b, c = (new_user(srv.http) for _ in range(3))
    w = word()
    assert call(srv, a, "POST", f"/dm/{b.name}/messages", {"message": f"{w} between us"}).status == 201
    assert found(srv, a, w) == [f"{w} between us"]
    assert found(srv, b, w) == [f"{w} between us"]
    assert find(srv, b, w).json["results"][0]["namespace"] == "~dm"
    nowhere(srv, c, w)
    nowhere(srv, c, w, ns="~dm")
