"""The cache: JSON values under namespaced, versioned keys, in process or in Redis.

One interface (`Cache`) over two backends: a bounded in-process LRU with expiry when
`REDIS_URL` is empty, Redis (shared by every process) when it is set. Keys are stored as
`cache:v<CACHE_VERSION>:<key>`; bumping `CACHE_VERSION` on a deploy makes every old entry
unreachable (they expire on their own). By convention a key starts with the module that owns
it (`movies:42`), so a module can drop all its entries with `delete_prefix("movies:")`. A
key marked `~` (`~auth:callers:7`) lives outside the version (`cache:any-version:...`):
during a rolling deploy that bumps it, the releases still drop the same one.

Values are JSON, never pickle: a poisoned cache entry can at worst fail validation.
When Redis is unreachable a read is a miss and a write is skipped, with one warning per
outage: the request is served from the database.

With Redis, entries are trusted only under the lease of `app.core.cache_lease`, which
keeps a committed write from leaving a stale entry behind across Redis outages.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any, Protocol, TypeVar, overload

import structlog
from pydantic import TypeAdapter, ValidationError
from redis.asyncio import Redis

from app.core.cache_lease import TrustLease, delete_keys_and_prefixes
from app.core.config import Settings
from app.core.db import Database, UnitOfWork
from app.core.metrics import Metrics
from app.core.redis import REDIS_FAILURES, OutageLog

logger = structlog.get_logger(__name__)

T = TypeVar("T")

SCAN_BATCH = 500
# The mark of a key kept outside the `CACHE_VERSION` namespace, and where such keys live.
UNVERSIONED = "~"
UNVERSIONED_PREFIX = "cache:any-version:"


class CacheBackend(Protocol):
    """Raw string storage with expiry; `Cache` adds keys, JSON and the helpers.

    A backend never raises for an unreachable store: a read is a miss, a write is
    skipped, a claim answers None, and `delete`/`delete_prefix` report whether they
    worked.
    """

    async def get_many(self, keys: Sequence[str]) -> list[str | bytes | None]: ...
    async def set(self, key: str, value: str, ttl: float) -> None: ...
    async def claim(self, key: str, value: str, ttl: float) -> str | bytes | None: ...
    @property
    def reachable(self) -> bool: ...
    async def delete(self, keys: Sequence[str]) -> bool: ...
    async def delete_prefix(self, prefix: str) -> bool: ...


class MemoryCacheBackend:
    """A per-process LRU with expiry, bounded to `max_entries` (the oldest used go first)."""

    reachable = True

    def __init__(self, max_entries: int) -> None:
        self._max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, str]] = OrderedDict()

    async def get_many(self, keys: Sequence[str]) -> list[str | bytes | None]:
        return [self._get(key) for key in keys]

    def _get(self, key: str) -> str | None:
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

    async def claim(self, key: str, value: str, ttl: float) -> str:
        current = self._get(key)
        if current is None:
            await self.set(key, value, ttl)
            return value
        return current

    async def delete(self, keys: Sequence[str]) -> bool:
        for key in keys:
            self._entries.pop(key, None)
        return True

    async def delete_prefix(self, prefix: str) -> bool:
        for key in [key for key in self._entries if key.startswith(prefix)]:
            del self._entries[key]
        return True


def _glob_escape(text: str) -> str:
    """Escape Redis glob characters so a prefix matches only itself."""
    return "".join(f"\\{char}" if char in "*?[]\\" else char for char in text)


class RedisCacheBackend:
    """Redis storage shared by every process; a failure is a miss or a skipped write."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._outage = OutageLog(logger, "cache")

    @property
    def reachable(self) -> bool:
        """Whether the last call worked."""
        return not self._outage.down

    async def _attempt(self, operation: Awaitable[T], consequence: str) -> T | None:
        try:
            result = await operation
        except REDIS_FAILURES as error:
            self._outage.failed(error, consequence)
            return None
        self._outage.recovered()
        return result

    async def get_many(self, keys: Sequence[str]) -> list[str | bytes | None]:
        values = await self._attempt(self._redis.mget(keys), "reads are misses")
        return list(values) if values is not None else [None] * len(keys)

    async def set(self, key: str, value: str, ttl: float) -> None:
        await self._attempt(self._redis.set(key, value, px=_milliseconds(ttl)), "skipped")

    async def claim(self, key: str, value: str, ttl: float) -> str | bytes | None:
        async def claiming() -> str | bytes:
            # `SET NX GET` answers the value it found, or nil when it stored `value`.
            found = await self._redis.set(key, value, px=_milliseconds(ttl), nx=True, get=True)
            return found if isinstance(found, str | bytes) else value

        return await self._attempt(claiming(), "not claimed")

    async def set_if_absent(self, key: str, value: str, ttl: float) -> bool:
        done = self._redis.set(key, value, px=_milliseconds(ttl), nx=True)
        return bool(await self._attempt(done, "cache not renewed"))

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


