"""The lists of posts, movies and users on either database, with direct writes beside the API.

`listing_database` (a fixture, parametrized over PostgreSQL and SQLite; a test module
imports it with the two it needs) gives a client, an admin's headers (`/users` is for
admins) and `execute`, which writes straight to the database the app reads, so that a
test chooses timestamps and ties the API would not let it choose. On SQLite the app is
the embedded default, on a migrated file of the test's own.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Executable, Result, delete, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.auth.models import User
from app.auth.names import name_key
from app.core.db import create_engine
from app.core.migrations import upgrade_to_head
from app.main import create_app
from app.movies.models import Movie
from app.posts.models import Post
from tests.apps import serving
from tests.conftest import embedded_test_settings, load_test_settings
from tests.factories import hash_password
from tests.integration.accounts import API, bearer, login

ADMIN = "pagingadmin"


@dataclass
class ListingDatabase:
    """One database behind the API: `execute` writes to it directly (and commits)."""

    name: str
    client: httpx.AsyncClient
    execute: Callable[[Executable], Awaitable[Result[Any]]]
    # Undoes, on exit, every direct write made inside it (but the admin's account).
    example: Callable[[], AbstractAsyncContextManager[None]]
    admin_id: int = 0
    admin_headers: dict[str, str] | None = None

    async def get(self, resource: str, **params: Any) -> httpx.Response:
        return await self.client.get(f"{API}/{resource}", params=params, headers=self.admin_headers)

    async def sign_in_admin(self) -> None:
        self.admin_id = await insert_user(self, ADMIN, is_superuser=True)
        self.admin_headers = bearer((await login(self.client, ADMIN))["access_token"])


async def insert_user(database: ListingDatabase, username: str, **values: Any) -> int:
    """An account, written directly; its id."""
    email = values.pop("email", f"{username}@example.com")
    values.setdefault("password_hash", _password_hash())
    keys = {"username_key": name_key(username), "email_key": name_key(email)}
    stmt = insert(User).values(username=username, email=email, **keys, **values)
    return int((await database.execute(stmt.returning(User.id))).scalar_one())


async def insert_post(database: ListingDatabase, **values: Any) -> int:
    values = {"title": "post", "content": "text", "user_id": database.admin_id} | values
    return int(
        (await database.execute(insert(Post).values(**values).returning(Post.id))).scalar_one()
    )


async def insert_posts_in_bulk(database: ListingDatabase, count: int, user_id: int) -> None:
    """`count` posts in one statement (a recursive series, which both databases run)."""
    series = select(literal(1).label("n")).cte("series", recursive=True)
    series = series.union_all(select(series.c.n + 1).where(series.c.n < count))
    rows = select(literal("bulk"), literal("text"), literal(user_id)).select_from(series)
    await database.execute(insert(Post).from_select(["title", "content", "user_id"], rows))


async def insert_movie(database: ListingDatabase, **values: Any) -> None:
    await database.execute(insert(Movie).values(**values))


_HASHES: dict[str, str] = {}


def _password_hash() -> str:
    """One hash for every direct account (hashing is what costs in making one)."""
    if "hash" not in _HASHES:
        _HASHES["hash"] = hash_password("correct-horse-battery")
    return _HASHES["hash"]


@pytest.fixture(scope="session", name="migrated_sqlite_file")
def migrated_sqlite_file_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An embedded database at head, migrated once, copied by each test that needs one."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    upgrade_to_head(load_test_settings(database_url=f"sqlite+aiosqlite:///{path}"))
    return path


@asynccontextmanager
async def _on_postgresql(
    client: httpx.AsyncClient, connection: AsyncConnection
) -> AsyncIterator[ListingDatabase]:
    """The suite's app and its test transaction: each example is a savepoint rolled back."""

    @asynccontextmanager
    async def example() -> AsyncIterator[None]:
        savepoint = await connection.begin_nested()
        try:
            yield
        finally:
            await savepoint.rollback()

    yield ListingDatabase("postgresql", client, connection.execute, example)


@asynccontextmanager
async def _on_sqlite(tmp_path: Path, template: Path) -> AsyncIterator[ListingDatabase]:
    """The embedded default (`create_app` on a SQLite file, no Redis), and a second
    engine on the same file for direct writes."""
    path = tmp_path / "app.db"
    await asyncio.to_thread(shutil.copy, template, path)
    settings = embedded_test_settings(tmp_path, rate_limit_enabled=False)
    engine = create_engine(settings)

    async def execute(stmt: Executable) -> Result[Any]:
        async with engine.begin() as connection:
            result = await connection.execute(stmt)
            # Rows are read before the commit: a result does not outlive its transaction.
            return result.freeze()() if result.returns_rows else result

    database: ListingDatabase

    @asynccontextmanager
    async def example() -> AsyncIterator[None]:
        try:
            yield
        finally:
            await execute(delete(Post))
            await execute(delete(Movie))
            await execute(delete(User).where(User.id != database.admin_id))

    try:
        async with serving(create_app(settings)) as client:
            database = ListingDatabase("sqlite", client, execute, example)
            yield database
    finally:
        await engine.dispose()


@pytest.fixture(name="suite_app_parts", params=["postgresql", "sqlite"])
def suite_app_parts_fixture(
    request: pytest.FixtureRequest,
) -> tuple[httpx.AsyncClient, AsyncConnection] | None:
    """The suite's client and test connection on PostgreSQL; None on SQLite (they are
    set up only when asked for, from a plain fixture: an async one cannot ask)."""
    if request.param == "sqlite":
        return None
    return request.getfixturevalue("client"), request.getfixturevalue("connection")


@pytest.fixture(name="listing_database")
async def listing_database_fixture(
    suite_app_parts: tuple[httpx.AsyncClient, AsyncConnection] | None,
    tmp_path: Path,
    migrated_sqlite_file: Path,
) -> AsyncIterator[ListingDatabase]:
    """The lists' app on PostgreSQL (with Redis) or on SQLite, an admin signed in."""
    opened = (
        _on_postgresql(*suite_app_parts)
        if suite_app_parts is not None
        else _on_sqlite(tmp_path, migrated_sqlite_file)
    )
    async with opened as database:
        await database.sign_in_admin()
        yield database
