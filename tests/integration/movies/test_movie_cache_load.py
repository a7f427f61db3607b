"""The Redis cache under load: lease renewals never exhaust the pool nor fail a request.

64 clients read one cached movie at once, again and again, across several expiries of a
short trust lease, on an app whose pool holds 3 connections: every request answers 200,
no request waits out the pool, and the lease is renewed a few times per window at most
(renewals run in the background, one at a time, and wait for a connection like anyone).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.auth.models import User
from app.core.cache_lease import LEASE_KEY
from app.core.config import Settings
from app.main import create_app
from app.movies.models import Movie
from tests.apps import serving
from tests.factories import create_movie, create_user
from tests.integration.accounts import API, bearer, login

CLIENTS = 64
TRUST_WINDOW = 0.2
LOAD_SECONDS = 1.0  # five lease windows


@pytest.fixture
async def committed_reader_and_movie(engine: AsyncEngine) -> AsyncIterator[tuple[User, Movie]]:
    """A user and a movie committed for real (the app runs on its own small pool)."""
    async with AsyncSession(engine, expire_on_commit=False) as session:
        user = await create_user(session)
        movie = await create_movie(session)
        await session.commit()
    yield user, movie
    async with engine.begin() as connection:
        await connection.execute(delete(User).where(User.id == user.id))
        await connection.execute(delete(Movie).where(Movie.movie_id == movie.movie_id))


async def test_64_concurrent_cached_reads_across_lease_expiries_never_fail(
    settings: Settings,
    redis: Redis,
    committed_reader_and_movie: tuple[User, Movie],
    caplog: pytest.LogCaptureFixture,
) -> None:
    user, movie = committed_reader_and_movie
    small_pool = settings.model_copy(
        update={
            "database_pool_size": 3,
            "database_max_overflow": 0,
            # Long enough for a busy machine; a request holding a connection while waiting
            # for another (what renewals once did) still deadlocks until it runs out.
            "database_pool_timeout": 10.0,
            "cache_trust_window": TRUST_WINDOW,
        }
    )
    app = create_app(small_pool)
    caplog.set_level(logging.INFO)
    async with serving(app) as client:
        headers = bearer((await login(client, user.username))["access_token"])
        url = f"{API}/movies/{movie.movie_id}"

        async def read_until(deadline: float) -> list[int]:
            statuses = []
            while time.monotonic() < deadline:
                statuses.append((await client.get(url, headers=headers)).status_code)
            return statuses

        deadline = time.monotonic() + LOAD_SECONDS
        counting = asyncio.create_task(lease_grants_until(redis, deadline))
        results = await asyncio.gather(*(read_until(deadline) for _ in range(CLIENTS)))
        grants = await counting

    statuses = [status for result in results for status in result]
    assert all(results)  # every client was served, again and again
    assert set(statuses) == {200}
    problems = [
        record.getMessage()
        for record in caplog.records
        if "QueuePool" in record.getMessage() or "not trusted" in record.getMessage()
    ]
    assert problems == []
    # About twice per window at most (renewed from the middle of each lease, one renewal at
    # a time), never once per request.
    assert grants <= 3 * LOAD_SECONDS / TRUST_WINDOW


async def lease_grants_until(redis: Redis, deadline: float) -> int:
    """How many leases were granted meanwhile: each grant writes a new expiry time."""
    seen: set[bytes | str] = set()
    while time.monotonic() < deadline:
        if (lease := await redis.get(LEASE_KEY)) is not None:
            seen.add(lease)
        await asyncio.sleep(TRUST_WINDOW / 10)
    return len(seen)
