"""The shared Redis client, when `REDIS_URL` is set, and how an outage is logged."""

from __future__ import annotations

from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from app.core.config import Settings

# What a call to an unreachable or failing Redis raises (socket errors are wrapped, but a
# closed loop or a DNS failure can still surface as OSError, and under uvloop a connection
# that a restarting Redis closed as "RuntimeError: unable to perform operation on
# <TCPTransport closed=True>", which the soak test met).
REDIS_FAILURES: tuple[type[Exception], ...] = (RedisError, OSError, RuntimeError)


def _client(settings: Settings, timeout: float, **options: Any) -> Redis | None:
    """A client whose pool waits (up to `timeout`) for a free connection when all
    `REDIS_MAX_CONNECTIONS` are busy; redis-py's default pool raises at once instead."""
    if not settings.redis_url:
        return None
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=settings.redis_max_connections,
        timeout=timeout,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        health_check_interval=30,
        **options,
    )
    return Redis.from_pool(pool)


def create_redis(settings: Settings) -> Redis | None:
    """A lazily connecting client, or None in embedded mode."""
    return _client(settings, settings.redis_timeout)


def create_request_redis(settings: Settings) -> Redis | None:
    """The client a request waits on (cache, rate limits): it gives up fast.

    Short timeouts (`REDIS_REQUEST_TIMEOUT`) and one immediate retry (for a pooled connection
    the server closed), instead of redis-py's default of ten retries with backoff, which
    holds a request for seconds when Redis is down.
    """
    return _client(settings, settings.redis_request_timeout, retry=Retry(NoBackoff(), retries=1))


class OutageLog:
    """Logs a Redis outage once when it starts and once when it ends, not on every request."""

    def __init__(self, logger: Any, service: str) -> None:
        self._logger = logger
        self._service = service
        self._down = False

    @property
    def down(self) -> bool:
        """Whether the last call failed."""
        return self._down

    def failed(self, error: BaseException, consequence: str) -> None:
        if self._down:
            return
        self._down = True
        self._logger.warning(
            "redis unavailable",
            service=self._service,
            consequence=consequence,
            error_type=type(error).__name__,
            error=str(error),
        )

    def recovered(self) -> None:
        if self._down:
            self._down = False
            self._logger.info("redis available again", service=self._service)
