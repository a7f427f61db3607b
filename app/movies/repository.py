"""Queries on the movies table; no commits, no HTTP."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects import postgresql, sqlite

from app.core.listing import ListSpec, SortField
from app.core.repository import BaseRepository
from app.movies.exceptions import MovieNotFoundError
from app.movies.models import Movie

_LISTED_FIELDS = {
    "movie_id": Movie.movie_id,
    "title": Movie.title,
    "released": Movie.released,
    "rating": Movie.rating,
}
MOVIE_LIST_SPEC = ListSpec(
    sortable=_LISTED_FIELDS,
    filterable=_LISTED_FIELDS,
    default_sort=(SortField("movie_id"),),
    tiebreaker=Movie.movie_id,
)

# Moves the id sequence past an id chosen by a client, so generated ids never collide with
# it; it only ever moves forward (a NULL last value means the sequence was never used).
_RAISE_ID_SEQUENCE = text(
    "SELECT setval(pg_get_serial_sequence('movies', 'movie_id'), :movie_id) "
    "WHERE :movie_id > COALESCE(pg_sequence_last_value(pg_get_serial_sequence('movies', "
    "'movie_id')::regclass), 0)"
)


class MovieRepository(BaseRepository[Movie]):
    model = Movie
    not_found_error = MovieNotFoundError

    @property
    def _dialect(self) -> str:
        return self.session.get_bind().dialect.name

    async def released_since(self, year: int, rating: Decimal, limit: int) -> Sequence[Movie]:
        """Movies released in or after `year` rated at least `rating`: best first, then title."""
        rows = await self.session.scalars(
            select(Movie)
            .where(Movie.released >= year, Movie.rating >= rating)
            .order_by(Movie.rating.desc(), Movie.title, Movie.movie_id)
            .limit(limit)
        )
        return rows.all()

    async def get_many(self, movie_ids: Iterable[int]) -> dict[int, Movie]:
        ids = set(movie_ids)
        if not ids:
            return {}
        rows = await self.session.scalars(select(Movie).where(Movie.movie_id.in_(ids)))
        return {movie.movie_id: movie for movie in rows}

    async def delete(self, movie: Movie) -> None:
        await self.session.delete(movie)
        await self.session.flush()

    async def insert_missing(self, rows: Sequence[Mapping[str, Any]]) -> int:
        """Insert the rows whose `movie_id` is free (batched by the driver); how many were."""
        if not rows:
            return 0
        insert = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
        stmt = (
            insert(Movie.__table__)  # type: ignore[arg-type]  # a Table, typed as FromClause
            .on_conflict_do_nothing(index_elements=[Movie.movie_id])
            .returning(Movie.movie_id)
        )
        inserted = (await self.session.execute(stmt, list(rows))).all()
        await self.reserve_ids_up_to(max(row["movie_id"] for row in rows))
        return len(inserted)

    async def reserve_ids_up_to(self, movie_id: int) -> None:
        """Make generated ids start after `movie_id` (SQLite already picks max + 1)."""
        if self._dialect == "postgresql":
            await self.session.execute(_RAISE_ID_SEQUENCE, {"movie_id": movie_id})
