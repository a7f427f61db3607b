"""Rate limits: a dependency a route declares, one bucket per key, shared through Redis.

A route declares its own limit:

    @router.post("/login", dependencies=[rate_limit(
        lambda settings: settings.rate_limit_login,
        key=by_client_ip_and_form_field("username"), fail_closed=True)])

Every other route gets `RATE_LIMIT_DEFAULT` (when set) through the app-level
`DEFAULT_RATE_LIMIT` dependency, keyed by the user when the process provides a
`RequestIdentity` (the auth module does) and by client IP otherwise. Endpoints marked with
`exempt_from_default_limit` (the health probes) are exempt from the default.

Counting uses pyrate-limiter's GCRA: a limit of N per period admits a burst of N, then
one more every period/N. Each key has its own `StateBucket`, in process (embedded mode)
or in Redis (`RedisStateStore`, one hash per key, atomic Lua, shared by every process).
We drive the per-key buckets ourselves rather than through fastapi-limiter's
`RateLimiter` and pyrate's `Limiter`: the former keys buckets by scanning `app.routes`
(missing parameterised paths) and is built before any app exists, the latter serialises
every acquisition of a process behind one asyncio lock (a slow Redis would queue every
request), and neither reports what the `X-RateLimit-*` headers need. So fastapi-limiter
itself is not a dependency: pyrate-limiter, which it is built on, is.

Every response under a limit, errors included, carries `X-RateLimit-Limit`,
`X-RateLimit-Remaining` and `X-RateLimit-Reset` (seconds until the quota is full again),
added by the app's middleware from the quota recorded on the request. The client is
the peer address, which uvicorn's `ProxyHeadersMiddleware` replaces with the
`X-Forwarded-For` client only when the peer is listed in `FORWARDED_ALLOW_IPS`, keyed
in one form whatever its spelling, an IPv6 client by its network
(`app.core.client_address`).
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from inspect import isawaitable
from typing import Any, TypeVar

import structlog
from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
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

from app.core.client_address import address_key
from app.core.config import Settings
from app.core.errors import RateLimitedError, ServiceUnavailableError
from app.core.injection import provided_by
from app.core.limit_syntax import Limit, parse_limit
from app.core.metrics import Metrics
from app.core.redis import REDIS_FAILURES, OutageLog

logger = structlog.get_logger(__name__)

T = TypeVar("T")
EndpointT = TypeVar("EndpointT", bound=Callable[..., Any])
KeyFunction = Callable[[Request], Awaitable[str]]
LimitSource = str | Callable[[Settings], str]

REDIS_KEY_PREFIX = "ratelimit:"
# Embedded mode keeps at most this many buckets per limit, dropping the least recently used.
MAX_MEMORY_BUCKETS = 10_000
QUOTA_STATE = "rate_limit_quota"
EXEMPT_MARKER = "__exempt_from_default_limit__"


def client_key(request: Request) -> str:
    """The client of the request as limits count it: the peer address (already the
    forwarded client when the peer is a trusted proxy), by `address_key`."""
    prefix = provided_by(request.app).get(Settings).rate_limit_ipv6_prefix
    return address_key(request.client.host if request.client else None, prefix)


async def by_client_ip(request: Request) -> str:
    return f"ip:{client_key(request)}"


def by_client_ip_and_form_field(field: str) -> KeyFunction:
    """Client IP plus a submitted form field (the login's `username`), case-insensitively.

    Reads the url-encoded form through `request.form()`, which Starlette parses once and
    caches on the request, so the handler still gets its body. The value is hashed: keys
    stay short and Redis holds no submitted identifiers.
    """

    async def key(request: Request) -> str:
        value = (await request.form()).get(field)
        submitted = value.strip().casefold() if isinstance(value, str) else ""
        digest = hashlib.sha256(submitted.encode()).hexdigest()[:32]
        return f"ip:{client_key(request)}:{field}:{digest}"

    return key


class RequestIdentity:
    """Who a request comes from, for the default limit: a user id, or None for anonymous.

    The default limit runs before any route dependency (the auth one included), so the
    identity must be found from the request alone, cheaply and without I/O (for example
    the `sub` of a valid access token). A module provides one at start-up.
    """

    def __init__(self, resolve: Callable[[Request], Awaitable[str | None]]) -> None:
        self.resolve = resolve


async def by_user_or_client_ip(request: Request) -> str:
    identity_of = provided_by(request.app).find(RequestIdentity)
    identity = await identity_of.resolve(request) if identity_of is not None else None
    return f"user:{identity}" if identity else await by_client_ip(request)


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
        owed_us = max(0, int(state[0]) - item.timestamp * 1000)
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
        # By id: routes compare by value and are not hashable; they live as long as the app.
        self._default_exempt: dict[int, bool] = {}
        self.outage = OutageLog(logger, "rate limiter")

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

    def exempt_from_default(self, route: Any) -> bool:
        """Routes with a limit of their own, or marked with `exempt_from_default_limit`."""
        exempt = self._default_exempt.get(id(route))
        if exempt is None:
            dependant: Dependant | None = getattr(route, "dependant", None)
            exempt = getattr(getattr(route, "endpoint", None), EXEMPT_MARKER, False) or (
                dependant is not None and _declares_own_limit(dependant)
            )
            self._default_exempt[id(route)] = exempt
        return exempt


def _declares_own_limit(dependant: Dependant) -> bool:
    return any(
        (isinstance(sub.call, RateLimit) and not isinstance(sub.call, DefaultRateLimit))
        or _declares_own_limit(sub)
        for sub in dependant.dependencies
    )


def _record_quota(request: Request, quota: Quota) -> None:
    """Keep the tightest quota of the request for the response headers."""
    current: Quota | None = getattr(request.state, QUOTA_STATE, None)
    if current is None or quota.remaining < current.remaining:
        setattr(request.state, QUOTA_STATE, quota)


class RateLimit:
    """The dependency behind `rate_limit(...)`; holds the rule, the app holds the counts."""

    def __init__(
        self, limit: LimitSource, key: KeyFunction, *, fail_closed: bool, shared_as: str = ""
    ) -> None:
        self.limit = limit
        self.key = key
        self.fail_closed = fail_closed
        self.shared_as = shared_as

    def _limit_text(self, settings: Settings) -> str:
        return self.limit(settings) if callable(self.limit) else self.limit

    def applies(self, request: Request, limiter: RateLimiter) -> bool:
        return limiter.settings.rate_limit_enabled

    async def bucket_key(self, request: Request) -> str:
        """Per route and key: one rule may guard several routes without sharing counts
        (unless it is `shared_as` a name: then every route it guards counts together)."""
        if self.shared_as:
            return f"{self.shared_as}:{await self.key(request)}"
        route = getattr(request.scope.get("route"), "path", request.url.path)
        return f"{request.method}:{route}:{await self.key(request)}"

    async def __call__(self, request: Request) -> None:
        limiter = provided_by(request.app).get(RateLimiter)
        text = self._limit_text(limiter.settings)
        if not text or not self.applies(request, limiter):
            return
        key = await self.bucket_key(request)
        await _count(request, limiter, text, key, fail_closed=self.fail_closed, spend=True)


async def _count(
    request: Request,
    limiter: RateLimiter,
    text: str,
    key: str,
    *,
    fail_closed: bool,
    spend: bool,
    refuse: bool = True,
) -> Quota | None:
    """Count (or look at) `key` under the limit `text`, record the quota for the headers,
    and raise 429 when the key is over it (unless `refuse` is off). The quota, or None
    when Redis failed and the limit fails open."""
    try:
        quota = await limiter.hit(limiter.limit(text), key, spend=spend)
    except REDIS_FAILURES as error:
        limiter.outage.failed(
            error, "fail-open limits are not enforced; fail-closed routes answer 503"
        )
        if fail_closed:
            raise ServiceUnavailableError(
                "Rate limiting is unavailable; retry later",
                retry_after=limiter.settings.retry_after_seconds,
            ) from None
        return None
    _record_quota(request, quota)
    if refuse and quota.retry_after_seconds is not None:
        raise _refusal(request, limiter, quota, quota.retry_after_seconds)
    return quota


def _refusal(
    request: Request, limiter: RateLimiter, quota: Quota, retry_after: int
) -> RateLimitedError:
    """The 429 of a key over its limit, counted as a rejection."""
    limiter.metrics.rate_limit_rejection(request.scope.get("route"))
    return RateLimitedError(retry_after, headers=quota.headers())


class Throttle:
    """Limits counted inside a handler, when the key needs what a dependency cannot see
    (a parsed body, an account looked up by the service). Keys are named by the caller;
    limits are text or empty (no limit), as for `rate_limit`. Reached through `get_throttle`.
    """

    def __init__(self, request: Request, *, fail_closed: bool) -> None:
        self._request = request
        self._limiter = provided_by(request.app).get(RateLimiter)
        self._fail_closed = fail_closed

    def _active(self, text: str) -> bool:
        return bool(text) and self._limiter.settings.rate_limit_enabled

    async def hit(self, text: str, key: str) -> None:
        """Spend one unit of `key`; 429 when it has none left."""
        if self._active(text):
            await _count(
                self._request, self._limiter, text, key, fail_closed=self._fail_closed, spend=True
            )

    async def spent(self, text: str, key: str) -> Quota | None:
        """`key`'s quota when it has no unit left, else None, spending and refusing
        nothing (for counts spent only by `spend`). The caller decides whom the spent
        count refuses: `refusal` is their 429."""
        if not self._active(text):
            return None
        quota = await _count(
            self._request,
            self._limiter,
            text,
            key,
            fail_closed=self._fail_closed,
            spend=False,
            refuse=False,
        )
        return quota if quota is not None and quota.retry_after_seconds is not None else None

    def refusal(self, spent: Quota) -> RateLimitedError:
        """The 429 to raise for a count found `spent`."""
        return _refusal(self._request, self._limiter, spent, spent.retry_after_seconds or 1)

    async def spend(self, text: str, key: str) -> None:
        """Spend one unit of `key` (a failure), never refusing the request at hand."""
        if self._active(text):
            await _count(
                self._request,
                self._limiter,
                text,
                key,
                fail_closed=self._fail_closed,
                spend=True,
                refuse=False,
            )


async def get_credentials_throttle(request: Request) -> Throttle:
    """A `Throttle` for credential endpoints: without Redis it answers 503 (fail closed)."""
    return Throttle(request, fail_closed=True)


class DefaultRateLimit(RateLimit):
    """`RATE_LIMIT_DEFAULT` for every route without a limit of its own, per user or IP."""

    def __init__(self) -> None:
        super().__init__(
            lambda settings: settings.rate_limit_default, by_user_or_client_ip, fail_closed=False
        )

    def applies(self, request: Request, limiter: RateLimiter) -> bool:
        return super().applies(request, limiter) and not limiter.exempt_from_default(
            request.scope.get("route")
        )

    async def bucket_key(self, request: Request) -> str:
        """One budget per client across all the routes it covers."""
        return f"default:{await self.key(request)}"


def exempt_from_default_limit(endpoint: EndpointT) -> EndpointT:
    """Mark an endpoint that `RATE_LIMIT_DEFAULT` never limits (a throttled liveness probe
    would get its pod restarted)."""
    setattr(endpoint, EXEMPT_MARKER, True)
    return endpoint


# The app-level dependency (a stateless rule; the counts live in each app's services).
DEFAULT_RATE_LIMIT = DefaultRateLimit()


def rate_limit(
    limit: LimitSource,
    *,
    key: KeyFunction = by_client_ip,
    fail_closed: bool = False,
    shared_as: str = "",
) -> Any:
    """A route's own limit, for `dependencies=[...]`.

    `limit` is text ("10/minute") or a function of the settings (`lambda s:
    s.rate_limit_login`); empty text means no limit. `key` names the bucket of a request.
    `fail_closed`: answer 503 when Redis is unreachable instead of letting requests through.
    `shared_as`: one count for every route the limit guards (by default each route and
    method counts apart).
    Tests turn a limit off with `app.dependency_overrides[dep.dependency] = lambda: None`.
    """
    return Depends(RateLimit(limit, key, fail_closed=fail_closed, shared_as=shared_as))
