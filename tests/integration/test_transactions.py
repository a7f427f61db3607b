"""Queries read outside any transaction; a command's statements run in one transaction,
begun with its unit of work, whatever they are.

These run on the real engine (`create_app(settings)` builds its own), since the suite's
usual app shares one connection that is always inside the test's transaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from psycopg.pq import TransactionStatus
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.core.config import Settings
from app.core.deps import ReadConnectionDep, SessionDep
from app.core.errors import ConflictError
from app.posts.models import Post
from tests.apps import client_of
from tests.integration.real_app import running_app

MARK = "transaction-probe"


async def transaction_status(connection: AsyncConnection) -> str:
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    return TransactionStatus(driver.info.transaction_status).name


def probe_routes() -> APIRouter:
    router = APIRouter(prefix="/transaction-test")

    @router.get("/query")
    async def query(connection: ReadConnectionDep) -> dict[str, str]:
        await connection.execute(select(func.count()).select_from(Post))
        return {"after_read": await transaction_status(connection)}

    @router.post("/read-in-command")
    async def read_in_command(session: SessionDep) -> dict[str, str]:
        await session.execute(select(func.count()).select_from(Post))
        return {"after_read": await transaction_status(await session.connection())}

    @router.post("/lock")
    async def lock(session: SessionDep) -> dict[str, str]:
        await session.execute(select(Post.id).limit(1).with_for_update())
        return {"after_locking_read": await transaction_status(await session.connection())}

    @router.post("/write-then-fail")
    async def write_then_fail(session: SessionDep) -> None:
        session.add(Post(title=MARK, content="x", user_id=1))
        await session.flush()
        session.add(Post(title=MARK, content="y", user_id=1))
        await session.flush()
        raise ConflictError("failed after two inserts")

    return router


@pytest.fixture
async def real_app(settings: Settings, engine: AsyncEngine) -> AsyncIterator[FastAPI]:
    async with running_app(settings, engine, probe_routes()) as app:
        yield app
    async with engine.begin() as connection:
        await connection.execute(delete(Post).where(Post.title == MARK))


async def test_a_query_runs_outside_any_transaction(real_app: FastAPI) -> None:
    async with client_of(real_app) as client:
        response = await client.get("/transaction-test/query")
    assert response.json() == {"after_read": "IDLE"}


async def test_a_command_is_in_its_transaction_from_its_first_statement(
    real_app: FastAPI,
) -> None:
    async with client_of(real_app) as client:
        read = await client.post("/transaction-test/read-in-command")
        locked = await client.post("/transaction-test/lock")
    assert read.json() == {"after_read": "INTRANS"}
    assert locked.json() == {"after_locking_read": "INTRANS"}


async def test_a_connection_lent_for_reading_comes_back_ready_for_a_command(
    settings: Settings, engine: AsyncEngine
) -> None:
    """With one pooled connection, a query then a command share it: the command still
    runs in its transaction (the pool took back the read's autocommit), and its failure
    leaves nothing."""
    one_connection = settings.model_copy(
        update={"database_pool_size": 1, "database_max_overflow": 0}
    )
    async with (
        running_app(one_connection, engine, probe_routes()) as app,
        client_of(app) as client,
    ):
        assert (await client.get("/transaction-test/query")).json() == {"after_read": "IDLE"}
        read = await client.post("/transaction-test/read-in-command")
        failed = await client.post("/transaction-test/write-then-fail")
    assert read.json() == {"after_read": "INTRANS"}
    assert failed.status_code == 409
    async with engine.begin() as connection:
        left = await connection.scalar(select(func.count()).where(Post.title == MARK))
        await connection.execute(delete(Post).where(Post.title == MARK))
    assert left == 0


async def test_a_failed_command_rolls_back_every_write(
    real_app: FastAPI, engine: AsyncEngine
) -> None:
    async with client_of(real_app) as client:
        response: httpx.Response = await client.post("/transaction-test/write-then-fail")
    assert response.status_code == 409
    async with engine.connect() as connection:
        left = await connection.scalar(select(func.count()).where(Post.title == MARK))
    assert left == 0
