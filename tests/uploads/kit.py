"""What the upload tests share: a byte-exact HTTP client, multipart bodies, images made with Pillow
(EXIF, GPS, text chunks, bombs, truncations), accounts made in bulk, the farm's database and media
folder as seen from outside, and WebSocket joins with a token."""

from __future__ import annotations

import http.client
import io
import json
import os
import re
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from PIL import Image

from tests.api.client import PASSWORD, Browser
from tests.servers import ROOT, ServerFarm
from tests.wsclient import connect, read_history, recv

# --- HTTP ------------------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def code(self) -> str:
        return self.json["error"]["code"]


def call(
    base: str,
    method: str,
    path: str,
    *,
    token: str | None = None,
    browser: Browser | None = None,
    body: bytes | None = None,
    json_body: Any = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """One request, the answer's bytes as sent (no redirect followed). ``browser``: its cookies
    (and the CSRF header if ``headers`` asks for it with ``X-CSRFToken: csrf``)."""
    sent = dict(headers or {})
    if json_body is not None:
        body = json.dumps(json_body).encode()
        sent.setdefault("Content-Type", "application/json")
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    if browser is not None:
        if sent.get("X-CSRFToken") == "csrf":
            sent["X-CSRFToken"] = browser.csrf()
        cookies = "; ".join(f"{c.name}={c.value}" for c in browser.jar)
        if cookies:
            sent["Cookie"] = cookies
        sent.setdefault("Referer", base + "/")
    parts = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=sent)
        response = conn.getresponse()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        conn.close()


_CSRF = re.compile(rb'name="csrfmiddlewaretoken" value="[^"]*"')


def missing(live: Any, **kw: Any) -> Reply:
    """The answer for a file that never existed (the same credentials)."""
    return call(live.http, "GET", f"/files/{2**40}/nothing.txt", **kw)


def assert_hidden(live: Any, url: str, **kw: Any) -> None:
    """``url`` answers exactly as a file that never existed: 404, the same type and page."""
    got, never = call(live.http, "GET", url, **kw), missing(live, **kw)
    assert got.status == never.status == 404, (url, got.status)
    assert got.headers["content-type"] == never.headers["content-type"]
    assert _CSRF.sub(b"", got.body) == _CSRF.sub(b"", never.body)  # the page's form token is new each time
    head = call(live.http, "HEAD", url, **kw)
    assert head.status == 404 and head.body == b""


