"""Searches per user: ``PARLEY_SEARCH_PER_MINUTE`` (0: no limit), a token bucket per user id in
process (as ``api.ratelimit`` keeps writes): a minute's worth may be spent at once, then one more
each 60/N seconds. Each server process counts on its own."""

from __future__ import annotations

import collections

from django.conf import settings

from chat.ratelimit import TokenBucket

MAX_USERS = 10_000


class SearchBudget:
    def __init__(self) -> None:
        self.buckets: collections.OrderedDict[int, TokenBucket] = collections.OrderedDict()

    def take(self, user_id: int) -> bool:
        """One search from ``user_id``'s budget; False when it is spent (answer 429)."""
        per_minute = settings.PARLEY_SEARCH_PER_MINUTE
        if per_minute <= 0:
            return True
        bucket = self.buckets.get(user_id)
        if bucket is None or bucket.burst != per_minute:
            bucket = self.buckets[user_id] = TokenBucket(rate=per_minute / 60, burst=per_minute)
        self.buckets.move_to_end(user_id)
        while len(self.buckets) > MAX_USERS:
            self.buckets.popitem(last=False)
        return bucket.take()

    def wait(self, user_id: int) -> float:
        bucket = self.buckets.get(user_id)
        return bucket.wait() if bucket is not None else 0.0


searches = SearchBudget()
