"""``manage.py search_reindex [--ns NS] [--fresh]``: index the stored messages again (docs/search.md).

Searches go on meanwhile: each chunk is its own transaction and replaces rows in place.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from search import index


class Progress:
    """A one-line progress bar with the rate, redrawn at most ten times a second (a plain line per
    update when the output is not a terminal)."""

    def __init__(self, out: Any, what: str) -> None:
        self.out, self.what = out, what
        self.started = time.monotonic()
        self.drawn = 0.0
        self.tty = hasattr(out, "isatty") and out.isatty()

    def __call__(self, done: int, total: int, *, last: bool = False) -> None:
        now = time.monotonic()
        if not last and now - self.drawn < (0.1 if self.tty else 2.0):
            return
        self.drawn = now
        rate = done / max(now - self.started, 1e-9)
        share = done / total if total else 1.0
        bar = "#" * int(share * 30)
        line = f"{self.what} [{bar:<30}] {done:,}/{total:,} {share:6.1%} {rate:,.0f}/s"
        self.out.write(("\r" + line) if self.tty else line + "\n")
        if last and self.tty:
            self.out.write("\n")
        self.out.flush()

    def rate(self, done: int) -> float:
        return done / max(time.monotonic() - self.started, 1e-9)


class Command(BaseCommand):
    help = "Rebuild the search index (of one namespace with --ns), with a progress bar and the rate."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--ns", default=None, help="only the messages of this namespace")
        parser.add_argument("--fresh", action="store_true", help="empty the whole index first (fastest)")
        parser.add_argument("--chunk", type=int, default=2000, help="messages per transaction")

    def handle(self, *args: Any, **options: Any) -> None:
        out = self.stdout._out if hasattr(self.stdout, "_out") else sys.stdout
        progress = Progress(out, "indexing")
        total = [0]

        def report(done: int, of: int) -> None:
            total[0] = of
            progress(done, of)

        done = index.rebuild(namespace=options["ns"], fresh=options["fresh"], chunk=options["chunk"], progress=report)
        progress(done, total[0] or done, last=True)
        self.stdout.write(f"indexed {done:,} messages at {progress.rate(done):,.0f} messages/s")
