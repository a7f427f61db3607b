"""Responses that carry tokens or account data are never stored by a cache (no-store)."""

from __future__ import annotations

from typing import Any

import httpx

from app.auth.models import User
from tests.factories import DEFAULT_PASSWORD
from tests.integration.accounts import API


async def test_token_responses_are_not_cached(
    client: httpx.AsyncClient, user: User, user_tokens: dict[str, Any]
) -> None:
    login = await client.post(
        f"{API}/auth/login", data={"username": user.username, "password": DEFAULT_PASSWORD}
    )
    refreshed = await client.post(
        f"{API}/auth/refresh-token", json={"refresh_token": user_tokens["refresh_token"]}
    )
    assert refreshed.status_code == 200
    assert refreshed.headers["cache-control"] == "no-store"
    assert login.headers["cache-control"] == "no-store"


async def test_account_responses_are_not_cached(
    client: httpx.AsyncClient,
    user: User,
    user_headers: dict[str, str],
    admin_headers: dict[str, str],
) -> None:
    registered = await client.post(
        f"{API}/auth/register",
        json={"username": "fresh", "email": "fresh@example.com", "password": "s3cret-pass"},
    )
    responses = [
        registered,
        await client.get(f"{API}/profile", headers=user_headers),
        await client.patch(f"{API}/profile", headers=user_headers, json={"username": "renamed"}),
        await client.get(f"{API}/users", headers=admin_headers),
        await client.get(f"{API}/users/{user.id}", headers=admin_headers),
    ]
    assert [response.status_code for response in responses] == [201, 200, 200, 200, 200]
    assert {response.headers.get("cache-control") for response in responses} == {"no-store"}
