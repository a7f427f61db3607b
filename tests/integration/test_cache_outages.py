"""No stale cache entry after a committed write, whatever Redis or the writer did meanwhile.

These tests commit for real (other connections must see the pending invalidations), on
a redis-server of their own that goes away and comes back with its data.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.core.cache import Cache, create_cache
from app.core.cache_invalidations import PendingInvalidation
from app.core.config import Settings
from app.core.db import Database, UnitOfWork, create_engine, create_session_factory
from app.core.redis import create_request_redis
from tests.conftest import load_test_settings
from tests.integration.flaky_redis import FlakyRedis, flaky_redis_fixture  # noqa: F401

KEY = "movies:1"


@pytest.fixture
def outage_settings(flaky_redis: FlakyRedis) -> Settings:
    return load_test_settings(
        redis_url=flaky_redis.url, redis_request_timeout=0.1, cache_trust_window=0.3
    )


@pytest.fixture
async def committing_factory(
    engine: AsyncEngine,
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions that really commit; the rows they leave are removed after the test."""
    yield create_session_factory(engine)
    async with engine.begin() as connection:
        await connection.execute(delete(PendingInvalidation))


@pytest.fixture
async def request_redis(outage_settings: Settings) -> AsyncIterator[Redis]:
    client = create_request_redis(outage_settings)
    assert client is not None
    yield client
    await client.aclose()


@pytest.fixture
def outage_cache(
    outage_settings: Settings,
    request_redis: Redis,
    committing_factory: async_sessionmaker[AsyncSession],
) -> Cache:
    return create_cache(outage_settings, request_redis, Database(committing_factory))


async def pending_keys(factory: async_sessionmaker[AsyncSession]) -> list[str]:
    async with factory() as session:
        return list(await session.scalars(select(PendingInvalidation.key)))


async def read_when_trusted(cache: Cache) -> object:
    """The entry, once a lease covers the read. A read without one starts a renewal; on a
    busy machine a renewal can outlast the short window of these tests, so try again."""
    deadline = time.monotonic() + 5
    while (value := await cache.get(KEY)) is None and time.monotonic() < deadline:
        await cache.renewed()
    return value


async def test_a_write_during_an_outage_is_not_served_stale_once_redis_is_back(
    outage_settings: Settings,
    flaky_redis: FlakyRedis,
    outage_cache: Cache,
    committing_factory: async_sessionmaker[AsyncSession],
) -> None:
    await outage_cache.set(KEY, {"title": "Old"})
    assert await outage_cache.get(KEY) is None  # no lease yet: a miss, and a renewal starts
    assert await read_when_trusted(outage_cache) == {"title": "Old"}
    async with flaky_redis.down():
        async with committing_factory() as session:
            uow = UnitOfWork(session)
            outage_cache.invalidate_after_commit(uow, KEY, prefixes=["movie-lists:"])
            started = time.monotonic()
            await uow.commit()
        # The writer answers only once no lease granted before its commit is left.
        assert time.monotonic() - started >= outage_settings.cache_trust_window
        assert await outage_cache.get(KEY) is None  # reads are misses meanwhile
    assert await outage_cache.get(KEY) is None  # back, but no lease: a miss
    await outage_cache.renewed()
    assert await outage_cache.get(KEY) is None  # the renewal deleted the key first
    assert await pending_keys(committing_factory) == []
    await outage_cache.set(KEY, {"title": "New"})
    assert await read_when_trusted(outage_cache) == {"title": "New"}


async def test_an_invalidation_lost_with_its_process_is_applied_by_another(
    outage_settings: Settings,
    outage_cache: Cache,
    committing_factory: async_sessionmaker[AsyncSession],
) -> None:
    await outage_cache.set(KEY, {"title": "Old"})
    assert await read_when_trusted(outage_cache) == {"title": "Old"}
    async with committing_factory() as session:
        outage_cache.invalidate_after_commit(UnitOfWork(session), KEY)
        await session.commit()  # the writer dies here: its after-commit delete never runs
    stored_key = f"cache:v{outage_settings.cache_version}:{KEY}"
    assert await pending_keys(committing_factory) == [stored_key]
    await asyncio.sleep(outage_settings.cache_trust_window)  # the lease granted above ends
    assert await outage_cache.get(KEY) is None
    await outage_cache.renewed()
    assert await outage_cache.get(KEY) is None
    assert await pending_keys(committing_factory) == []


async def test_when_the_database_fails_redis_entries_are_not_trusted(
    outage_settings: Settings, request_redis: Redis, tmp_path: Path
) -> None:
    # A database without the table: the renewal's query fails, as with the database down.
    nowhere = create_engine(
        load_test_settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    )
    cache = create_cache(outage_settings, request_redis, Database(create_session_factory(nowhere)))
    try:
        await cache.set(KEY, {"title": "Maybe stale"})
        assert await cache.get(KEY) is None
        await cache.renewed()
        assert await cache.get(KEY) is None
    finally:
        await nowhere.dispose()
