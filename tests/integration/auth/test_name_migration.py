"""The migration to normalised name keys backfills existing accounts, even colliding ones."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from alembic import command

from app.core.migrations import alembic_config
from tests.conftest import load_test_settings

BEFORE_KEYS = "6f2b8d41c9e3"


def migrate_with_accounts(database: Path) -> list[tuple[int, str, str]]:
    config = alembic_config(
        load_test_settings(database_url=f"sqlite+aiosqlite:///{database}", redis_url="")
    )
    command.upgrade(config, BEFORE_KEYS)
    with sqlite3.connect(database) as connection:
        connection.executemany(
            "INSERT INTO users (username, email, password_hash) VALUES (?, ?, 'x')",
            [("Alice", "Élodie@example.com"), ("alice", "élodie@example.com"), ("bob", "b@x.org")],
        )
    command.upgrade(config, "head")
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT id, username_key, email_key FROM users ORDER BY id")
        return [(int(row[0]), str(row[1]), str(row[2])) for row in rows]


async def test_existing_accounts_get_their_keys_and_a_collision_stays_apart(
    tmp_path: Path,
) -> None:
    rows = await asyncio.to_thread(migrate_with_accounts, tmp_path / "app.db")
    (first, *_), (second, *_), (third, *_) = rows
    assert rows == [
        (first, "alice", "élodie@example.com"),
        (second, f"alice#{second}", f"élodie@example.com#{second}"),
        (third, "bob", "b@x.org"),
    ]
