"""Where a room is: ``[<ns>/]<room>`` or a direct message, as the server's URLs spell it.

Pure: the WebSocket path (``/ws/rooms/<room>/``, ``/ws/ns/<ns>/<room>/``, ``/ws/dm/<username>/``)
and the API's messages path for the same room, each segment percent-encoded UTF-8 (docs/api.md).
The server checks the names; this only splits and encodes them.
"""

from __future__ import annotations

import unicodedata
import urllib.parse
from dataclasses import dataclass


def _segment(name: str) -> str:
    return urllib.parse.quote(name, safe="")


@dataclass(frozen=True)
class Target:
    """A room of a namespace (``namespace`` None: ``public``'s short URLs) or a DM (``dm`` set)."""

    room: str = ""
    namespace: str | None = None
    dm: str | None = None

    @property
    def label(self) -> str:
        """How the client names it to the user: ``@kim``, ``lobby``, ``cs101/lab-1``."""
        if self.dm is not None:
            return f"@{self.dm}"
        return f"{self.namespace}/{self.room}" if self.namespace else self.room

    @property
    def ws_path(self) -> str:
        if self.dm is not None:
            return f"/ws/dm/{_segment(self.dm)}/"
        if self.namespace:
            return f"/ws/ns/{_segment(self.namespace)}/{_segment(self.room)}/"
        return f"/ws/rooms/{_segment(self.room)}/"

    @property
    def api_path(self) -> str:
        """The room's messages collection in the REST API."""
        if self.dm is not None:
            return f"/api/v1/dm/{_segment(self.dm)}/messages"
        if self.namespace:
            return f"/api/v1/ns/{_segment(self.namespace)}/rooms/{_segment(self.room)}/messages"
        return f"/api/v1/rooms/{_segment(self.room)}/messages"


def parse_room(text: str) -> Target:
    """``lobby`` -> public's lobby; ``cs101/lab-1`` -> room lab-1 of namespace cs101. NFC first, as
    the server does, so a Korean name typed on any keyboard is one room. ValueError for an empty part."""
    text = unicodedata.normalize("NFC", text.strip())
    namespace, slash, room = text.partition("/")
    if not slash:
        namespace, room = "", namespace
    if not room or (slash and not namespace) or "/" in room:
        raise ValueError(f"not a room: {text!r} (write <room> or <namespace>/<room>)")
    return Target(room=room, namespace=namespace or None)


def parse_dm(username: str) -> Target:
    """A direct message with ``username`` (a leading ``@`` is allowed)."""
    name = unicodedata.normalize("NFC", username.strip()).removeprefix("@")
    if not name or "/" in name:
        raise ValueError(f"not a username: {username!r}")
    return Target(dm=name)


def ws_base(server: str) -> str:
    """The WebSocket origin of an http(s) server URL: http -> ws, https -> wss."""
    if server.startswith("https://"):
        return "wss://" + server.removeprefix("https://")
    if server.startswith("http://"):
        return "ws://" + server.removeprefix("http://")
    raise ValueError(f"not an http(s) URL: {server!r}")


def normalize_server(url: str) -> str:
    """A server URL as the user typed it -> ``scheme://host[:port][/prefix]`` without a trailing slash
    (``chat.example.org`` means https)."""
    url = url.strip()
    if "://" not in url:
        url = "https://" + url
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"not an http(s) URL: {url!r}")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
