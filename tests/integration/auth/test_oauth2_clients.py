"""A stock OAuth 2 client (authlib, unmodified) signs in at `/auth/login`, refreshes
there, by itself or when asked, and reads the endpoint's errors as OAuth 2 errors
rather than as tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from authlib.integrations.httpx_client import (  # type: ignore[import-untyped]
    AsyncOAuth2Client,
    OAuthError,
)
from fastapi import FastAPI

from app.auth.models import User
from app.core.config import Settings
from tests.factories import DEFAULT_PASSWORD
from tests.integration.accounts import API

TOKEN_URL = f"{API}/auth/login"
PROFILE = f"{API}/profile"


@asynccontextmanager
async def oauth2_client(app: FastAPI, **options: Any) -> AsyncIterator[Any]:
    """authlib's httpx client, reaching the app in process, with the token URL set."""
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40_000))
    async with AsyncOAuth2Client(
        transport=transport, base_url="http://testserver", token_endpoint=TOKEN_URL, **options
    ) as client:
        yield client


async def test_authlib_signs_in_and_calls_the_api(app: FastAPI, user: User) -> None:
    async with oauth2_client(app) as oauth:
        token = await oauth.fetch_token(username=user.username, password=DEFAULT_PASSWORD)
        profile = await oauth.get(PROFILE)
    assert token["token_type"] == "bearer"
    assert profile.status_code == 200
    assert profile.json()["id"] == user.id


async def test_authlib_refreshes_when_asked(app: FastAPI, user: User) -> None:
    async with oauth2_client(app) as oauth:
        first = await oauth.fetch_token(username=user.username, password=DEFAULT_PASSWORD)
        rotated = await oauth.refresh_token()
        profile = await oauth.get(PROFILE)
    assert rotated["refresh_token"] != first["refresh_token"]
    assert profile.status_code == 200
    assert profile.request.headers["authorization"] == f"Bearer {rotated['access_token']}"


async def test_authlib_refreshes_an_expiring_token_by_itself(
    app: FastAPI, user: User, settings: Settings
) -> None:
    refreshed: list[str] = []

    async def update_token(token: dict[str, Any], refresh_token: str) -> None:
        refreshed.append(refresh_token)

    # A leeway longer than the token's life: authlib refreshes before every call.
    leeway = settings.access_token_expire_minutes * 60 + 60
    async with oauth2_client(app, leeway=leeway, update_token=update_token) as oauth:
        first = await oauth.fetch_token(username=user.username, password=DEFAULT_PASSWORD)
        profile = await oauth.get(PROFILE)
        current = oauth.token
    assert profile.status_code == 200
    assert refreshed == [first["refresh_token"]]
    assert current["refresh_token"] != first["refresh_token"]


async def test_authlib_reads_a_wrong_password_as_an_oauth2_error(app: FastAPI, user: User) -> None:
    async with oauth2_client(app) as oauth:
        with pytest.raises(OAuthError) as raised:
            await oauth.fetch_token(username=user.username, password="wrong-password")
        assert not oauth.token
    assert raised.value.error == "invalid_grant"
    assert raised.value.description == "Incorrect username or password"


async def test_authlib_reads_a_reused_refresh_token_as_an_oauth2_error(
    app: FastAPI, user: User
) -> None:
    async with oauth2_client(app) as oauth:
        first = await oauth.fetch_token(username=user.username, password=DEFAULT_PASSWORD)
        await oauth.refresh_token()
        with pytest.raises(OAuthError) as raised:
            await oauth.refresh_token(refresh_token=first["refresh_token"])
        # The reuse ended the login: the pair the client holds was revoked with it.
        revoked = await oauth.get(PROFILE)
    assert raised.value.error == "invalid_grant"
    assert revoked.status_code == 401
