"""Scenario F: B's send path with an attachment on every message.

B's shape (``rooms`` rooms of ``members``, one closed-loop sender per room), but each sender is a
user with a personal token (``bench.apitokens``; the WebSocket handshake's ``Authorization:
Bearer``), and each message carries ``per_message`` of the sender's uploads to its room
(``"attachments": [id]``). The uploads are made before the load:

1. through the API, as a client would: every sender uploads ``API_UPLOADS`` small PNGs
   (``POST /api/v1/rooms/<room>/uploads``), ``UPLOAD_CONCURRENCY`` requests in flight; timed, with
   the server's CPU over the phase: F's upload numbers;
2. the rest as copies of those rows (``bench.uploadpool``), enough for every message of the run.

Then the load (``loadgen.run_rooms``), measured as B is. What an attachment changes on the send
path: the message frame carries the upload object (~250 bytes more per delivery), and the group
commit reads the batch's uploads (one query) and marks each claimed one (an UPDATE per message).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx

from . import httpsend, loadgen, servers
from .attachplan import UploadPool, pool_size, sample_png
from .httpplan import outcome
from .stats import percentile

POOL_CMD = [sys.executable, "-m", "bench.uploadpool"]
API_UPLOADS = 3  # uploads per sender through the API, before the load
UPLOAD_CONCURRENCY = 16
UPLOAD_PATH = "/api/v1/rooms/{room}/uploads"


async def upload_phase(
    server: servers.Server, tokens: list[str], tag: str, per_sender: int, log: Callable[[str], None]
) -> dict[str, Any]:
    """Every sender ``s`` uploads ``per_sender`` PNGs to its room ``<tag>r<s>``: upload latency,
    uploads/s, server CPU per upload, refusals by code."""
    png = sample_png()
    jobs: asyncio.Queue[tuple[int, int]] = asyncio.Queue()
    for k in range(per_sender):
        for s in range(len(tokens)):
            jobs.put_nowait((s, k))
    took: list[int] = []
    refused: Counter[str] = Counter()
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{server.port}",
        limits=httpx.Limits(max_connections=UPLOAD_CONCURRENCY, max_keepalive_connections=UPLOAD_CONCURRENCY),
        timeout=httpsend.POST_TIMEOUT,
    ) as http:

        async def worker() -> None:
            while not jobs.empty():
                s, k = jobs.get_nowait()
                start = time.monotonic_ns()
                try:
                    answer = await http.post(
                        UPLOAD_PATH.format(room=f"{tag}r{s}"),
                        headers={"Authorization": f"Bearer {tokens[s]}"},
                        files={"file": (f"screenshot-{k}.png", png, "image/png")},
                    )
                except httpx.HTTPError as exc:
                    refused[type(exc).__name__] += 1
                    continue
                if answer.status_code == 201:
                    took.append(time.monotonic_ns() - start)
                else:
                    refused[outcome(answer.status_code, answer.content)[0]] += 1

        server_ps = server.ps
        cpu_before, t0 = servers.cpu_seconds(server_ps), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(UPLOAD_CONCURRENCY)))
        seconds, cpu = time.perf_counter() - t0, servers.cpu_seconds(server_ps) - cpu_before
    took.sort()
    result = {
        "uploads_via_api": len(took),
        "upload_bytes": len(png),
        "uploads_per_s": len(took) / seconds if seconds else None,
        "upload_p50_ms": _ms(percentile(took, 50)),
        "upload_p99_ms": _ms(percentile(took, 99)),
        "server_cpu_per_upload_us": 1e6 * cpu / len(took) if took else None,
        "upload_errors_by_code": dict(refused),
    }
    log(
        f"    {len(took)} uploads of {len(png)} bytes through the API in {seconds:.1f}s, "
        f"p50 {result['upload_p50_ms'] or 0:.1f} ms, refused {dict(refused)}"
    )
    return result


def make_pool(target: servers.Target, prefix: str, count: int, per_user: int) -> list[list[int]]:
    """Each user's unused upload ids, copied up to ``per_user`` (``bench.uploadpool``)."""
    proc = subprocess.run(
        [*POOL_CMD, "--prefix", prefix, "--count", str(count), "--per-user", str(per_user)],
        cwd=servers.ROOT,  # this tree's bench package, on the target's database
        env={**target.env, "DJANGO_SETTINGS_MODULE": "parley.settings"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"bench.uploadpool failed: {(proc.stderr or proc.stdout)[-500:]}")
    ids: list[list[int]] = json.loads(proc.stdout.strip().splitlines()[-1])["ids"]
    return ids


async def run_attached(
    server: servers.Server,
    target: servers.Target,
    *,
    rooms: int,
    members: int,
    window: int,
    duration: float,
    warmup: float,
    per_message: int = 1,
    drain: float = 10.0,
    settle: float = 1.5,
    log: Callable[[str], None] = print,
    on_measure_start: Callable[[], Any] | None = None,
) -> dict[str, Any]:
    """Scenario F on a Parley server with uploads (``per_message`` 0: the same senders, users with
    tokens, sending without attachments: the control that tells a user's send path from a guest's)."""
    tag = f"f{int(time.time() * 1000) % 10**9}"
    tokens = httpsend.make_tokens(target, rooms, tag)  # user <tag>-<s> sends in room <tag>r<s>
    result: dict[str, Any] = {}
    pool: UploadPool | None = None
    if per_message > 0:
        result.update(await upload_phase(server, tokens, tag, API_UPLOADS, log))
        if result["upload_errors_by_code"] and not result["uploads_via_api"]:
            raise RuntimeError(f"every upload was refused: {result['upload_errors_by_code']}")
        per_user = pool_size(rooms, warmup + duration, per_message)
        started = time.perf_counter()
        pool = UploadPool(make_pool(target, tag, rooms, per_user), per_message)
        log(f"    {len(pool):,} uploads in the pool ({per_user} per sender) in {time.perf_counter() - started:.1f}s")
    m = await loadgen.run_rooms(
        server,
        target,
        label="F",
        rooms=rooms,
        members=members,
        senders_per_room=1,
        window=window,
        duration=duration,
        warmup=warmup,
        drain=drain,
        settle=settle,
        log=log,
        tag=tag,
        on_measure_start=on_measure_start,
        attach=pool.take if pool is not None else None,
        sender_request=lambda s: ("", {"Authorization": f"Bearer {tokens[s]}"}),
    )
    m.update(result)
    m["attachments_per_message"] = per_message
    return m


def _ms(ns: float | None) -> float | None:
    return None if ns is None else ns / 1e6
