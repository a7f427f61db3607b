"""The audit trail: security events are logged to `app.audit` with the user id and the
request id, and never with a secret."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.auth.models import PasswordResetToken, User
from app.auth.security import hash_opaque_token
from app.core.db import Database
from app.main import create_app
from tests.apps import client_of, started
from tests.conftest import load_test_settings
from tests.factories import DEFAULT_PASSWORD, create_user
from tests.integration.accounts import API, bearer, delete_profile, login

NEW_PASSWORD = "a-brand-new-password"
RESET_TOKEN = "a-reset-token-from-the-mail"
# An IPv4 client as an IPv4-mapped IPv6 peer: the audit names it by its IPv4 address.
MAPPED_PEER = "::ffff:10.20.0.1"
FIRST_SUPERUSER = "first-admin@example.com"


def audit_events(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [
        dict(record.msg)
        for record in caplog.records
        if record.name == "app.audit" and isinstance(record.msg, dict)
    ]


def only_event(caplog: pytest.LogCaptureFixture, event: str) -> dict[str, Any]:
    found = [entry for entry in audit_events(caplog) if entry["event"] == event]
    assert len(found) == 1, audit_events(caplog)
    return found[0]


@pytest.fixture(autouse=True)
def capture_audit(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="app.audit")


async def test_logins_are_audited(
    client: httpx.AsyncClient, user: User, caplog: pytest.LogCaptureFixture
) -> None:
    success = await client.post(
        f"{API}/auth/login", data={"username": user.username, "password": DEFAULT_PASSWORD}
    )
    failure = await client.post(
        f"{API}/auth/login", data={"username": user.email, "password": "wrong-guess-1"}
    )
    unknown = await client.post(
        f"{API}/auth/login", data={"username": "nobody", "password": "wrong-guess-2"}
    )
    succeeded = only_event(caplog, "login succeeded")
    assert succeeded["user_id"] == user.id
    assert succeeded["request_id"] == success.headers["x-request-id"]
    failed = [entry for entry in audit_events(caplog) if entry["event"] == "login failed"]
    assert [(entry["user_id"], entry["request_id"]) for entry in failed] == [
        (user.id, failure.headers["x-request-id"]),
        (None, unknown.headers["x-request-id"]),
    ]
    logged = str(audit_events(caplog))
    assert "wrong-guess" not in logged
    assert DEFAULT_PASSWORD not in logged


async def test_password_changes_and_resets_are_audited(
    client: httpx.AsyncClient,
    session: AsyncSession,
    user: User,
    user_headers: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    changed = await client.patch(
        f"{API}/profile",
        headers=user_headers,
        json={"password": NEW_PASSWORD, "current_password": DEFAULT_PASSWORD},
    )
    assert changed.status_code == 200
    session.add(
        PasswordResetToken(
            token_hash=hash_opaque_token(RESET_TOKEN),
            user_id=user.id,
            expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5),
        )
    )
    await session.flush()
    reset = await client.post(
        f"{API}/auth/reset-password", json={"token": RESET_TOKEN, "password": "yet-another-pass"}
    )
    assert reset.status_code == 204
    change_event = only_event(caplog, "password changed")
    reset_event = only_event(caplog, "password reset")
    assert (change_event["user_id"], change_event["request_id"]) == (
        user.id, changed.headers["x-request-id"]
    )  # fmt: skip
    assert (reset_event["user_id"], reset_event["request_id"]) == (
        user.id, reset.headers["x-request-id"]
    )  # fmt: skip
    logged = str(audit_events(caplog))
    assert NEW_PASSWORD not in logged
    assert RESET_TOKEN not in logged


async def test_refresh_token_reuse_is_audited(
    client: httpx.AsyncClient,
    user: User,
    user_tokens: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = {"refresh_token": user_tokens["refresh_token"]}
    await client.post(f"{API}/auth/refresh-token", json=body)
    reused = await client.post(f"{API}/auth/refresh-token", json=body)
    event = only_event(caplog, "refresh token reuse detected")
    assert (event["user_id"], event["request_id"]) == (user.id, reused.headers["x-request-id"])
    assert user_tokens["refresh_token"] not in str(audit_events(caplog))


async def test_blocks_and_deletions_are_audited(
    client: httpx.AsyncClient,
    session: AsyncSession,
    superuser: User,
    admin_headers: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    blocked, deleted = await create_user(session), await create_user(session)
    block = await client.patch(
        f"{API}/users/{blocked.id}", headers=admin_headers, json={"status": "blocked"}
    )
    delete = await client.delete(f"{API}/users/{deleted.id}", headers=admin_headers)
    own = await create_user(session)
    own_headers = bearer((await login(client, own.username))["access_token"])
    leave = await delete_profile(client, own_headers)
    block_event = only_event(caplog, "user blocked")
    delete_events = [entry for entry in audit_events(caplog) if entry["event"] == "user deleted"]
    assert (block_event["user_id"], block_event["by_user_id"], block_event["request_id"]) == (
        blocked.id, superuser.id, block.headers["x-request-id"]
    )  # fmt: skip
    assert [(e["user_id"], e["by_user_id"], e["request_id"]) for e in delete_events] == [
        (deleted.id, superuser.id, delete.headers["x-request-id"]),
        (own.id, own.id, leave.headers["x-request-id"]),
    ]


async def test_role_and_status_changes_are_audited(
    client: httpx.AsyncClient,
    session: AsyncSession,
    superuser: User,
    admin_headers: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    target = await create_user(session)
    changes = [
        {"is_superuser": True},
        {"is_superuser": False},
        {"status": "blocked"},
        {"status": "active"},
        {"status": "active", "is_superuser": False},  # no change: nothing to record
    ]
    for change in changes:
        response = await client.patch(
            f"{API}/users/{target.id}", headers=admin_headers, json=change
        )
        assert response.status_code == 200, response.text
    recorded = [
        (entry["event"], entry["user_id"], entry["by_user_id"])
        for entry in audit_events(caplog)
        if entry["event"] != "admin action"
    ]
    assert recorded == [
        ("superuser granted", target.id, superuser.id),
        ("superuser withdrawn", target.id, superuser.id),
        ("user blocked", target.id, superuser.id),
        ("user unblocked", target.id, superuser.id),
    ]


async def test_every_admin_action_is_audited(
    client: httpx.AsyncClient,
    session: AsyncSession,
    superuser: User,
    admin_headers: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    target = await create_user(session)
    target_headers = bearer((await login(client, target.username))["access_token"])
    movie = {"title": "Audited", "released": 2001, "rating": 7}  # demo: movies
    listed = await client.get(f"{API}/users", headers=admin_headers)
    created = await client.post(f"{API}/movies", headers=admin_headers, json=movie)  # demo: movies
    refused = await client.delete(f"{API}/users/{superuser.id}", headers=target_headers)
    missing = await client.delete(f"{API}/users/{target.id + 1000}", headers=admin_headers)
    removed = await client.delete(f"{API}/users/{target.id}", headers=admin_headers)
    assert (listed.status_code, refused.status_code) == (200, 403)
    assert created.status_code == 201  # demo: movies
    assert (missing.status_code, removed.status_code) == (404, 204)
    actions = [
        (entry["event"], entry["action"], entry["status"], entry["request_id"])
        for entry in audit_events(caplog)
        if entry["event"].startswith("admin action")
    ]
    user_path = f"{API}/users/{{user_id}}"
    assert actions == [
        ("admin action", f"GET {API}/users", 200, listed.headers["x-request-id"]),
        # demo: movies
        ("admin action", f"POST {API}/movies", 201, created.headers["x-request-id"]),
        # end demo: movies
        ("admin action refused", f"DELETE {user_path}", 403, refused.headers["x-request-id"]),
        ("admin action", f"DELETE {user_path}", 404, missing.headers["x-request-id"]),
        ("admin action", f"DELETE {user_path}", 204, removed.headers["x-request-id"]),
    ]
    by_admin = [entry for entry in audit_events(caplog) if entry["event"] == "admin action"]
    assert {entry["by_user_id"] for entry in by_admin} == {superuser.id}
    assert by_admin[-1]["target"] == {"user_id": str(target.id)}
    refusal = only_event(caplog, "admin action refused")
    assert refusal["user_id"] == target.id


@pytest.fixture
async def strict_app(
    session_factory: async_sessionmaker[AsyncSession], redis: Redis
) -> AsyncIterator[FastAPI]:
    """One login per address and account, one failure per account, four per address.
    Built in a fixture: `create_app` configures logging, which would drop caplog's handler."""
    settings = load_test_settings(
        rate_limit_login="1/hour",
        rate_limit_login_failures="1/hour",
        rate_limit_login_per_ip="4/hour",
    )
    async with started(create_app(settings, database=Database(session_factory))) as app:
        yield app


