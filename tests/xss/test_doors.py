"""The XSS corpus through every door of a live server: each payload sent as a message over the native
WebSocket (and the seed's and the tutorial's), posted over the API, used as an edit's new text,
previewed (the page's and the API's), and used as an uploaded file's name. Every ``html`` that comes
back (live frames, the echo, history, resume, the API's answers, a thread) passes the safety check
and is ``markup.render``'s; every attachment's ``name`` is the name Parley makes safe.

One server for the module, without rate limits (the corpus is sent as fast as it can be read)."""

from __future__ import annotations

import json
import threading
import unicodedata
import urllib.parse
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http.multipartparser import MultiPartParser
from websockets.sync.client import ClientConnection, connect

from markup import render
from tests.api.client import Answer, Browser, User, new_user, request, room_path
from tests.servers import Server, ServerFarm, scaled_configuration
from tests.xss.corpus import payloads
from tests.xss.safety import assert_safe
from uploads.files import IMAGE_EXTENSIONS, MAX_NAME_CHARS, safe_name

WORKERS = 4  # HTTP requests at once (the machine has 2 cores; the server's database takes the rest)
TIMEOUT = 20


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("xss")
    farm = ServerFarm(
        tmp=tmp,
        scaled=scaled_configuration(),
        extra_env={
            "PARLEY_RATE_PER_SEC": "0",
            "PARLEY_FRAME_RATE_PER_SEC": "0",
            "PARLEY_UPLOADS_PER_MINUTE": "0",
            "PARLEY_MEDIA_ROOT": str(tmp / "media"),
            "PARLEY_TRUSTED_PROXIES": "127.0.0.1",  # the page preview's budget per X-Forwarded-For
        },
    )
    try:
        yield farm.start()
    finally:
        farm.close()


@pytest.fixture(scope="module")
def author(site: Server) -> User:
    return new_user(site.http)


