"""AuthGateway: what other modules may read of users, in one query per batch."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from app.auth import AuthGateway, UserPublic
from app.auth.models import User
from app.core.db import Database
from app.main import create_app
from tests.apps import serving
from tests.conftest import load_test_settings
from tests.factories import create_user
from tests.integration.accounts import API, bearer, login


async def test_get_users_reads_many_in_one_query(
    session: AsyncSession, connection: AsyncConnection
) -> None:
    alice = await create_user(session, username="alice")
    bob = await create_user(session, username="bob")
    gone = await create_user(session, username="gone")
    gone.deleted_at = gone.created_at
    await session.flush()
    statements: list[str] = []
    sync_engine = session.get_bind()

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(sync_engine, "before_cursor_execute", count)
    try:
        found = await AuthGateway(connection).get_users([alice.id, bob.id, gone.id, 999_999])
    finally:
        event.remove(sync_engine, "before_cursor_execute", count)

    assert found == {
        alice.id: UserPublic(id=alice.id, username="alice"),
        bob.id: UserPublic(id=bob.id, username="bob"),
    }
    assert len(statements) == 1


async def test_get_user(connection: AsyncConnection, user: User) -> None:
    gateway = AuthGateway(connection)
    assert await gateway.get_user(user.id) == UserPublic(id=user.id, username=user.username)
    assert await gateway.get_user(999_999) is None
    assert await gateway.get_users([]) == {}


async def test_default_rate_limit_counts_per_user(
    session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    """With RATE_LIMIT_DEFAULT, a signed-in caller has a budget of their own, not the IP's."""
    first = await create_user(session)
    second = await create_user(session)
    app = create_app(
        load_test_settings(rate_limit_default="2/minute"), database=Database(session_factory)
    )
    async with serving(app) as client:
        first_headers = bearer((await login(client, first.username))["access_token"])
        second_headers = bearer((await login(client, second.username))["access_token"])
        statuses = [
            (await client.get(f"{API}/profile", headers=first_headers)).status_code
            for _ in range(3)
        ]
        other = await client.get(f"{API}/profile", headers=second_headers)
        forged = await client.get(f"{API}/profile", headers=bearer("not-a-token"))
    assert statuses == [200, 200, 429]
    assert other.status_code == 200
    assert forged.status_code == 401
