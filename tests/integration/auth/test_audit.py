"""The audit trail: security events are logged to `app.audit` with the user id and the
request id, and never with a secret."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import PasswordResetToken, User
from app.auth.security import hash_opaque_token
from tests.factories import DEFAULT_PASSWORD, create_user
from tests.integration.accounts import API, bearer, delete_profile, login

NEW_PASSWORD = "a-brand-new-password"
RESET_TOKEN = "a-reset-token-from-the-mail"


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
