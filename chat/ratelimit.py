"""Per-connection rate limiting: a token bucket."""

from __future__ import annotations

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
