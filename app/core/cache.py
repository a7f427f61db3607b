"""The cache: JSON values under namespaced, versioned keys, in process or in Redis.

One interface (`Cache`) over two backends: a bounded in-process LRU with expiry when
`REDIS_URL` is empty, Redis (shared by every process) when it is set. Keys are stored as
`cache:v<CACHE_VERSION>:<key>`; bumping `CACHE_VERSION` on a deploy makes every old entry
unreachable (they expire on their own). By convention a key starts with the module that owns
it (`movies:42`), so a module can drop all its entries with `delete_prefix("movies:")`.

Values are JSON, never pickle: a poisoned cache entry can at worst fail validation.
When Redis is unreachable a read is a miss and a write is skipped, with one warning per
outage: the request is served from the database.

No stale entry after a committed write, in any process, across Redis outages
-----------------------------------------------------------------------------
Deleting a key after the commit is not enough: when Redis is unreachable at that moment
(or the process dies), the old entry survives the outage and every process would serve
it again once Redis is back. A retry kept in the writer's memory fixes neither the other
processes nor a crash, and an invalidation sent through the queue arrives only some time
after Redis is back. The only store that the writer can always reach and that outlives it
is the database, so with Redis:

1. `invalidate_after_commit` writes the keys to `cache_invalidations` in the write's own
   transaction (rolled back with it), then deletes them from Redis after the commit.
2. A Redis entry is trusted only while the *trust lease* `cache:trusted` exists (read with
   the entry in one `MGET`, so a hit still costs one round trip and no query). The lease
   lives `CACHE_TRUST_WINDOW` seconds, counted from the start of the database check that
   renewed it; renewing means: read the pending rows, delete their keys from Redis, delete
   those rows, set the lease. While that fails (Redis or the database unreachable), reads
   are misses.
3. A writer whose delete failed retries until it succeeds or until every lease granted
   before its commit has expired (`CACHE_TRUST_WINDOW` + `REDIS_REQUEST_TIMEOUT`), and only
   then answers. So a read that starts after the write answered either finds the key gone
   or finds no lease, and the renewal deletes the key first (the row is committed).

The price: a write during a Redis outage answers up to `CACHE_TRUST_WINDOW` later, and
one small query per `CACHE_TRUST_WINDOW` renews the lease. Rows of successful deletes are
removed by the next renewal. The in-process backend needs none of this (one process,
deleted synchronously after the commit).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar, overload

import structlog
from pydantic import TypeAdapter, ValidationError
from redis.asyncio import Redis
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.cache_invalidations import (
    PendingInvalidation,
    forget_invalidations,
    pending_invalidations,
    record_invalidations,
)
from app.core.config import Settings
from app.core.db import UnitOfWork
from app.core.redis import REDIS_FAILURES, OutageLog

logger = structlog.get_logger(__name__)

T = TypeVar("T")

SCAN_BATCH = 500
# Outside every `cache:v<N>:` namespace, so no cache key can collide with it.
TRUST_KEY = "cache:trusted"
# How often a writer whose delete failed tries again while it waits out the leases.
RETRY_INTERVAL = 0.05


class CacheBackend(Protocol):
    """Raw string storage with expiry; `Cache` adds keys, JSON and the helpers."""

    async def get(self, key: str) -> str | bytes | None: ...
    async def set(self, key: str, value: str, ttl: float) -> None: ...
    async def delete(self, keys: Sequence[str]) -> bool: ...
    async def delete_prefix(self, prefix: str) -> bool: ...
    def invalidate_after_commit(
        self, uow: UnitOfWork, keys: Sequence[str], prefixes: Sequence[str]
    ) -> None: ...


class MemoryCacheBackend:
    """A per-process LRU with expiry, bounded to `max_entries` (the oldest used go first)."""

    def __init__(self, max_entries: int) -> None:
        self._max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, str]] = OrderedDict()

    async def get(self, key: str) -> str | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires_at, value = entry
        if expires_at <= time.monotonic():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    async def set(self, key: str, value: str, ttl: float) -> None:
        self._entries[key] = (time.monotonic() + ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    async def delete(self, keys: Sequence[str]) -> bool:
        for key in keys:
            self._entries.pop(key, None)
        return True

    async def delete_prefix(self, prefix: str) -> bool:
        for key in [key for key in self._entries if key.startswith(prefix)]:
            del self._entries[key]
        return True

    def invalidate_after_commit(
        self, uow: UnitOfWork, keys: Sequence[str], prefixes: Sequence[str]
    ) -> None:
        async def invalidate() -> None:
            await self.delete(keys)
            for prefix in prefixes:
                await self.delete_prefix(prefix)

        uow.after_commit(invalidate)


def _glob_escape(text: str) -> str:
    """Escape Redis glob characters so a prefix matches only itself."""
    return "".join(f"\\{char}" if char in "*?[]\\" else char for char in text)


class RedisCacheBackend:
    """Redis storage; every failure is a miss or a skipped write, never an error.

    Entries are trusted only under the lease described in the module docstring.
    """

    def __init__(
        self,
        redis: Redis,
        session_factory: async_sessionmaker[AsyncSession],
        *,
        trust_window: float,
        request_timeout: float,
    ) -> None:
        self._redis = redis
        self._session_factory = session_factory
        self._trust_window = trust_window
        # A lease granted before a commit is gone by then (its SET may travel this long).
        self._lease_wait = trust_window + request_timeout
        self._outage = OutageLog(logger, "cache")

    async def _attempt(self, operation: Awaitable[T], consequence: str) -> T | None:
        try:
            result = await operation
        except REDIS_FAILURES as error:
            self._outage.failed(error, consequence)
            return None
        self._outage.recovered()
        return result

    async def get(self, key: str) -> str | bytes | None:
        values = await self._attempt(self._redis.mget(TRUST_KEY, key), "reads are misses")
        if values is None:
            return None
        trusted, raw = values
        if trusted is not None:
            return raw
        if not await self._renew_trust():
            return None
        return await self._attempt(self._redis.get(key), "reads are misses")

    async def _renew_trust(self) -> bool:
        """Apply the pending invalidations, then grant a lease; False when that failed."""
        started = time.monotonic()
        try:
            async with self._session_factory() as session:
                pending = await pending_invalidations(session)
                if not await self._unlink_pending(pending):
                    return False
                await forget_invalidations(session, pending)
                await session.commit()
        except (SQLAlchemyError, OSError) as error:
            # No traceback: the request's own query meets the same error and reports it.
            logger.warning(
                "cache not trusted: pending invalidations unreadable; reads are misses",
                error_type=type(error).__name__,
                error=str(error).splitlines()[0] if str(error) else "",
            )
            return False
        remaining = self._trust_window - (time.monotonic() - started)
        if remaining <= 0:
            return False
        granted = self._redis.set(TRUST_KEY, "1", px=max(1, int(remaining * 1000)))
        return await self._attempt(granted, "reads are misses") is not None

    async def _unlink_pending(self, pending: Sequence[PendingInvalidation]) -> bool:
        keys = [row.key for row in pending if not row.is_prefix]
        return await self._delete_all(keys, sorted({row.key for row in pending if row.is_prefix}))

    async def set(self, key: str, value: str, ttl: float) -> None:
        await self._attempt(self._redis.set(key, value, px=max(1, int(ttl * 1000))), "skipped")

    async def delete(self, keys: Sequence[str]) -> bool:
        if not keys:
            return True
        return await self._attempt(self._redis.unlink(*keys), "invalidation delayed") is not None

    async def delete_prefix(self, prefix: str) -> bool:
        done = await self._attempt(self._unlink_matching(prefix), "invalidation delayed")
        return done is not None

    async def _unlink_matching(self, prefix: str) -> bool:
        batch: list[bytes] = []
        async for key in self._redis.scan_iter(match=f"{_glob_escape(prefix)}*", count=SCAN_BATCH):
            batch.append(key)
            if len(batch) >= SCAN_BATCH:
                await self._redis.unlink(*batch)
                batch.clear()
        if batch:
            await self._redis.unlink(*batch)
        return True

    def invalidate_after_commit(
        self, uow: UnitOfWork, keys: Sequence[str], prefixes: Sequence[str]
    ) -> None:
        record_invalidations(uow.session, keys, prefixes)

        async def invalidate() -> None:
            deadline = time.monotonic() + self._lease_wait
            while not await self._delete_all(keys, prefixes):
                if time.monotonic() >= deadline:
                    logger.warning(
                        "cache invalidation left to the next lease renewal", keys=list(keys)
                    )
                    return
                await asyncio.sleep(min(RETRY_INTERVAL, max(0.0, deadline - time.monotonic())))

        uow.after_commit(invalidate)

    async def _delete_all(self, keys: Sequence[str], prefixes: Sequence[str]) -> bool:
        if not await self.delete(keys):
            return False
        for prefix in prefixes:
            if not await self.delete_prefix(prefix):
                return False
        return True


class Cache:
    """get / set with TTL / delete / delete by prefix, over either backend."""

    def __init__(self, backend: CacheBackend, *, version: str, default_ttl: float) -> None:
        self._backend = backend
        self._prefix = f"cache:v{version}:"
        self._default_ttl = default_ttl

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        redis: Redis | None,
        session_factory: async_sessionmaker[AsyncSession],
    ) -> Cache:
        """Redis-backed when a client is given, otherwise in process.

        `session_factory` reaches the database the data lives in (the pending invalidations).
        """
        backend: CacheBackend = (
            RedisCacheBackend(
                redis,
                session_factory,
                trust_window=settings.cache_trust_window,
                request_timeout=settings.redis_request_timeout,
            )
            if redis is not None
            else MemoryCacheBackend(settings.cache_max_entries)
        )
        return cls(backend, version=settings.cache_version, default_ttl=settings.cache_ttl)

    def _key(self, key: str) -> str:
        return self._prefix + key

    async def get(self, key: str) -> Any:
        """The stored JSON value, or None on a miss (so never cache None itself)."""
        raw = await self._backend.get(self._key(key))
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except ValueError:  # UnicodeDecodeError included
            logger.warning("cache entry is not JSON; ignored", key=key)
            return None

    async def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        """Store a JSON-serialisable value for `ttl` seconds (default `CACHE_TTL`)."""
        raw = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        await self._backend.set(self._key(key), raw, ttl or self._default_ttl)

    async def delete(self, *keys: str) -> None:
        await self._backend.delete([self._key(key) for key in keys])

    async def delete_prefix(self, prefix: str) -> None:
        """Delete every key starting with `prefix` (`"movies:"` drops all of a module's)."""
        await self._backend.delete_prefix(self._key(prefix))

    @overload
    async def get_or_load(
        self,
        key: str,
        load: Callable[[], Awaitable[T]],
        adapter: TypeAdapter[T],
        ttl: float | None = None,
    ) -> T: ...

    @overload
    async def get_or_load(
        self,
        key: str,
        load: Callable[[], Awaitable[T | None]],
        adapter: TypeAdapter[T],
        ttl: float | None = None,
    ) -> T | None: ...

    async def get_or_load(
        self,
        key: str,
        load: Callable[[], Awaitable[T | None]],
        adapter: TypeAdapter[T],
        ttl: float | None = None,
    ) -> T | None:
        """A cached service read: the cached value when valid, else `load()` stored for next time.

        `adapter` (a module constant such as `TypeAdapter(MovieRead)`) turns the value into
        JSON and back. A None result (not found) is returned but not cached; an entry
        that no longer validates (the schema changed without a `CACHE_VERSION` bump) is
        reloaded.
        """
        cached = await self.get(key)
        if cached is not None:
            try:
                return adapter.validate_python(cached)
            except ValidationError:
                logger.warning("cache entry no longer valid; reloaded", key=key)
        value = await load()
        if value is not None:
            await self.set(key, adapter.dump_python(value, mode="json"), ttl)
        return value

    def invalidate_after_commit(
        self, uow: UnitOfWork, *keys: str, prefixes: Sequence[str] = ()
    ) -> None:
        """Drop `keys` (and every key under `prefixes`) once `uow` has committed.

        Nothing happens when the transaction rolls back or its commit fails, so a failed
        write never evicts a value that is still right. With Redis, the keys are also
        written in the transaction, so an outage cannot leave a stale entry behind (see
        the module docstring).
        """
        self._backend.invalidate_after_commit(
            uow, [self._key(key) for key in keys], [self._key(prefix) for prefix in prefixes]
        )
