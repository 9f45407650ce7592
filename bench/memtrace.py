"""``python -m bench.memtrace``: ``parley.serve`` under tracemalloc, for ``python -m bench --memtrace``.

The first SIGUSR1 takes a reference snapshot; each later one writes the Python allocations grown
since then, by source line, to $BENCH_MEMTRACE_OUT as JSON. tracemalloc slows the server and sees
only Python's allocator (not uvloop's or the kernel's buffers), so this explains RSS, it does not
measure it. With BENCH_MEMTRACE_FRAMES=N (N > 1) a row is a traceback of N frames, not a line.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tracemalloc


def main() -> int:
    frames = int(os.environ.get("BENCH_MEMTRACE_FRAMES", "1"))
    deep = frames > 1  # rows by whole traceback (innermost frame first), not by line
    tracemalloc.start(frames)
    out = os.environ["BENCH_MEMTRACE_OUT"]
    reference: list[tracemalloc.Snapshot] = []

    def dump(signum, frame) -> None:
        snapshot = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
        if not reference:
            reference.append(snapshot)
            with open(out, "w") as f:
                json.dump({"reference": True}, f)
            return
        stats = snapshot.compare_to(reference[0], "traceback" if deep else "lineno")
        rows = [
            {"where": " <- ".join(str(f) for f in s.traceback), "size_diff": s.size_diff, "count_diff": s.count_diff}
            for s in stats[:60]
        ]
        total = sum(s.size_diff for s in stats)
        by_file = [
            {"where": str(s.traceback[0].filename), "size_diff": s.size_diff, "count_diff": s.count_diff}
            for s in snapshot.compare_to(reference[0], "filename")[:40]
        ]
        with open(out, "w") as f:
            json.dump({"total_diff": total, "top": rows, "by_file": by_file}, f)

    signal.signal(signal.SIGUSR1, dump)
    from parley import serve

    return serve.main()


if __name__ == "__main__":
    sys.exit(main())