def get_url(url: str, headers: dict[str, str] | None = None) -> Reply:
    """GET an absolute URL (a presigned one)."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""), headers=headers or {})
        response = conn.getresponse()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        conn.close()


def multipart(name: str, data: bytes, content_type: str = "application/octet-stream", field: str = "file") -> tuple:
    """A multipart/form-data body with one file: (body, its Content-Type header)."""
    boundary = uuid.uuid4().hex
    quoted = name.replace('"', "%22")
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="{field}"; filename="{quoted}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def q(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")


def uploads_path(room: str | None = None, *, ns: str | None = None, dm: str | None = None) -> str:
    if dm is not None:
        return f"/api/v1/dm/{q(dm)}/uploads"
    if ns is not None:
        return f"/api/v1/ns/{q(ns)}/rooms/{q(room or '')}/uploads"
    return f"/api/v1/rooms/{q(room or '')}/uploads"


def messages_path(room: str | None = None, *, ns: str | None = None, dm: str | None = None) -> str:
    return uploads_path(room, ns=ns, dm=dm).removesuffix("/uploads") + "/messages"


def upload(
    base: str,
    path: str,
    name: str,
    data: bytes,
    *,
    token: str | None = None,
    content_type: str = "application/octet-stream",
    field: str = "file",
    **kw: Any,
) -> Reply:
    body, header = multipart(name, data, content_type, field)
    headers = {"Content-Type": header, **kw.pop("headers", {})}
    return call(base, "POST", path, token=token, body=body, headers=headers, **kw)


def up(
    server: Any,
    who: Any,
    room: str | None = None,
    *,
    ns: str | None = None,
    dm: str | None = None,
    name: str = "notes.txt",
    data: bytes | None = None,
) -> dict:
    """Upload (a text file unless ``data``) as ``who``: the upload object (201 asserted)."""
    data = text_bytes() if data is None else data
    answer = upload(server.http, uploads_path(room, ns=ns, dm=dm), name, data, token=who.token)
    assert answer.status == 201, answer.body
    return answer.json


def attach(
    server: Any, who: Any, ids: list[int], room: str | None = None, *, ns: str | None = None, dm: str | None = None
) -> int:
    """Post a message with these attachments (and no text) as ``who``: its id (201 asserted)."""
    path = messages_path(room, ns=ns, dm=dm)
    answer = call(server.http, "POST", path, token=who.token, json_body={"attachments": ids})
    assert answer.status == 201, answer.body
    return answer.json["id"]


# --- Files -----------------------------------------------------------------------------------------


def noise(size: int) -> bytes:
    """Bytes no other test sends (so a stored file is found by its content)."""
    return os.urandom(size)


def text_bytes(size: int = 300) -> bytes:
    line = f"plain text {uuid.uuid4().hex}\n".encode()
    return (line * (size // len(line) + 1))[:size]


def png(width: int = 64, height: int = 48, color: tuple = (200, 30, 30), **params: Any) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "PNG", **params)
    return out.getvalue()


def png_with_text(width: int = 32, height: int = 32) -> bytes:
    """A PNG with tEXt, zTXt and iTXt chunks (where a tool writes a comment, an author, a path)."""
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "secret-comment-text")
    info.add_text("Author", "secret-author-text", zip=True)
    info.add_itxt("Location", "secret-location-text", lang="en", tkey="Location")
    return png(width, height, pnginfo=info)


def jpeg(width: int = 120, height: int = 80, *, orientation: int | None = None, gps: bool = False) -> bytes:
    """A JPEG with an EXIF block: Orientation, a camera model, a date and (``gps``) a GPS IFD."""
    image = Image.new("RGB", (width, height), (20, 120, 220))
    for x in range(width // 4):  # a mark in the top-left corner, so a rotation shows
        for y in range(height // 4):
            image.putpixel((x, y), (250, 250, 0))
    exif = Image.Exif()
    exif[0x0110] = "SecretPhone 9"  # Model
    exif[0x0132] = "2026:11:01 12:00:00"  # DateTime
    if orientation is not None:
        exif[0x0112] = orientation
    if gps:
        exif[0x8825] = {  # GPSInfo
            1: "N",
            2: (37.0, 33.0, 59.0),
            3: "E",
            4: (126.0, 58.0, 41.0),
        }
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes(), quality=90)
    return out.getvalue()


def animated_gif(frames: int = 3, width: int = 40, height: int = 30) -> bytes:
    colors = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]
    images = [Image.new("RGB", (width, height), colors[i % len(colors)]) for i in range(frames)]
    out = io.BytesIO()
    images[0].save(out, "GIF", save_all=True, append_images=images[1:], duration=100, loop=0)
    data = out.getvalue()
    with Image.open(io.BytesIO(data)) as check:
        assert check.n_frames == frames
    return data


GPS_EXIF = {1: "N", 2: (37.0, 33.0, 59.0), 3: "E", 4: (126.0, 58.0, 41.0)}
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="37,33.9N" exif:Model="SecretXMP"/>'
    b"</rdf:RDF></x:xmpmeta>"
)


def secret_exif() -> bytes:
    exif = Image.Exif()
    exif[0x0110] = "SecretPhone 9"
    exif[0x8825] = GPS_EXIF
    return exif.tobytes()


def with_metadata(fmt: str, frames: int = 3, width: int = 30, height: int = 20) -> bytes:
    """An image of ``frames`` frames (MPO: pictures) carrying "Secret" metadata wherever its
    format keeps it: EXIF with GPS, XMP, text chunks, a comment."""
    from PIL import PngImagePlugin

    colors = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]
    images = [Image.new("RGB", (width, height), colors[i % len(colors)]) for i in range(frames)]
    params: dict[str, Any] = {}
    if frames > 1:
        params = {"save_all": True, "append_images": images[1:], "duration": 100, "loop": 0}
    if fmt in ("PNG", "WEBP", "MPO", "JPEG"):
        params["exif"] = secret_exif()
    if fmt in ("WEBP", "MPO", "JPEG"):
        params["xmp"] = XMP
    if fmt == "PNG":
        info = PngImagePlugin.PngInfo()
        info.add_text("Comment", "SecretText")
        info.add_itxt("XML:com.adobe.xmp", XMP.decode())
        params["pnginfo"] = info
    if fmt == "GIF":
        params["comment"] = b"SecretComment"
    out = io.BytesIO()
    images[0].save(out, fmt, **params)
    data = out.getvalue()
    if fmt == "GIF":  # and an XMP application extension (Pillow writes none)
        table = 3 * 2 ** ((data[10] & 7) + 1) if data[10] & 0x80 else 0
        blocks = b"".join(bytes([len(XMP[i : i + 255])]) + XMP[i : i + 255] for i in range(0, len(XMP), 255))
        at = 13 + table
        data = data[:at] + b"\x21\xff\x0bXMP DataXMP" + blocks + b"\x00" + data[at:]
    assert b"Secret" in data
    with Image.open(io.BytesIO(data)) as check:
        assert getattr(check, "n_frames", 1) == frames
    return data


def webp(width: int = 50, height: int = 40) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (10, 200, 10)).save(out, "WEBP")
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")


def bomb_png(width: int = 50_000, height: int = 50_000) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb: the few
    bytes of its data would inflate to gigabytes)."""
    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([1, 0, 0, 0, 0])  # 1-bit grey
    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    data = zlib.compress(row * 64, 9)  # a start: the rest "to come"
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")


