"""Searches per user: ``PARLEY_SEARCH_PER_MINUTE`` (0: no limit), a token bucket per user id in
process (as ``api.ratelimit`` keeps writes): a minute's worth may be spent at once, then one more
each 60/N seconds. Each server process counts on its own."""

from __future__ import annotations

from django.conf import settings

from chat.ratelimit import KeyedBuckets

searches = KeyedBuckets(lambda: (settings.PARLEY_SEARCH_PER_MINUTE / 60, settings.PARLEY_SEARCH_PER_MINUTE))
