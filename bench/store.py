"""The store path alone: ``chat.services`` called from threads, no WebSocket, no Redis.

Run as a subprocess with DATABASE_URL set (the database migrated):
``python -m bench.store --threads 4 --duration 3 --batch 1``. Prints one JSON object:
messages stored per second by ``message_send`` (batch 1) or ``apply_changes`` (batch > 1, one
transaction per batch, as the group commit does), each thread in its own room, and the process's
CPU time per message (``cpu_us``: with one thread, what storing a message costs the server in
Python, apart from the wait for the database; steadier on a busy machine than messages/s).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--tag", default="s")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "parley.settings")
    import django

    django.setup()
    from django.db import connection

    from chat import services

    counts = [0] * args.threads
    errors: list[str] = []
    start_gate = threading.Barrier(args.threads + 1)
    stop_at = [0.0]
    go = threading.Event()

    def work(i: int) -> None:
        try:
            room = services.room_get_or_create(address=f"store-{args.tag}-{i}")
            start_gate.wait()
            go.wait()
            n = 0
            while time.perf_counter() < stop_at[0]:
                if args.batch == 1:
                    services.message_send(room=room, sender="bench", body="x" * 64, client_id=f"{i}-{n}")
                    n += 1
                else:
                    drafts = [
                        services.Post(room=room, sender="bench", body="x" * 64, client_id=f"{i}-{n + k}")
                        for k in range(args.batch)
                    ]
                    services.apply_changes(drafts)
                    n += args.batch
            counts[i] = n
        except Exception as exc:  # reported, not raised: the parent prints it
            errors.append(repr(exc))
            start_gate.abort()
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(args.threads)]
    for t in threads:
        t.start()
    try:
        start_gate.wait(timeout=30)
    except threading.BrokenBarrierError:
        pass
    begin, cpu = time.perf_counter(), time.process_time()
    stop_at[0] = begin + args.duration
    go.set()
    for t in threads:
        t.join(timeout=args.duration + 30)
    elapsed, cpu = time.perf_counter() - begin, time.process_time() - cpu
    total = sum(counts)
    cpu_us = round(cpu / total * 1e6) if total else None
    print(
        json.dumps(
            {"messages": total, "seconds": elapsed, "per_s": total / elapsed, "cpu_us": cpu_us, "errors": errors[:3]}
        )
    )
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
