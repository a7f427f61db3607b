"""Each kind of error has a `type` of its own, so that a client switches on it, never on
`detail`: through HTTP, on PostgreSQL and on the embedded SQLite alike."""

from __future__ import annotations

import datetime as dt
import uuid

import httpx
import jwt
import pytest

from app.core.config import Settings
from app.core.errors import PROBLEM_CONTENT_TYPE
from tests.integration.accounts import API, bearer, login

REGISTER = f"{API}/auth/register"
PROFILE = f"{API}/profile"
PASSWORD = "s3cret-pass-word"


def assert_kind(response: httpx.Response, status: int, kind: str, title: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_CONTENT_TYPE
    problem = response.json()
    assert (problem["type"], problem["title"], problem["status"]) == (kind, title, status)
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"


async def signed_in(client: httpx.AsyncClient, username: str = "ada") -> dict[str, str]:
    account = {"username": username, "email": f"{username}@example.com", "password": PASSWORD}
    assert (await client.post(REGISTER, json=account)).status_code == 201
    return await login(client, username, PASSWORD)


def expired_access_token(settings: Settings) -> str:
    """A token the app signed, in every way valid but for its expiry a minute ago."""
    now = dt.datetime.now(dt.UTC)
    claims = {
        "sub": "1",
        "iat": int((now - dt.timedelta(minutes=10)).timestamp()),
        "exp": int((now - dt.timedelta(minutes=1)).timestamp()),
        "jti": uuid.uuid4().hex,
        "sid": uuid.uuid4().hex,
        "type": "access",
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
    }
    return jwt.encode(claims, settings.secret_key.get_secret_value(), algorithm="HS256")


async def test_missing_expired_and_revoked_access_tokens_are_told_apart(
    any_client: httpx.AsyncClient, settings: Settings
) -> None:
    tokens = await signed_in(any_client)
    assert_kind(
        await any_client.get(PROFILE), 401, "/problems/access-token-missing", "Access token missing"
    )
    expired = await any_client.get(PROFILE, headers=bearer(expired_access_token(settings)))
    assert_kind(expired, 401, "/problems/access-token-expired", "Access token expired")
    forged = await any_client.get(PROFILE, headers=bearer("not.a.token"))
    assert_kind(forged, 401, "/problems/access-token-invalid", "Access token invalid or revoked")

    headers = bearer(tokens["access_token"])
    assert (await any_client.post(f"{API}/auth/logout", headers=headers)).status_code == 204
    revoked = await any_client.get(PROFILE, headers=headers)
    assert_kind(revoked, 401, "/problems/access-token-invalid", "Access token invalid or revoked")
    refresh = await any_client.post(
        f"{API}/auth/refresh-token", json={"refresh_token": "no-such-token-at-all"}
    )
    assert_kind(refresh, 401, "/problems/refresh-token-invalid", "Refresh token invalid")


async def test_wrong_credentials_and_an_unreadable_body_are_told_apart(
    any_client: httpx.AsyncClient,
) -> None:
    await signed_in(any_client)
    wrong = await any_client.post(
        f"{API}/auth/login", data={"username": "ada", "password": "not-the-password"}
    )
    assert_kind(wrong, 400, "/problems/invalid-credentials", "Invalid credentials")
    unreadable = await any_client.post(
        REGISTER, content=b'{"username": "\xff"}', headers={"Content-Type": "application/json"}
    )
    assert_kind(unreadable, 400, "/problems/unreadable-body", "Unreadable body")


async def test_a_bad_cursor_and_a_bad_parameter_are_told_apart(
    any_client: httpx.AsyncClient,
) -> None:
    cursor = await any_client.get(f"{API}/posts", params={"cursor": "forged.cursor"})
    assert_kind(cursor, 422, "/problems/invalid-cursor", "Invalid cursor")
    assert [error["loc"] for error in cursor.json()["errors"]] == [["query", "cursor"]]
    per_page = await any_client.get(f"{API}/posts", params={"per_page": 0})
    assert_kind(per_page, 422, "/problems/validation-error", "Validation failed")


async def test_duplicates_missing_and_forbidden_resources_have_their_kinds(
    any_client: httpx.AsyncClient,
) -> None:
    tokens = await signed_in(any_client)
    again = {"username": "ada", "email": "other@example.com", "password": PASSWORD}
    assert_kind(
        await any_client.post(REGISTER, json=again), 409, "/problems/duplicate", "Already exists"
    )
    missing = await any_client.get(f"{API}/posts/424242")
    assert_kind(missing, 404, "/problems/not-found", "Resource not found")
    users = await any_client.get(f"{API}/users", headers=bearer(tokens["access_token"]))
    assert_kind(users, 403, "/problems/forbidden", "Not allowed")


@pytest.mark.parametrize(
    ("method", "path", "status", "title"),
    [
        ("GET", f"{API}/nope", 404, "Not Found"),
        ("DELETE", "/health/live", 405, "Method Not Allowed"),
    ],
)
async def test_errors_whose_status_says_it_all_are_about_blank(
    client: httpx.AsyncClient, method: str, path: str, status: int, title: str
) -> None:
    assert_kind(await client.request(method, path), status, "about:blank", title)
