"""The read side of the movies module: Core statements built once, run on a read
connection (`Database.reading`), returning `MovieRead` (no ORM session, no unit of work).
One movie is served from the cache when warm: then no connection is taken at all."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from pydantic import TypeAdapter
from sqlalchemy import Integer, bindparam
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.cache import Cache
from app.core.db import Database
from app.core.listing import ListParams, ListSpec, Page, SortField
from app.core.queries import fetch_page, live_row, live_rows
from app.movies.exceptions import MovieNotFoundError
from app.movies.models import Movie
from app.movies.schemas import MovieRead

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
# `/movies/new`: released in or after a year, rated at least a rating, best first, then
# title (the order of `ix_movies_rating_desc_title`).
RELEASED_SINCE = (
    live_rows(Movie)
    .where(Movie.released >= bindparam("year"), Movie.rating >= bindparam("rating"))
    .order_by(Movie.rating.desc(), Movie.title, Movie.movie_id)
    .limit(bindparam("limit", type_=Integer))
)
MOVIES_BY_ID = live_rows(Movie).where(Movie.movie_id.in_(bindparam("ids", expanding=True)))
MOVIE_READ = TypeAdapter(MovieRead)


def movie_cache_key(movie_id: int) -> str:
    return f"movies:{movie_id}"


async def movies_by_id(
    connection: AsyncConnection, movie_ids: Iterable[int]
) -> dict[int, MovieRead]:
    """The movies among `movie_ids` that exist, by id, in one query."""
    ids = set(movie_ids)
    if not ids:
        return {}
    rows = await connection.execute(MOVIES_BY_ID, {"ids": list(ids)})
    return {row.movie_id: MovieRead.model_validate(row) for row in rows}


class MovieQueries:
    """The reads of `/movies`, each on a read connection of its own."""

    def __init__(self, database: Database, cache: Cache) -> None:
        self._database = database
        self._cache = cache

    async def list_movies(self, params: ListParams) -> Page[MovieRead]:
        async with self._database.reading() as connection:
            page = await fetch_page(connection, live_rows(Movie), MOVIE_LIST_SPEC, params)
        return page.map(MovieRead)

    async def new_movies(self, year: int, rating: Decimal, limit: int) -> list[MovieRead]:
        values = {"year": year, "rating": rating, "limit": limit}
        async with self._database.reading() as connection:
            rows = await connection.execute(RELEASED_SINCE, values)
            return [MovieRead.model_validate(row) for row in rows]

    async def get_movie(self, movie_id: int) -> MovieRead:
        """From the cache when warm; PATCH and DELETE drop the entry after their commit."""
        movie = await self._cache.get_or_load(
            movie_cache_key(movie_id), lambda: self._load(movie_id), MOVIE_READ
        )
        if movie is None:
            raise MovieNotFoundError(f"Movie {movie_id} not found")
        return movie

    async def _load(self, movie_id: int) -> MovieRead | None:
        async with self._database.reading() as connection:
            row = await live_row(connection, Movie, movie_id)
        return MovieRead.model_validate(row) if row is not None else None