def exif_of(data: bytes) -> dict:
    with Image.open(io.BytesIO(data)) as image:
        return dict(image.getexif())


# --- The farm from outside: its database, its media folder, its commands ---------------------------


class Db:
    """SQL on a farm's database (SQLite file or PostgreSQL), for what a test cannot see through the
    server's doors: whether a row exists, or moving a time back instead of waiting."""

    def __init__(self, farm: ServerFarm) -> None:
        self.url = farm.env["DATABASE_URL"]

    def run(self, sql: str, params: tuple = ()) -> list[tuple]:
        if self.url.startswith("sqlite:///"):
            conn = sqlite3.connect(self.url.removeprefix("sqlite:///"), timeout=30)
            try:
                rows = conn.execute(sql.replace("%s", "?"), params).fetchall()
                conn.commit()
                return rows
            finally:
                conn.close()
        with psycopg.connect(self.url.replace("postgres://", "postgresql://", 1), autocommit=True) as conn:
            cursor = conn.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    def upload_ids(self) -> set[int]:
        return {row[0] for row in self.run("SELECT id FROM uploads_upload")}

    def keys(self, upload_id: int) -> list[str]:
        """The storage keys of the upload's file and thumbnail (if any)."""
        rows = self.run("SELECT key, thumbnail_key FROM uploads_upload WHERE id = %s", (upload_id,))
        assert rows, upload_id
        return [key for key in rows[0] if key]

    def paths(self, media: Path, upload_id: int) -> list[Path]:
        """Where the upload's file and thumbnail (if any) live under ``media``."""
        return [media / key for key in self.keys(upload_id)]

    def age_uploads(self, ids: list[int], hours: float) -> None:
        """Move the uploads' ``created_at`` ``hours`` into the past."""
        for upload_id in ids:
            (created,) = self.run("SELECT created_at FROM uploads_upload WHERE id = %s", (upload_id,))[0]
            self.run("UPDATE uploads_upload SET created_at = %s WHERE id = %s", (_back(created, hours), upload_id))

    def age_messages(self, room_address: str, hours: float) -> None:
        """Move every message of the room ``hours`` into the past."""
        rows = self.run(
            "SELECT m.id, m.created_at FROM chat_message m JOIN chat_room r ON m.room_id = r.id WHERE r.address = %s",
            (room_address,),
        )
        assert rows, room_address
        for message_id, created in rows:
            self.run("UPDATE chat_message SET created_at = %s WHERE id = %s", (_back(created, hours), message_id))


def _back(when: Any, hours: float) -> Any:
    import datetime

    if isinstance(when, str):  # SQLite: ISO text
        parsed = datetime.datetime.fromisoformat(when)
        return (parsed - datetime.timedelta(hours=hours)).isoformat(sep=" ")
    return when - datetime.timedelta(hours=hours)


