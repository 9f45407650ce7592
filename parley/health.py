"""The operator's endpoints: ``/livez``, ``/healthz`` and ``/metrics`` (docs/deployment.md, "Operations").

- ``/livez``: 200 while the process serves (it answers from the event loop, touching nothing else).
- ``/healthz``: can this process reach its backends now? A ``SELECT 1`` on a fresh database
  connection and a Redis ``PING`` on a fresh Redis connection, at once, each within
  ``PARLEY_HEALTH_TIMEOUT``: 200 ``{"database": "ok", "redis": "ok"|"unused"}``, else 503 with
  ``"down"`` for what failed. No credentials: it says nothing but ok or down.
- ``/metrics``: Prometheus' text format, 404 unless ``PARLEY_METRICS_TOKEN`` is set, then only
  with ``Authorization: Bearer <that token>`` (else 401 in the API's error shape).

All three are async views: the Redis check and the metrics never leave the event loop. The database
check runs on a thread of its own (``_DB_THREAD``), so a hung database holds up health checks, not
the group commit's thread, and a fresh connection each time (closed after) so it tests what a new
connection would meet, never a pooled one's past.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import glob
import hmac
import math
import os
import re
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
from django.conf import settings
from django.db import connections
from django.db.utils import load_backend
from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess

from chat.fanout import redisconn
from core import metrics as _defined  # noqa: F401  # the metrics exist before the first scrape

OK, DOWN, UNUSED = "ok", "down", "unused"

_DB_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parley-health")


def _json(body: object, status: int = 200) -> HttpResponse:
    response = HttpResponse(orjson.dumps(body), status=status, content_type="application/json")
    response["Cache-Control"] = "no-store"
    return response


def _error(code: str, detail: str, status: int) -> HttpResponse:
    """The API's error shape (api.errors, which this module does not depend on)."""
    response = _json({"error": {"code": code, "detail": detail}}, status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="parley-metrics"'
    return response


def _get_only(
    view: Callable[[HttpRequest], Coroutine[Any, Any, HttpResponse]],
) -> Callable[[HttpRequest], Coroutine[Any, Any, HttpResponse]]:
    """GET and HEAD only: any other method is a JSON 405 with Allow (not Django's CSRF page: these
    take no form, so they are exempt from the CSRF check)."""

    @functools.wraps(view)
    async def checked(request: HttpRequest) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            response = _error("method_not_allowed", "allowed methods: GET, HEAD", 405)
            response["Allow"] = "GET, HEAD"
            return response
        return await view(request)

    checked.csrf_exempt = True  # type: ignore[attr-defined]  # as Django's csrf_exempt sets it
    return checked


@_get_only
async def livez(request: HttpRequest) -> HttpResponse:
    return _json({"status": OK})


def _select_one(timeout: float) -> None:
    """``SELECT 1`` on a new connection to the default database, closed afterwards (sync)."""
    settings_dict = dict(connections.settings["default"])
    if settings_dict["ENGINE"].endswith("postgresql"):  # libpq's connect timeout: whole seconds, at least 2
        settings_dict["OPTIONS"] = {**settings_dict.get("OPTIONS", {}), "connect_timeout": max(2, math.ceil(timeout))}
    wrapper = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, "default")
    try:
        with wrapper.cursor() as cursor:
            cursor.execute("SELECT 1")
    finally:
        with contextlib.suppress(Exception):
            wrapper.close()


async def _database(seconds: float) -> str:
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(loop.run_in_executor(_DB_THREAD, _select_one, seconds), seconds)
    except Exception:
        return DOWN
    return OK


async def _redis(seconds: float) -> str:
    if not settings.REDIS_URL:
        return UNUSED
    url = settings.REDIS_URL
    client: Any = (
        redisconn.make_async_cluster(url, socket_timeout=seconds, socket_connect_timeout=seconds)
        if redisconn.is_cluster(url)
        else redisconn.make_async_client(url, socket_timeout=seconds, socket_connect_timeout=seconds)
    )
    try:
        await asyncio.wait_for(client.ping(), seconds)
    except Exception:
        return DOWN
    finally:
        with contextlib.suppress(Exception):
            await client.aclose()
    return OK


@_get_only
async def healthz(request: HttpRequest) -> HttpResponse:
    timeout = settings.PARLEY_HEALTH_TIMEOUT
    database, redis = await asyncio.gather(_database(timeout), _redis(timeout))
    healthy = database == OK and redis in (OK, UNUSED)
    return _json({"database": database, "redis": redis}, 200 if healthy else 503)


_LIVE_GAUGE_FILE = re.compile(r"gauge_live\w+?_(\d+)\.db$")


def _forget_dead_workers(path: str) -> None:
    """Drop the live-gauge files of workers that are gone (a worker uvicorn replaced after a crash):
    their connections are gone too. Counters and histograms keep every worker's counts."""
    for name in glob.glob(os.path.join(path, "gauge_live*_*.db")):
        match = _LIVE_GAUGE_FILE.search(name)
        if match is None:
            continue
        pid = int(match.group(1))
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, path)
        except PermissionError:
            pass  # alive, another user's


@_get_only
async def metrics(request: HttpRequest) -> HttpResponse:
    token = settings.PARLEY_METRICS_TOKEN
    if not token:
        return _error("not_found", "not found", 404)
    scheme, _, given = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        return _error("unauthenticated", "/metrics needs Authorization: Bearer <PARLEY_METRICS_TOKEN>", 401)
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:  # WORKERS>1: every worker's values, from their files
        _forget_dead_workers(path)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path)
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    response = HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response
