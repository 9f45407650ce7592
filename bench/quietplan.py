"""Scenario Q's pure parts: who joins the quiet room, how many messages are sent and measured, and
the arithmetic of server CPU per message.

Q is the cost a real server with many small rooms sees: messages arrive one at a time, so nothing
batches them (the group commit stores one, the hub fans one out). One signed-in sender in a room of
``QUIET_MEMBERS`` sends, waits for its own echo, sends the next (closed loop, one in flight); the
server's process CPU time is read before the first and after the echo of the last of exactly
``count`` messages. CPU seconds over a fixed count do not depend on how busy the machine is (other
processes slow the wall clock, not the work done per message), unlike messages per second.
"""

from __future__ import annotations

QUIET_MEMBERS = 10
QUIET_COUNT, QUIET_WARMUP = 2000, 200  # messages measured, messages sent before measuring
QUICK_COUNT, QUICK_WARMUP = 500, 50
# The targets, us of server CPU per message: PostgreSQL + Redis (goal 300), SQLite alone.
PG_LIMIT_US, PG_GOAL_US, SQLITE_LIMIT_US = 1000.0, 300.0, 600.0


def counts(quick: bool) -> tuple[int, int]:
    """(warm-up messages, measured messages) of a full or a ``--quick`` run."""
    return (QUICK_WARMUP, QUICK_COUNT) if quick else (QUIET_WARMUP, QUIET_COUNT)


def member_plan(members: int = QUIET_MEMBERS) -> list[tuple[int, int | None]]:
    """``loadgen.open_clients``' plan: room 0, the sender (id 0) first, then ``members - 1`` listeners."""
    if members < 1:
        raise ValueError("a quiet room needs at least its sender")
    return [(0, 0)] + [(0, None)] * (members - 1)


def cpu_per_message_us(cpu_before: float, cpu_after: float, count: int) -> float | None:
    """Server CPU microseconds per message over ``count`` messages (None when none was measured)."""
    if count <= 0:
        return None
    return 1e6 * (cpu_after - cpu_before) / count


def met(us: float | None, limit_us: float) -> bool:
    """Whether a measured cost is within its target."""
    return us is not None and us <= limit_us


def other_cpu_pct(machine_busy_s: float, ours: float, seconds: float) -> float | None:
    """CPU the rest of the machine used while Q measured (% of one core): its busy seconds less the
    server's, Redis's and PostgreSQL's and the load generator's. Others' work on a shared machine
    moves CPU per message too (cold caches, contended cores), so it is reported beside it."""
    if seconds <= 0:
        return None
    return max(0.0, 100 * (machine_busy_s - ours) / seconds)
