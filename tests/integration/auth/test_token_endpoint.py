"""`/auth/login` as a standard OAuth 2 token endpoint: its problems carry RFC 6749
section 5.2's `error` and `error_description`, and it serves the refresh token grant.

(The refresh grant's rotation and reuse semantics are those of `/auth/refresh-token`:
`test_tokens.py` runs them both ways.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.models import User, UserStatus
from app.core.db import Database
from app.main import create_app
from tests.apps import serving
from tests.conftest import load_test_settings
from tests.factories import DEFAULT_PASSWORD
from tests.integration.accounts import API, bearer, login, refresh_grant

LOGIN = f"{API}/auth/login"
PROBLEM_MEMBERS = {"type", "title", "status", "detail", "instance", "request_id"}


def assert_token_error(response: httpx.Response, status: int, error: str) -> dict[str, Any]:
    """A problem document that is also an OAuth 2 error response; its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem.keys() >= PROBLEM_MEMBERS
    assert problem["error"] == error
    assert problem["error_description"] == problem["detail"]
    return problem


async def test_wrong_credentials_are_an_invalid_grant(
    client: httpx.AsyncClient, user: User
) -> None:
    wrong = await client.post(LOGIN, data={"username": user.username, "password": "wrong-pass"})
    unknown = await client.post(LOGIN, data={"username": "nobody", "password": "wrong-pass"})
    problem = assert_token_error(wrong, 400, "invalid_grant")
    assert problem["error_description"] == "Incorrect username or password"
    assert_token_error(unknown, 400, "invalid_grant")


async def test_a_disabled_account_is_an_invalid_grant(
    client: httpx.AsyncClient, session: AsyncSession, user: User
) -> None:
    user.status = UserStatus.BLOCKED
    await session.flush()
    response = await client.post(
        LOGIN, data={"username": user.username, "password": DEFAULT_PASSWORD}
    )
    assert_token_error(response, 403, "invalid_grant")


PASSWORD = {"username": "someone", "password": "whatever-pass"}
REFRESH = {"grant_type": "refresh_token", "refresh_token": "a-refresh-token"}


@pytest.mark.parametrize(
    ("form", "error", "fields"),
    [
        ({"username": "someone"}, "invalid_request", ["password"]),
        ({"grant_type": "password"}, "invalid_request", ["username", "password"]),
        ({**PASSWORD, "remember_me": "1"}, "invalid_request", ["remember_me"]),
        ({"grant_type": "refresh_token"}, "invalid_request", ["refresh_token"]),
        ({**REFRESH, **PASSWORD}, "invalid_request", ["password", "username"]),
        ({**PASSWORD, "refresh_token": "r"}, "invalid_request", ["refresh_token"]),
        ({"grant_type": "client_credentials"}, "unsupported_grant_type", ["grant_type"]),
        ({**PASSWORD, "grant_type": "PASSWORD"}, "unsupported_grant_type", ["grant_type"]),
    ],
)
async def test_a_form_the_grant_cannot_use_is_a_422_naming_the_parameters(
    client: httpx.AsyncClient, form: dict[str, str], error: str, fields: list[str]
) -> None:
    problem = assert_token_error(await client.post(LOGIN, data=form), 422, error)
    assert [issue["loc"] for issue in problem["errors"]] == [["body", name] for name in fields]


async def test_the_refresh_grant_answers_a_token_pair_and_rotates(
    client: httpx.AsyncClient, user_tokens: dict[str, Any]
) -> None:
    response = await refresh_grant(client, user_tokens["refresh_token"])
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    rotated = response.json()
    assert rotated.keys() == user_tokens.keys()
    assert rotated["refresh_token"] != user_tokens["refresh_token"]
    profile = await client.get(f"{API}/profile", headers=bearer(rotated["access_token"]))
    assert profile.status_code == 200


async def test_a_reused_refresh_token_is_an_invalid_grant_and_ends_the_login(
    client: httpx.AsyncClient, user_tokens: dict[str, Any]
) -> None:
    rotated = (await refresh_grant(client, user_tokens["refresh_token"])).json()

    reused = await refresh_grant(client, user_tokens["refresh_token"])

    assert_token_error(reused, 401, "invalid_grant")
    assert reused.headers["www-authenticate"] == "Bearer"
    assert_token_error(await refresh_grant(client, rotated["refresh_token"]), 401, "invalid_grant")


async def test_only_the_token_endpoint_adds_the_oauth2_members(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{API}/auth/refresh-token", json={"refresh_token": "unknown"})
    assert response.status_code == 401
    assert "error" not in response.json()


@pytest.fixture
async def limited_client(
    session_factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[httpx.AsyncClient]:
    """The app allowing two token requests an hour per address (none refills meanwhile)."""
    settings = load_test_settings(rate_limit_login_per_ip="2/hour")
    async with serving(create_app(settings, database=Database(session_factory))) as client:
        yield client


async def test_refreshes_count_against_the_per_address_login_limit(
    limited_client: httpx.AsyncClient, user: User
) -> None:
    tokens = await login(limited_client, user.username)
    assert (await refresh_grant(limited_client, tokens["refresh_token"])).status_code == 200

    limited = await refresh_grant(limited_client, tokens["refresh_token"])

    assert_token_error(limited, 429, "temporarily_unavailable")
    assert "retry-after" in limited.headers


async def test_without_redis_the_token_endpoint_is_temporarily_unavailable(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    settings = load_test_settings(redis_url="redis://127.0.0.1:1/0")
    async with serving(create_app(settings, database=Database(session_factory))) as client:
        response = await refresh_grant(client, "any-refresh-token")
    assert_token_error(response, 503, "temporarily_unavailable")


async def test_openapi_documents_the_token_endpoint(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    [scheme] = schema["components"]["securitySchemes"].values()
    assert scheme["flows"]["password"] == {"tokenUrl": LOGIN, "refreshUrl": LOGIN, "scopes": {}}
    form = schema["components"]["schemas"]["LoginForm"]
    assert form["properties"]["grant_type"]["enum"] == ["password", "refresh_token"]
    assert form["properties"]["grant_type"]["default"] == "password"
    responses = schema["paths"][LOGIN]["post"]["responses"]
    for status in ("400", "401", "403", "422", "429", "503"):
        documented = responses[status]["content"]["application/problem+json"]["schema"]
        [problem, members] = documented["allOf"]
        assert problem["$ref"].endswith("Problem")
        assert sorted(members["required"]) == ["error", "error_description"]
        assert "unsupported_grant_type" in members["properties"]["error"]["enum"]
