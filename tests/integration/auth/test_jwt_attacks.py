"""Forged, altered or misused access tokens are all a 401 with `WWW-Authenticate: Bearer`."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import RefreshFamily, User
from app.core.config import Settings
from tests.integration.accounts import API

PROFILE = f"{API}/profile"


def session_of(user: User) -> uuid.UUID:
    return uuid.UUID(int=user.id)


@pytest.fixture(autouse=True)
async def live_session(session: AsyncSession, user: User) -> None:
    """A live session of `user`, so the forgeries below differ from a valid token in
    nothing but what each one alters."""
    now = dt.datetime.now(dt.UTC)
    session.add(
        RefreshFamily(id=session_of(user), user_id=user.id, expires_at=now + dt.timedelta(days=1))
    )
    await session.flush()


def claims_for(user: User, settings: Settings, **changes: Any) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    claims: dict[str, Any] = {
        "sub": str(user.id),
        "iat": int(now.timestamp()),
        "exp": int((now + dt.timedelta(minutes=5)).timestamp()),
        "jti": "a" * 32,
        "sid": session_of(user).hex,
        "type": "access",
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
    }
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def sign(claims: dict[str, Any], settings: Settings, *, key: str | None = None) -> str:
    return jwt.encode(claims, key or settings.secret_key.get_secret_value(), algorithm="HS256")


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def assert_refused(client: httpx.AsyncClient, token: str) -> None:
    response = await client.get(PROFILE, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_correctly_signed_token_is_accepted(
    client: httpx.AsyncClient, user: User, settings: Settings
) -> None:
    """The control case: the forgeries below differ from this token in one point each."""
    token = sign(claims_for(user, settings), settings)
    response = await client.get(PROFILE, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


async def test_alg_none_is_refused(
    client: httpx.AsyncClient, user: User, settings: Settings
) -> None:
    token = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims_for(user, settings))}."
    await assert_refused(client, token)


async def test_wrong_key_is_refused(
    client: httpx.AsyncClient, user: User, settings: Settings
) -> None:
    await assert_refused(client, sign(claims_for(user, settings), settings, key="x" * 48))


async def test_other_hmac_algorithm_is_refused(
    client: httpx.AsyncClient, user: User, settings: Settings
) -> None:
    key = settings.secret_key.get_secret_value() * 2  # HS512 wants 64 bytes; only the alg differs
    await assert_refused(client, jwt.encode(claims_for(user, settings), key, algorithm="HS512"))


@pytest.mark.parametrize(
    "changes",
    [
        {"type": "refresh"},
        {"aud": "someone-else"},
        {"iss": "someone-else"},
        {"exp": int(dt.datetime(2020, 1, 1, tzinfo=dt.UTC).timestamp())},
        {"sub": "not-a-number"},
        {"sub": "0"},
        {"sub": "999999999"},
        {"sub": str(2**31)},
        {"sub": 1},
        {"sid": uuid.uuid4().hex},
        {"sid": "not-a-session"},
        {"sid": 7},
    ],
    ids=[
        "type",
        "aud",
        "iss",
        "expired",
        "sub-text",
        "sub-zero",
        "sub-unknown",
        "sub-out-of-range",
        "sub-int",
        "sid-unknown",
        "sid-text",
        "sid-int",
    ],
)
async def test_wrong_claims_are_refused(
    client: httpx.AsyncClient, user: User, settings: Settings, changes: dict[str, Any]
) -> None:
    await assert_refused(client, sign(claims_for(user, settings, **changes), settings))


@pytest.mark.parametrize("missing", ["sub", "exp", "iat", "jti", "sid", "type", "iss", "aud"])
async def test_every_claim_is_required(
    client: httpx.AsyncClient, user: User, settings: Settings, missing: str
) -> None:
    claims = claims_for(user, settings)
    del claims[missing]
    await assert_refused(client, sign(claims, settings))


async def test_tampered_payload_is_refused(
    client: httpx.AsyncClient, superuser: User, user: User, settings: Settings
) -> None:
    header, _, signature = sign(claims_for(user, settings), settings).split(".")
    forged_payload = b64(claims_for(superuser, settings))
    await assert_refused(client, f"{header}.{forged_payload}.{signature}")


@pytest.mark.parametrize(
    "authorization", ["", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer not.a.jwt", "Token x"]
)
async def test_malformed_authorization_is_refused(
    client: httpx.AsyncClient, authorization: str
) -> None:
    response = await client.get(PROFILE, headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
