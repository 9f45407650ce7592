"""One scenario's outcome, its targets, and the table ``make soak`` prints."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .clients import Tally
from .latency import Window

# Other rooms' echo p99 (ms) an attack may cause at most (issue 8).
P99_FLOOD_MS = 100.0
P99_HISTORY_MS = 250.0


@dataclass
class Result:
    name: str
    tally: Tally = field(default_factory=Tally)
    ghosts: list[str] = field(default_factory=list)
    window: Window | None = None
    p99_target_ms: float | None = None
    acked: int | None = None
    lost: int | None = None
    duplicated: int | None = None
    disorder: int | None = None  # ids out of order or missing in a reader's stream
    failures: list[str] = field(default_factory=list)  # other targets missed (e.g. no 1013 for a slow reader)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def unexpected_closes(self) -> int:
        return sum(self.tally.unexpected.values())

    def misses(self, *, latency: bool = True) -> list[str]:
        """The targets this scenario missed (``latency``: the p99 target too)."""
        out = []
        if self.ghosts:
            out.append(f"{len(self.ghosts)} ghosts")
        if self.tally.http_500:
            out.append(f"{self.tally.http_500} HTTP 5xx")
        if self.unexpected_closes:
            out.append(f"{self.unexpected_closes} unexpected closes")
        if sum(self.tally.undocumented.values()):
            out.append(f"{sum(self.tally.undocumented.values())} undocumented responses")
        for label, value in (("lost", self.lost), ("duplicated", self.duplicated), ("out of order", self.disorder)):
            if value:
                out.append(f"{value} {label}")
        out.extend(self.failures)
        if latency and self.p99_target_ms is not None and self.window is not None:
            p99 = self.window.p99
            if p99 is None or p99 > self.p99_target_ms:
                shown = "no echo" if p99 is None else f"{p99:.0f} ms"
                out.append(f"p99 {shown} > {self.p99_target_ms:.0f} ms")
        return out

    def as_dict(self) -> dict[str, Any]:
        w = self.window
        return {
            "name": self.name,
            "frames": self.tally.frames,
            "closes": {str(k): v for k, v in self.tally.closes.items()},
            "unexpected": dict(self.tally.unexpected),
            "handshakes": dict(self.tally.handshakes),
            "responses": dict(self.tally.responses),
            "undocumented": dict(self.tally.undocumented),
            "ghosts": self.ghosts,
            "p50_ms": w.p50 if w else None,
            "p99_ms": w.p99 if w else None,
            "echoes": len(w.echoes_ms) if w else 0,
            "p99_target_ms": self.p99_target_ms,
            "acked": self.acked,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "disorder": self.disorder,
            "failures": self.failures,
            "notes": self.notes,
            "seconds": round(self.seconds, 1),
            "misses": self.misses(),
        }


def _n(value: float | None, fmt: str = "{:,.0f}") -> str:
    return "-" if value is None else fmt.format(value)


def markdown(results: list[Result], *, latency: bool = True) -> str:
    """The table: one row per scenario, then a line of detail per scenario."""
    head = (
        "| scenario | frames tried | unexpected closes | HTTP 500 | ghosts | other rooms p50 / p99 ms | "
        "p99 target | acked / lost / dup | result |"
    )
    lines = [head, "|" + "---|" * 9]
    for r in results:
        w = r.window
        p = f"{_n(w.p50, '{:.1f}')} / {_n(w.p99, '{:.1f}')}" if w else "-"
        delivery = "-" if r.acked is None else f"{r.acked:,} / {r.lost:,} / {r.duplicated:,}"
        misses = r.misses(latency=latency)
        lines.append(
            f"| {r.name} | {r.tally.frames:,} | {r.unexpected_closes} | {r.tally.http_500} | {len(r.ghosts)} | {p} | "
            f"{_n(r.p99_target_ms)} | {delivery} | {'ok' if not misses else 'MISSED: ' + '; '.join(misses)} |"
        )
    lines.append("")
    for r in results:
        lines.append(f"- **{r.name}** ({r.seconds:.0f} s): " + "; ".join(details(r)))
    return "\n".join(lines)


def details(r: Result) -> list[str]:
    t = r.tally
    out = list(r.notes)
    if t.closes:
        out.append("server closes " + _counts(t.closes))
    if t.unexpected:
        out.append("unexpected " + _counts(t.unexpected))
    if set(t.handshakes) - {"ok"}:
        out.append("handshakes " + _counts(t.handshakes))
    if t.responses:
        out.append("responses " + _counts(t.responses, top=8))
    if t.undocumented:
        out.append("undocumented " + _counts(t.undocumented))
    if r.ghosts:
        out.append("ghosts " + ", ".join(r.ghosts[:8]) + (" ..." if len(r.ghosts) > 8 else ""))
    if r.disorder:
        out.append(f"{r.disorder} ids out of order or missing")
    if r.window is not None:
        out.append("other rooms: " + r.window.describe())
    return out


def _counts(counter: Any, top: int = 12) -> str:
    items = sorted(counter.items(), key=lambda kv: (-kv[1], str(kv[0])))[:top]
    return ", ".join(f"{k} x{v:,}" for k, v in items)
