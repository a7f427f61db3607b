"""restore-password mails a single-use link; reset-password spends it and ends every session."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import json
import re
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, event, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from taskiq import InMemoryBroker

from app.auth.models import PasswordResetToken, User, UserStatus
from app.core.injection import provided_by
from app.core.queue.outbox import OutboxMessage
from app.core.queue.registry import task_options
from app.core.queue.task_broker import TaskBroker
from app.main import create_app
from app.modules import task_functions
from tests.apps import outbox_rows_removed, serving
from tests.conftest import load_test_settings
from tests.factories import DEFAULT_PASSWORD, create_user
from tests.integration.accounts import API, bearer, login
from tests.integration.test_metrics import Samples, scrape
from tests.responses import assert_no_content

RESTORE = f"{API}/auth/restore-password"
RESET = f"{API}/auth/reset-password"
NEW_PASSWORD = "a-brand-new-password"
SAVEPOINT_NUMBER = re.compile(r"sa_savepoint_\d+")
RESET_LINK = re.compile(r"https://front\.example/reset\?token=([A-Za-z0-9_-]+)")


def read_mail_files(mail_dir: Path) -> list[bytes]:
    return [path.read_bytes() for path in sorted(mail_dir.glob("*.eml"))]


def remove_mail_files(mail_dir: Path) -> None:
    for path in mail_dir.glob("*.eml"):
        path.unlink()


async def delivered_mail(mail_dir: Path) -> EmailMessage:
    """The one message written to `mail_dir` (polled: delivery is a background task)."""
    for _ in range(200):
        files = await asyncio.to_thread(read_mail_files, mail_dir)
        if files:
            assert len(files) == 1
            message = email.message_from_bytes(files[0], policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            return message
        await asyncio.sleep(0.01)
    raise AssertionError(f"no mail in {mail_dir}")


@pytest.fixture
async def mail_app(
    engine: AsyncEngine, tmp_path: Path
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient, Path]]:
    """An embedded-mode app (tasks run in process) writing mail files to a fresh folder.

    It commits for real: its in-process relay works in the background, which the
    one connection of the savepoint-bound app cannot serve. What it wrote is removed
    afterwards.
    """
    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()
    settings = load_test_settings(
        redis_url="", mail_file_dir=mail_dir, password_reset_url="https://front.example/reset"
    )
    try:
        app = create_app(settings)
        async with outbox_rows_removed(engine), serving(app) as client:
            yield app, client, mail_dir
    finally:
        async with engine.begin() as connection:
            await connection.execute(delete(User).where(User.username.like("mail%")))


@pytest.fixture
def mail_client(
    mail_app: tuple[FastAPI, httpx.AsyncClient, Path],
) -> tuple[httpx.AsyncClient, Path]:
    _, client, mail_dir = mail_app
    return client, mail_dir


@pytest.fixture
async def mail_user(mail_client: tuple[httpx.AsyncClient, Path]) -> dict[str, Any]:
    """A user registered through the API, whose welcome mail arrived (and is put aside)."""
    client, mail_dir = mail_client
    response = await client.post(
        f"{API}/auth/register",
        json={
            "username": "mailuser",
            "email": "mailuser@example.com",
            "password": DEFAULT_PASSWORD,
        },
    )
    assert response.status_code == 201
    welcome = await delivered_mail(mail_dir)
    assert welcome["To"] == "mailuser@example.com"
    assert "mailuser" in welcome["Subject"]
    assert DEFAULT_PASSWORD not in welcome.as_string()
    await asyncio.to_thread(remove_mail_files, mail_dir)
    user: dict[str, Any] = response.json()
    return user


def reset_token_in(message: EmailMessage) -> str:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    from_text = RESET_LINK.findall(text.get_content())
    assert from_text
    assert set(from_text) == set(RESET_LINK.findall(html.get_content()))
    return str(from_text[0])


async def request_reset(mail_client: tuple[httpx.AsyncClient, Path], user: dict[str, Any]) -> str:
    client, mail_dir = mail_client
    response = await client.post(RESTORE, json={"email": user["email"].upper()})
    assert response.status_code == 202
    message = await delivered_mail(mail_dir)
    assert message["To"] == user["email"]
    return reset_token_in(message)


async def test_reset_flow_sets_the_password_and_ends_every_session(
    mail_client: tuple[httpx.AsyncClient, Path], mail_user: dict[str, Any]
) -> None:
    client, _ = mail_client
    tokens = await login(client, mail_user["username"])
    token = await request_reset(mail_client, mail_user)

    response = await client.post(RESET, json={"token": token, "password": NEW_PASSWORD})

    assert_no_content(response)
    await login(client, mail_user["username"], NEW_PASSWORD)
    old_password = await client.post(
        f"{API}/auth/login", data={"username": mail_user["username"], "password": DEFAULT_PASSWORD}
    )
    assert old_password.status_code == 400
    profile = await client.get(f"{API}/profile", headers=bearer(tokens["access_token"]))
    assert profile.status_code == 401
    refreshed = await client.post(
        f"{API}/auth/refresh-token", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 401


async def test_reset_token_is_single_use(
    mail_client: tuple[httpx.AsyncClient, Path], mail_user: dict[str, Any]
) -> None:
    client, _ = mail_client
    token = await request_reset(mail_client, mail_user)
    first = await client.post(RESET, json={"token": token, "password": NEW_PASSWORD})
    second = await client.post(RESET, json={"token": token, "password": "another-password"})
    assert first.status_code == 204
    assert second.status_code == 400


async def test_expired_reset_token_is_400(
    mail_client: tuple[httpx.AsyncClient, Path], mail_user: dict[str, Any], engine: AsyncEngine
) -> None:
    client, _ = mail_client
    token = await request_reset(mail_client, mail_user)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    async with engine.begin() as connection:
        await connection.execute(
            update(PasswordResetToken)
            .where(PasswordResetToken.user_id == mail_user["id"])
            .values(expires_at=past)
        )
    response = await client.post(RESET, json={"token": token, "password": NEW_PASSWORD})
    assert response.status_code == 400


async def restore_recording_sql(
    client: httpx.AsyncClient, connection: AsyncConnection, address: str
) -> tuple[httpx.Response, list[str]]:
    """POST restore-password; the response and every SQL statement the request ran."""
    statements: list[str] = []

    def record(*args: Any) -> None:
        # (connection, cursor, statement, ...); savepoints are numbered per transaction
        statements.append(SAVEPOINT_NUMBER.sub("sa_savepoint", args[2]))

    event.listen(connection.sync_connection, "before_cursor_execute", record)
    try:
        response = await client.post(RESTORE, json={"email": address})
    finally:
        event.remove(connection.sync_connection, "before_cursor_execute", record)
    return response, statements


async def test_restore_does_the_same_work_for_known_and_unknown_addresses(
    client: httpx.AsyncClient, connection: AsyncConnection, session: AsyncSession, user: User
) -> None:
    """Timing cannot tell whether an address is registered: the request only queues the
    address, and the lookup, the token and the mail happen in the worker."""
    blocked = await create_user(session, status=UserStatus.BLOCKED)
    known, known_sql = await restore_recording_sql(client, connection, user.email)
    unknown, unknown_sql = await restore_recording_sql(client, connection, "nobody@example.com")
    disabled, disabled_sql = await restore_recording_sql(client, connection, blocked.email)
    assert known.status_code == unknown.status_code == disabled.status_code == 202
    assert known.content == unknown.content == disabled.content == b""
    assert known_sql == unknown_sql == disabled_sql
    assert not [sql for sql in known_sql if "users" in sql or "password_reset" in sql]
    queued = (await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()
    assert [row.kwargs for row in queued[-3:]] == [
        {"email": user.email}, {"email": "nobody@example.com"}, {"email": blocked.email}
    ]  # fmt: skip


async def test_restore_mails_nothing_for_unknown_or_blocked_accounts(
    mail_app: tuple[FastAPI, httpx.AsyncClient, Path],
    mail_user: dict[str, Any],
    engine: AsyncEngine,
) -> None:
    app, client, mail_dir = mail_app
    async with engine.begin() as connection:
        await connection.execute(
            update(User).where(User.id == mail_user["id"]).values(status=UserStatus.BLOCKED)
        )
    for address in ("nobody@example.com", mail_user["email"]):
        assert (await client.post(RESTORE, json={"email": address})).status_code == 202
    broker = provided_by(app).get(TaskBroker).broker
    assert isinstance(broker, InMemoryBroker)
    await broker.wait_all()  # the in-process worker is done
    assert await asyncio.to_thread(read_mail_files, mail_dir) == []


# The scheduler's tasks: their minute may come while a test measures.
PERIODIC_TASKS = {
    task_options(fn).name
    for fn in task_functions(load_test_settings())
    if task_options(fn).schedule is not None
}


async def test_metrics_tell_no_known_address_from_an_unknown_one(
    mail_app: tuple[FastAPI, httpx.AsyncClient, Path], mail_user: dict[str, Any]
) -> None:
    """The restore task of a registered address and of an unknown one move the same
    series of /metrics by the same amounts (its run time would tell them apart)."""
    app, client, _ = mail_app
    broker = provided_by(app).get(TaskBroker).broker
    assert isinstance(broker, InMemoryBroker)
    await broker.wait_all()  # the welcome mail's task is done

    async def task_series_moved_by_restoring(address: str) -> Samples:
        before = await scrape(client)
        assert (await client.post(RESTORE, json={"email": address})).status_code == 202
        await broker.wait_all()
        after = await scrape(client)
        return {
            series: count - before.get(series, 0.0)
            for series, count in after.items()
            if series[0].startswith("task")
            and count != before.get(series, 0.0)
            and not any(("task", name) in series[1] for name in PERIODIC_TASKS)
        }

    unknown = await task_series_moved_by_restoring("nobody@example.com")
    known = await task_series_moved_by_restoring(mail_user["email"])
    assert unknown == known
    assert unknown  # the run is counted all the same


async def test_no_reset_token_rests_in_the_outbox(
    mail_client: tuple[httpx.AsyncClient, Path], mail_user: dict[str, Any], engine: AsyncEngine
) -> None:
    """The queue carries the address only: the worker builds the link and mails it."""
    token = await request_reset(mail_client, mail_user)
    async with engine.connect() as connection:
        rows = (await connection.execute(select(OutboxMessage.kwargs, OutboxMessage.labels))).all()
    assert rows
    assert not [row for row in rows if token in json.dumps([row.kwargs, row.labels])]


async def test_unknown_reset_token_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(RESET, json={"token": "unknown-token", "password": NEW_PASSWORD})
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("url", "body"),
    [
        (RESET, {"token": "t", "password": "short"}),
        (RESET, {"token": "t", "password": "baseball1"}),  # among the most common
        (RESET, {"token": "", "password": NEW_PASSWORD}),
        (RESET, {"password": NEW_PASSWORD}),
        (RESET, {"token": "t", "password": NEW_PASSWORD, "user_id": 1}),
        (RESTORE, {"email": "not-an-email"}),
        (RESTORE, {}),
        (RESTORE, {"email": "a@example.com", "extra": 1}),
    ],
)
async def test_reset_endpoints_reject_invalid_bodies(
    client: httpx.AsyncClient, url: str, body: dict[str, Any]
) -> None:
    assert (await client.post(url, json=body)).status_code == 422


@pytest.mark.parametrize(
    "change",
    [{"password": NEW_PASSWORD}, {"email": "mailuser-moved@example.com"}],
    ids=["password", "email"],
)
async def test_a_credential_change_consumes_outstanding_reset_links(
    mail_client: tuple[httpx.AsyncClient, Path], mail_user: dict[str, Any], change: dict[str, str]
) -> None:
    client, _ = mail_client
    tokens = await login(client, mail_user["username"])
    token = await request_reset(mail_client, mail_user)
    changed = await client.patch(
        f"{API}/profile",
        headers=bearer(tokens["access_token"]),
        json={**change, "current_password": DEFAULT_PASSWORD},
    )
    assert changed.status_code == 200
    response = await client.post(RESET, json={"token": token, "password": "yet-another-password"})
    assert response.status_code == 400
