"""``make soak`` / ``python -m soak``: hostile clients and failing backends against two Parley
processes on PostgreSQL + Redis; a table of what happened, and a non-zero exit when a target is missed.

Scenarios (each in rooms of its own, with echo-pingers timing other rooms of the attacked process):
  fuzz            hostile frames on the three doors, hostile handshake URLs
  flood-<kind>    one connection sending one kind of frame flat out (ping, typing, invalid JSON,
                  unknown type, bad fields, binary, history, message), reconnecting when closed
  history         100 connections each asking 10 history pages a second
  storm           many handshakes at once, then every connection gone at once
  slow            clients that stop reading in a busy room
  database        PostgreSQL down and up under numbered senders and resuming readers on both processes
  redis           the same with Redis down

Targets: 0 ghosts, 0 lost, 0 duplicated, 0 HTTP 500 (and 0 unexpected closes, 0 undocumented
responses); other rooms' echo p99 under 100 ms during each flood and under 250 ms during history
abuse. docs/reliability.md explains each.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import time
from pathlib import Path

import uvloop

from bench import servers
from bench.__main__ import raise_fd_limit

from .farm import Farm
from .latency import Observers
from .report import Result, markdown
from .scenarios import SCENARIOS, Run, Sizes

RESULTS = Path(__file__).resolve().parent / "results"
_t0 = time.monotonic()


def log(text: str) -> None:
    print(f"[{time.monotonic() - _t0:6.1f}s] {text}", flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m soak", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="a few seconds per scenario (about 2 minutes in all)")
    p.add_argument("--only", help=f"scenarios to run, comma-separated (default all: {','.join(SCENARIOS)})")
    p.add_argument("--out", type=Path, default=RESULTS, help="where latest.json goes")
    args = p.parse_args(argv)
    args.only = [s.strip() for s in args.only.split(",")] if args.only else list(SCENARIOS)
    if unknown := set(args.only) - set(SCENARIOS):
        p.error(f"unknown scenarios {','.join(sorted(unknown))}")
    return args


async def run_all(names: list[str], sizes: Sizes, farm: Farm, log=log) -> list[Result]:
    """Every scenario of ``names`` in order on ``farm``, with one set of observers."""
    observers = Observers(farm)
    await observers.start()
    run = Run(farm, observers, sizes, log=log)
    results = []
    try:
        baseline_start = time.monotonic()
        await asyncio.sleep(2.0 if sizes.attack_s < 10 else 5.0)
        quiet = Result("no attack (baseline)", window=observers.window(baseline_start, time.monotonic()))
        results.append(quiet)
        log(f"baseline: other rooms p50 {quiet.window.p50 or 0:.1f} ms, p99 {quiet.window.p99 or 0:.1f} ms")
        for name in names:
            log(f"{name} ...")
            result = await SCENARIOS[name](run)
            results.append(result)
            misses = result.misses()
            w = result.window
            log(
                f"{result.name}: {result.tally.frames:,} frames, {result.unexpected_closes} unexpected closes, "
                f"{result.tally.http_500} HTTP 500, {len(result.ghosts)} ghosts, "
                + (f"p50 {w.p50 or 0:.1f} / p99 {w.p99 or 0:.1f} ms, " if w else "")
                + (f"acked {result.acked} lost {result.lost} dup {result.duplicated}, " if result.acked else "")
                + ("ok" if not misses else "MISSED: " + "; ".join(misses))
            )
    finally:
        await run.observers.stop()
    return results


async def main_async(args: argparse.Namespace) -> int:
    raise_fd_limit()
    sizes = Sizes.quick() if args.quick else Sizes()
    revision = servers.git_revision()
    log(f"soak of {revision}: {'quick' if args.quick else 'full'} run of {', '.join(args.only)}")
    started = time.time()
    log("starting two Parley processes (PostgreSQL through a cuttable proxy, a private Redis)")
    logs = args.out / "logs"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    farm = Farm(tmp=logs)
    try:
        results = await run_all(args.only, sizes, farm)
    finally:
        farm.close()
    table = markdown(results)
    print()
    print(f"Soak of {revision}, {'quick' if args.quick else 'full'} run, {time.time() - started:.0f} s:")
    print()
    print(table)
    missed = [r for r in results if r.misses()]
    args.out.mkdir(parents=True, exist_ok=True)
    doc = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "seconds": round(time.time() - started, 1),
        "revision": revision,
        "quick": args.quick,
        "results": [r.as_dict() for r in results],
        "markdown": table,
    }
    (args.out / "latest.json").write_text(json.dumps(doc, indent=2, default=str))
    print()
    print(f"{len(missed)} of {len(results)} scenarios missed a target; wrote {args.out / 'latest.json'}")
    return 1 if missed else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
