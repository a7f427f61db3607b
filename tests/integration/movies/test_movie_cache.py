"""GET /movies/{id} is served from the cache when warm, and never stale after a write."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.core.db import Database
from app.main import create_app
from app.movies.models import Movie
from tests.apps import serving
from tests.factories import create_movie
from tests.integration.accounts import API

MOVIES = f"{API}/movies"


@pytest.fixture
async def warm_movie(
    client: httpx.AsyncClient, user_headers: dict[str, str], session: AsyncSession
) -> Movie:
    """A movie that was just read through the API, so its cache entry is warm."""
    movie = await create_movie(session, title="Original")
    response = await client.get(f"{MOVIES}/{movie.movie_id}", headers=user_headers)
    assert response.json()["title"] == "Original"
    return movie


@pytest.fixture
def warm_url(warm_movie: Movie) -> str:
    return f"{MOVIES}/{warm_movie.movie_id}"


@pytest.fixture
async def other_process(
    settings: Settings, session_factory: async_sessionmaker[AsyncSession]
) -> AsyncIterator[httpx.AsyncClient]:
    """A second app, as another worker process would be: its own services, the same Redis."""
    app: FastAPI = create_app(settings, database=Database(session_factory))
    async with serving(app) as client:
        yield client


async def rename_behind_the_api(session: AsyncSession, movie_id: int, title: str) -> None:
    await session.execute(update(Movie).where(Movie.movie_id == movie_id).values(title=title))
    await session.flush()


async def test_a_warm_read_comes_from_the_cache(
    client: httpx.AsyncClient,
    user_headers: dict[str, str],
    session: AsyncSession,
    redis: Redis,
    warm_movie: Movie,
) -> None:
    assert await redis.keys(f"cache:*:movies:{warm_movie.movie_id}")
    await rename_behind_the_api(session, warm_movie.movie_id, "Changed behind the API")
    response = await client.get(f"{MOVIES}/{warm_movie.movie_id}", headers=user_headers)
    assert response.json()["title"] == "Original"


async def test_a_warm_read_and_its_caller_check_are_one_round_trip_and_no_query(
    client: httpx.AsyncClient,
    user_headers: dict[str, str],
    warm_url: str,
    statements: list[str],
    redis_round_trips: list[bytes],
) -> None:
    statements.clear()
    redis_round_trips.clear()
    response = await client.get(warm_url, headers=user_headers)
    assert response.json()["title"] == "Original"
    assert statements == []
    [trip] = [trip for trip in redis_round_trips if b"cache:" in trip]
    assert b"MGET" in trip
    assert b"auth:callers:" in trip
    assert f"movies:{warm_url.rpartition('/')[2]}".encode() in trip


async def test_patch_and_delete_invalidate_after_commit(
    client: httpx.AsyncClient,
    user_headers: dict[str, str],
    admin_headers: dict[str, str],
    warm_url: str,
) -> None:
    await client.patch(warm_url, json={"title": "Patched", "rating": 7.5}, headers=admin_headers)
    fresh = (await client.get(warm_url, headers=user_headers)).json()
    assert (fresh["title"], fresh["rating"]) == ("Patched", 7.5)

    assert (await client.delete(warm_url, headers=admin_headers)).status_code == 204
    assert (await client.get(warm_url, headers=user_headers)).status_code == 404


async def test_a_failed_write_keeps_the_cached_value(
    client: httpx.AsyncClient,
    user_headers: dict[str, str],
    admin_headers: dict[str, str],
    session: AsyncSession,
    warm_movie: Movie,
) -> None:
    url = f"{MOVIES}/{warm_movie.movie_id}"
    await rename_behind_the_api(session, warm_movie.movie_id, "Changed behind the API")
    refused = await client.patch(url, json={"rating": 12}, headers=admin_headers)
    assert refused.status_code == 422
    assert (await client.get(url, headers=user_headers)).json()["title"] == "Original"


async def test_a_write_in_one_process_is_seen_by_another(
    client: httpx.AsyncClient,
    other_process: httpx.AsyncClient,
    user_headers: dict[str, str],
    admin_headers: dict[str, str],
    warm_url: str,
) -> None:
    patched = await other_process.patch(warm_url, json={"title": "Patched"}, headers=admin_headers)
    assert patched.status_code == 200
    assert (await client.get(warm_url, headers=user_headers)).json()["title"] == "Patched"
