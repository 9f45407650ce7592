"""Where an outgoing webhook may send: ``http``/``https`` URLs whose host resolves to public
addresses only, unless ``PARLEY_WEBHOOK_ALLOW_PRIVATE`` (SSRF: a hook must not make Parley reach its
own network: loopback, private ranges, link-local (cloud metadata at 169.254.169.254), multicast,
reserved). Checked when a hook is made (``check_url``) and again before every delivery
(``check_host``: every address the name resolves to, since DNS may change in between).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

MAX_URL_CHARS = 2000


class Refused(ValueError):
    """The URL may not be a receiver (the reason is the message)."""


def check_url(url: object) -> str:
    """The URL if it is an http(s) URL with a host and no credentials; else Refused. The
    addresses are not looked up here (``check_host`` does)."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_CHARS:
        raise Refused(f"'url' must be an http or https URL of at most {MAX_URL_CHARS} characters")
    parts = urlsplit(url)
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


async def check_host(url: str) -> None:
    """Resolve the URL's host and refuse it (Refused) if any of its addresses is private, unless
    PARLEY_WEBHOOK_ALLOW_PRIVATE. A name that does not resolve is Refused too."""
    if settings.PARLEY_WEBHOOK_ALLOW_PRIVATE:
        return
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise Refused(f"{host} does not resolve: {exc}") from None
    bad = sorted({str(info[4][0]) for info in infos if private(str(info[4][0]))})
    if bad or not infos:
        raise Refused(f"{host} resolves to a private or loopback address ({', '.join(bad)})")
