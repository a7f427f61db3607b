"""The credential endpoints' own limits, and their failing closed without Redis."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.auth.models import User
from app.core.db import Database
from app.main import create_app
from tests.apps import client_of, serving, started
from tests.conftest import load_test_settings
from tests.factories import DEFAULT_PASSWORD
from tests.integration.accounts import API, delete_profile

LOGIN = f"{API}/auth/login"


async def test_login_is_limited_per_client_and_username(client: httpx.AsyncClient) -> None:
    form = {"username": "target", "password": "guess-guess"}
    statuses = [(await client.post(LOGIN, data=form)).status_code for _ in range(10)]
    assert statuses == [400] * 10

    limited = await client.post(LOGIN, data=form)

    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.headers["x-ratelimit-limit"] == "10"
    assert limited.headers["x-ratelimit-remaining"] == "0"
    other_user = await client.post(LOGIN, data={"username": "someone", "password": "guess-guess"})
    assert other_user.status_code == 400


async def test_restore_password_is_limited_per_client(client: httpx.AsyncClient) -> None:
    url = f"{API}/auth/restore-password"
    statuses = [
        (await client.post(url, json={"email": f"u{index}@example.com"})).status_code
        for index in range(6)
    ]
    assert statuses == [202] * 5 + [429]


async def test_credential_endpoints_fail_closed_without_redis(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    app = create_app(
        load_test_settings(redis_url="redis://127.0.0.1:1/0"), database=Database(session_factory)
    )
    async with serving(app) as client:
        login = await client.post(LOGIN, data={"username": "a", "password": "b"})
        register = await client.post(
            f"{API}/auth/register",
            json={"username": "alice", "email": "a@example.com", "password": "s3cret-pass"},
        )
    assert login.status_code == register.status_code == 503
    assert "retry-after" in login.headers


@pytest.fixture
async def hourly_client(
    session_factory: async_sessionmaker[AsyncSession], redis: Redis
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with small hourly limits: nothing refills while a slow machine runs the test
    (a per-minute limit gives a unit back every few seconds)."""
    settings = load_test_settings(
        rate_limit_login="4/hour", rate_limit_login_per_ip="6/hour", rate_limit_profile="3/hour"
    )
    async with serving(create_app(settings, database=Database(session_factory))) as client:
        yield client


async def test_one_address_cannot_spray_many_accounts(hourly_client: httpx.AsyncClient) -> None:
    statuses = [
        await hourly_client.post(LOGIN, data={"username": f"victim{index}", "password": "guess1"})
        for index in range(7)
    ]
    assert [response.status_code for response in statuses] == [400] * 6 + [429]
    assert int(statuses[-1].headers["retry-after"]) >= 1


async def test_username_and_email_of_one_account_share_a_bucket(
    hourly_client: httpx.AsyncClient, user: User
) -> None:
    statuses = [
        (await hourly_client.post(LOGIN, data={"username": name, "password": "wrong-guess"}))
        for name in [user.username, user.email.upper()] * 2
    ]
    assert [response.status_code for response in statuses] == [400] * 4
    by_email = await hourly_client.post(
        LOGIN, data={"username": user.email, "password": "wrong-guess"}
    )
    assert by_email.status_code == 429


async def test_failures_of_one_account_are_limited_whatever_the_address(
    session_factory: async_sessionmaker[AsyncSession], user: User
) -> None:
    app = create_app(
        load_test_settings(rate_limit_login_failures="3/hour"), database=Database(session_factory)
    )
    wrong = {"username": user.username, "password": "wrong-guess"}
    right = {"username": user.username, "password": DEFAULT_PASSWORD}
    async with started(app):
        statuses = []
        for peer, form in [("10.0.0.1", wrong), ("10.0.0.2", wrong), ("10.0.0.3", right),
                           ("10.0.0.4", wrong), ("10.0.0.5", right)]:  # fmt: skip
            async with client_of(app, peer=peer) as client:
                statuses.append((await client.post(LOGIN, data=form)).status_code)
    # The success in the middle does not reset the count; once spent, even the right
    # password is refused until the hour has passed.
    assert statuses == [400, 400, 200, 400, 429]


async def test_a_full_password_hash_queue_answers_503(engine: AsyncEngine) -> None:
    settings = load_test_settings(
        rate_limit_enabled=False,
        password_hash_concurrency=1,
        password_hash_queue_size=1,
        argon2_time_cost=2,
        argon2_memory_cost_kib=8192,
    )
    async with serving(create_app(settings)) as client:
        responses = await asyncio.gather(
            *(
                client.post(LOGIN, data={"username": f"nobody{index}", "password": "guess-guess"})
                for index in range(12)
            )
        )
    statuses = Counter(response.status_code for response in responses)
    assert set(statuses) == {400, 503}
    busy = next(response for response in responses if response.status_code == 503)
    assert busy.headers["content-type"] == "application/problem+json"
    assert int(busy.headers["retry-after"]) >= 1


async def test_profile_changes_are_limited_per_user(
    hourly_client: httpx.AsyncClient, user_headers: dict[str, str]
) -> None:
    guess = {"email": "new@example.com", "current_password": "a-wrong-guess"}
    statuses = [
        (await hourly_client.patch(f"{API}/profile", headers=user_headers, json=guess)).status_code
        for _ in range(4)
    ]
    assert statuses == [400] * 3 + [429]


async def test_password_guesses_on_profile_changes_and_deletion_count_together(
    hourly_client: httpx.AsyncClient, user_headers: dict[str, str]
) -> None:
    """A stolen access token gets one budget of `current_password` guesses, whichever route."""
    guess = {"current_password": "a-wrong-guess"}
    change = await hourly_client.patch(
        f"{API}/profile", headers=user_headers, json=guess | {"email": "new@example.com"}
    )
    deletions = [await delete_profile(hourly_client, user_headers, "a-wrong-guess") for _ in "ab"]
    refused = await delete_profile(hourly_client, user_headers)  # even the right password
    assert [r.status_code for r in (change, *deletions, refused)] == [400, 400, 400, 429]


async def test_restore_password_is_limited_per_address_whatever_the_client(
    session_factory: async_sessionmaker[AsyncSession], app: FastAPI
) -> None:
    statuses = []
    for index, address in enumerate(["victim@example.com", "Victim@Example.com"] * 2):
        async with client_of(app, peer=f"10.0.1.{index}") as client:
            response = await client.post(f"{API}/auth/restore-password", json={"email": address})
            statuses.append(response.status_code)
    assert statuses == [202, 202, 202, 429]


async def test_the_schema_documents_the_limits_and_the_last_superuser_rule(
    client: httpx.AsyncClient,
) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    documented = {
        (path, method): set(operation["responses"])
        for path, item in paths.items()
        for method, operation in item.items()
    }
    assert {"429", "503"} <= documented[(LOGIN, "post")]
    assert {"429", "503"} <= documented[(f"{API}/auth/restore-password", "post")]
    assert {"409", "429"} <= documented[(f"{API}/profile", "patch")]
    assert {"400", "409", "429"} <= documented[(f"{API}/profile", "delete")]
    assert "409" in documented[(f"{API}/users/{{user_id}}", "delete")]
