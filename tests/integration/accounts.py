"""Signing in over HTTP: the API prefix, the bearer header and the login call."""

from __future__ import annotations

from typing import Any

import httpx

from tests.factories import DEFAULT_PASSWORD

API = "/api/v1"


def bearer(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


async def delete_profile(
    client: httpx.AsyncClient, headers: dict[str, str], password: str = DEFAULT_PASSWORD
) -> httpx.Response:
    """`DELETE /profile`, confirmed with the account's password."""
    return await client.request(
        "DELETE", f"{API}/profile", headers=headers, json={"current_password": password}
    )


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


async def refresh_grant(client: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    """Rotate a refresh token at the token URL, as OAuth 2 clients do (RFC 6749 section 6)."""
    return await client.post(
        f"{API}/auth/login", data={"grant_type": "refresh_token", "refresh_token": refresh_token}
    )
