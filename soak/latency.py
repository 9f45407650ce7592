"""The soak's side of the echo-pingers (``soak.observer``): start them, and read their samples for
the seconds of one attack."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import uuid
from collections import Counter
from dataclasses import dataclass, field

import orjson

from bench.servers import ROOT
from bench.stats import percentile

from .clients import door_path
from .farm import Farm
from .observer import ECHO_TIMEOUT


@dataclass
class Window:
    """Other rooms' echo during one attack: a timed-out echo counts as ECHO_TIMEOUT."""

    echoes_ms: list[float] = field(default_factory=list)
    timeouts: int = 0
    errors: Counter = field(default_factory=Counter)
    closes: Counter = field(default_factory=Counter)

    @property
    def p50(self) -> float | None:
        return percentile(self.echoes_ms, 50)

    @property
    def p99(self) -> float | None:
        return percentile(self.echoes_ms, 99)

    def describe(self) -> str:
        text = f"{len(self.echoes_ms)} echoes"
        if self.timeouts:
            text += f", {self.timeouts} timed out"
        if self.errors:
            text += ", errors " + ", ".join(f"{k} x{v}" for k, v in sorted(self.errors.items()))
        if self.closes:
            text += ", observers closed " + ", ".join(f"{k} x{v}" for k, v in sorted(self.closes.items()))
        return text


class Observers:
    """``rooms`` quiet rooms on server ``process``, one echo-pinger each, in a child process."""

    def __init__(self, farm: Farm, *, rooms: int = 4, process: int = 0, interval: float = 0.2) -> None:
        tag = uuid.uuid4().hex[:6]
        self.urls = [farm.url(process, door_path("native", f"quiet-{tag}-{i}", f"?name=obs{i}")) for i in range(rooms)]
        self.interval = interval
        self.events: list[dict] = []
        self.proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "soak.observer",
            "--interval",
            str(self.interval),
            *self.urls,
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
        )
        self._reader = asyncio.get_running_loop().create_task(self._read())
        # Ready once each has had an echo.
        for _ in range(100):
            if sum(1 for e in self.events if "ms" in e) >= len(self.urls):
                return
            await asyncio.sleep(0.1)

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            with contextlib.suppress(orjson.JSONDecodeError):
                self.events.append(orjson.loads(line))

    def window(self, start: float, end: float) -> Window:
        w = Window()
        for e in self.events:
            if not start <= e["t"] <= end:
                continue
            if "ms" in e:
                w.echoes_ms.append(e["ms"])
            elif "timeout" in e:
                w.timeouts += 1
                w.echoes_ms.append(1000 * ECHO_TIMEOUT)
            elif "error" in e:
                w.errors[e["error"]] += 1
            elif "closed" in e:
                w.closes[e["closed"]] += 1
            elif "refused" in e:
                w.closes[e["refused"]] += 1
        return w

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.proc.wait(), 5)
            if self.proc.returncode is None:
                self.proc.kill()
                await self.proc.wait()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._reader, 2)
