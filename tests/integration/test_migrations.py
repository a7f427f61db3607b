"""Migrations go up and down cleanly and match the models, on PostgreSQL and SQLite."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from app.core.config import Settings
from app.core.migrations import (
    MIGRATION_LOCK_KEY,
    alembic_config,
    shipped_revisions,
    upgrade_to_head,
)
from tests.conftest import load_test_settings, recreate_database, sibling_test_database
from tests.integration.queue.conftest import wait_for


def round_trip(settings: Settings) -> None:
    config = alembic_config(settings)
    command.upgrade(config, "head")
    command.downgrade(config, "base")
    command.upgrade(config, "head")
    command.check(config)  # raises when models and migrations differ


@pytest.mark.usefixtures("engine")
async def test_postgresql_upgrade_downgrade_upgrade_and_no_drift(settings: Settings) -> None:
    migrations_url = sibling_test_database(settings.database_url, "migrations")
    await asyncio.to_thread(recreate_database, migrations_url)
    await asyncio.to_thread(round_trip, load_test_settings(database_url=migrations_url))


# SQLite cannot reflect the functional index on lower(email) of the older revisions (batch
# migrations reflect the table); PostgreSQL checks it above.
@pytest.mark.filterwarnings("ignore:.*expression-based index")
async def test_sqlite_upgrade_downgrade_upgrade_and_no_drift(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'migrations.db'}"
    await asyncio.to_thread(round_trip, load_test_settings(database_url=url, redis_url=""))


# Sessions of this database queued on the advisory lock `key` (held by another session).
WAITING_FOR_THE_LOCK = """
SELECT count(*) FROM pg_locks
WHERE locktype = 'advisory' AND NOT granted
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND (classid::bigint << 32 | objid::bigint) = %s
"""


@pytest.mark.usefixtures("engine")
async def test_migrating_waits_for_the_lock_another_replica_holds(settings: Settings) -> None:
    url = make_url(settings.database_url).set(drivername="postgresql")
    async with await psycopg.AsyncConnection.connect(
        url.render_as_string(hide_password=False), autocommit=True
    ) as other_replica:
        await other_replica.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        migrating = asyncio.create_task(asyncio.to_thread(upgrade_to_head, settings))

        async def migration_waits_for_the_lock() -> bool:
            cursor = await other_replica.execute(WAITING_FOR_THE_LOCK, (MIGRATION_LOCK_KEY,))
            return (await cursor.fetchone()) == (1,)

        await wait_for(migration_waits_for_the_lock, what="the migration queued on the lock")
        assert not migrating.done()
        await other_replica.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
        await asyncio.wait_for(migrating, 10)


# In a fresh interpreter: Alembic first imported while stdout is a stream that then closes
# (as pytest's and click's capture do), then a migration that prints.
LATE_STDOUT = """
import io, sys
from app.core.migrations import alembic_config
sys.stdout = io.StringIO()
alembic_config(None)  # imports Alembic
sys.stdout.close()
sys.stdout = sys.__stdout__
from alembic import command
command.heads(alembic_config(None))
"""


def test_migrations_print_to_the_stdout_of_when_they_run() -> None:
    done = subprocess.run(
        [sys.executable, "-c", LATE_STDOUT], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "(head)" in done.stdout


def test_the_shipped_revisions_are_alembics_reading_of_the_migrations(settings: Settings) -> None:
    """Readiness parses the files instead of loading Alembic: the same heads and revisions."""
    script = ScriptDirectory.from_config(alembic_config(settings))
    shipped = shipped_revisions()
    assert shipped.heads == frozenset(script.get_heads())
    assert shipped.known == frozenset(revision.revision for revision in script.walk_revisions())
