"""Migrations go up and down cleanly and match the models, on PostgreSQL and SQLite."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic import command

from app.core.config import Settings
from app.core.migrations import alembic_config
from tests.conftest import load_test_settings, recreate_database


def round_trip(settings: Settings) -> None:
    config = alembic_config(settings)
    command.upgrade(config, "head")
    command.downgrade(config, "base")
    command.upgrade(config, "head")
    command.check(config)  # raises when models and migrations differ


@pytest.mark.usefixtures("engine")
async def test_postgresql_upgrade_downgrade_upgrade_and_no_drift(settings: Settings) -> None:
    migrations_url = f"{settings.database_url}_migrations"
    await asyncio.to_thread(recreate_database, migrations_url)
    await asyncio.to_thread(round_trip, load_test_settings(database_url=migrations_url))


# SQLite cannot reflect the functional index on lower(email) of the older revisions (batch
# migrations reflect the table); PostgreSQL checks it above.
@pytest.mark.filterwarnings("ignore:.*expression-based index")
async def test_sqlite_upgrade_downgrade_upgrade_and_no_drift(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'migrations.db'}"
    await asyncio.to_thread(round_trip, load_test_settings(database_url=url, redis_url=""))