def manage(farm: ServerFarm, *args: str, **env: str) -> str:
    """``manage.py`` on the farm's database and settings (``env`` added); its output."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**farm.env, **env},
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.stdout


def stored_files(media: Path) -> dict[Path, bytes]:
    """Every file under the media folder, by path, with its bytes."""
    if not media.exists():
        return {}
    return {p: p.read_bytes() for p in media.rglob("*") if p.is_file()}


def files_holding(media: Path, data: bytes) -> list[Path]:
    return [p for p, held in stored_files(media).items() if held == data]


def wait_until(check: Callable[[], bool], within: float = 15.0, what: str = "condition") -> None:
    """Poll ``check`` until it holds; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within} s")
        time.sleep(0.05)


# --- Accounts --------------------------------------------------------------------------------------

_MAKE_USERS = """
import json, sys, uuid
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from accounts.tokens import token_create
hashed = make_password({password!r})
made = []
for _ in range({count}):
    user = get_user_model().objects.create(username="u" + uuid.uuid4().hex[:10], password=hashed)
    made.append([user.username, token_create(user, "test")[1]])
sys.stdout.write("USERS" + json.dumps(made))
"""


@dataclass
class Account:
    name: str
    token: str

    def browser(self, base: str) -> Browser:
        """A browser logged in as this account (its session and CSRF cookie)."""
        browser = Browser(base)
        answer = browser.post_form("/accounts/login/", {"username": self.name, "password": PASSWORD})
        assert answer.status == 302, answer.text[:500]
        return browser


class Accounts:
    """Registered users with a token each, made in batches by one ``manage.py shell`` (one password
    hash for all: making them one by one through the signup form costs a hash each)."""

    def __init__(self, farm: ServerFarm, batch: int = 40) -> None:
        self.farm = farm
        self.batch = batch
        self.ready: list[Account] = []

    def new(self) -> Account:
        if not self.ready:
            script = _MAKE_USERS.format(password=PASSWORD, count=self.batch)
            out = manage(self.farm, "shell", "-c", script)
            self.ready = [Account(n, t) for n, t in json.loads(out[out.index("USERS") + 5 :])]
        return self.ready.pop()


# --- WebSockets ------------------------------------------------------------------------------------


def bearer(token: str) -> dict[str, Any]:
    return {"additional_headers": {"Authorization": f"Bearer {token}"}}


async def ws_join(base_ws: str, door: str, token: str | None = None, query: str = "") -> tuple[Any, dict, list]:
    """Connect to a native door (``door``: its path, e.g. ``/ws/rooms/<room>/``), read hello,
    history (every page with ``?after=``) and the first presence frame: (ws, hello, messages)."""
    ws = await connect(base_ws + door + query, **(bearer(token) if token else {}))
    hello, got, _ = await read_history(ws, paged="after=" in query)
    while (frame := await recv(ws))["type"] != "presence":
        assert frame["type"] != "error", frame
    return ws, hello, got


async def next_of(ws: Any, kind: str, within: float = 10.0) -> dict:
    """The next frame of type ``kind``, skipping presence and typing; an error frame fails unless asked for."""
    import asyncio

    async def loop() -> dict:
        while True:
            frame = await recv(ws, within)
            if frame["type"] == kind:
                return frame
            assert frame["type"] != "error", frame

    return await asyncio.wait_for(loop(), within)


def room_door(room: str, ns: str | None = None) -> str:
    return f"/ws/ns/{q(ns)}/{q(room)}/" if ns else f"/ws/rooms/{q(room)}/"


# --- Raw HTTP over a socket (to see what the server answers before the body is in) ---------------


def raw_request(port: int, head: str, parts: list[bytes], within: float = 15.0) -> Reply:
    """Send ``head`` (request line and headers, without the blank line) and ``parts`` of a body,
    then send nothing more and read the answer: the server must answer without the rest."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=within) as sock:
        sock.sendall(head.encode("latin-1") + b"\r\n\r\n")
        for part in parts:
            sock.sendall(part)
        got = b""
        while b"\r\n\r\n" not in got:
            chunk = sock.recv(65536)
            assert chunk, f"closed without an answer: {got!r}"
            got += chunk
        top, _, rest = got.partition(b"\r\n\r\n")
        lines = top.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        return Reply(status, headers, rest[:length])


def chunked(data: bytes, size: int = 8192) -> list[bytes]:
    """``data`` as HTTP/1.1 chunks (without the last, empty one: the body has not ended)."""
    return [b"%x\r\n%s\r\n" % (len(data[i : i + size]), data[i : i + size]) for i in range(0, len(data), size)]
