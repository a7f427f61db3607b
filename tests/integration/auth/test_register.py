"""POST /auth/register: 201, 409 on a taken username or email, 403 when closed, 422."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.models import User
from app.core.db import Database
from app.main import create_app
from tests.apps import serving
from tests.conftest import load_test_settings
from tests.integration.accounts import API

REGISTER = f"{API}/auth/register"


def new_account(**fields: Any) -> dict[str, Any]:
    return {"username": "alice", "email": "alice@example.com", "password": "s3cret-pass", **fields}


async def test_register_creates_an_active_user(client: httpx.AsyncClient) -> None:
    response = await client.post(REGISTER, json=new_account())
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {
        "id", "username", "email", "status", "is_superuser", "created_at", "updated_at"
    }  # fmt: skip
    assert body["username"] == "alice"
    assert body["email"] == "alice@example.com"
    assert body["status"] == "active"
    assert body["is_superuser"] is False


async def test_registered_user_can_log_in(client: httpx.AsyncClient) -> None:
    await client.post(REGISTER, json=new_account())
    response = await client.post(
        f"{API}/auth/login", data={"username": "alice", "password": "s3cret-pass"}
    )
    assert response.status_code == 200


async def test_register_refuses_a_taken_username(client: httpx.AsyncClient, user: User) -> None:
    response = await client.post(REGISTER, json=new_account(username=user.username))
    assert response.status_code == 409
    assert "username" in response.json()["detail"]


async def test_register_refuses_a_taken_email_whatever_its_case(
    client: httpx.AsyncClient, user: User
) -> None:
    response = await client.post(REGISTER, json=new_account(email=user.email.upper()))
    assert response.status_code == 409
    assert "email" in response.json()["detail"]


async def test_register_refuses_the_email_of_a_deleted_account(
    client: httpx.AsyncClient, session: AsyncSession, user: User, admin_headers: dict[str, str]
) -> None:
    await client.delete(f"{API}/users/{user.id}", headers=admin_headers)
    response = await client.post(REGISTER, json=new_account(email=user.email))
    assert response.status_code == 409


@pytest.mark.parametrize(
    "fields",
    [
        {"username": "al"},
        {"username": "a" * 51},
        {"username": "al ice"},
        {"username": "alice\x00"},
        {"email": "not-an-email"},
        {"password": "short"},
        {"password": "p" * 129},
        {"password": "nul-in-\x00-password"},
        {"is_superuser": True},
        {"status": "active"},
        {"username": 12345},
    ],
)
async def test_register_rejects_invalid_bodies(
    client: httpx.AsyncClient, fields: dict[str, Any]
) -> None:
    response = await client.post(REGISTER, json=new_account(**fields))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "s3cret-pass" not in response.text


async def test_register_needs_every_field(client: httpx.AsyncClient) -> None:
    response = await client.post(REGISTER, json={"username": "alice"})
    assert response.status_code == 422
    locations = {tuple(error["loc"]) for error in response.json()["errors"]}
    assert locations == {("body", "email"), ("body", "password")}


@pytest.fixture
async def closed_registration_client(
    session_factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        load_test_settings(registration_enabled=False), database=Database(session_factory)
    )
    async with serving(app) as client:
        yield client


async def test_register_is_403_when_registration_is_disabled(
    closed_registration_client: httpx.AsyncClient,
) -> None:
    response = await closed_registration_client.post(REGISTER, json=new_account())
    assert response.status_code == 403


@pytest.mark.parametrize("password", ["12345678", "iloveyou", "Password1", "QWERTYUIOP"])
async def test_a_common_password_is_refused_naming_the_field(
    client: httpx.AsyncClient, password: str
) -> None:
    response = await client.post(
        f"{API}/auth/register",
        json={"username": "commoner", "email": "commoner@example.com", "password": password},
    )
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["errors"]] == [["body", "password"]]
    assert password not in response.text
