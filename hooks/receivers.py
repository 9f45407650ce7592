"""Where an outgoing webhook may send: ``http``/``https`` URLs whose host resolves to public
addresses only, unless ``PARLEY_WEBHOOK_ALLOW_PRIVATE`` (SSRF: a hook must not make Parley reach its
own network: loopback, private ranges, link-local (cloud metadata at 169.254.169.254), multicast,
reserved). Checked when a hook is made (``check_url``) and again before every delivery
(``check_host``: every address the name resolves to, since DNS may change in between).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from urllib.parse import urlsplit

from django.conf import settings

MAX_URL_CHARS = 2000
# http or https, a host (an ASCII name or IPv4 address: an internationalized name in its xn-- form;
# or an IPv6 address in brackets) and no user name or password, a port from 0 to 65535, then any
# path, query and fragment without white space or controls. The API's schema gives the same
# pattern (``api.patterns.receiver_url``).
_PORT = r"(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})"
_H = "[0-9A-Fa-f]{1,4}"
_IPV6 = (
    rf"(?:(?:{_H}:){{7}}{_H}|(?:{_H}:){{1,7}}:|(?:{_H}:){{1,6}}:{_H}|(?:{_H}:){{1,5}}(?::{_H}){{1,2}}"
    rf"|(?:{_H}:){{1,4}}(?::{_H}){{1,3}}|(?:{_H}:){{1,3}}(?::{_H}){{1,4}}|(?:{_H}:){{1,2}}(?::{_H}){{1,5}}"
    rf"|{_H}:(?::{_H}){{1,6}}|:(?:(?::{_H}){{1,7}}|:))"
)
URL = re.compile(
    rf"^https?://(?:[A-Za-z0-9._~!$&'()*+,;=-]+|\[{_IPV6}\])(?::{_PORT})?(?:[/?#][^\s\u0000-\u001F\u007F]*)?$"
)


class Refused(ValueError):
    """The URL may not be a receiver (the reason is the message)."""


def check_url(url: object) -> str:
    """The URL if it is an http(s) URL with a host and no credentials; else Refused. The
    addresses are not looked up here (``check_host`` does)."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_CHARS:
        raise Refused(f"'url' must be an http or https URL of at most {MAX_URL_CHARS} characters")
    if URL.match(url) is None:
        raise Refused("'url' must be an http or https URL with a host, without a user name or password")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise Refused("'url' is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused("'url' must be an http or https URL with a host")
    if parts.username or parts.password:
        raise Refused("'url' must not hold a user name or password")
    try:
        parts.port  # noqa: B018  (a bad port raises here)
    except ValueError:
        raise Refused("'url' has a bad port") from None
    return url


def private(address: str) -> bool:
    """Whether ``address`` is not on the public Internet."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


class Private(Refused):
    """The host resolves to a private or loopback address."""


async def check_host(url: str, *, unresolved_ok: bool = False) -> None:
    """Resolve the URL's host and refuse it (Private) if any of its addresses is private, unless
    PARLEY_WEBHOOK_ALLOW_PRIVATE. A name that does not resolve is Refused too, unless
    ``unresolved_ok`` (when a hook is made: its name may resolve later; each delivery checks again)."""
    if settings.PARLEY_WEBHOOK_ALLOW_PRIVATE:
        return
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        if unresolved_ok:
            return
        raise Refused(f"{host} does not resolve: {exc}") from None
    bad = sorted({str(info[4][0]) for info in infos if private(str(info[4][0]))})
    if bad:
        raise Private(f"{host} resolves to a private or loopback address ({', '.join(bad)})")
    if not infos and not unresolved_ok:
        raise Refused(f"{host} does not resolve")
