"""A stock OAuth 2 client (authlib, unmodified) signs in at `/auth/login`, refreshes
there, by itself or when asked, and reads the endpoint's errors as OAuth 2 errors
rather than as tokens: on PostgreSQL and Redis, and on the embedded default."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.auth.models import User
from app.core.config import Settings
from app.core.migrations import upgrade_to_head
from app.main import create_app
from tests.apps import client_of, started
from tests.conftest import embedded_test_settings
from tests.factories import DEFAULT_PASSWORD
from tests.integration.accounts import API

# authlib 1.9 announces a rename of its httpx client on import, through a filter of its own
# ("always") set when `authlib.deprecate` loads: loaded first, it is then overridden here.
with warnings.catch_warnings():
    from authlib.deprecate import AuthlibDeprecationWarning  # type: ignore[import-untyped]

    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import (  # type: ignore[import-untyped]
        AsyncOAuth2Client,
        OAuthError,
    )

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


@pytest.fixture
async def embedded_app(tmp_path: Path) -> AsyncIterator[FastAPI]:
    """The app on the embedded default (a fresh SQLite file, no Redis), with the account
    `alice` registered through it."""
    settings = embedded_test_settings(tmp_path)
    await asyncio.to_thread(upgrade_to_head, settings)
    async with started(create_app(settings)) as app, client_of(app) as client:
        account = {"username": "alice", "email": "alice@example.com", "password": DEFAULT_PASSWORD}
        assert (await client.post(f"{API}/auth/register", json=account)).status_code == 201
        yield app


async def test_a_whole_authlib_session_on_the_embedded_default(embedded_app: FastAPI) -> None:
    async with oauth2_client(embedded_app) as oauth:
        with pytest.raises(OAuthError) as wrong:
            await oauth.fetch_token(username="alice", password="wrong-password")
        first = await oauth.fetch_token(username="alice", password=DEFAULT_PASSWORD)
        await oauth.refresh_token()
        profile = await oauth.get(PROFILE)
        with pytest.raises(OAuthError) as reused:
            await oauth.refresh_token(refresh_token=first["refresh_token"])
    assert wrong.value.error == reused.value.error == "invalid_grant"
    assert profile.json()["username"] == "alice"
