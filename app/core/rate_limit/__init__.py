"""Rate limits: a dependency a route declares, one bucket per key, shared through Redis.

A route declares its own limit:

    @router.post("/login", dependencies=[rate_limit(
        lambda settings: settings.rate_limit_login,
        key=by_client_ip_and_form_field("username"), fail_closed=True)])

Every other route gets `RATE_LIMIT_DEFAULT` (when set) through the app-level
`DEFAULT_RATE_LIMIT` dependency, keyed by the user when a module tells the limiter how to
identify callers (`RateLimiter.identify_callers`; the auth module does) and by client IP
otherwise. Endpoints marked with `exempt_from_default_limit` (the health probes) are
exempt from the default. A key function (`by_client_ip`, or one of a route's own) gets
the request and the process's `RateLimiter`.

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

from app.core.rate_limit.buckets import KeyedBuckets, Quota
from app.core.rate_limit.counts import KeyedLimits
from app.core.rate_limit.http import (
    DEFAULT_RATE_LIMIT,
    QUOTA_STATE,
    RateLimit,
    Throttle,
    exempt_from_default_limit,
    get_credentials_throttle,
    rate_limit,
)
from app.core.rate_limit.keys import (
    by_client_ip,
    by_client_ip_and_form_field,
    by_user_or_client_ip,
    client_key,
)
from app.core.rate_limit.limiter import RateLimiter

__all__ = [
    "DEFAULT_RATE_LIMIT",
    "QUOTA_STATE",
    "KeyedBuckets",
    "KeyedLimits",
    "Quota",
    "RateLimit",
    "RateLimiter",
    "Throttle",
    "by_client_ip",
    "by_client_ip_and_form_field",
    "by_user_or_client_ip",
    "client_key",
    "exempt_from_default_limit",
    "get_credentials_throttle",
    "rate_limit",
]
