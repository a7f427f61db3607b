"""POST /auth/login: 200 token pair, 400 for any wrong credentials, 403 disabled, 422."""

from __future__ import annotations

import httpx
import jwt
import pytest
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import User, UserStatus
from app.core.config import Settings
from tests.factories import DEFAULT_PASSWORD, create_user
from tests.integration.accounts import API, bearer, login

LOGIN = f"{API}/auth/login"


async def test_login_answers_an_oauth2_token_pair(
    client: httpx.AsyncClient, user: User, settings: Settings
) -> None:
    tokens = await login(client, user.username)
    assert set(tokens) == {
        "access_token", "token_type", "expires_in", "refresh_token", "refresh_expires_in"
    }  # fmt: skip
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == settings.access_token_expire_minutes * 60
    assert tokens["refresh_expires_in"] == settings.refresh_token_expire_days * 86400
    claims = jwt.decode(
        tokens["access_token"],
        settings.secret_key.get_secret_value(),
        algorithms=["HS256"],
        audience=settings.jwt_audience,
    )
    assert claims["sub"] == str(user.id)
    assert claims["type"] == "access"
    assert claims["iss"] == settings.jwt_issuer
    assert {"exp", "iat", "jti"} <= set(claims)
    assert "." not in tokens["refresh_token"]  # opaque, not a JWT


async def test_login_accepts_the_email_in_any_case(client: httpx.AsyncClient, user: User) -> None:
    tokens = await login(client, user.email.upper())
    profile = await client.get(f"{API}/profile", headers=bearer(tokens["access_token"]))
    assert profile.json()["id"] == user.id


async def test_wrong_password_and_unknown_user_get_the_same_400(
    client: httpx.AsyncClient, user: User
) -> None:
    wrong = await client.post(LOGIN, data={"username": user.username, "password": "wrong-pass"})
    unknown = await client.post(LOGIN, data={"username": "nobody", "password": "wrong-pass"})
    assert wrong.status_code == unknown.status_code == 400
    assert wrong.json()["detail"] == unknown.json()["detail"]


@pytest.mark.parametrize("disabled", ["blocked", "deleted"])
async def test_disabled_account_is_403_only_with_the_right_password(
    client: httpx.AsyncClient, session: AsyncSession, disabled: str
) -> None:
    user = await create_user(session)
    if disabled == "blocked":
        user.status = UserStatus.BLOCKED
    else:
        user.deleted_at = user.created_at
    await session.flush()
    right = await client.post(LOGIN, data={"username": user.username, "password": DEFAULT_PASSWORD})
    wrong = await client.post(LOGIN, data={"username": user.username, "password": "wrong-pass"})
    assert right.status_code == 403
    assert wrong.status_code == 400


@pytest.mark.parametrize(
    "form",
    [
        {"username": "someone"},
        {"password": "whatever-pass"},
        {"username": "nul\x00", "password": "whatever-pass"},
        {"username": "someone", "password": "p" * 129},
    ],
)
async def test_login_rejects_incomplete_or_invalid_forms(
    client: httpx.AsyncClient, form: dict[str, str]
) -> None:
    response = await client.post(LOGIN, data=form)
    assert response.status_code == 422


@pytest.mark.parametrize(
    "extra",
    [
        {"grant_type": "client_credentials"},
        {"grant_type": "PASSWORD"},
        {"is_superuser": "true"},
        {"scope": "", "remember_me": "1"},
    ],
)
async def test_login_refuses_unknown_fields_and_other_grants(
    client: httpx.AsyncClient, user: User, extra: dict[str, str]
) -> None:
    form = {"username": user.username, "password": DEFAULT_PASSWORD, **extra}
    response = await client.post(LOGIN, data=form)
    assert response.status_code == 422
    assert DEFAULT_PASSWORD not in response.text


async def test_login_accepts_what_an_oauth2_client_sends(
    client: httpx.AsyncClient, user: User
) -> None:
    """The fields of the OAuth 2 password grant, as the /docs "Authorize" dialog posts them."""
    form = {
        "grant_type": "password",
        "username": user.username,
        "password": DEFAULT_PASSWORD,
        "scope": "",
        "client_id": "docs",
        "client_secret": "",
    }
    assert (await client.post(LOGIN, data=form)).status_code == 200


async def test_openapi_documents_the_oauth2_password_flow(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    schemes = schema["components"]["securitySchemes"].values()
    assert [scheme["flows"]["password"]["tokenUrl"] for scheme in schemes] == [LOGIN]
    body = schema["paths"][LOGIN]["post"]["requestBody"]["content"]
    form = body["application/x-www-form-urlencoded"]["schema"]
    form = schema["components"]["schemas"][form["$ref"].rpartition("/")[2]]
    assert set(form["properties"]) == {
        "grant_type", "username", "password", "refresh_token", "scope", "client_id",
        "client_secret",
    }  # fmt: skip
    assert "required" not in form  # each grant requires its own parameters


async def test_login_wants_a_form_not_json(client: httpx.AsyncClient, user: User) -> None:
    response = await client.post(
        LOGIN, json={"username": user.username, "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 422


async def test_login_upgrades_a_hash_made_with_older_parameters(
    client: httpx.AsyncClient, session: AsyncSession, user: User
) -> None:
    weaker = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=32, parallelism=1),))
    user.password_hash = weaker.hash(DEFAULT_PASSWORD)
    await session.flush()
    old_hash = user.password_hash
    await login(client, user.username)
    await session.refresh(user)
    assert user.password_hash != old_hash
    assert "m=64," in user.password_hash  # the suite's current memory cost