def unique_room(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def chunks(texts: tuple[str, ...], limit: int = 3500) -> list[str]:
    """The payloads a few messages' worth at a time (blank lines between them): for the doors where
    one request per payload would be slow (each payload alone goes through markup.render in
    test_render.py and through the native door below)."""
    found: list[str] = []
    for text in texts:
        if found and len(found[-1]) + 2 + len(text) <= limit:
            found[-1] += "\n\n" + text
        else:
            found.append(text)
    return found


# --- Checks ---------------------------------------------------------------------------------------


def check_object(obj: dict[str, Any]) -> None:
    """A frame or message object: its html is safe; its attachments' names are safe text."""
    if "html" in obj:
        assert isinstance(obj["html"], str)
        assert_safe(obj["html"], obj.get("message"))
    for attachment in obj.get("attachments") or ():
        check_name(attachment["name"])
    for message in obj.get("messages") or obj.get("events") or ():
        check_object(message)


def check_name(name: str) -> None:
    """A file name as Parley keeps it: no path, no control or format character, none of the
    characters a header or a file system would choke on, NFC, at most MAX_NAME_CHARS."""
    assert name and len(name) <= MAX_NAME_CHARS, name
    assert not any(unicodedata.category(ch)[0] == "C" for ch in name), name
    assert not set(name) & set('/\\"<>|*?:'), name
    assert not name.startswith((".", " ")) and name == name.strip(), name
    assert unicodedata.normalize("NFC", name) == name


def expected_name(payload: str) -> str | None:
    """What the upload's name must be: the payload as Django's multipart parser hands it to the
    view (it unescapes HTML entities, keeps the last path segment, drops unprintable characters),
    made safe by ``uploads.files.safe_name``. None: Django drops a file whose name is then empty
    (a name ending in "/"), and the upload has no file."""
    received = MultiPartParser.sanitize_file_name(None, payload)  # type: ignore[arg-type]  # self unused
    if not received:
        return None
    return safe_name(SimpleUploadedFile(received, b"").name or "file")


def html_of(payload: str, frame: dict[str, Any]) -> str:
    return render(payload, mentions=frame.get("mentions", ()))


# --- WebSocket helpers ----------------------------------------------------------------------------


def ws_connect(site: Server, path: str, *, token: str | None = None, **kw: Any) -> ClientConnection:
    """A connection for a ``with`` block (``legacy=True``: one to close by hand)."""
    headers = {"Authorization": f"Bearer {token}"} if token else None
    kw.setdefault("max_queue", None)  # read everything as it comes (a full queue stalls the close)
    return connect(site.ws + path, additional_headers=headers, open_timeout=TIMEOUT, max_size=2**24, proxy=None, **kw)


def native_path(room: str, query: str = "") -> str:
    return f"/ws/rooms/{urllib.parse.quote(room, safe='')}/{query}"


def recv(ws: ClientConnection) -> dict[str, Any]:
    frame = json.loads(ws.recv(timeout=TIMEOUT))
    assert isinstance(frame, dict)
    return frame


def joined(ws: ClientConnection) -> ClientConnection:
    """Past hello, the history and the first presence frame."""
    while recv(ws)["type"] != "presence":
        pass
    return ws


class Listener:
    """A guest on the native door of a room, reading every frame on a thread until closed."""

    def __init__(self, site: Server, room: str) -> None:
        self.ws = joined(ws_connect(site, native_path(room, "?name=watcher"), legacy=True))
        self.frames: list[dict[str, Any]] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            while True:
                self.frames.append(json.loads(self.ws.recv()))
        except Exception:  # closed
            return

    def wait_for(self, kind: str, count: int) -> list[dict[str, Any]]:
        """Wait until ``count`` frames of ``kind`` have come (each check a ping's round trip)."""
        for _ in range(TIMEOUT * 20):
            got = [f for f in self.frames if f.get("type") == kind]
            if len(got) >= count:
                return got
            threading.Event().wait(0.05)
        raise AssertionError(f"{len([f for f in self.frames if f.get('type') == kind])} of {count} {kind} frames")

    def close(self) -> None:
        self.ws.close()
        self.thread.join(TIMEOUT)


def send_all(ws: ClientConnection, frames: list[dict[str, Any]], kind: str, sender: str) -> list[dict[str, Any]]:
    """Send the frames and read the answers of ``kind`` from ``sender`` (no error may come)."""
    for frame in frames:
        ws.send(json.dumps(frame))
    got: list[dict[str, Any]] = []
    while len(got) < len(frames):
        frame = recv(ws)
        assert frame["type"] != "error", frame
        if frame["type"] == kind and frame.get("sender") == sender:
            got.append(frame)
    return got


def resume(site: Server, room: str, token: str) -> list[dict[str, Any]]:
    """Every event of the room, as a resume from 0 brings them (native door, paged history)."""
    with ws_connect(site, native_path(room, "?after=0"), token=token) as ws:
        assert recv(ws)["type"] == "hello"
        events: list[dict[str, Any]] = []
        while True:
            frame = recv(ws)
            assert frame["type"] == "history", frame
            events.extend(frame["messages"])
            if not frame["has_more"]:
                return events


# --- HTTP helpers ---------------------------------------------------------------------------------


def api(site: Server, user: User, method: str, path: str, body: Any = None, **kw: Any) -> Any:
    answer = request(site.http, method, path, body, token=user.token, **kw)
    assert answer.status in (200, 201), (method, path, body, answer.status, answer.text[:500])
    return answer.json


def parallel(func: Any, items: list[Any]) -> list[Any]:
    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(func, items))


