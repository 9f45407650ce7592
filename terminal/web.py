"""The REST API calls the client makes (docs/api.md): a token from a password, revoking it, and
posting a message. httpx, synchronous: each command makes one or two requests and exits.
"""

from __future__ import annotations

import platform
import time
import uuid
from typing import Any

import httpx

from terminal.address import Target
from terminal.config import Config

TIMEOUT = httpx.Timeout(15.0, connect=10.0)
RETRIES = 5  # a post that met a network error or 503 is sent again (same client_id: stored once)


class ApiError(Exception):
    """The server refused: its error code and detail (docs/api.md, "Errors"), and the HTTP status."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.status, self.code, self.detail = status, code, detail


def _error(response: httpx.Response) -> ApiError:
    try:
        error = response.json()["error"]
        return ApiError(response.status_code, str(error["code"]), str(error.get("detail", "")))
    except (ValueError, KeyError, TypeError):
        return ApiError(response.status_code, f"http_{response.status_code}", response.text[:200])


def _client(server: str, token: str | None = None) -> httpx.Client:
    headers = {"User-Agent": "parley-terminal/0.1", "Accept": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.Client(base_url=server, headers=headers, timeout=TIMEOUT, follow_redirects=False)


def token_name() -> str:
    """The name the token gets on the server's token page: which machine made it."""
    return f"parley terminal on {platform.node() or 'unknown host'}"[:100]


def login(server: str, username: str, password: str) -> Config:
    """``POST /api/v1/tokens``: a new token for this client. Wrong credentials: ApiError 401;
    too many failures: 429 (the server's login throttle)."""
    with _client(server) as client:
        body = {"username": username, "password": password, "name": token_name()}
        response = client.post("/api/v1/tokens", json=body)
    if response.status_code != 201:
        raise _error(response)
    data = response.json()
    return Config(server=server, username=username, token=str(data["token"]), token_id=int(data["id"]))


def logout(config: Config) -> bool:
    """``DELETE /api/v1/tokens/<id>``. True when revoked now, False when the server no longer knew
    it (revoked or expired already: 401 or 404); other refusals raise ApiError."""
    with _client(config.server, config.token) as client:
        response = client.delete(f"/api/v1/tokens/{config.token_id}")
    if response.status_code == 204:
        return True
    if response.status_code in (401, 404):
        return False
    raise _error(response)


def post_message(config: Config, target: Target, text: str, reply_to: int | None = None) -> dict[str, Any]:
    """Post ``text`` into the room; the stored message frame. Retried on a network error or 503 with
    the same ``client_id``, so a post whose answer was lost is not stored twice."""
    body: dict[str, Any] = {"message": text, "client_id": uuid.uuid4().hex}
    if reply_to is not None:
        body["reply_to"] = reply_to
    with _client(config.server, config.token) as client:
        for attempt in range(RETRIES):
            try:
                response = client.post(target.api_path, json=body)
            except httpx.TransportError:
                if attempt == RETRIES - 1:
                    raise
            else:
                if response.status_code in (200, 201):
                    answer: dict[str, Any] = response.json()
                    return answer
                if response.status_code not in (503, 429) or attempt == RETRIES - 1:
                    raise _error(response)
                if response.status_code == 429:
                    time.sleep(min(float(response.headers.get("Retry-After", "1") or 1), 10.0))
                    continue
            time.sleep(0.5 * 2**attempt)
    raise AssertionError("unreachable")