async def test_logins_refused_by_a_limit_are_audited(
    strict_app: FastAPI, user: User, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = {"username": user.username, "password": "wrong-guess"}
    right = {"username": user.username, "password": DEFAULT_PASSWORD}
    unknown = {"username": "nobody", "password": "wrong-guess"}
    statuses = []
    for peer, form in [
        (MAPPED_PEER, wrong),
        (MAPPED_PEER, wrong),  # the address and account have had their one login
        ("2001:db8::1", right),  # the account has had its one failure
        (MAPPED_PEER, unknown),
        (MAPPED_PEER, unknown),  # the address and login have had theirs
        (MAPPED_PEER, right),  # the address has had its four logins
    ]:
        async with client_of(strict_app, peer=peer) as client:
            statuses.append((await client.post(f"{API}/auth/login", data=form)).status_code)
    assert statuses == [400, 429, 429, 400, 429, 429]
    failed = [
        (entry["user_id"], entry["reason"], entry.get("limit"), entry["client"])
        for entry in audit_events(caplog)
        if entry["event"] == "login failed"
    ]
    assert failed == [
        (user.id, "wrong password", None, "10.20.0.1"),
        (user.id, "rate limited", "RATE_LIMIT_LOGIN", "10.20.0.1"),
        (user.id, "rate limited", "RATE_LIMIT_LOGIN_FAILURES", "2001:db8::1"),
        (None, "unknown account", None, "10.20.0.1"),
        (None, "rate limited", "RATE_LIMIT_LOGIN", "10.20.0.1"),
        (None, "rate limited", "RATE_LIMIT_LOGIN_PER_IP", "10.20.0.1"),
    ]


@pytest.fixture
async def app_making_a_superuser(engine: AsyncEngine) -> AsyncIterator[FastAPI]:
    """An app that makes its first superuser at start-up (committed: removed afterwards)."""
    yield create_app(
        load_test_settings(
            first_superuser_email=FIRST_SUPERUSER, first_superuser_password="first-admin-pass"
        )
    )
    async with engine.begin() as connection:
        await connection.execute(delete(User).where(User.email == FIRST_SUPERUSER))


async def test_a_superuser_made_outside_any_request_is_audited(
    app_making_a_superuser: FastAPI, engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    async with started(app_making_a_superuser):
        pass
    async with engine.connect() as connection:
        made = await connection.scalar(select(User.id).where(User.email == FIRST_SUPERUSER))
    granted = only_event(caplog, "superuser granted")
    assert (granted["user_id"], granted["by_user_id"]) == (made, None)
