"""Per-connection rate limiting: a token bucket."""

from __future__ import annotations

import collections
import time
from collections.abc import Callable


class TokenBucket:
    """``rate`` tokens per second, up to ``burst`` saved; a rate of 0 turns the limit off."""

    __slots__ = ("burst", "clock", "rate", "stamp", "tokens")

    def __init__(self, *, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = max(burst, 1)
        self.tokens = float(self.burst)
        self.clock = clock
        self.stamp = clock()

    def take(self) -> bool:
        """Take one token; False when none is left (the caller refuses the action)."""
        if self.rate <= 0:
            return True
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def wait(self) -> float:
        """Seconds until a token is there again (0: one is there now): a 429's Retry-After."""
        if self.rate <= 0:
            return 0.0
        tokens = min(self.burst, self.tokens + (self.clock() - self.stamp) * self.rate)
        return max(0.0, (1 - tokens) / self.rate)


class KeyedBuckets:
    """A token bucket per key (a user, a webhook), in this process, at the limits ``limits()`` gives
    now: (tokens per second, burst); a rate of 0 or less turns the limit off. A bucket is made again
    when the limits change. The table is bounded: the keys least recently seen are forgotten first
    (a forgotten key starts again with a full bucket)."""

    def __init__(self, limits: Callable[[], tuple[float, int]], *, max_keys: int = 10_000) -> None:
        self.limits = limits
        self.max_keys = max_keys
        self.buckets: collections.OrderedDict[object, TokenBucket] = collections.OrderedDict()

    def take(self, key: object) -> bool:
        """One token from ``key``'s bucket; False when it is empty (the caller answers 429)."""
        rate, burst = self.limits()
        if rate <= 0:
            return True
        bucket = self.buckets.get(key)
        if bucket is None or bucket.rate != rate or bucket.burst != max(burst, 1):
            bucket = self.buckets[key] = TokenBucket(rate=rate, burst=burst)
        self.buckets.move_to_end(key)
        while len(self.buckets) > self.max_keys:
            self.buckets.popitem(last=False)
        return bucket.take()

    def wait(self, key: object) -> float:
        """Seconds until ``key`` may act again (a 429's Retry-After)."""
        bucket = self.buckets.get(key)
        return bucket.wait() if bucket is not None else 0.0

    def clear(self) -> None:
        self.buckets.clear()
