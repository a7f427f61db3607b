"""A logout and a block while Redis is unreachable: the cached caller check does not bring
the session back once Redis returns.

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
from tests.apps import client_of
from tests.conftest import load_test_settings
from tests.factories import create_user
from tests.integration.accounts import API, bearer, login
from tests.integration.flaky_redis import FlakyRedis, flaky_redis_fixture  # noqa: F401
from tests.integration.real_app import running_app

PROFILE = f"{API}/profile"


@pytest.fixture
async def committed_users(engine: AsyncEngine) -> AsyncIterator[tuple[User, User]]:
    """An admin and a user, committed (and deleted afterwards, their sessions with them)."""
    async with create_session_factory(engine)() as session:
        admin = await create_user(session, is_superuser=True)
        user = await create_user(session)
        await session.commit()
    yield admin, user
    async with engine.begin() as connection:
        await connection.execute(delete(User).where(User.id.in_([admin.id, user.id])))
        await connection.execute(delete(PendingInvalidation))


async def test_no_session_comes_back_after_changes_during_a_redis_outage(
    engine: AsyncEngine, flaky_redis: FlakyRedis, committed_users: tuple[User, User]
) -> None:
    admin, user = committed_users
    settings = load_test_settings(
        redis_url=flaky_redis.url, redis_request_timeout=0.1, cache_trust_window=0.3
    )
    async with running_app(settings, engine) as app, client_of(app) as client:
        admin_headers = bearer((await login(client, admin.username))["access_token"])
        logged_out = bearer((await login(client, user.username))["access_token"])
        blocked = bearer((await login(client, user.username))["access_token"])
        for headers in (logged_out, blocked, logged_out, blocked):  # warm: from the cache
            assert (await client.get(PROFILE, headers=headers)).status_code == 200

        async with flaky_redis.down():
            logout = await client.post(f"{API}/auth/logout", headers=logged_out)
            assert logout.status_code == 204
            assert (await client.get(PROFILE, headers=logged_out)).status_code == 401
        assert (await client.get(PROFILE, headers=logged_out)).status_code == 401
        assert (await client.get(PROFILE, headers=blocked)).status_code == 200

        async with flaky_redis.down():
            blocking = await client.patch(
                f"{API}/users/{user.id}", json={"status": "blocked"}, headers=admin_headers
            )
            assert blocking.status_code == 200
        assert (await client.get(PROFILE, headers=blocked)).status_code == 401
