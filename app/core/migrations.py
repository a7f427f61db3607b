"""Alembic driven from code, for the CLI and the tests."""

from __future__ import annotations

from pathlib import Path

import structlog
from alembic import command
from alembic.config import Config

from app.core.config import Settings

PROJECT_ROOT = Path(__file__).resolve().parents[2]

logger = structlog.get_logger(__name__)


def alembic_config(settings: Settings) -> Config:
    """The project's Alembic config, bound to these settings' database."""
    config = Config(toml_file=str(PROJECT_ROOT / "pyproject.toml"))
    config.attributes["settings"] = settings
    return config


def upgrade_to_head(settings: Settings) -> None:
    """Migrate the database to the newest revision (blocking; call from sync code)."""
    logger.info("migrating database to head")
    command.upgrade(alembic_config(settings), "head")
    logger.info("database is at head")
