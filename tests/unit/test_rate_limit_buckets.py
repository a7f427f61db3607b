"""The per-key buckets, without a server."""

from __future__ import annotations

from pyrate_limiter import Rate

from app.core.rate_limit import KeyedBuckets


async def test_each_key_has_its_own_bucket_and_the_least_recent_go_beyond_the_bound() -> None:
    buckets = KeyedBuckets(Rate(2, 60_000), redis=None, max_buckets=2)
    assert [(await buckets.hit("a")).remaining for _ in range(2)] == [1, 0]
    assert (await buckets.hit("a")).retry_after_seconds == 30
    assert (await buckets.hit("b")).remaining == 1
    await buckets.hit("c")  # the third key pushes out "a", the least recently used
    assert (await buckets.hit("a")).remaining == 1
