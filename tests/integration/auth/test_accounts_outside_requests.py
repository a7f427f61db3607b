"""`python -m app create-user` and the first superuser made at start-up.

Both commit on the real engine (no request, no savepoint), so each test removes
the users it made.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.auth.models import User
from app.cli import cli
from app.core.injection import provided_by
from app.core.mail.tasks import send_email
from app.core.metrics import Metrics
from app.core.queue import task_options
from app.main import create_app
from tests.apps import outbox_rows_removed, serving
from tests.conftest import load_test_settings
from tests.integration.relay_passes import a_whole_relay_pass
from tests.integration.test_metrics import parse

EMAIL = "boss@example.com"


@pytest.fixture
async def cleanup(engine: AsyncEngine) -> AsyncIterator[None]:
    async with outbox_rows_removed(engine):
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


def welcome_mails(mail_dir: Path) -> list[EmailMessage]:
    return [
        message
        for path in sorted(mail_dir.glob("*.eml"))
        if isinstance(
            message := email.message_from_bytes(path.read_bytes(), policy=email.policy.default),
            EmailMessage,
        )
        and message["Subject"].startswith("Welcome")
    ]


async def test_a_user_created_on_the_command_line_gets_one_welcome_mail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As registering does: the mail is queued with the account (embedded mode: the command
    delivers it before it exits), and the app started afterwards does not send it again."""
    mail_dir = tmp_path / "mail"
    environment = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        "REDIS_URL": "",
        "MAIL_BACKEND": "file",
        "MAIL_FILE_DIR": str(mail_dir),
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert (await asyncio.to_thread(run_cli, "migrate"))[0] == 0

    args = ["create-user", "--email", EMAIL, "--username", "boss", "--password", "s3cret-pass"]
    code, output = await asyncio.to_thread(run_cli, *args)
    assert code == 0, output
    [mail] = welcome_mails(mail_dir)
    assert (mail["To"], mail["Subject"]) == (EMAIL, "Welcome, boss")

    settings = load_test_settings(**{name.lower(): value for name, value in environment.items()})
    app = create_app(settings.model_copy(update={"queue_poll_interval": 0.01}))
    async with serving(app) as client:
        await a_whole_relay_pass(client)  # over the outbox the command left
    # A task that pass sent would have run by now: the app waits for them as it stops.
    assert len(welcome_mails(mail_dir)) == 1
    # Sent again, the mail would rewrite its file: no delivery ran at all (the scheduler's
    # heartbeat may have, at a turn of the minute).
    runs = parse(provided_by(app).get(Metrics).render().decode())
    deliveries = ("task", task_options(send_email).name)
    assert [labels for name, labels in runs if name == "tasks_total" and deliveries in labels] == []


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
