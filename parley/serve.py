"""``make run``: migrate-free server start, with every server flag derived from settings.

Runs uvicorn with the sans-I/O websockets protocol (``parley.edge.EdgeWebSocketProtocol``: lighter
per idle connection), a frame limit of PARLEY_MAX_FRAME_BYTES (so an
oversized frame closes with 1009 before it is buffered) and per-message compression off unless
PARLEY_WS_COMPRESSION is on. Its HTTP protocol is httptools' with Parley's request-head limits and
handshake deadline (``parley.edge.EdgeHttpProtocol``), and uvicorn's own proxy-header handling is
off: it believes X-Forwarded-For from 127.0.0.1 by default, while Parley believes it only from
PARLEY_TRUSTED_PROXIES (``core.clientaddr``). ``WORKERS=N`` runs N processes on one port; they
share rooms through Redis, so more than one worker without REDIS_URL is refused.

With more than one worker the metrics are prometheus_client's multiprocess kind: each worker writes
its values to files in PROMETHEUS_MULTIPROC_DIR (a fresh temporary directory unless it is set, its
old files removed at start, removed at exit if it was ours), and ``/metrics`` on any worker sums
them (``parley.health``). It must be set before any process imports prometheus_client: here,
before Django starts. With ``PARLEY_LOG_FORMAT=json`` uvicorn's own log handlers are left out, so
its lines reach the root logger's JSON handler (``parley/settings.py``, ``LOGGING``).
"""

from __future__ import annotations

import glob
import logging
import os
import shutil
import sys
import tempfile


def metrics_directory(workers: int) -> str | None:
    """With ``workers`` > 1: the directory for prometheus_client's multiprocess files, put in
    PROMETHEUS_MULTIPROC_DIR for the workers, emptied of an earlier run's files; None with one
    worker (one process counts in memory). Returns the directory when it was made here."""
    if workers < 2:
        return None
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        os.makedirs(given, exist_ok=True)
        for stale in glob.glob(os.path.join(given, "*.db")):
            os.remove(stale)
        return None
    made = tempfile.mkdtemp(prefix="parley-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = made
    return made


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "parley.settings")
    workers = int(os.environ.get("WORKERS", "1") or 1)
    made = metrics_directory(workers)
    try:
        return serve(workers)
    finally:
        if made:
            shutil.rmtree(made, ignore_errors=True)


def serve(workers: int) -> int:
    import django
    from django.conf import settings

    django.setup()
    import uvicorn

    host = os.environ.get("HOST", "127.0.0.1") or "127.0.0.1"
    port = int(os.environ.get("PORT", "8000") or 8000)
    if workers < 1:
        print("WORKERS must be at least 1", file=sys.stderr)
        return 2
    if workers > 1 and not settings.REDIS_URL:
        print(
            f"WORKERS={workers} needs REDIS_URL: worker processes share rooms through Redis.\n"
            "Start Redis and run e.g. make run WORKERS=2 REDIS_URL=redis://127.0.0.1:6379/0",
            file=sys.stderr,
        )
        return 2
    fan_out = "Redis" if settings.REDIS_URL else "in-process"
    database = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    plural = "s" if workers > 1 else ""
    banner = f"Parley on http://{host}:{port}/ ({workers} worker{plural}, {fan_out} fan-out, {database})"
    json_logs = settings.PARLEY_LOG_FORMAT == "json"
    if json_logs:
        logging.getLogger("parley.serve").info("%s", banner)  # one JSON line, like every other
    else:
        print(banner, flush=True)
    uvicorn.run(
        "parley.asgi:application",
        host=host,
        port=port,
        workers=workers,
        http="parley.edge:EdgeHttpProtocol",
        proxy_headers=False,
        ws="parley.edge:EdgeWebSocketProtocol",
        ws_max_size=settings.PARLEY_MAX_FRAME_BYTES,
        ws_per_message_deflate=settings.PARLEY_WS_COMPRESSION,
        lifespan="on",  # parley.asgi.Lifespan: the outgoing webhooks' deliverer (hooks.deliverer)
        log_level=os.environ.get("PARLEY_SERVER_LOG_LEVEL", "info"),
        log_config=None if json_logs else uvicorn.config.LOGGING_CONFIG,
        access_log=os.environ.get("PARLEY_ACCESS_LOG", "0") == "1",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
