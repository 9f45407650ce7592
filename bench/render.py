"""Scenario R: ``markup.render``'s cost per message, in microseconds, over ``bench.corpus``.

Run in a process of its own (``python -m bench.render``, no server; Django's settings are loaded for
the one ``markup`` reads, ``PARLEY_MARKDOWN_MAX_CHARS``): one warm-up pass over every text (the
parsers, the Pygments lexers and the sanitizer are made on first use), then each kind's texts
round-robin, one ``time.perf_counter_ns`` pair around each call, until the kind has at least
``--samples`` calls and ``--seconds`` of them. The garbage collector stays on, as in the server (its
pauses are in the p99).

The kinds: ``plain_fast`` (plain lines that take the fast path: no character Markdown gives a
meaning to), ``plain_parsed`` (plain lines that go through the parser anyway: an ``_``, an ``&``),
``inline``, ``code``, ``link``; and ``mix_mean_us``, the mean cost of a message drawn from the mix
(``--md-mix``), which is what scenario T renders per message on the server's event loop.

Prints one JSON object (``--json``) or a table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import django

from . import corpus
from .stats import percentile

KINDS = ("plain_fast", "plain_parsed", "inline", "code", "link")


def split_plain(texts: Iterable[str], fast: Callable[[str], bool]) -> dict[str, list[str]]:
    """The corpus's texts by R's kinds: plain lines split by whether ``fast(text)`` (the fast path)."""
    out: dict[str, list[str]] = {k: [] for k in KINDS}
    for text in texts:
        out["plain_fast" if fast(text) else "plain_parsed"].append(text)
    for kind in ("inline", "code", "link"):
        out[kind] = list(corpus.TEXTS[kind])
    return out


def summary(samples_ns: Sequence[int]) -> dict[str, float | int | None]:
    """Median, p99, mean and max of per-call times (ns) in microseconds."""
    if not samples_ns:
        return {"p50_us": None, "p99_us": None, "mean_us": None, "max_us": None, "samples": 0}
    ordered = sorted(samples_ns)
    p50, p99 = percentile(ordered, 50), percentile(ordered, 99)
    return {
        "p50_us": None if p50 is None else p50 / 1000,
        "p99_us": None if p99 is None else p99 / 1000,
        "mean_us": sum(ordered) / len(ordered) / 1000,
        "max_us": ordered[-1] / 1000,
        "samples": len(ordered),
    }


def mix_mean(kinds: Mapping[str, Mapping[str, Any]], mix: Mapping[str, float], plain_fast_share: float) -> float | None:
    """The mean render cost (us) of a message drawn from ``mix`` (corpus kinds), the plain share split
    between the fast path and the parser as the corpus's plain lines are."""
    total = sum(mix.values())
    if not total:
        return None
    parts: list[tuple[float, str]] = [
        (mix["plain"] * plain_fast_share, "plain_fast"),
        (mix["plain"] * (1 - plain_fast_share), "plain_parsed"),
        (mix["inline"], "inline"),
        (mix["code"], "code"),
        (mix["link"], "link"),
    ]
    mean = 0.0
    for weight, kind in parts:
        if weight == 0:
            continue
        value = kinds.get(kind, {}).get("mean_us")
        if value is None:
            return None
        mean += weight * value
    return mean / total


def measure(
    render: Callable[[str], str], texts: Mapping[str, Sequence[str]], *, samples: int, seconds: float
) -> dict[str, dict[str, Any]]:
    """Per kind of ``texts``: ``summary`` of ``render``'s per-call times, plus the number of texts."""
    for kind_texts in texts.values():  # warm-up: parsers, lexers, the sanitizer made on first use
        for text in kind_texts:
            render(text)
    clock = time.perf_counter_ns
    out: dict[str, dict[str, Any]] = {}
    for kind, kind_texts in texts.items():
        got: list[int] = []
        if kind_texts:
            deadline = clock() + int(seconds * 1e9)
            i = 0
            while len(got) < samples or clock() < deadline:
                text = kind_texts[i % len(kind_texts)]
                start = clock()
                render(text)
                got.append(clock() - start)
                i += 1
        out[kind] = {**summary(got), "texts": len(kind_texts)}
    return out


def run(mix_text: str, samples: int, seconds: float) -> dict[str, Any]:
    from markup import markdown

    significant = getattr(markdown, "_SIGNIFICANT", None)  # markup's own test for the fast path

    def fast(text: str) -> bool:
        return significant is not None and significant.search(text) is None

    texts = split_plain(corpus.PLAIN, fast)
    kinds = measure(markdown.render, texts, samples=samples, seconds=seconds)
    share = len(texts["plain_fast"]) / len(corpus.PLAIN)
    mix = corpus.parse_mix(mix_text)
    # The overhead of one perf_counter_ns pair, which every sample includes.
    clock = time.perf_counter_ns
    pairs = [-(clock() - clock()) for _ in range(10_000)]
    return {
        **kinds,
        "plain_fast_share": share,
        "mix": corpus.mix_label(mix),
        "mix_mean_us": mix_mean(kinds, mix, share),
        "timer_overhead_us": sorted(pairs)[len(pairs) // 2] / 1000,
    }


def table(result: Mapping[str, Any]) -> str:
    lines = [f"{'kind':14} {'texts':>5} {'samples':>8} {'median us':>10} {'p99 us':>9} {'mean us':>9}"]
    for kind in KINDS:
        r = result[kind]
        if not r.get("samples"):
            continue
        lines.append(
            f"{kind:14} {r['texts']:5d} {r['samples']:8d} {r['p50_us']:10.1f} {r['p99_us']:9.1f} {r['mean_us']:9.1f}"
        )
    lines.append(f"plain lines on the fast path: {100 * result['plain_fast_share']:.0f} %")
    if result.get("mix_mean_us") is not None:
        lines.append(f"mean per message of the mix {result['mix']}: {result['mix_mean_us']:.1f} us")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.render", description=__doc__)
    parser.add_argument("--md-mix", default=corpus.DEFAULT_MIX, help="plain,inline,code,link weights")
    parser.add_argument("--samples", type=int, default=3000, help="calls per kind, at least")
    parser.add_argument("--seconds", type=float, default=1.0, help="seconds per kind, at least")
    parser.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "parley.settings")
    django.setup()
    result = run(args.md_mix, args.samples, args.seconds)
    print(json.dumps(result) if args.json else table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
