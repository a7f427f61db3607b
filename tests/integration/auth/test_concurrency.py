"""Races that only real commits on the real engine can show (not the savepoint-bound app).

Each test cleans up the users it committed (their tokens go with them) and the
outbox rows their mails left.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from app.auth.models import User
from app.core.config import Settings
from app.main import create_app
from tests.apps import outbox_rows_removed, serving
from tests.conftest import load_test_settings
from tests.integration.auth.conftest import API, login

RACE_EMAIL = "race@example.com"


@pytest.fixture
async def committing_client(
    engine: AsyncEngine, settings: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    """An app on its own engine: every request really commits. Rate limits are off, and
    the password-hash queue holds every concurrent request of these tests."""
    app = create_app(load_test_settings(rate_limit_enabled=False, password_hash_queue_size=100))
    try:
        async with outbox_rows_removed(engine), serving(app) as client:
            yield client
    finally:
        async with engine.begin() as connection:
            await connection.execute(delete(User).where(User.username.like("race%")))


async def test_concurrent_registrations_of_one_email_create_exactly_one_user(
    committing_client: httpx.AsyncClient,
) -> None:
    async def register(index: int) -> int:
        response = await committing_client.post(
            f"{API}/auth/register",
            json={"username": f"race{index}", "email": RACE_EMAIL, "password": "s3cret-pass"},
        )
        return response.status_code

    statuses = Counter(await asyncio.gather(*(register(index) for index in range(50))))

    assert statuses == {201: 1, 409: 49}


async def test_concurrent_refreshes_of_one_token_succeed_exactly_once(
    committing_client: httpx.AsyncClient,
) -> None:
    registered = await committing_client.post(
        f"{API}/auth/register",
        json={"username": "racer", "email": RACE_EMAIL, "password": "s3cret-pass"},
    )
    assert registered.status_code == 201
    tokens = await login(committing_client, "racer", "s3cret-pass")

    async def refresh() -> int:
        response = await committing_client.post(
            f"{API}/auth/refresh-token", json={"refresh_token": tokens["refresh_token"]}
        )
        return response.status_code

    statuses = Counter(await asyncio.gather(*(refresh() for _ in range(10))))

    assert statuses == {200: 1, 401: 9}
