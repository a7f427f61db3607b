"""A login is a session (a refresh family): its access tokens end with it, it has an
absolute lifetime, and a password or email change ends every other session."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.models import User
from app.core.db import Database
from app.main import create_app
from tests.apps import serving
from tests.conftest import load_test_settings
from tests.factories import DEFAULT_PASSWORD
from tests.integration.accounts import API, bearer, login

REFRESH = f"{API}/auth/refresh-token"
LOGOUT = f"{API}/auth/logout"
PROFILE = f"{API}/profile"
NEW_PASSWORD = "a-brand-new-password"


async def refreshed(client: httpx.AsyncClient, refresh_token: str) -> dict[str, Any]:
    response = await client.post(REFRESH, json={"refresh_token": refresh_token})
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


async def status_of(client: httpx.AsyncClient, tokens: dict[str, Any]) -> tuple[int, int]:
    """What the session's access token gets on /profile, then what its refresh token gets."""
    profile = await client.get(PROFILE, headers=bearer(tokens["access_token"]))
    refresh = await client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
    return profile.status_code, refresh.status_code


async def test_reuse_detection_ends_the_access_tokens_of_the_family(
    client: httpx.AsyncClient, user: User, user_tokens: dict[str, Any]
) -> None:
    other_session = await login(client, user.username)
    rotated = await refreshed(client, user_tokens["refresh_token"])

    reused = await client.post(REFRESH, json={"refresh_token": user_tokens["refresh_token"]})

    assert reused.status_code == 401
    for access_token in (user_tokens["access_token"], rotated["access_token"]):
        assert (await client.get(PROFILE, headers=bearer(access_token))).status_code == 401
    assert (
        await client.get(PROFILE, headers=bearer(other_session["access_token"]))
    ).status_code == 200


async def test_logout_ends_every_access_token_of_the_session(
    client: httpx.AsyncClient, user_tokens: dict[str, Any]
) -> None:
    rotated = await refreshed(client, user_tokens["refresh_token"])
    response = await client.post(
        LOGOUT,
        headers=bearer(rotated["access_token"]),
        json={"refresh_token": rotated["refresh_token"]},
    )
    assert response.status_code == 204
    earlier = await client.get(PROFILE, headers=bearer(user_tokens["access_token"]))
    assert earlier.status_code == 401


async def test_rotation_never_extends_a_session_past_its_absolute_lifetime(
    session_factory: async_sessionmaker[AsyncSession], user: User
) -> None:
    settings = load_test_settings(refresh_token_expire_days=7, refresh_family_max_age_days=1)
    async with serving(create_app(settings, database=Database(session_factory))) as client:
        tokens = await login(client, user.username)
        rotated = await refreshed(client, tokens["refresh_token"])
        again = await refreshed(client, rotated["refresh_token"])
    assert tokens["refresh_expires_in"] == 86_400
    assert again["refresh_expires_in"] <= 86_400


@pytest.mark.parametrize(
    "change",
    [
        {"password": NEW_PASSWORD, "current_password": DEFAULT_PASSWORD},
        {"email": "moved@example.com", "current_password": DEFAULT_PASSWORD},
    ],
    ids=["password", "email"],
)
async def test_a_credential_change_ends_every_other_session(
    client: httpx.AsyncClient, user: User, user_tokens: dict[str, Any], change: dict[str, str]
) -> None:
    other_session = await login(client, user.username)

    response = await client.patch(PROFILE, headers=bearer(user_tokens["access_token"]), json=change)

    assert response.status_code == 200
    assert await status_of(client, other_session) == (401, 401)
    assert await status_of(client, user_tokens) == (200, 200)


async def test_a_username_change_ends_no_session(
    client: httpx.AsyncClient, user: User, user_tokens: dict[str, Any]
) -> None:
    other_session = await login(client, user.username)
    response = await client.patch(
        PROFILE, headers=bearer(user_tokens["access_token"]), json={"username": "renamed"}
    )
    assert response.status_code == 200
    assert await status_of(client, other_session) == (200, 200)
