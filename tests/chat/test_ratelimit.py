"""chat.ratelimit: TokenBucket, on a clock the test moves, and KeyedBuckets (a bucket per key)."""

from __future__ import annotations

import pytest

from chat.ratelimit import KeyedBuckets, TokenBucket

pytestmark = pytest.mark.embedded_only  # no backend: the same on both passes


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def takes(bucket: TokenBucket, n: int) -> int:
    return sum(bucket.take() for _ in range(n))


def test_burst_then_refused():
    bucket = TokenBucket(rate=10, burst=30, clock=Clock())
    assert takes(bucket, 30) == 30
    assert not bucket.take()
    assert not bucket.take()


def test_refills_at_rate():
    clock = Clock()
    bucket = TokenBucket(rate=10, burst=30, clock=clock)
    takes(bucket, 30)
    clock.now += 0.5
    assert takes(bucket, 10) == 5
    clock.now += 0.09
    assert not bucket.take()
    clock.now += 0.01
    assert bucket.take()


def test_refill_is_capped_at_burst():
    clock = Clock()
    bucket = TokenBucket(rate=10, burst=30, clock=clock)
    clock.now += 3600
    assert takes(bucket, 100) == 30


def test_refused_takes_do_not_consume():
    clock = Clock()
    bucket = TokenBucket(rate=1, burst=1, clock=clock)
    assert bucket.take()
    for _ in range(100):
        assert not bucket.take()
    clock.now += 1
    assert bucket.take()


def test_rate_zero_turns_it_off():
    bucket = TokenBucket(rate=0, burst=30, clock=Clock())
    assert takes(bucket, 10_000) == 10_000


def test_fractional_rate():
    clock = Clock()
    bucket = TokenBucket(rate=0.5, burst=1, clock=clock)
    assert bucket.take()
    clock.now += 1.9
    assert not bucket.take()
    clock.now += 0.1
    assert bucket.take()


def test_keyed_buckets_per_key_follow_the_limits_and_forget_the_oldest_keys():
    limits = [(1.0, 2)]
    table = KeyedBuckets(lambda: limits[0], max_keys=2)
    assert table.take("a") and table.take("a") and not table.take("a")
    assert 0 < table.wait("a") <= 1.0 and table.wait("never seen") == 0.0
    assert table.take("b")  # another key has a bucket of its own
    limits[0] = (1.0, 3)  # new limits: a new, full bucket
    assert table.take("a") and table.take("a") and table.take("a") and not table.take("a")
    table.take("c")  # a third key: the least recently seen ("b") is forgotten
    assert list(table.buckets) == ["a", "c"]
    limits[0] = (0, 1)  # a rate of 0: no limit
    assert all(table.take("a") for _ in range(10))
