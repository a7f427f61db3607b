"""The write side's persistence of movies: ORM objects and bulk statements for the
commands; no commits, no HTTP."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects import postgresql, sqlite

from app.core.repository import BaseRepository
from app.core.schemas import MAX_ID
from app.movies.exceptions import MovieIdsExhaustedError, MovieNotFoundError
from app.movies.models import Movie

_ID_SEQUENCE = "pg_get_serial_sequence('movies', 'movie_id')"
# Moves the id sequence past the seeded ids, so generated ids start after them; it only
# ever moves forward (a NULL last value means the sequence was never used).
_RAISE_ID_SEQUENCE = text(
    f"SELECT setval({_ID_SEQUENCE}, :movie_id) "
    f"WHERE :movie_id > COALESCE(pg_sequence_last_value({_ID_SEQUENCE}::regclass), 0)"
)
# The sequence's next value, unless a client chose that id: then the first free id after
# the run of taken ones, where the sequence jumps (in the same statement). NULL once the
# sequence is at its end (where nextval would fail). Ids are read as bigints, so that the
# one after the last integer reads as such instead of overflowing.
_NEXT_FREE_ID = text(
    """
    WITH sequence AS (SELECT pg_get_serial_sequence('movies', 'movie_id') AS name),
    candidate AS (
        SELECT CASE WHEN pg_sequence_last_value(name::regclass) >= :max_id
            THEN NULL ELSE nextval(name) END AS id
        FROM sequence
    ),
    free AS (
        SELECT candidate.id AS candidate, CASE
            WHEN NOT EXISTS (SELECT FROM movies WHERE movie_id = candidate.id) THEN candidate.id
            ELSE (
                SELECT min(taken.movie_id::bigint) + 1 FROM movies AS taken
                WHERE taken.movie_id >= candidate.id AND NOT EXISTS (
                    SELECT FROM movies AS next WHERE next.movie_id = taken.movie_id::bigint + 1
                )
            )
        END AS id
        FROM candidate
    )
    SELECT CASE WHEN free.id = free.candidate OR free.id > :max_id THEN free.id
        ELSE setval(sequence.name, free.id) END
    FROM free, sequence
    """
)


class MovieRepository(BaseRepository[Movie]):
    model = Movie
    not_found_error = MovieNotFoundError

    @property
    def _dialect(self) -> str:
        return self.session.get_bind().dialect.name

    async def delete(self, movie: Movie) -> None:
        await self.session.delete(movie)
        await self.session.flush()

    async def insert_missing(self, rows: Sequence[Mapping[str, Any]]) -> list[int]:
        """Insert the rows whose `movie_id` is free (batched by the driver); their ids."""
        if not rows:
            return []
        insert = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
        stmt = (
            insert(Movie.__table__)  # type: ignore[arg-type]  # a Table, typed as FromClause
            .on_conflict_do_nothing(index_elements=[Movie.movie_id])
            .returning(Movie.movie_id)
        )
        inserted = (await self.session.execute(stmt, list(rows))).scalars().all()
        await self.reserve_ids_up_to(max(row["movie_id"] for row in rows))
        return list(inserted)

    async def reserve_ids_up_to(self, movie_id: int) -> None:
        """Make generated ids start after `movie_id` (SQLite already picks max + 1)."""
        if self._dialect == "postgresql":
            await self.session.execute(_RAISE_ID_SEQUENCE, {"movie_id": movie_id})

    async def next_generated_id(self) -> int | None:
        """The id for a movie whose client chose none; None lets the database pick (SQLite).

        Client-chosen ids never move the PostgreSQL sequence (one at the top of the range
        would exhaust it); instead, when the sequence reaches a chosen id, it jumps past
        the run of taken ids, so each chosen id costs at most one skip.
        """
        if self._dialect != "postgresql":
            return None
        movie_id: int | None = await self.session.scalar(_NEXT_FREE_ID, {"max_id": MAX_ID})
        if movie_id is None or movie_id > MAX_ID:
            raise MovieIdsExhaustedError
        return movie_id
