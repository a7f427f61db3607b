"""Fixtures of every module's integration tests: signed-in users, recorded events, and
apps that really commit (for races) or run on SQLite."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio.connection import AbstractConnection
from sqlalchemy import delete, event, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from app.auth.models import User
from app.core.events import BaseEvent, listener
from app.core.migrations import upgrade_to_head
from app.main import create_app
from app.posts.models import Post  # demo: posts
from tests.apps import outbox_rows_removed, replace_listeners, restore_listeners, serving
from tests.conftest import embedded_test_settings, load_test_settings
from tests.factories import create_user
from tests.integration.accounts import bearer, login

# Accounts that `committing_app_client` tests create are named so; it deletes them after.
RACER_PREFIX = "race"


@pytest.fixture
async def user(session: AsyncSession) -> User:
    return await create_user(session)


@pytest.fixture
async def superuser(session: AsyncSession) -> User:
    return await create_user(session, is_superuser=True)


@pytest.fixture
async def user_tokens(client: httpx.AsyncClient, user: User) -> dict[str, Any]:
    return await login(client, user.username)


@pytest.fixture
async def user_headers(user_tokens: dict[str, Any]) -> dict[str, str]:
    return bearer(user_tokens["access_token"])


@pytest.fixture
async def admin_headers(client: httpx.AsyncClient, superuser: User) -> dict[str, str]:
    return bearer((await login(client, superuser.username))["access_token"])


@pytest.fixture
def statements(connection: AsyncConnection) -> Iterator[list[str]]:
    """The SQL the app sends from now on (the test's connection carries all of it)."""
    sent: list[str] = []

    def record(*args: Any) -> None:
        sent.append(args[2])

    sync = connection.sync_connection
    assert sync is not None
    event.listen(sync, "before_cursor_execute", record)
    yield sent
    event.remove(sync, "before_cursor_execute", record)


@pytest.fixture
def redis_round_trips(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """What each Redis round trip of the app sends from now on, one entry per trip."""
    trips: list[bytes] = []
    send = AbstractConnection.send_packed_command

    async def counted(self: AbstractConnection, command: Any, check_health: bool = True) -> None:
        parts = [command] if isinstance(command, bytes | str) else list(command)
        trips.append(b"".join(part if isinstance(part, bytes) else part.encode() for part in parts))
        await send(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counted)
    return trips


@pytest.fixture
def heard_events(app: FastAPI) -> Iterator[list[BaseEvent]]:
    """The events the app dispatches during the test, in order (the modules' listeners are
    off meanwhile)."""
    heard: list[BaseEvent] = []

    @listener(BaseEvent)
    async def record(event: BaseEvent) -> None:
        heard.append(event)

    own = replace_listeners(app, record)
    yield heard
    restore_listeners(app, own)


@asynccontextmanager
async def committing_app_client(engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app on its own engine: every request really commits, for races that
    the savepoint-bound app cannot show. Rate limits are off, and the password-hash queue
    holds every concurrent request.

    Afterwards the accounts named `race...` are deleted with their posts (their tokens go
    with them), and the outbox rows left by the commits."""
    app = create_app(load_test_settings(rate_limit_enabled=False, password_hash_queue_size=100))
    try:
        async with outbox_rows_removed(engine), serving(app) as client:
            yield client
    finally:
        racers = select(User.id).where(User.username.like(f"{RACER_PREFIX}%"))
        async with engine.begin() as connection:
            await connection.execute(delete(Post).where(Post.user_id.in_(racers)))  # demo: posts
            await connection.execute(delete(User).where(User.id.in_(racers)))


@asynccontextmanager
async def embedded_app_client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app on the embedded default: a fresh SQLite file, no Redis."""
    settings = embedded_test_settings(tmp_path, rate_limit_enabled=False)
    await asyncio.to_thread(upgrade_to_head, settings)
    async with serving(create_app(settings)) as client:
        yield client


@pytest.fixture
async def committing_client(engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    async with committing_app_client(engine) as client:
        yield client


@pytest.fixture(params=["postgresql", "sqlite"])
async def any_client(
    request: pytest.FixtureRequest, tmp_path: Path, client: httpx.AsyncClient
) -> AsyncIterator[httpx.AsyncClient]:
    """The suite's client (PostgreSQL), or an embedded app on a fresh SQLite file."""
    if request.param == "postgresql":
        yield client
        return
    async with embedded_app_client(tmp_path) as sqlite_client:
        yield sqlite_client


@pytest.fixture(params=["postgresql", "sqlite"])
async def racing_client(
    request: pytest.FixtureRequest, tmp_path: Path, engine: AsyncEngine
) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose requests really commit, on PostgreSQL (`committing_app_client`) or
    on a fresh SQLite file, for races on either database."""
    if request.param == "postgresql":
        async with committing_app_client(engine) as client:
            yield client
        return
    async with embedded_app_client(tmp_path) as sqlite_client:
        yield sqlite_client