def api_pages(site: Server, user: User, room: str, query: str, key: str) -> list[dict[str, Any]]:
    """Every page of ``GET .../messages?<query>``: state pages walking back (``before``), or event
    pages walking forward (``after``)."""
    base = f"/api/v1/rooms/{room_path(room)}/messages?limit=100"
    found: list[dict[str, Any]] = []
    cursor = query
    while True:
        page = api(site, user, "GET", f"{base}&{cursor}")
        check_object(page)
        found = page[key] + found if key == "messages" else found + page[key]
        if not page["has_more"]:
            return found
        cursor = f"before={page[key][0]['id']}" if key == "messages" else f"after={page[key][-1]['id']}"


# --- The doors ------------------------------------------------------------------------------------


def test_native_websocket_messages_edits_history_and_resume(site, author):
    corpus = payloads()
    room = unique_room("xss-ws")
    listener = Listener(site, room)
    try:
        with ws_connect(site, native_path(room), token=author.token) as ws:
            joined(ws)
            sends = [{"type": "message", "message": p, "client_id": f"x{i}"} for i, p in enumerate(corpus)]
            echoes = send_all(ws, sends, "message", author.name)
            assert [e["client_id"] for e in echoes] == [s["client_id"] for s in sends]
            for payload, echo in zip(corpus, echoes, strict=True):
                assert echo["message"] == payload
                assert echo["html"] == html_of(payload, echo)
                check_object(echo)
            # Each message's text replaced by another payload.
            edits = [
                {"type": "edit", "target": e["id"], "message": corpus[(i + 1) % len(corpus)]}
                for i, e in enumerate(echoes)
            ]
            for frame in send_all(ws, edits, "edit", author.name):
                check_object(frame)
                if "@" not in frame["message"]:  # an edit's html marks the names it mentions now
                    assert frame["html"] == render(frame["message"])
            # A fresh join's history (the newest messages as they are now).
        with ws_connect(site, native_path(room), token=author.token) as ws:
            hello, history = recv(ws), recv(ws)
            assert hello["type"] == "hello" and history["type"] == "history" and history["messages"]
            check_object(history)
            assert all(m["edited"] for m in history["messages"])
        events = resume(site, room, author.token)
        assert len(events) == 2 * len(corpus)
        for event in events:
            check_object(event)
        assert len(listener.wait_for("edit", len(corpus))) == len(corpus)
        assert len(listener.wait_for("message", len(corpus))) == len(corpus)
        for frame in listener.frames:
            check_object(frame)
    finally:
        listener.close()


def test_seed_and_tutorial_doors(site):
    corpus = chunks(payloads(), 1500)
    room = unique_room("xss-seed")
    quoted = urllib.parse.quote(room, safe="")
    listener = Listener(site, room)
    try:
        with (
            ws_connect(site, f"/chat/{quoted}") as seed,
            ws_connect(site, f"/ws/chat/{quoted}/") as tutorial,
        ):
            for i, payload in enumerate(corpus):
                if i % 2:
                    seed.send(json.dumps({"sender": "seed", "message": payload}))
                else:
                    tutorial.send(json.dumps({"message": payload}))
            frames = listener.wait_for("message", len(corpus))
            # Their own doors get the frame without html and attachments: the seed's reader saw them.
            first = json.loads(seed.recv(timeout=TIMEOUT))
            assert "html" not in first and "attachments" not in first
        assert sorted(f["message"] for f in frames) == sorted(corpus)
        for frame in frames:
            assert frame["html"] == html_of(frame["message"], frame)
            check_object(frame)
    finally:
        listener.close()


