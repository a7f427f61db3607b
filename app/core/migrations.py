"""Alembic driven from code, for the CLI and the tests, and the schema's readiness.

Alembic is imported where it is used: a process that does not migrate (a worker, the
scheduler, the API, whose `serve` migrates in a child process) never loads it (a fifth of
the app's import time, and its memory). The readiness probe reads the shipped revisions
from the migration files without it."""

from __future__ import annotations

import ast
import asyncio
import functools
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from app.core.config import Settings
from app.core.db import Database
from app.core.health import NotReadyError

if TYPE_CHECKING:
    from alembic.config import Config

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MIGRATION_FILES = PROJECT_ROOT / "migrations" / "versions"
# The PostgreSQL advisory lock that serialises migrations (any constant shared by every
# replica of this app; advisory locks are per database).
MIGRATION_LOCK_KEY = 0x6D6F64756C697468  # the kit's name in ASCII, kept by every project

logger = structlog.get_logger(__name__)


def _project_config() -> Config:
    from alembic.config import Config  # noqa: PLC0415 - see the module's docstring

    # The stdout of now: Config's default is the one of when Alembic was first imported.
    return Config(toml_file=str(PROJECT_ROOT / "pyproject.toml"), stdout=sys.stdout)


def alembic_config(settings: Settings) -> Config:
    """The project's Alembic config, bound to these settings' database."""
    config = _project_config()
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
    from alembic import command  # noqa: PLC0415 - see the module's docstring

    logger.info("migrating database to head")
    command.upgrade(alembic_config(settings), "head")
    logger.info("database is at head")


@dataclass(frozen=True)
class ShippedRevisions:
    """The migrations that come with this code: their head(s), and every revision."""

    heads: frozenset[str]
    known: frozenset[str]


@functools.cache
def shipped_revisions() -> ShippedRevisions:
    """Read once per process from each migration file's `revision` and `down_revision`,
    parsed, not run (a test holds the result equal to Alembic's own reading)."""
    parents: dict[str, tuple[str, ...]] = {}
    for path in MIGRATION_FILES.glob("*.py"):
        if path.name.startswith((".#", "__init__")):  # what Alembic skips too
            continue
        constants = _revision_constants(path)
        if "revision" in constants:
            parents[str(constants["revision"])] = _revisions(constants.get("down_revision"))
    revised = {parent for down in parents.values() for parent in down}
    return ShippedRevisions(heads=frozenset(parents) - revised, known=frozenset(parents))


def _revisions(down_revision: object) -> tuple[str, ...]:
    """A `down_revision`: none (the first migration), one, or several (a merge)."""
    if isinstance(down_revision, str):
        return (down_revision,)
    if isinstance(down_revision, tuple | list):
        return tuple(str(revision) for revision in down_revision)
    return ()


def _revision_constants(path: Path) -> dict[str, object]:
    """The literal `revision` and `down_revision` a migration file assigns at module level."""
    constants: dict[str, object] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        targets: list[ast.expr]
        if isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        elif isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name) and target.id in {"revision", "down_revision"}:
                try:
                    constants[target.id] = ast.literal_eval(value)
                except ValueError:  # not a migration's literal: not a migration
                    continue
    return constants


class SchemaNotAtHeadError(NotReadyError):
    status = "schema_not_at_head"


async def _database_revisions(database: Database) -> frozenset[str]:
    """The revisions recorded in the database (none when it was never migrated); raises
    when the database does not answer."""
    try:
        async with database.reading() as connection:
            rows = await connection.scalars(text("SELECT version_num FROM alembic_version"))
            return frozenset(rows)
    except DBAPIError:
        await database.ping()  # it answers: the version cannot be read, so not migrated
        return frozenset()


@dataclass(frozen=True)
class SchemaReadiness:
    """The readiness probe of the database: one query per call.

    Unready while the schema is behind the migrations shipped with this code (`serve
    --no-migrate` before the migrate job ran). A revision this code does not know was
    written by a newer release during a rolling update: its migrations keep the schema
    usable by the release before (expand, then contract), so this one stays ready.
    """

    database: Database

    async def __call__(self) -> None:
        current = await _database_revisions(self.database)
        shipped = await asyncio.to_thread(shipped_revisions)  # cached after the first call
        if current == shipped.heads or not current <= shipped.known:
            return
        logger.warning(
            "database schema is not at the migration head; run `python -m app migrate`",
            current=sorted(current),
            head=sorted(shipped.heads),
        )
        raise SchemaNotAtHeadError("The database schema is not at the migration head")
