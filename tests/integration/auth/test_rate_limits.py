"""The credential endpoints' own limits, and their failing closed without Redis."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.db import Database
from app.main import create_app
from tests.apps import serving
from tests.conftest import load_test_settings
from tests.integration.auth.conftest import API

LOGIN = f"{API}/auth/login"


async def test_login_is_limited_per_client_and_username(client: httpx.AsyncClient) -> None:
    form = {"username": "target", "password": "guess-guess"}
    statuses = [(await client.post(LOGIN, data=form)).status_code for _ in range(10)]
    assert statuses == [400] * 10

    limited = await client.post(LOGIN, data=form)

    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.headers["x-ratelimit-limit"] == "10"
    assert limited.headers["x-ratelimit-remaining"] == "0"
    other_user = await client.post(LOGIN, data={"username": "someone", "password": "guess-guess"})
    assert other_user.status_code == 400


async def test_restore_password_is_limited_per_client(client: httpx.AsyncClient) -> None:
    url = f"{API}/auth/restore-password"
    statuses = [
        (await client.post(url, json={"email": f"u{index}@example.com"})).status_code
        for index in range(6)
    ]
    assert statuses == [202] * 5 + [429]


async def test_credential_endpoints_fail_closed_without_redis(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    app = create_app(
        load_test_settings(redis_url="redis://127.0.0.1:1/0"), database=Database(session_factory)
    )
    async with serving(app) as client:
        login = await client.post(LOGIN, data={"username": "a", "password": "b"})
        register = await client.post(
            f"{API}/auth/register",
            json={"username": "alice", "email": "a@example.com", "password": "s3cret-pass"},
        )
    assert login.status_code == register.status_code == 503
    assert "retry-after" in login.headers
