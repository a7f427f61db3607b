"""The credential endpoints' own limits, and their failing closed without Redis."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.auth.models import RefreshToken, User
from app.core.db import Database, utc_now
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
    assert login.json()["type"] == "/problems/dependency-unavailable"
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
    # password is refused until the hour has passed, from an address that never signed in.
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
    assert busy.json()["type"] == "/problems/server-busy"
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


@pytest.fixture
async def attacked_app(
    session_factory: async_sessionmaker[AsyncSession], redis: Redis
) -> AsyncIterator[FastAPI]:
    """Small hourly limits: 10 failures per account, 4 logins per address and account."""
    settings = load_test_settings(rate_limit_login_failures="10/hour", rate_limit_login="4/hour")
    async with started(create_app(settings, database=Database(session_factory))) as app:
        yield app


async def login_from(app: FastAPI, peer: str, username: str, password: str) -> int:
    async with client_of(app, peer=peer) as client:
        response = await client.post(LOGIN, data={"username": username, "password": password})
    return response.status_code


async def spread_failures(app: FastAPI, user: User) -> list[int]:
    """A distributed guesser: one wrong password from each of 11 addresses."""
    return [
        await login_from(app, f"192.0.2.{number}", user.username, "wrong-guess")
        for number in range(1, 12)
    ]


async def test_nobody_locks_the_owner_out_of_an_address_they_signed_in_from(
    attacked_app: FastAPI, user: User
) -> None:
    async def owner(peer: str, password: str = DEFAULT_PASSWORD) -> int:
        return await login_from(attacked_app, peer, user.username, password)

    assert await owner("2001:db8:5::7") == 200
    assert await spread_failures(attacked_app, user) == [400] * 10 + [429]

    # The same /64 as the owner's sign-in: the right password goes through, a wrong one
    # is refused as before; elsewhere even the right password waits for the hour.
    from_home = [await owner("2001:db8:5::1234"), await owner("2001:db8:5::1234", "wrong")]
    elsewhere = await owner("198.51.100.1")
    # The owner's address is still limited per account: 4 logins an hour.
    after_the_quota = [await owner("2001:db8:5::7"), await owner("2001:db8:5::7")]
    assert (from_home, elsewhere, after_the_quota) == ([200, 429], 429, [200, 429])


async def test_an_address_known_from_an_older_sign_in_no_longer_passes(
    attacked_app: FastAPI, user: User, session: AsyncSession
) -> None:
    assert await login_from(attacked_app, "10.20.0.1", user.username, DEFAULT_PASSWORD) == 200
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user.id)
        .values(created_at=utc_now() - dt.timedelta(days=31))
    )
    await spread_failures(attacked_app, user)
    assert await login_from(attacked_app, "10.20.0.1", user.username, DEFAULT_PASSWORD) == 429
