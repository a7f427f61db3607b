"""/profile: the signed-in user reads, changes and deletes their own account."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import User
from tests.factories import DEFAULT_PASSWORD, create_user
from tests.integration.accounts import API, bearer, delete_profile, login
from tests.responses import assert_no_content

PROFILE = f"{API}/profile"


async def test_read_profile(
    client: httpx.AsyncClient, user: User, user_headers: dict[str, str]
) -> None:
    response = await client.get(PROFILE, headers=user_headers)
    assert response.status_code == 200
    assert response.json()["id"] == user.id
    assert response.json()["email"] == user.email


async def test_profile_needs_a_token(client: httpx.AsyncClient) -> None:
    for method in ("GET", "PATCH", "DELETE"):
        body = {"current_password": DEFAULT_PASSWORD} if method == "DELETE" else {}
        response = await client.request(method, PROFILE, json=None if method == "GET" else body)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"


async def test_change_username_needs_no_password(
    client: httpx.AsyncClient, user_headers: dict[str, str]
) -> None:
    response = await client.patch(PROFILE, headers=user_headers, json={"username": "renamed"})
    assert response.status_code == 200
    assert response.json()["username"] == "renamed"


async def test_change_email_needs_the_current_password(
    client: httpx.AsyncClient, user_headers: dict[str, str]
) -> None:
    missing = await client.patch(PROFILE, headers=user_headers, json={"email": "new@example.com"})
    wrong = await client.patch(
        PROFILE,
        headers=user_headers,
        json={"email": "new@example.com", "current_password": "wrong-pass"},
    )
    right = await client.patch(
        PROFILE,
        headers=user_headers,
        json={"email": "new@example.com", "current_password": DEFAULT_PASSWORD},
    )
    assert missing.status_code == wrong.status_code == 400
    assert right.status_code == 200
    assert right.json()["email"] == "new@example.com"


async def test_change_password(
    client: httpx.AsyncClient, user: User, user_tokens: dict[str, Any]
) -> None:
    headers = bearer(user_tokens["access_token"])
    wrong = await client.patch(
        PROFILE, headers=headers, json={"password": "brand-new-pass", "current_password": "nope"}
    )
    assert wrong.status_code == 400
    response = await client.patch(
        PROFILE,
        headers=headers,
        json={"password": "brand-new-pass", "current_password": DEFAULT_PASSWORD},
    )
    assert response.status_code == 200
    await login(client, user.username, "brand-new-pass")
    same_session = await client.post(
        f"{API}/auth/refresh-token", json={"refresh_token": user_tokens["refresh_token"]}
    )
    assert same_session.status_code == 200  # other sessions end (see test_sessions.py)


async def test_profile_changes_conflict_with_other_accounts(
    client: httpx.AsyncClient, session: AsyncSession, user_headers: dict[str, str]
) -> None:
    other = await create_user(session)
    taken_name = await client.patch(
        PROFILE, headers=user_headers, json={"username": other.username}
    )
    taken_email = await client.patch(
        PROFILE,
        headers=user_headers,
        json={"email": other.email.upper(), "current_password": DEFAULT_PASSWORD},
    )
    assert taken_name.status_code == taken_email.status_code == 409


@pytest.mark.parametrize(
    "body",
    [
        {"is_superuser": True},
        {"status": "active"},
        {"id": 1},
        {"username": "x"},
        {"email": "nope"},
        {"password": "short", "current_password": DEFAULT_PASSWORD},
        {"username": "nul\x00name"},
        {"username": None},
        {"email": None, "current_password": DEFAULT_PASSWORD},
        {"password": None, "current_password": DEFAULT_PASSWORD},
    ],
)
async def test_profile_rejects_invalid_bodies(
    client: httpx.AsyncClient, user_headers: dict[str, str], body: dict[str, Any]
) -> None:
    response = await client.patch(PROFILE, headers=user_headers, json=body)
    assert response.status_code == 422


async def test_delete_profile_needs_the_current_password(
    client: httpx.AsyncClient, user_headers: dict[str, str]
) -> None:
    missing = await client.request("DELETE", PROFILE, headers=user_headers)
    empty = await client.request("DELETE", PROFILE, headers=user_headers, json={})
    wrong = await client.request(
        "DELETE", PROFILE, headers=user_headers, json={"current_password": "wrong-pass"}
    )
    assert missing.status_code == empty.status_code == 422
    assert wrong.status_code == 400
    assert wrong.headers["content-type"] == "application/problem+json"
    assert "wrong-pass" not in wrong.text
    assert (await client.get(PROFILE, headers=user_headers)).status_code == 200  # still there


async def test_delete_profile_signs_the_user_out_everywhere(
    client: httpx.AsyncClient, user: User, user_tokens: dict[str, Any]
) -> None:
    headers = bearer(user_tokens["access_token"])
    assert_no_content(await delete_profile(client, headers))
    assert (await client.get(PROFILE, headers=headers)).status_code == 401
    refreshed = await client.post(
        f"{API}/auth/refresh-token", json={"refresh_token": user_tokens["refresh_token"]}
    )
    assert refreshed.status_code == 401
    again = await client.post(
        f"{API}/auth/login", data={"username": user.username, "password": DEFAULT_PASSWORD}
    )
    assert again.status_code == 403


async def test_a_common_password_is_refused_on_profile_change(
    client: httpx.AsyncClient, user_headers: dict[str, str]
) -> None:
    response = await client.patch(
        PROFILE,
        headers=user_headers,
        json={"password": "sunshine", "current_password": DEFAULT_PASSWORD},
    )
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["errors"]] == [["body", "password"]]
