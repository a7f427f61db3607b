"""`KeyedLimits`: what a use case needs to count keys it names itself under limits
written as text (an account it looked up, an address it was given), whatever counts
them: the HTTP binding's `Throttle` in a request."""

from __future__ import annotations

from typing import Protocol

from app.core.errors import RateLimitedError
from app.core.rate_limit.buckets import Quota


class KeyedLimits(Protocol):
    """Counts of keys under limits; an empty limit is no limit."""

    async def hit(self, limit: str, key: str) -> None:
        """Spend one unit of `key`; `RateLimitedError` when it has none left."""

    async def spent(self, limit: str, key: str) -> Quota | None:
        """`key`'s quota when it has no unit left, else None, spending nothing."""

    async def spend(self, limit: str, key: str) -> None:
        """Spend one unit of `key` (a failure), refusing nothing."""

    def refusal(self, spent: Quota) -> RateLimitedError:
        """The error that refuses a caller whose count was found `spent`."""
