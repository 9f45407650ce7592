"""Section S, in a process of its own on a migrated database (``DATABASE_URL``):
``python -m bench.search --messages N --rooms R --namespaces NS``. Builds the corpus
(``manage.py search_corpus``), rebuilds the index from empty (timed: messages/s), measures the
index's size, then times searches (``search.selectors.search``, what ``GET /api/v1/search`` runs
after parsing: the rooms the caller may read, the index, the messages, the highlights) for five
kinds of query as two readers (``sc-reader-5``: 5 % of the rooms; ``sc-reader-all``: all of them).
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any

QUERIES = ("rare word", "common word", "Korean 2 syllables", "phrase", "from:")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--rooms", type=int, default=2000)
    parser.add_argument("--namespaces", type=int, default=200)
    parser.add_argument("--runs", type=int, default=40, help="searches per query kind and reader")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "parley.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from chat.access import Caller
    from search import index, query, selectors
    from search.management.commands import search_corpus

    out: dict[str, Any] = {"messages": args.messages, "rooms": args.rooms, "namespaces": args.namespaces}
    started = time.perf_counter()
    call_command("search_corpus", messages=args.messages, rooms=args.rooms, namespaces=args.namespaces, no_index=True)
    out["corpus_s"] = time.perf_counter() - started
    print(f"corpus: {args.messages:,} messages in {out['corpus_s']:.0f} s", file=sys.stderr, flush=True)

    started = time.perf_counter()
    indexed = index.rebuild(fresh=True)
    took = time.perf_counter() - started
    out["reindex_per_s"] = indexed / took
    print(f"reindex: {indexed:,} at {out['reindex_per_s']:,.0f}/s", file=sys.stderr, flush=True)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ANALYZE search_searchdoc")
            cursor.execute("ANALYZE chat_message")
            cursor.execute("SELECT pg_total_relation_size('search_searchdoc'), pg_relation_size('search_doc_gin')")
            total, gin = cursor.fetchone()
            out["index_bytes_per_message"] = total / max(indexed, 1)
            out["gin_bytes_per_message"] = gin / max(indexed, 1)
        else:
            cursor.execute("ANALYZE")
            try:
                cursor.execute("SELECT SUM(pgsize) FROM dbstat WHERE name LIKE 'search%%'")
                out["index_bytes_per_message"] = (cursor.fetchone()[0] or 0) / max(indexed, 1)
            except Exception:  # dbstat is not in every SQLite build
                out["index_bytes_per_message"] = None

    users = dict(get_user_model().objects.filter(username__startswith="sc-").values_list("username", "pk"))
    readers = {"5 % of rooms": users["sc-reader-5"], "all rooms": users["sc-reader-all"]}

    def texts(kind: str, i: int) -> str:
        if kind == "rare word":
            return search_corpus.RARE[(i * 37) % len(search_corpus.RARE)]
        if kind == "common word":
            return ("server", "the", "test", "django")[i % 4]
        if kind == "Korean 2 syllables":
            return ("숙제", "서버", "과제", "배포")[i % 4]
        if kind == "phrase":
            return '"merge request"'
        return f"from:sc-user-{i % 200} 서버"

    timings: dict[str, dict[str, dict[str, float]]] = {}
    for reader, user_id in readers.items():
        caller = Caller(user_id=user_id)
        selectors.search(caller, query.parse("warm up"), before=None, limit=20)
        for kind in QUERIES:
            spent: list[float] = []
            found: list[int] = []
            for i in range(args.runs):
                parsed = query.parse(texts(kind, i))
                begin = time.perf_counter()
                page = selectors.search(caller, parsed, before=None, limit=20)
                spent.append((time.perf_counter() - begin) * 1000)
                found.append(len(page["results"]))
            timings.setdefault(reader, {})[kind] = {
                "p50_ms": statistics.median(spent),
                "p95_ms": percentile(spent, 0.95),
                "results_mean": statistics.fmean(found),
            }
            print(
                f"{reader}, {kind}: p50 {timings[reader][kind]['p50_ms']:.1f} ms, "
                f"p95 {timings[reader][kind]['p95_ms']:.1f} ms ({statistics.fmean(found):.1f} results)",
                file=sys.stderr,
                flush=True,
            )
    out["queries"] = timings
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
