"""Echo-pingers in other rooms, in a process of their own: ``python -m soak.observer URL...``.

Each URL is a native door of a quiet room. Every ``--interval`` seconds its client sends a message
and times how long until its own message frame comes back. A separate process, so that the attack's
clients (in the soak's own event loop) do not delay these measurements: what they measure is the
server. One JSON line per event on stdout, times from ``time.monotonic()`` (one clock for every
process of the machine): ``{"t": sent, "ms": echo}``, ``{"t": sent, "timeout": 1}``,
``{"t": sent, "error": code}``, ``{"t": now, "closed": code}``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time

import orjson
import uvloop
from websockets.exceptions import ConnectionClosed

from .clients import close_code_of, open_ws

ECHO_TIMEOUT = 5.0


def emit(event: dict) -> None:
    sys.stdout.write(orjson.dumps(event).decode() + "\n")
    sys.stdout.flush()


async def observe(index: int, url: str, interval: float) -> None:
    n = 0
    while True:
        ws, outcome = await open_ws(url)
        if ws is None:
            emit({"t": time.monotonic(), "refused": outcome})
            await asyncio.sleep(1.0)
            continue
        waiting: dict[str, asyncio.Future] = {}

        async def read(ws=ws, waiting=waiting) -> None:
            with contextlib.suppress(ConnectionClosed):
                async for raw in ws:
                    frame = orjson.loads(raw)
                    future = waiting.get(frame.get("client_id") or "")
                    if future is not None and not future.done():
                        future.set_result(frame)

        reader = asyncio.get_running_loop().create_task(read())
        try:
            while not reader.done():
                n += 1
                cid = f"obs{index}-{n}"
                future = waiting[cid] = asyncio.get_running_loop().create_future()
                sent = time.monotonic()
                await ws.send(orjson.dumps({"message": f"echo {n}", "client_id": cid}).decode())
                try:
                    frame = await asyncio.wait_for(future, ECHO_TIMEOUT)
                except TimeoutError:
                    emit({"t": sent, "timeout": 1})
                else:
                    if frame.get("type") == "error":
                        emit({"t": sent, "error": frame.get("code")})
                    else:
                        emit({"t": sent, "ms": 1000 * (time.monotonic() - sent)})
                del waiting[cid]
                await asyncio.sleep(max(0.0, interval - (time.monotonic() - sent)))
        except ConnectionClosed:
            pass
        reader.cancel()
        emit({"t": time.monotonic(), "closed": close_code_of(None, ws)})
        await asyncio.sleep(0.2)


async def main_async(urls: list[str], interval: float) -> None:
    await asyncio.gather(*(observe(i, url, interval) for i, url in enumerate(urls)))


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m soak.observer")
    p.add_argument("urls", nargs="+")
    p.add_argument("--interval", type=float, default=0.2)
    args = p.parse_args()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main_async(args.urls, args.interval))


if __name__ == "__main__":
    main()
