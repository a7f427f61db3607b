"""The bench's own database and Redis db: recreated, migrated by the kit, filled in bulk.

The database is dropped and created anew on every run, so every run measures the same
data; its name must contain "bench", so that a mistyped URL cannot drop a real database.
Rows are inserted with one `INSERT ... SELECT generate_series(...)` per table (millions of
posts in seconds), then `VACUUM ANALYZE`d so that the planner and index-only scans see
them as a long-running database would.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import psycopg
from psycopg import sql
from redis import Redis
from sqlalchemy.engine import make_url

from bench.servers import PROJECT_ROOT

USERNAME = "bench_user_1"  # every seeded user has the same password
EMAIL = f"{USERNAME}@example.com"
PASSWORD = "bench-password-123"  # noqa: S105 - a throwaway account of a throwaway database
# The smoke run's argon2 cost (the test suite's): the bench itself uses the production one.
CHEAP_ARGON2 = {"time_cost": 1, "memory_cost": 64, "parallelism": 1}
CONTENT = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor."


class BenchDatabase:
    """The bench's PostgreSQL database, reached with plain psycopg (autocommit)."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        if not parsed.database or "bench" not in parsed.database:
            raise ValueError(f"the bench database name must contain 'bench': {parsed.database!r}")
        self.url = url
        self.name = parsed.database
        self._dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        self._server_dsn = parsed.set(
            drivername="postgresql", database="postgres"
        ).render_as_string(hide_password=False)

    def recreate(self) -> None:
        with psycopg.connect(self._server_dsn, autocommit=True) as connection:
            name = sql.Identifier(self.name)
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
            connection.execute(sql.SQL("CREATE DATABASE {}").format(name))

    def run_cli(self, env: Mapping[str, str], workdir: Path, *args: str) -> None:
        """`python -m app <args>` with the kit's settings (its contract, not its internals)."""
        done = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
            [sys.executable, "-m", "app", *args],
            cwd=workdir,
            env={**env, "PYTHONPATH": str(PROJECT_ROOT)},
            capture_output=True,
            timeout=120,
            check=False,
        )
        if done.returncode:
            output = done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")
            raise RuntimeError(f"python -m app {args[0]} failed:\n{output[-2000:]}")

    def execute(self, statement: str, params: Mapping[str, object] | None = None) -> None:
        with psycopg.connect(self._dsn, autocommit=True) as connection:
            connection.execute(statement, params)

    def scalar(self, statement: str) -> object:
        with psycopg.connect(self._dsn, autocommit=True) as connection:
            row = connection.execute(statement).fetchone()
        return row[0] if row else None

    def copy_user(self, count: int) -> None:
        """Copies of the user `USERNAME` (made by the kit: its hash, the columns it derives
        from the name) up to `count` users, named bench_user_<n>, in one statement: the
        name is replaced in every text column that holds it."""
        with psycopg.connect(self._dsn, autocommit=True) as connection:
            seed = connection.execute(
                "SELECT * FROM users WHERE username = %s", (USERNAME,)
            ).fetchone()
            description = connection.execute("SELECT * FROM users LIMIT 0").description
            if seed is None or description is None:
                raise RuntimeError(f"no user {USERNAME} to copy")
            names, copies = [], []
            for column, value in zip((column.name for column in description), seed, strict=True):
                if column == "id":
                    continue
                names.append(sql.Identifier(column))
                renamed = isinstance(value, str) and USERNAME in value
                copies.append(
                    sql.SQL("replace({}, {}, 'bench_user_' || g)").format(
                        sql.Identifier(column), sql.Literal(USERNAME)
                    )
                    if renamed
                    else sql.Identifier(column)
                )
            connection.execute(
                sql.SQL(
                    "INSERT INTO users ({}) SELECT {} FROM users, "
                    "generate_series(2, %s::int) AS g WHERE users.username = %s"
                ).format(sql.SQL(", ").join(names), sql.SQL(", ").join(copies)),
                (count, USERNAME),
            )

    def grow_posts(self, total: int, authors: int) -> None:
        """Add posts until there are `total`; the later ones are older (default order)."""
        current = int(self.scalar("SELECT count(*) FROM posts") or 0)  # type: ignore[call-overload]
        if current >= total:
            return
        self.execute(
            "INSERT INTO posts (title, content, user_id, created_at, updated_at) "
            "SELECT 'Post ' || g, %(content)s, 1 + g %% %(authors)s, "
            "now() - g * interval '1 second', now() - g * interval '1 second' "
            "FROM generate_series(%(first)s::int, %(last)s::int) AS g",
            {"content": CONTENT, "authors": authors, "first": current + 1, "last": total},
        )
        self.analyze()

    def seed_movies(self, count: int) -> None:
        self.execute(
            "INSERT INTO movies (movie_id, title, released, rating) "
            "SELECT g, 'Bench movie ' || g, 1900 + g %% 120, (g %% 90) / 10.0 "
            "FROM generate_series(1, %(count)s::int) AS g",
            {"count": count},
        )
        self.execute(
            "SELECT setval(pg_get_serial_sequence('movies', 'movie_id'), max(movie_id)) FROM movies"
        )

    def analyze(self) -> None:
        self.execute("VACUUM ANALYZE")


def flush_redis_db(url: str) -> None:
    """Empty the bench's own Redis db (that db only: FLUSHDB, never FLUSHALL)."""
    client = Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


def argon2_settings(argon2: Mapping[str, int]) -> dict[str, str]:
    """The kit's settings for these argon2 parameters."""
    return {
        "ARGON2_TIME_COST": str(argon2["time_cost"]),
        "ARGON2_MEMORY_COST_KIB": str(argon2["memory_cost"]),
        "ARGON2_PARALLELISM": str(argon2["parallelism"]),
    }