def _json_or_none(key: str, raw: str | bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:  # UnicodeDecodeError included
        logger.warning("cache entry is not JSON; ignored", key=key)
        return None


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _milliseconds(seconds: float) -> int:
    return max(1, int(seconds * 1000))


class Cache:
    """get / set with TTL / delete / delete by prefix, over either backend."""

    def __init__(
        self,
        backend: CacheBackend,
        *,
        version: str,
        default_ttl: float,
        lease: TrustLease | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        """`lease`: trust entries only under it (a store shared by processes needs one);
        `metrics`: where hits and misses are counted."""
        self._backend = backend
        self._metrics = metrics or Metrics()
        self._version = version
        self._prefix = f"cache:v{version}:"
        self.default_ttl = default_ttl
        self._lease = lease

    @property
    def shared(self) -> bool:
        """Whether every process reads and invalidates the same entries (Redis)."""
        return self._lease is not None

    def for_request(self) -> RequestCache:
        """This cache as one request sees it (see `RequestCache`)."""
        return RequestCache(
            self._backend,
            version=self._version,
            default_ttl=self.default_ttl,
            lease=self._lease,
            metrics=self._metrics,
        )

    @property
    def reachable(self) -> bool:
        """False while the store does not answer (its last call failed)."""
        return self._backend.reachable

    def _key(self, key: str) -> str:
        if key.startswith(UNVERSIONED):
            return UNVERSIONED_PREFIX + key.removeprefix(UNVERSIONED)
        return self._prefix + key

    async def get(self, key: str) -> Any:
        """The stored JSON value, or None on a miss (so never cache None itself)."""
        [value] = await self.get_many([key])
        return value

    async def get_many(self, keys: Sequence[str], *, counted: bool = True) -> list[Any]:
        """The stored JSON values of `keys` (None for each miss), in one round trip;
        each counted as a lookup, unless the caller counts the read itself (`counted`)."""
        values = await self._fetch(keys)
        if counted:
            for key, value in zip(keys, values, strict=True):
                self.record_lookup(key, hit=value is not None)
        return values

    def record_lookup(self, key: str, *, hit: bool) -> None:
        """Count a lookup of `key` in the metrics (under the namespace the key starts with)."""
        self._metrics.cache_lookup(key.removeprefix(UNVERSIONED), hit=hit)

    async def _fetch(self, keys: Sequence[str]) -> list[Any]:
        full_keys = [self._key(key) for key in keys]
        if self._lease is None:
            raws = await self._backend.get_many(full_keys)
        else:
            lease, *raws = await self._backend.get_many([self._lease.key, *full_keys])
            if not self._lease.admits(lease):
                raws = [None] * len(keys)
        return [
            None if raw is None else _json_or_none(key, raw)
            for key, raw in zip(keys, raws, strict=True)
        ]

    async def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        """Store a JSON-serialisable value for `ttl` seconds (default `CACHE_TTL`)."""
        await self._backend.set(self._key(key), _json(value), ttl or self.default_ttl)

    async def claim(self, key: str, value: Any, ttl: float | None = None) -> Any:
        """The value under `key`, `value` stored first if there is none; None when the
        store is unreachable. Whatever the lease: a claim is a fence, never a served
        entry (see `app.auth.callers`)."""
        raw = await self._backend.claim(self._key(key), _json(value), ttl or self.default_ttl)
        return None if raw is None else _json_or_none(key, raw)

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
        write never evicts a value that is still right. Under a lease the keys are also
        written in the transaction, so an outage cannot leave a stale entry behind.
        """
        full_keys = [self._key(key) for key in keys]
        full_prefixes = [self._key(prefix) for prefix in prefixes]
        if self._lease is None:
            deleting = partial(delete_keys_and_prefixes, self._backend, full_keys, full_prefixes)
            uow.after_commit(deleting)
        else:
            self._lease.record(uow.session, full_keys, full_prefixes)
            uow.after_commit(partial(self._lease.invalidate, full_keys, full_prefixes))

    async def renewed(self) -> None:
        """Wait for a trust-lease renewal under way (at shutdown; in tests)."""
        if self._lease is not None:
            await self._lease.renewed()


class RequestCache(Cache):
    """The cache as one request sees it: keys announced with `expect` travel with the
    request's next read. So a route that reads a cached resource after its caller check
    (itself served from the cache) makes one round trip for both.

    Built per request by a dependency, which every dependant of the request shares.
    """

    def __init__(self, backend: CacheBackend, **options: Any) -> None:
        super().__init__(backend, **options)
        self._expected: list[str] = []
        self._read_ahead: dict[str, Any] = {}

    def expect(self, key: str) -> None:
        """Read `key` with the next read; the first read of `key` then takes that value."""
        self._expected.append(key)

    async def _fetch(self, keys: Sequence[str]) -> list[Any]:
        missing = [key for key in keys if key not in self._read_ahead]
        if missing:
            batch = missing + [key for key in self._expected if key not in missing]
            self._expected = []
            values = await super()._fetch(batch)
            self._read_ahead.update(zip(batch, values, strict=True))
        return [self._read_ahead.pop(key, None) for key in keys]


def create_cache(
    settings: Settings, redis: Redis | None, database: Database, metrics: Metrics | None = None
) -> Cache:
    """Redis-backed (under a trust lease) when a client is given, otherwise in process.

    `database` is where the data lives: the lease keeps its pending invalidations there.
    """
    options: dict[str, Any] = {
        "version": settings.cache_version,
        "default_ttl": settings.cache_ttl,
        "metrics": metrics,
    }
    if redis is None:
        return Cache(MemoryCacheBackend(settings.cache_max_entries), **options)
    store = RedisCacheBackend(redis)
    lease = TrustLease(
        store,
        database,
        window=settings.cache_trust_window,
        request_timeout=settings.redis_request_timeout,
    )
    return Cache(store, lease=lease, **options)
