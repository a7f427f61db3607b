"""The counts: one pyrate-limiter GCRA bucket per key, in process or in Redis, read back
as the `Quota` that the `X-RateLimit-*` headers report."""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from inspect import isawaitable
from typing import TypeVar

from pyrate_limiter import (
    GCRA,
    BucketFactory,
    InMemoryStateStore,
    MonotonicClock,
    Rate,
    RateItem,
    RedisStateStore,
    StateBucket,
    StateStore,
    WallClock,
)
from redis.asyncio import Redis

T = TypeVar("T")

REDIS_KEY_PREFIX = "ratelimit:"


@dataclass(frozen=True)
class Quota:
    """Where a key stands after a request: what the `X-RateLimit-*` headers report."""

    limit: int
    remaining: int
    reset_seconds: int
    retry_after_seconds: int | None = None

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_seconds),
        }


def theoretical_arrival_us(state: Sequence[float]) -> int:
    """The one field of pyrate-limiter's GCRA state the quota reads: when the bucket will
    be empty again, in microseconds of the bucket's clock: the state's first value, in
    process and in Redis alike (`tests/unit/test_rate_limit_buckets.py` pins it in
    process; the Redis store's quotas are checked through the API)."""
    return int(state[0])


async def _resolved(value: T | Awaitable[T]) -> T:
    """pyrate-limiter answers synchronously in process and with awaitables over Redis."""
    if isawaitable(value):
        return await value
    return value


class KeyedBuckets(BucketFactory):
    """One GCRA `StateBucket` per key (never one bucket for everyone), for one rate.

    Buckets are kept in a bounded LRU: in process they hold the counts, over Redis they
    only cache the registered script (the counts live in Redis and expire there).
    """

    def __init__(self, rate: Rate, redis: Redis | None, max_buckets: int) -> None:
        self._rate = rate
        self._redis = redis
        self._max_buckets = max_buckets
        self._buckets: OrderedDict[str, StateBucket] = OrderedDict()
        self._algorithm = GCRA()
        # A count shared between machines needs their common wall clock.
        self._clock: WallClock | MonotonicClock = (
            WallClock() if redis is not None else MonotonicClock()
        )

    def _store(self, name: str) -> StateStore:
        if self._redis is None:
            return InMemoryStateStore()
        return RedisStateStore(self._redis, key=REDIS_KEY_PREFIX + name)

    def wrap_item(self, name: str, weight: int = 1) -> RateItem:
        return RateItem(name, self._clock.now(), weight=weight)

    def get(self, item: RateItem) -> StateBucket:
        bucket = self._buckets.get(item.name)
        if bucket is None:
            bucket = StateBucket(
                [self._rate], self._algorithm, self._store(item.name), clock=self._clock
            )
            self._buckets[item.name] = bucket
            if len(self._buckets) > self._max_buckets:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(item.name)
        return bucket

    async def hit(self, name: str, *, spend: bool = True) -> Quota:
        """Spend one unit of `name`'s bucket (when it has one left) and report the quota.

        With `spend=False` nothing is spent: the quota says whether one more unit would be
        admitted (for counts that only failures spend, checked before the attempt).
        """
        item = self.wrap_item(name)
        bucket = self.get(item)
        retry_after_ms: int | None = None
        if spend:
            decision = await _resolved(bucket.put_decision(item))
            if not decision.allowed:
                retry_after_ms = decision.retry_after_ms or 0
        state = await _resolved(bucket.store.read(self._algorithm, bucket.rates))
        owed_us = max(0, theoretical_arrival_us(state) - item.timestamp * 1000)
        consumed = self._algorithm.consumed(bucket.rates, state, item.timestamp)
        if not spend and consumed >= self._rate.limit:
            # GCRA admits one more unit once a unit's emission interval is repaid.
            interval_us = self._rate.interval * 1000 // self._rate.limit
            retry_after_ms = (owed_us - (self._rate.limit - 1) * interval_us) // 1000
        return Quota(
            limit=self._rate.limit,
            remaining=max(0, self._rate.limit - consumed),
            reset_seconds=math.ceil(owed_us / 1_000_000),
            retry_after_seconds=None
            if retry_after_ms is None
            else max(1, math.ceil(retry_after_ms / 1000)),
        )
