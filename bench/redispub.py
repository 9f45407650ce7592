"""``python -m bench.redispub``: Redis's own CPU per PUBLISH and per pub/sub message it sends out, on a
private ``redis-server`` (its own port, no persistence), so the number is Redis's and no one else's.

``--subscribers`` connections (Parley processes) each subscribe to every one of ``--channels``
channels (rooms); a publisher pipelines ``--count`` PUBLISHes of ``--bytes``-byte payloads round the
channels. Each publish goes out to every subscriber: ``count * subscribers`` pub/sub messages.
Readers are raw sockets that discard what they read (a real subscriber parses; here only Redis is
measured). Printed: Redis CPU seconds (psutil, user + system) per publish and per message out, and
the publishes a second one Redis core would carry at that mix. ``--publishers`` connections publish
at once, ``--pipeline`` publishes per round trip (1: a quiet room's message is published alone).
``--presence NAMES``: Redis CPU per presence refresh instead (a ZADD of NAMES entries per room, 500
rooms per pipeline, as a process refreshes its entries every 20 s). ``--sharded`` uses SSUBSCRIBE /
SPUBLISH (Redis 7's sharded pub/sub; on a server that is not a cluster it behaves as pub/sub).
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import psutil
import redis

from .servers import free_port


def _drain(sock: socket.socket, stop: threading.Event) -> None:
    sock.settimeout(0.2)
    while not stop.is_set():
        try:
            if not sock.recv(1 << 20):
                return
        except TimeoutError:
            continue
        except OSError:
            return


def _subscribe(port: int, channels: int, sharded: bool) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    command = "SSUBSCRIBE" if sharded else "SUBSCRIBE"
    names = [f"parley:{{room.{c}}}" for c in range(channels)]
    for start in range(0, len(names), 500):
        part = names[start : start + 500]
        args = [command, *part]
        sock.sendall(f"*{len(args)}\r\n".encode() + b"".join(f"${len(a)}\r\n{a}\r\n".encode() for a in args))
    return sock


def measure(
    subscribers: int, channels: int, count: int, size: int, sharded: bool, publishers: int = 4, pipeline: int = 1
) -> dict[str, float]:
    """Redis CPU per publish and per message out, on a private redis-server started and stopped here."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="redispub-") as tmp:
        server = subprocess.Popen(
            [binary, "--port", str(port), "--save", "", "--appendonly", "no", "--dir", tmp],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            client = redis.Redis(port=port)
            for _ in range(100):
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    time.sleep(0.05)
            stop = threading.Event()
            socks = [_subscribe(port, channels, sharded) for _ in range(subscribers)]
            readers = [threading.Thread(target=_drain, args=(s, stop), daemon=True) for s in socks]
            for t in readers:
                t.start()
            time.sleep(0.5)
            proc = psutil.Process(server.pid)
            payload = b"m" + b"x" * (size - 1)
            command = "SPUBLISH" if sharded else "PUBLISH"

            def publish(first: int) -> None:
                own = redis.Redis(port=port)
                for start in range(first, count, publishers * pipeline):
                    pipe = own.pipeline(transaction=False)
                    for i in range(start, min(count, start + pipeline)):
                        pipe.execute_command(command, f"parley:{{room.{i % channels}}}", payload)
                    pipe.execute()
                own.close()

            before, t0 = proc.cpu_times(), time.perf_counter()
            threads = [threading.Thread(target=publish, args=(k * pipeline,)) for k in range(publishers)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            time.sleep(0.5)  # the last messages out
            after, seconds = proc.cpu_times(), time.perf_counter() - t0
            stop.set()
            for s in socks:
                s.close()
        finally:
            server.terminate()
            server.wait(timeout=10)
    cpu = (after.user + after.system) - (before.user + before.system)
    per_publish = 1e6 * cpu / count
    return {
        "subscribers": subscribers,
        "channels": channels,
        "bytes": size,
        "sharded": sharded,
        "publishers": publishers,
        "pipeline": pipeline,
        "redis_cpu_s": cpu,
        "seconds": seconds,
        "us_per_publish": per_publish,
        "us_per_message_out": per_publish / subscribers,
        "publishes_per_core_s": 1e6 / per_publish if per_publish else float("inf"),
        "messages_out_per_core_s": subscribers * 1e6 / per_publish if per_publish else float("inf"),
    }


def measure_presence(rooms: int, names: int, rounds: int, batch: int = 500) -> dict[str, float]:
    """Redis CPU per presence refresh: ``rounds`` times, a ZADD of ``names`` entries for each of
    ``rooms`` sorted sets, ``batch`` rooms per pipeline, as ``RedisBus._republish_presence`` does."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="redispub-") as tmp:
        server = subprocess.Popen(
            [binary, "--port", str(port), "--save", "", "--appendonly", "no", "--dir", tmp],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            client = redis.Redis(port=port)
            for _ in range(100):
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    time.sleep(0.05)
            proc = psutil.Process(server.pid)
            before = proc.cpu_times()
            for r in range(rounds):
                expiry = time.time() + 60 + r
                for start in range(0, rooms, batch):
                    pipe = client.pipeline(transaction=False)
                    for room in range(start, min(rooms, start + batch)):
                        entries = {f"proc-1|user-{room}-{n}": expiry for n in range(names)}
                        pipe.zadd(f"parley:presence:{{room.{room}}}", entries)
                    pipe.execute()
            after = proc.cpu_times()
            client.close()
        finally:
            server.terminate()
            server.wait(timeout=10)
    cpu = (after.user + after.system) - (before.user + before.system)
    zadds = rooms * rounds
    return {"rooms": rooms, "names": names, "batch": batch, "redis_cpu_s": cpu, "us_per_zadd": 1e6 * cpu / zadds}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.redispub", description=__doc__)
    p.add_argument("--subscribers", default="1,4,16", help="subscriber connections, one run each (default 1,4,16)")
    p.add_argument("--channels", type=int, default=1000)
    p.add_argument("--count", type=int, default=200_000)
    p.add_argument("--bytes", type=int, default=400, help="payload size (a message frame is ~324 B)")
    p.add_argument("--sharded", action="store_true", help="SSUBSCRIBE/SPUBLISH")
    p.add_argument("--publishers", type=int, default=4, help="publishing connections (threads; default 4)")
    p.add_argument(
        "--pipeline", type=int, default=1, help="publishes per round trip (default 1: Parley's quiet-room case)"
    )
    p.add_argument(
        "--presence",
        metavar="NAMES",
        type=int,
        help="instead: Redis CPU per presence refresh, a ZADD of NAMES entries per room (--channels rooms)",
    )
    args = p.parse_args(argv)
    if args.presence is not None:
        print(json.dumps(measure_presence(args.channels, args.presence, rounds=max(1, args.count // args.channels))))
        return 0
    for n in (int(x) for x in args.subscribers.split(",")):
        got = measure(n, args.channels, args.count, args.bytes, args.sharded, args.publishers, args.pipeline)
        print(json.dumps(got), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
