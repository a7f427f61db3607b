"""PATCH and DELETE while Redis is unreachable: no stale movie once Redis is back.

Real commits (the pending invalidations must be seen by every connection) and a
redis-server of the test's own that goes away and comes back with its data.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from app.auth.models import User
from app.core.cache_invalidations import PendingInvalidation
from app.core.db import create_session_factory
from app.movies.models import Movie
from tests.apps import client_of
from tests.conftest import load_test_settings
from tests.factories import create_user
from tests.integration.accounts import API, bearer, login
from tests.integration.flaky_redis import FlakyRedis, flaky_redis_fixture  # noqa: F401
from tests.integration.real_app import running_app

MOVIE_ID = 990_001


@pytest.fixture
async def committed_admin(engine: AsyncEngine) -> AsyncIterator[User]:
    async with create_session_factory(engine)() as session:
        admin = await create_user(session, is_superuser=True)
        await session.commit()
    yield admin
    async with engine.begin() as connection:
        await connection.execute(delete(Movie).where(Movie.movie_id == MOVIE_ID))
        await connection.execute(delete(User).where(User.id == admin.id))
        await connection.execute(delete(PendingInvalidation))


async def test_no_stale_movie_after_writes_during_a_redis_outage(
    engine: AsyncEngine,
    flaky_redis: FlakyRedis,
    committed_admin: User,
) -> None:
    settings = load_test_settings(
        redis_url=flaky_redis.url, redis_request_timeout=0.1, cache_trust_window=0.3
    )
    url = f"{API}/movies/{MOVIE_ID}"
    async with running_app(settings, engine) as app, client_of(app) as client:
        headers = bearer((await login(client, committed_admin.username))["access_token"])
        created = await client.post(
            f"{API}/movies",
            json={"movie_id": MOVIE_ID, "title": "Old", "released": 1999, "rating": 7},
            headers=headers,
        )
        assert created.status_code == 201, created.text
        for _ in range(2):  # the second read is served from the cache
            assert (await client.get(url, headers=headers)).json()["title"] == "Old"

        async with flaky_redis.down():
            patched = await client.patch(url, json={"title": "New"}, headers=headers)
            assert patched.status_code == 200
            assert (await client.get(url, headers=headers)).json()["title"] == "New"
        assert (await client.get(url, headers=headers)).json()["title"] == "New"

        async with flaky_redis.down():
            assert (await client.delete(url, headers=headers)).status_code == 204
        assert (await client.get(url, headers=headers)).status_code == 404
