"""A real HTTP receiver for outgoing webhooks, on a free local port, in a thread of the test: it
records every request (headers and raw body), answers as it is told (a status per request, a
reply body), and can be stopped and started again on the same port."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.servers import free_port


@dataclass
class Hit:
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def signed_with(self, secret: str) -> bool:
        expected = "sha256=" + hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, self.headers.get("x-parley-signature", ""))


@dataclass
class Receiver:
    port: int = field(default_factory=free_port)
    hits: list[Hit] = field(default_factory=list)
    # Decides each answer from the request's JSON: (status, body). Default: 200, empty.
    answer: Callable[[dict[str, Any]], tuple[int, bytes]] = lambda _: (200, b"")
    lock: threading.Lock = field(default_factory=threading.Lock)
    _server: http.server.ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                try:
                    status, reply = receiver.answer(json.loads(body))
                except Exception:
                    status, reply = 500, b""
                with receiver.lock:
                    receiver.hits.append(Hit({k.lower(): v for k, v in self.headers.items()}, body, status))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                pass

        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def acked(self) -> list[Hit]:
        with self.lock:
            return [h for h in self.hits if h.ok]

    def all(self) -> list[Hit]:
        with self.lock:
            return list(self.hits)


def flaky(rate: float, seed: int = 7) -> Callable[[dict[str, Any]], tuple[int, bytes]]:
    """Answers 500 to about ``rate`` of the requests (seeded: the same run each time)."""
    rng = random.Random(seed)
    lock = threading.Lock()

    def answer(_: dict[str, Any]) -> tuple[int, bytes]:
        with lock:
            return (500, b"") if rng.random() < rate else (200, b"")

    return answer
