"""Helpers of the auth tests: users made by the factory, and signing them in over HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import User
from tests.factories import DEFAULT_PASSWORD, create_user

API = "/api/v1"


def bearer(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


async def login(
    client: httpx.AsyncClient, username: str, password: str = DEFAULT_PASSWORD
) -> dict[str, Any]:
    """Sign in through the API and return the token pair."""
    response = await client.post(
        f"{API}/auth/login", data={"username": username, "password": password}
    )
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


@pytest.fixture
async def user(session: AsyncSession) -> User:
    return await create_user(session)


@pytest.fixture
async def superuser(session: AsyncSession) -> User:
    return await create_user(session, is_superuser=True)


@pytest.fixture
async def user_tokens(client: httpx.AsyncClient, user: User) -> dict[str, Any]:
    return await login(client, user.username)


@pytest.fixture
async def user_headers(user_tokens: dict[str, Any]) -> dict[str, str]:
    return bearer(user_tokens["access_token"])


@pytest.fixture
async def admin_headers(client: httpx.AsyncClient, superuser: User) -> dict[str, str]:
    return bearer((await login(client, superuser.username))["access_token"])
