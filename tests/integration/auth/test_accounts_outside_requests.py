"""`python -m app create-user` and the first superuser made at start-up.

Both commit on the real engine (no request, no savepoint), so each test removes
the users it made.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from app.auth.models import User
from app.cli import cli
from app.main import create_app
from tests.conftest import load_test_settings

EMAIL = "boss@example.com"


@pytest.fixture
async def cleanup(engine: AsyncEngine) -> AsyncIterator[None]:
    yield
    async with engine.begin() as connection:
        await connection.execute(delete(User).where(func.lower(User.email) == EMAIL))


async def users_with_email(engine: AsyncEngine) -> list[User]:
    async with engine.connect() as connection:
        rows = await connection.execute(select(User).where(func.lower(User.email) == EMAIL))
        return list(rows)  # type: ignore[arg-type]


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


@pytest.mark.usefixtures("cleanup")
async def test_create_user_command(engine: AsyncEngine) -> None:
    args = ["create-user", "--email", EMAIL, "--username", "boss", "--password", "s3cret-pass"]
    code, output = await asyncio.to_thread(run_cli, *args, "--superuser")
    assert code == 0, output
    assert "boss" in output
    assert "s3cret-pass" not in output
    [user] = await users_with_email(engine)
    assert user.is_superuser is True

    code, output = await asyncio.to_thread(run_cli, *args)
    assert code == 1
    assert "taken" in output or "registered" in output


@pytest.mark.usefixtures("cleanup")
async def test_create_user_command_refuses_invalid_fields() -> None:
    code, output = await asyncio.to_thread(
        run_cli, "create-user", "--email", "nope", "--username", "x", "--password", "tiny"
    )
    assert code == 1
    assert "email" in output
    assert "tiny" not in output


@pytest.mark.usefixtures("cleanup")
async def test_first_superuser_is_created_once_by_concurrent_starts(engine: AsyncEngine) -> None:
    settings = load_test_settings(
        first_superuser_email=EMAIL, first_superuser_password="first-admin-pass"
    )

    async def start_and_stop() -> None:
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            pass

    await asyncio.gather(*(start_and_stop() for _ in range(4)))
    await start_and_stop()

    [user] = await users_with_email(engine)
    assert user.is_superuser is True
    assert user.username == "boss"
