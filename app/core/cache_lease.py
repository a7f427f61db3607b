"""The trust lease: no stale Redis entry after a committed write, in any process, across
Redis outages.

Deleting a key after the commit is not enough: when Redis is unreachable at that moment
(or the process dies), the old entry survives the outage and every process would serve
it again once Redis is back. A retry kept in the writer's memory fixes neither the other
processes nor a crash. The only store that the writer can always reach and that outlives
it is the database, so with Redis:

1. `record` writes the invalidated keys to `cache_invalidations` in the write's own
   transaction (rolled back with it); `invalidate` deletes them from Redis after the commit.
2. A Redis entry is trusted only while the lease key exists (read with the entry in one
   `MGET`, so a hit costs one round trip and no query). A lease lives `CACHE_TRUST_WINDOW`
   seconds from the start of the database check that granted it; granting means: read the
   pending rows, delete their keys from Redis, delete those rows, set the lease.
3. A writer whose delete failed retries until it succeeds or until every lease granted
   before its commit has expired (`CACHE_TRUST_WINDOW` + `REDIS_REQUEST_TIMEOUT`), and only
   then answers. So a read that starts after the write answered either finds the key gone
   or finds no lease, and the next grant deletes the key first (the row is committed).

Renewal never runs inside a request and never blocks one: a read that finds the lease
gone (or in the second half of its life) starts one background renewal per process, and
a Redis `SET NX` lock lets one process in the whole deployment renew at a time. Reads
without a lease are misses, served from the database by the request's read connection. A
steady read load therefore renews about twice per window across all processes, and a
renewal holds at most one pooled connection of one process.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from typing import Protocol

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.cache_invalidations import (
    forget_invalidations,
    pending_invalidations,
    record_invalidations,
)
from app.core.db import Database

logger = structlog.get_logger(__name__)

# Outside every `cache:v<N>:` namespace, so no cache key can collide with them.
LEASE_KEY = "cache:trusted"
RENEWAL_LOCK_KEY = "cache:renewing"
# How often a writer whose delete failed tries again while it waits out the leases.
RETRY_INTERVAL = 0.05


class KeyDeleter(Protocol):
    """Deletes keys and key prefixes; reports failure, never raises (both cache backends)."""

    async def delete(self, keys: Sequence[str]) -> bool: ...
    async def delete_prefix(self, prefix: str) -> bool: ...


async def delete_keys_and_prefixes(
    store: KeyDeleter, keys: Sequence[str], prefixes: Sequence[str]
) -> bool:
    """Delete `keys`, then every key under each of `prefixes`; False at the first failure."""
    if keys and not await store.delete(keys):
        return False
    for prefix in prefixes:
        if not await store.delete_prefix(prefix):
            return False
    return True


class LeaseStore(KeyDeleter, Protocol):
    """What the lease needs of the Redis backend; every method reports failure, never raises."""

    async def set_if_absent(self, key: str, value: str, ttl: float) -> bool: ...
    async def set(self, key: str, value: str, ttl: float) -> None: ...


class TrustLease:
    """Grants, checks and renews the lease under which Redis entries are trusted."""

    key = LEASE_KEY

    def __init__(
        self, store: LeaseStore, database: Database, *, window: float, request_timeout: float
    ) -> None:
        self._store = store
        self._database = database
        self._window = window
        # A lease granted before a commit is gone by then (its SET may travel this long).
        self._lease_wait = window + request_timeout
        self._renewal: asyncio.Task[None] | None = None

    def admits(self, lease: str | bytes | None) -> bool:
        """Whether entries read together with this lease value may be served."""
        if lease is None:
            self._renew_in_background()
            return False
        try:
            expires_at = float(lease)
        except ValueError:
            expires_at = 0.0
        if expires_at - time.time() < self._window / 2:
            self._renew_in_background()
        return True

    def _renew_in_background(self) -> None:
        if self._renewal is None or self._renewal.done():
            self._renewal = asyncio.create_task(self._renew())

    async def _renew(self) -> None:
        # Held for half a window, so that the next early renewal finds it free.
        holder = uuid.uuid4().hex
        if not await self._store.set_if_absent(RENEWAL_LOCK_KEY, holder, self._window / 2):
            return  # another process renewed, or is renewing
        try:
            async with self._database.session_factory() as session:
                # The lease counts from the check itself, not from the wait for a pooled
                # connection: a write committed before this point is in the rows it reads.
                await session.connection()
                started = time.monotonic()
                granted_until = time.time() + self._window
                if not await self._apply_pending(session):
                    return
                await session.commit()
        except (SQLAlchemyError, OSError) as error:
            # No traceback: the requests' own queries meet the same error and report it.
            logger.warning(
                "cache not trusted: pending invalidations unreadable; reads are misses",
                error_type=type(error).__name__,
                error=str(error).splitlines()[0] if str(error) else "",
            )
            return
        remaining = self._window - (time.monotonic() - started)
        if remaining > 0:
            await self._store.set(LEASE_KEY, f"{granted_until:.3f}", remaining)

    async def _apply_pending(self, session: AsyncSession) -> bool:
        pending = await pending_invalidations(session)
        keys = [row.key for row in pending if not row.is_prefix]
        prefixes = sorted({row.key for row in pending if row.is_prefix})
        if not await delete_keys_and_prefixes(self._store, keys, prefixes):
            return False
        await forget_invalidations(session, pending)
        return True

    def record(self, session: AsyncSession, keys: Sequence[str], prefixes: Sequence[str]) -> None:
        """Write the invalidation in the change's own transaction (see the module docstring)."""
        record_invalidations(session, keys, prefixes)

    async def invalidate(self, keys: Sequence[str], prefixes: Sequence[str]) -> None:
        """After the commit: delete, retrying until it worked or every older lease expired."""
        deadline = time.monotonic() + self._lease_wait
        while not await delete_keys_and_prefixes(self._store, keys, prefixes):
            if time.monotonic() >= deadline:
                logger.warning("cache invalidation left to the next lease renewal", keys=list(keys))
                return
            await asyncio.sleep(min(RETRY_INTERVAL, max(0.0, deadline - time.monotonic())))

    async def renewed(self) -> None:
        """Wait for the renewal under way, if any (its connection goes back to the pool)."""
        if self._renewal is not None and not self._renewal.done():
            await self._renewal
