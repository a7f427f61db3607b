"""No response or log line carries a password, a password hash or a token (except the
token pair a login or refresh hands out)."""

from __future__ import annotations

import logging

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import User
from tests.integration.accounts import API, bearer

PASSWORD = "Pa55word-that-must-not-leak"
NEW_PASSWORD = "An0ther-secret-to-keep"


async def test_auth_flows_never_echo_secrets(
    client: httpx.AsyncClient, session: AsyncSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    responses: list[httpx.Response] = []

    async def call(method: str, url: str, **kwargs: object) -> httpx.Response:
        response = await client.request(method, f"{API}{url}", **kwargs)  # type: ignore[arg-type]
        responses.append(response)
        return response

    account = {"username": "leaky", "email": "leaky@example.com", "password": PASSWORD}
    await call("POST", "/auth/register", json=account)
    await call("POST", "/auth/register", json=account)  # 409
    await call("POST", "/auth/register", json={**account, "password": PASSWORD, "x": 1})  # 422
    await call("POST", "/auth/login", data={"username": "leaky", "password": PASSWORD + "x"})
    login = await client.post(f"{API}/auth/login", data={"username": "leaky", "password": PASSWORD})
    tokens = login.json()
    headers = bearer(tokens["access_token"])
    rotated = (
        await client.post(
            f"{API}/auth/refresh-token", json={"refresh_token": tokens["refresh_token"]}
        )
    ).json()
    await call("POST", "/auth/refresh-token", json={"refresh_token": tokens["refresh_token"]})
    headers = bearer(rotated["access_token"])
    await call("GET", "/profile", headers=headers)
    await call(
        "PATCH",
        "/profile",
        headers=headers,
        json={"password": NEW_PASSWORD, "current_password": "no"},
    )
    await call(
        "PATCH",
        "/profile",
        headers=headers,
        json={"password": NEW_PASSWORD, "current_password": PASSWORD},
    )
    await call("POST", "/auth/restore-password", json={"email": "leaky@example.com"})
    await call("POST", "/auth/reset-password", json={"token": "forged", "password": NEW_PASSWORD})
    await call(
        "POST", "/auth/logout", headers=headers, json={"refresh_token": rotated["refresh_token"]}
    )
    await call("GET", "/profile", headers=headers)  # 401 after logout

    stored_hash = await session.scalar(select(User.password_hash).where(User.username == "leaky"))
    assert stored_hash
    secrets = [
        PASSWORD,
        NEW_PASSWORD,
        stored_hash,
        stored_hash.rsplit("$", 1)[-1],
        tokens["access_token"],
        tokens["refresh_token"],
        rotated["access_token"],
        rotated["refresh_token"],
    ]
    assert len(responses) == 12
    for response in responses:
        exposed = response.text + str(response.headers)
        assert not [secret for secret in secrets if secret in exposed], response.request.url
    logged = caplog.text
    assert "leaky" in logged or "request" in logged  # the capture does see the app's lines
    assert not [secret for secret in secrets if secret in logged]