def test_api_posts_edits_thread_and_history(site, author):
    corpus = chunks(payloads())
    room = unique_room("xss-api")
    path = f"/api/v1/rooms/{room_path(room)}/messages"
    root = api(site, author, "POST", path, {"message": "스레드"})
    listener = Listener(site, room)
    try:
        posted = parallel(lambda p: api(site, author, "POST", path, {"message": p, "reply_to": root["id"]}), corpus)
        for payload, answer in zip(corpus, posted, strict=True):
            assert answer["message"] == payload
            assert answer["html"] == html_of(payload, answer)
            check_object(answer)
        pairs = [(answer["id"], corpus[(i + 1) % len(corpus)]) for i, answer in enumerate(posted)]
        edited = parallel(lambda pair: api(site, author, "PATCH", f"{path}/{pair[0]}", {"message": pair[1]}), pairs)
        for (_, text), answer in zip(pairs, edited, strict=True):
            assert answer["message"] == text and answer["edited"]
            check_object(answer)
            if "@" not in text:
                assert answer["html"] == render(text)
        thread = api(site, author, "GET", f"{path}/{root['id']}/thread")
        assert len(thread["messages"]) == len(corpus)
        check_object(thread)
        state = api_pages(site, author, room, "", "messages")
        assert len(state) == len(corpus) + 1
        events = api_pages(site, author, room, "after=0", "events")
        assert len(events) == 2 * len(corpus) + 1
        listener.wait_for("edit", len(corpus))
        for frame in listener.frames:
            check_object(frame)
    finally:
        listener.close()


def multipart(name: str, data: bytes) -> tuple[bytes, str]:
    """A multipart body with one file, ``file``, named ``name`` exactly (RFC 2231's filename*,
    which carries any character: quotes, semicolons, line breaks)."""
    boundary = uuid.uuid4().hex
    head = (
        f"--{boundary}\r\n"
        f"Content-Disposition: form-data; name=\"file\"; filename*=UTF-8''{urllib.parse.quote(name, safe='')}\r\n"
        "Content-Type: text/plain\r\n\r\n"
    )
    return head.encode() + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def test_uploads_named_by_the_corpus(site, author):
    corpus = payloads()
    room = unique_room("xss-files")
    upload_path = f"/api/v1/rooms/{room_path(room)}/uploads"

    def upload(payload: str) -> Answer:
        body, content_type = multipart(payload, f"named {payload!r}\n".encode())
        headers = {"Content-Type": content_type}
        return request(site.http, "POST", upload_path, raw=body, headers=headers, token=author.token)

    answers = parallel(upload, list(corpus))
    uploads = []
    for payload, answer in zip(corpus, answers, strict=True):
        name = expected_name(payload)
        if name is None:
            assert answer.status == 400 and answer.code == "invalid_frame", (payload, answer.text)
            continue
        if name.lower().endswith(tuple(IMAGE_EXTENSIONS)):  # a text file named as an image: not what it claims
            assert answer.status == 400 and answer.code == "invalid_file", (payload, answer.text)
            continue
        assert answer.status == 201, (payload, answer.status, answer.text)
        uploads.append(upload := answer.json)
        assert upload["name"] == name, payload
        check_name(upload["name"])
        assert upload["content_type"].startswith("text/plain")
        assert upload["url"] == f"/files/{upload['id']}/{urllib.parse.quote(name, safe='')}"
    assert len(uploads) > len(corpus) * 0.9
    # Downloaded by the name (a fifth of them): a file, never a page; the name percent-encoded.
    sample = uploads[::5]
    fetched = parallel(lambda u: request(site.http, "GET", u["url"], token=author.token), sample)
    for upload, got in zip(sample, fetched, strict=True):
        assert got.status == 200, (upload, got.status)
        assert got.headers["content-disposition"] == f"attachment; filename*=UTF-8''{upload['url'].rsplit('/', 1)[1]}"
        assert got.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in got.headers["content-security-policy"]
        assert got.text.startswith("named ")
    names = {u["id"]: u["name"] for u in uploads}
    groups = [[u["id"] for u in uploads[i : i + 10]] for i in range(0, len(uploads), 10)]
    listener = Listener(site, room)
    try:
        # Half the messages carry their files over the native door, half over the API.
        with ws_connect(site, native_path(room), token=author.token) as ws:
            joined(ws)
            sends = [
                {"type": "message", "message": corpus[i], "attachments": ids, "client_id": f"f{i}"}
                for i, ids in enumerate(groups)
                if i % 2 == 0
            ]
            echoes = send_all(ws, sends, "message", author.name)
        posted = [
            api(site, author, "POST", f"/api/v1/rooms/{room_path(room)}/messages", {"attachments": ids})
            for i, ids in enumerate(groups)
            if i % 2
        ]
        for message in echoes + posted:
            check_object(message)
            assert [a["name"] for a in message["attachments"]] == [names[a["id"]] for a in message["attachments"]]
        assert {a["id"] for m in echoes + posted for a in m["attachments"]} == set(names)
        assert all(m["html"] == "" and m["message"] == "" for m in posted)  # attachments alone
        state = api_pages(site, author, room, "", "messages")
        assert {a["id"]: a["name"] for m in state for a in m["attachments"]} == names
        for event in resume(site, room, author.token):
            check_object(event)
        listener.wait_for("message", len(groups))
        for frame in listener.frames:
            check_object(frame)
    finally:
        listener.close()


