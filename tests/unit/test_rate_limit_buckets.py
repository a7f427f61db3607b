"""The per-key buckets, without a server."""

from __future__ import annotations

from pyrate_limiter import GCRA, Rate

from app.core.rate_limit import KeyedBuckets
from app.core.rate_limit.buckets import theoretical_arrival_us


async def test_each_key_has_its_own_bucket_and_the_least_recent_go_beyond_the_bound() -> None:
    buckets = KeyedBuckets(Rate(2, 60_000), redis=None, max_buckets=2)
    assert [(await buckets.hit("a")).remaining for _ in range(2)] == [1, 0]
    assert (await buckets.hit("a")).retry_after_seconds == 30
    assert (await buckets.hit("b")).remaining == 1
    await buckets.hit("c")  # the third key pushes out "a", the least recently used
    assert (await buckets.hit("a")).remaining == 1


async def test_the_reset_and_the_wait_of_a_check_come_from_the_gcra_state() -> None:
    """pyrate-limiter's GCRA state starts with when the bucket is empty again (in µs): the
    reset, and the wait of a check that spends nothing, are read from it."""
    buckets = KeyedBuckets(Rate(2, 60_000), redis=None, max_buckets=8)
    assert (await buckets.hit("a")).reset_seconds == 30
    assert (await buckets.hit("a")).reset_seconds == 60
    checked = await buckets.hit("a", spend=False)
    assert (checked.remaining, checked.reset_seconds, checked.retry_after_seconds) == (0, 60, 30)
    item = buckets.wrap_item("a")
    bucket = buckets.get(item)
    state = bucket.store.read(GCRA(), bucket.rates)
    assert isinstance(state, tuple)  # in process, read at once
    owed_us = theoretical_arrival_us(state) - item.timestamp * 1000
    assert 59_000_000 < owed_us <= 60_000_000
