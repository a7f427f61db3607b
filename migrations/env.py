"""Alembic environment: async, on the same engine options as the app."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from app.core.config import Settings
from app.core.db import create_engine
from app.core.migrations import wait_for_migration_lock
from app.modules import load_all_models

config = context.config
settings: Settings = config.attributes.get("settings") or Settings()
target_metadata = load_all_models()


def _configure(**options: object) -> None:
    context.configure(
        target_metadata=target_metadata,
        render_as_batch=settings.is_sqlite,  # SQLite alters tables by copying them
        compare_type=True,
        **options,
    )


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of running it (`alembic upgrade --sql`)."""
    _configure(url=settings.database_url, literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def _run_sync(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        wait_for_migration_lock(connection)  # before the current revision is read
        context.run_migrations()


async def run_migrations_online() -> None:
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_sync)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
