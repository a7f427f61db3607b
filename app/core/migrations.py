"""Alembic driven from code, for the CLI and the tests."""

from __future__ import annotations

from pathlib import Path

import structlog
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text

from app.core.config import Settings

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# The PostgreSQL advisory lock that serialises migrations (any constant shared by every
# replica of this app; advisory locks are per database).
MIGRATION_LOCK_KEY = 0x6D6F64756C697468  # "modulith"

logger = structlog.get_logger(__name__)


def alembic_config(settings: Settings) -> Config:
    """The project's Alembic config, bound to these settings' database."""
    config = Config(toml_file=str(PROJECT_ROOT / "pyproject.toml"))
    config.attributes["settings"] = settings
    return config


def wait_for_migration_lock(connection: Connection) -> None:
    """On PostgreSQL, take the migration lock for the rest of the migration transaction,
    waiting while another process (a replica starting at the same time) holds it; that one
    has migrated by then, so this one finds the database at head and does nothing."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})


def upgrade_to_head(settings: Settings) -> None:
    """Migrate the database to the newest revision (blocking; call from sync code)."""
    logger.info("migrating database to head")
    command.upgrade(alembic_config(settings), "head")
    logger.info("database is at head")
