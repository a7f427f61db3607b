"""The HTTP side of the limits: `rate_limit(...)` for a route, the app-wide default,
`Throttle` for counts a handler keys itself, and the quota recorded for the headers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Depends, Request

from app.core.config import Settings
from app.core.errors import RateLimitedError, ServiceUnavailableError
from app.core.injection import Provide
from app.core.rate_limit.buckets import Quota
from app.core.rate_limit.keys import KeyFunction, by_client_ip, by_user_or_client_ip
from app.core.rate_limit.limiter import RateLimiter
from app.core.redis import REDIS_FAILURES
from app.core.route_tree import dependencies_of

EndpointT = TypeVar("EndpointT", bound=Callable[..., Any])
LimitSource = str | Callable[[Settings], str]

QUOTA_STATE = "rate_limit_quota"
EXEMPT_MARKER = "__exempt_from_default_limit__"


def _exempt_from_default(limiter: RateLimiter, route: Any) -> bool:
    """Routes with a limit of their own, or marked with `exempt_from_default_limit`."""
    exempt = limiter.default_exempt.get(id(route))
    if exempt is None:
        exempt = getattr(getattr(route, "endpoint", None), EXEMPT_MARKER, False) or any(
            isinstance(dependency.call, RateLimit)
            and not isinstance(dependency.call, DefaultRateLimit)
            for dependency in dependencies_of(route)
        )
        limiter.default_exempt[id(route)] = exempt
    return exempt


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

    async def bucket_key(self, request: Request, limiter: RateLimiter) -> str:
        """Per route and key: one rule may guard several routes without sharing counts
        (unless it is `shared_as` a name: then every route it guards counts together)."""
        if self.shared_as:
            return f"{self.shared_as}:{await self.key(request, limiter)}"
        route = getattr(request.scope.get("route"), "path", request.url.path)
        return f"{request.method}:{route}:{await self.key(request, limiter)}"

    async def __call__(self, request: Request, limiter: Provide[RateLimiter]) -> None:
        text = self._limit_text(limiter.settings)
        if not text or not self.applies(request, limiter):
            return
        key = await self.bucket_key(request, limiter)
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
    """The `KeyedLimits` of a request: counts a handler's use case keys itself (a parsed
    body, an account looked up by the service), recorded for the response headers like
    `rate_limit`'s. Limits are text or empty (no limit). Reached through
    `get_credentials_throttle`.
    """

    def __init__(self, request: Request, limiter: RateLimiter, *, fail_closed: bool) -> None:
        self._request = request
        self._limiter = limiter
        self._fail_closed = fail_closed

    def _active(self, limit: str) -> bool:
        return bool(limit) and self._limiter.settings.rate_limit_enabled

    async def hit(self, limit: str, key: str) -> None:
        """Spend one unit of `key`; 429 when it has none left."""
        if self._active(limit):
            await _count(
                self._request, self._limiter, limit, key, fail_closed=self._fail_closed, spend=True
            )

    async def spent(self, limit: str, key: str) -> Quota | None:
        """`key`'s quota when it has no unit left, else None, spending and refusing
        nothing (for counts spent only by `spend`). The caller decides whom the spent
        count refuses: `refusal` is their 429."""
        if not self._active(limit):
            return None
        quota = await _count(
            self._request,
            self._limiter,
            limit,
            key,
            fail_closed=self._fail_closed,
            spend=False,
            refuse=False,
        )
        return quota if quota is not None and quota.retry_after_seconds is not None else None

    def refusal(self, spent: Quota) -> RateLimitedError:
        """The 429 to raise for a count found `spent`."""
        return _refusal(self._request, self._limiter, spent, spent.retry_after_seconds or 1)

    async def spend(self, limit: str, key: str) -> None:
        """Spend one unit of `key` (a failure), never refusing the request at hand."""
        if self._active(limit):
            await _count(
                self._request,
                self._limiter,
                limit,
                key,
                fail_closed=self._fail_closed,
                spend=True,
                refuse=False,
            )


async def get_credentials_throttle(request: Request, limiter: Provide[RateLimiter]) -> Throttle:
    """A `Throttle` for credential endpoints: without Redis it answers 503 (fail closed)."""
    return Throttle(request, limiter, fail_closed=True)


class DefaultRateLimit(RateLimit):
    """`RATE_LIMIT_DEFAULT` for every route without a limit of its own, per user or IP."""

    def __init__(self) -> None:
        super().__init__(
            lambda settings: settings.rate_limit_default, by_user_or_client_ip, fail_closed=False
        )

    def applies(self, request: Request, limiter: RateLimiter) -> bool:
        return super().applies(request, limiter) and not _exempt_from_default(
            limiter, request.scope.get("route")
        )

    async def bucket_key(self, request: Request, limiter: RateLimiter) -> str:
        """One budget per client across all the routes it covers."""
        return f"default:{await self.key(request, limiter)}"


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