def test_previews(site, author):
    """``POST /api/v1/preview`` (a token) and ``POST /preview/`` (the page's: session and CSRF)
    answer markup.render's html for every payload."""
    corpus = chunks(payloads())
    answers = parallel(lambda p: api(site, author, "POST", "/api/v1/preview", {"message": p}), corpus)
    for payload, answer in zip(corpus, answers, strict=True):
        assert answer == {"html": render(payload)}
    guest = Browser(site.http)
    assert guest.get("/rooms/lobby/").status == 200  # the CSRF cookie

    def page_preview(item: tuple[int, str]) -> dict[str, Any]:
        i, payload = item
        # Each from its own address (a trusted proxy's X-Forwarded-For): the page's budget is per address.
        headers = {"X-Forwarded-For": f"10.9.{i // 250}.{i % 250 + 1}", "X-CSRFToken": guest.csrf()}
        answer = request(site.http, "POST", "/preview/", {"message": payload}, headers=headers, opener=guest.opener)
        assert answer.status == 200, answer.text[:300]
        return answer.json

    for payload, answer in zip(corpus, parallel(page_preview, list(enumerate(corpus))), strict=True):
        assert answer == {"html": render(payload)}


def test_namespace_and_direct_message_doors(site, author):
    """The same rendering through a namespace's room and a direct message, over the API and the
    native doors (the corpus a few messages' worth at a time)."""
    corpus = chunks(payloads())
    other = new_user(site.http)
    ns = unique_room("xss-ns")
    api(site, author, "POST", "/api/v1/ns", {"name": ns})
    doors = [
        (f"/api/v1/ns/{ns}/rooms/{room_path('방')}/messages", f"/ws/ns/{ns}/{urllib.parse.quote('방')}/"),
        (f"/api/v1/dm/{other.name}/messages", f"/ws/dm/{other.name}/"),
    ]
    for api_path, ws_path in doors:
        for text in corpus:
            answer = api(site, author, "POST", api_path, {"message": text})
            assert answer["html"] == html_of(text, answer)
            check_object(answer)
        with ws_connect(site, ws_path, token=author.token) as ws:
            joined(ws)
            sends = [{"type": "message", "message": t, "client_id": f"n{i}"} for i, t in enumerate(corpus)]
            for text, echo in zip(corpus, send_all(ws, sends, "message", author.name), strict=True):
                assert echo["html"] == html_of(text, echo)
                check_object(echo)
        for event in api_pages_at(site, author, api_path):
            check_object(event)


def api_pages_at(site: Server, user: User, path: str) -> list[dict[str, Any]]:
    """Every event of the room at ``path`` (``.../messages``), walking forward."""
    events: list[dict[str, Any]] = []
    after = 0
    while True:
        page = api(site, user, "GET", f"{path}?after={after}&limit=100")
        events.extend(page["events"])
        if not page["has_more"]:
            return events
        after = page["events"][-1]["id"]
