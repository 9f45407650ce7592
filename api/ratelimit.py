"""Writes through the API are rate limited per user, at the WebSocket's message rate
(``PARLEY_RATE_PER_SEC`` / ``PARLEY_RATE_BURST``): a token bucket per user id, in process.

A program with several tokens is one user and shares one bucket. Each server process counts on
its own (like the WebSocket's per-connection buckets). The table is bounded: the users least
recently seen are forgotten first (a forgotten user starts again with a full bucket).
"""

from __future__ import annotations

import collections

from django.conf import settings

from chat.ratelimit import TokenBucket

MAX_USERS = 10_000


class UserBuckets:
    def __init__(self) -> None:
        self.buckets: collections.OrderedDict[int, TokenBucket] = collections.OrderedDict()

    def take(self, user_id: int) -> bool:
        """Take one write from ``user_id``'s bucket; False when it is empty (answer 429)."""
        rate, burst = settings.PARLEY_RATE_PER_SEC, settings.PARLEY_RATE_BURST
        if rate <= 0:
            return True
        bucket = self.buckets.get(user_id)
        if bucket is None or bucket.rate != rate or bucket.burst != max(burst, 1):
            bucket = self.buckets[user_id] = TokenBucket(rate=rate, burst=burst)
        self.buckets.move_to_end(user_id)
        while len(self.buckets) > MAX_USERS:
            self.buckets.popitem(last=False)
        return bucket.take()

    def wait(self, user_id: int) -> float:
        """Seconds until ``user_id`` may write again (a 429's Retry-After)."""
        bucket = self.buckets.get(user_id)
        return bucket.wait() if bucket is not None else 0.0

    def clear(self) -> None:
        self.buckets.clear()


writes = UserBuckets()
