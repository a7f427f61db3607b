"""`RateLimiter`: the rate-limit service of one process, the limits it counts (parsed
once) and their buckets."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from fastapi import Request
from pyrate_limiter import Rate
from redis.asyncio import Redis

from app.core.config import Settings
from app.core.limit_syntax import Limit, parse_limit
from app.core.metrics import Metrics
from app.core.rate_limit.buckets import KeyedBuckets, Quota
from app.core.redis import OutageLog

logger = structlog.get_logger(__name__)

# Who a request comes from, for the default limit: a user id, or None for anonymous.
CallerIdentity = Callable[[Request], Awaitable[str | None]]

# Embedded mode keeps at most this many buckets per limit, dropping the least recently used.
MAX_MEMORY_BUCKETS = 10_000


class RateLimiter:
    """The per-process rate-limit service: buckets per limit, in process or in Redis."""

    def __init__(
        self, settings: Settings, redis: Redis | None, metrics: Metrics | None = None
    ) -> None:
        self.settings = settings
        self._redis = redis
        self.metrics = metrics or Metrics()
        self._limits: dict[str, Limit] = {}
        self._buckets: dict[Limit, KeyedBuckets] = {}
        # Whether the default limit skips a route, by the route's id (routes compare by
        # value and are not hashable; they live as long as the app): `http` fills it.
        self.default_exempt: dict[int, bool] = {}
        self.outage = OutageLog(logger, "rate limiter")
        self._identify: CallerIdentity | None = None

    def identify_callers(self, identify: CallerIdentity) -> None:
        """Count the default limit per user: `identify` finds who a request comes from.

        The default limit runs before any route dependency (the auth one included), so
        the identity must come from the request alone, cheaply and without I/O (the `sub`
        of a valid access token, say). A module gives it at start-up.
        """
        self._identify = identify

    async def caller_identity(self, request: Request) -> str | None:
        return await self._identify(request) if self._identify is not None else None

    def limit(self, text: str) -> Limit:
        parsed = self._limits.get(text)
        if parsed is None:
            parsed = self._limits[text] = parse_limit(text)
        return parsed

    async def hit(self, limit: Limit, key: str, *, spend: bool = True) -> Quota:
        """Count one request of `key` under `limit` (or, without `spend`, only look);
        raises a Redis error when Redis fails."""
        buckets = self._buckets.get(limit)
        if buckets is None:
            rate = Rate(limit.count, limit.seconds * 1000)
            buckets = KeyedBuckets(rate, self._redis, MAX_MEMORY_BUCKETS)
            self._buckets[limit] = buckets
        quota = await buckets.hit(f"{limit}:{key}", spend=spend)
        self.outage.recovered()
        return quota
