"""Writes through the API are rate limited per user, at the WebSocket's message rate
(``PARLEY_RATE_PER_SEC`` / ``PARLEY_RATE_BURST``): a token bucket per user id, in process.

A program with several tokens is one user and shares one bucket. Each server process counts on
its own (like the WebSocket's per-connection buckets). The table is bounded
(``chat.ratelimit.KeyedBuckets``).
"""

from __future__ import annotations

from django.conf import settings

from chat.ratelimit import KeyedBuckets

writes = KeyedBuckets(lambda: (settings.PARLEY_RATE_PER_SEC, settings.PARLEY_RATE_BURST))
