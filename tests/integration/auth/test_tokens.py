"""Refresh rotation, reuse detection, logout, and lock-out on block, delete and reset."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import RefreshToken, User
from app.core.config import Settings
from app.core.db import Database
from tests.integration.accounts import API, bearer, login, refresh_grant
from tests.responses import assert_no_content

REFRESH = f"{API}/auth/refresh-token"
LOGOUT = f"{API}/auth/logout"
PROFILE = f"{API}/profile"


Refresh = Callable[[httpx.AsyncClient, str], Awaitable[httpx.Response]]


async def refresh(client: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    return await client.post(REFRESH, json={"refresh_token": refresh_token})


@pytest.fixture(params=[refresh, refresh_grant], ids=["refresh-token", "refresh-grant"])
def rotate(request: pytest.FixtureRequest) -> Refresh:
    """A way to refresh: `/auth/refresh-token`, or the refresh grant at the token URL,
    which behaves alike."""
    way: Refresh = request.param
    return way


async def test_refresh_rotates_the_token_pair(
    client: httpx.AsyncClient, rotate: Refresh, user_tokens: dict[str, Any]
) -> None:
    response = await rotate(client, user_tokens["refresh_token"])
    assert response.status_code == 200
    rotated = response.json()
    assert rotated["refresh_token"] != user_tokens["refresh_token"]
    assert rotated["access_token"] != user_tokens["access_token"]
    profile = await client.get(PROFILE, headers=bearer(rotated["access_token"]))
    assert profile.status_code == 200
    assert (await rotate(client, rotated["refresh_token"])).status_code == 200


async def test_refresh_token_reuse_revokes_family(
    client: httpx.AsyncClient, rotate: Refresh, user_tokens: dict[str, Any]
) -> None:
    first = (await rotate(client, user_tokens["refresh_token"])).json()
    second = (await rotate(client, first["refresh_token"])).json()

    reused = await rotate(client, user_tokens["refresh_token"])

    assert reused.status_code == 401
    assert reused.headers["www-authenticate"] == "Bearer"
    assert (await rotate(client, second["refresh_token"])).status_code == 401


async def test_reuse_revokes_only_that_family(
    client: httpx.AsyncClient, rotate: Refresh, user: User, user_tokens: dict[str, Any]
) -> None:
    other_device = await login(client, user.username)
    await rotate(client, user_tokens["refresh_token"])
    await rotate(client, user_tokens["refresh_token"])
    assert (await rotate(client, other_device["refresh_token"])).status_code == 200


async def test_unknown_or_malformed_refresh_token_is_401(
    client: httpx.AsyncClient, rotate: Refresh
) -> None:
    assert (await rotate(client, "not-a-token")).status_code == 401
    assert (await client.post(REFRESH, json={"refresh_token": ""})).status_code == 422
    assert (await client.post(REFRESH, json={})).status_code == 422


async def test_expired_refresh_token_is_401(
    client: httpx.AsyncClient, rotate: Refresh, session: AsyncSession, user_tokens: dict[str, Any]
) -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    await session.execute(update(RefreshToken).values(expires_at=past))
    assert (await rotate(client, user_tokens["refresh_token"])).status_code == 401


async def test_access_token_is_not_a_refresh_token_and_back(
    client: httpx.AsyncClient, rotate: Refresh, user_tokens: dict[str, Any]
) -> None:
    assert (await rotate(client, user_tokens["access_token"])).status_code == 401
    wrong_way = await client.get(PROFILE, headers=bearer(user_tokens["refresh_token"]))
    assert wrong_way.status_code == 401


async def test_login_records_the_client(
    client: httpx.AsyncClient, session: AsyncSession, user: User
) -> None:
    await client.post(
        f"{API}/auth/login",
        data={"username": user.username, "password": "correct-horse-battery"},
        headers={"User-Agent": "pytest-agent/1.0"},
    )
    stored = await session.scalar(select(RefreshToken).where(RefreshToken.user_id == user.id))
    assert stored is not None
    assert stored.user_agent == "pytest-agent/1.0"
    assert stored.ip_address == "127.0.0.1"


async def test_a_forwarded_value_that_is_not_an_address_is_stored_as_null(
    client: httpx.AsyncClient, session: AsyncSession, user: User
) -> None:
    """127.0.0.1 is a trusted proxy in the suite: its X-Forwarded-For is taken as the client."""
    response = await client.post(
        f"{API}/auth/login",
        data={"username": user.username, "password": "correct-horse-battery"},
        headers={"X-Forwarded-For": "not-an-address-" * 8},
    )
    assert response.status_code == 200
    stored = await session.scalar(select(RefreshToken).where(RefreshToken.user_id == user.id))
    assert stored is not None
    assert stored.ip_address is None


async def test_the_engine_never_logs_bound_parameters(settings: Settings) -> None:
    engine = Database.from_settings(settings)
    try:
        [bind] = {engine.session_factory.kw["bind"]}
        assert bind.sync_engine.hide_parameters is True
    finally:
        await engine.dispose()


async def test_logout_makes_the_access_token_unusable(
    client: httpx.AsyncClient, user_headers: dict[str, str]
) -> None:
    assert_no_content(await client.post(LOGOUT, headers=user_headers))
    after = await client.get(PROFILE, headers=user_headers)
    assert after.status_code == 401
    assert after.headers["www-authenticate"] == "Bearer"
    assert (await client.post(LOGOUT, headers=user_headers)).status_code == 401


async def test_logout_with_refresh_token_revokes_its_family(
    client: httpx.AsyncClient, user_tokens: dict[str, Any]
) -> None:
    rotated = (await refresh(client, user_tokens["refresh_token"])).json()
    response = await client.post(
        LOGOUT,
        headers=bearer(rotated["access_token"]),
        json={"refresh_token": rotated["refresh_token"]},
    )
    assert response.status_code == 204
    assert (await refresh(client, rotated["refresh_token"])).status_code == 401


async def test_logout_leaves_other_sessions_alone(
    client: httpx.AsyncClient, user: User, user_tokens: dict[str, Any]
) -> None:
    other = await login(client, user.username)
    await client.post(
        LOGOUT,
        headers=bearer(user_tokens["access_token"]),
        json={"refresh_token": user_tokens["refresh_token"]},
    )
    assert (await client.get(PROFILE, headers=bearer(other["access_token"]))).status_code == 200
    assert (await refresh(client, other["refresh_token"])).status_code == 200


async def test_logout_cannot_revoke_someone_elses_refresh_token(
    client: httpx.AsyncClient, user_tokens: dict[str, Any], admin_headers: dict[str, str]
) -> None:
    await client.post(
        LOGOUT, headers=admin_headers, json={"refresh_token": user_tokens["refresh_token"]}
    )
    assert (await refresh(client, user_tokens["refresh_token"])).status_code == 200


async def test_logout_needs_a_token(client: httpx.AsyncClient) -> None:
    response = await client.post(LOGOUT)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_logout_rejects_unknown_fields(
    client: httpx.AsyncClient, user_headers: dict[str, str]
) -> None:
    response = await client.post(LOGOUT, headers=user_headers, json={"everything": True})
    assert response.status_code == 422


async def test_blocking_locks_the_user_out_at_once(
    client: httpx.AsyncClient,
    rotate: Refresh,
    user: User,
    user_tokens: dict[str, Any],
    admin_headers: dict[str, str],
) -> None:
    blocked = await client.patch(
        f"{API}/users/{user.id}", headers=admin_headers, json={"status": "blocked"}
    )
    assert blocked.status_code == 200
    assert blocked.json()["status"] == "blocked"
    profile = await client.get(PROFILE, headers=bearer(user_tokens["access_token"]))
    assert profile.status_code == 401
    assert (await rotate(client, user_tokens["refresh_token"])).status_code == 401


async def test_deleting_locks_the_user_out_at_once(
    client: httpx.AsyncClient,
    rotate: Refresh,
    user: User,
    user_tokens: dict[str, Any],
    admin_headers: dict[str, str],
) -> None:
    deleted = await client.delete(f"{API}/users/{user.id}", headers=admin_headers)
    assert deleted.status_code == 204
    profile = await client.get(PROFILE, headers=bearer(user_tokens["access_token"]))
    assert profile.status_code == 401
    assert (await rotate(client, user_tokens["refresh_token"])).status_code == 401


async def test_unblocked_user_signs_in_again(
    client: httpx.AsyncClient, user: User, admin_headers: dict[str, str]
) -> None:
    url = f"{API}/users/{user.id}"
    await client.patch(url, headers=admin_headers, json={"status": "blocked"})
    await client.patch(url, headers=admin_headers, json={"status": "active"})
    await login(client, user.username)
