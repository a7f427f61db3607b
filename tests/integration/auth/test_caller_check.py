"""One caller check per request: the access token's signature is checked once, even where
the default limit keys the request by its user first."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.models import User
from app.auth.security import AccessClaims
from app.auth.service import AuthSecurity
from app.core.db import Database
from app.core.injection import provided_by
from app.main import create_app
from tests.apps import client_of, started
from tests.conftest import load_test_settings
from tests.integration.accounts import API, bearer, login


@pytest.fixture
async def default_limited_client(
    session_factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[httpx.AsyncClient]:
    """An app whose every route falls under `RATE_LIMIT_DEFAULT`, keyed by the user."""
    settings = load_test_settings(rate_limit_default="1000/minute")
    app = create_app(settings, database=Database(session_factory))
    async with started(app), client_of(app) as client:
        yield client


async def test_an_authenticated_write_decodes_its_token_once(
    default_limited_client: httpx.AsyncClient,
    superuser: User,
    user: User,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = default_limited_client
    headers = bearer((await login(client, superuser.username))["access_token"])
    app = client._transport.app  # type: ignore[attr-defined]  # httpx's ASGITransport
    tokens = provided_by(app).get(AuthSecurity).access_tokens
    decoded: list[AccessClaims] = []
    decode = tokens.decode

    def counting(token: str) -> AccessClaims:
        decoded.append(claims := decode(token))
        return claims

    monkeypatch.setattr(tokens, "decode", counting)
    changed = await client.patch(
        f"{API}/users/{user.id}", json={"is_superuser": True}, headers=headers
    )
    assert changed.status_code == 200, changed.text
    assert changed.headers["x-ratelimit-limit"] == "1000"  # the default limit keyed it
    assert len(decoded) == 1
